"""The kwok stages file: well-formed (no repeated keys), each selector expression valid for its operator."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from modelplane.sandbox.cluster import STAGES_FILE, Addressing, stages


class UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [key.value for key, _ in node.value]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise yaml.constructor.ConstructorError(None, None, f"repeated key(s) {repeated}", node.start_mark)
        return super().construct_mapping(node, deep)


def documents() -> list[dict[str, Any]]:
    return list(yaml.load_all(stages(Addressing(3)), Loader=UniqueKeyLoader))


def test_every_document_is_a_named_stage_with_unique_names() -> None:
    found = documents()
    assert found, "no stages"
    assert all(doc["apiVersion"] == "kwok.x-k8s.io/v1alpha1" and doc["kind"] == "Stage" for doc in found)
    names = [doc["metadata"]["name"] for doc in found]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("stage", documents(), ids=lambda doc: doc["metadata"]["name"])
def test_selector_expressions_fit_their_operator(stage: dict[str, Any]) -> None:
    spec = stage["spec"]
    assert set(spec["resourceRef"]) == {"apiGroup", "kind"}
    assert ("next" in spec) != ("steps" in spec), "a stage either patches its object or runs steps"
    for expression in spec["selector"]["matchExpressions"]:
        if expression["operator"] in ("Exists", "DoesNotExist"):
            assert "values" not in expression, expression
        else:
            assert expression["operator"] in ("In", "NotIn") and expression["values"], expression


def test_load_balancer_addresses_use_the_clusters_prefix() -> None:
    text = stages(Addressing(3))
    assert "__LB_PREFIX__" not in text
    assert "ip: 198.19.3.{{" in text
    assert "__LB_PREFIX__" in STAGES_FILE.read_text()
