"""'Did you mean' for unknown fields, from the models' own field trees."""

from __future__ import annotations

import pytest

from modelplane.api.field_hints import unknown_field_hint
from modelplane.api.fleet import FleetSettings
from modelplane.api.inference_class import InferenceClass
from modelplane.api.model_deployment import ModelDeployment
from modelplane.api.model_service import ModelService


@pytest.mark.parametrize(
    ("model", "loc", "hint"),
    [
        (ModelDeployment, ("spec", "clusterSelector"), "; did you mean spec.template.spec.clusterSelector?"),
        (ModelDeployment, ("spec", "template", "spec", "replicas"), "; did you mean spec.replicas?"),
        (ModelDeployment, ("spec", "template", "spec", "engines", 0, "copys"), "; did you mean copies?"),
        (InferenceClass, ("spec", "devices", 0, "capacity", "memory", "valu"), "; did you mean value?"),
        (ModelService, ("spec", "endpoints", 0, "wieght"), "; did you mean weight?"),
        (FleetSettings, ("gpuPack",), "; did you mean gpuPacking?"),
        (ModelDeployment, ("spec", "zzzzzzzz"), ""),
        (ModelDeployment, ("spec", "x" * 300), ""),
    ],
    ids=["misplaced-up", "misplaced-down", "in-a-list", "in-a-map", "service", "settings", "nothing-close", "huge"],
)
def test_hint(model: type, loc: tuple[str | int, ...], hint: str) -> None:
    assert unknown_field_hint(model, loc) == hint


def test_a_name_in_several_places_lists_them_shortest_first() -> None:
    hint = unknown_field_hint(ModelDeployment, ("spec", "template", "spec", "containers"))
    assert hint.startswith("; did you mean spec.template.spec.engines[].members[].template.spec.containers")
