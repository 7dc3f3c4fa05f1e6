"""Plan-time checks (CEL, quantities, semver) and `load_inputs`, which runs them after loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelplane.api.errors import InvalidInputError
from modelplane.api.loading import load_paths
from modelplane.scheduling.validation import load_inputs, semantic_problems
from tests.api.helpers import FIXTURES, FLEET_YAML, edit, edited_fleet, write_yaml

SELECTOR = "spec.template.spec.engines[0].members[1].nodeSelector.devices[0].selectors[0].cel"

CASES = [
    pytest.param(
        "ModelDeployment",
        "kimi",
        {SELECTOR: "device.attributes[ == 1"},
        f"5 ModelDeployment ml-team/kimi: {SELECTOR}: CEL: syntax error",
        id="cel-syntax",
    ),
    pytest.param(
        "ModelDeployment",
        "split",
        {SELECTOR.replace("engines[0].members[1]", "engines[1].members[0]"): "device.foo"},
        "6 ModelDeployment ml-team/split: spec.template.spec.engines[1].members[0].nodeSelector.devices[0]"
        ".selectors[0].cel: CEL: device has no field 'foo'",
        id="cel-unknown-field",
    ),
    pytest.param(
        "InferenceClass",
        "h100-8x",
        {"spec.devices[0].capacity.memory.value": "80 GiB"},
        "1 InferenceClass h100-8x: spec.devices[0].capacity.memory.value: invalid quantity '80 GiB'",
        id="quantity",
    ),
    pytest.param(
        "InferenceClass",
        "h100-8x",
        {"spec.devices[0].attributes.driverVersion.version": "570.124"},
        "1 InferenceClass h100-8x: spec.devices[0].attributes.driverVersion.version: invalid version '570.124'",
        id="semver-short",
    ),
    pytest.param(
        "InferenceClass",
        "h100-8x",
        {"spec.devices[0].attributes.driverVersion.version": "v570.124.6"},
        "1 InferenceClass h100-8x: spec.devices[0].attributes.driverVersion.version: invalid version 'v570.124.6'",
        id="semver-prefix",
    ),
]


@pytest.mark.parametrize(("kind", "name", "edits", "start"), CASES)
def test_semantic_problem_has_the_field_path(
    tmp_path: Path, kind: str, name: str, edits: dict[str, str], start: str
) -> None:
    documents, _ = edited_fleet(kind, name, edits)
    path = write_yaml(tmp_path / "fleet.yaml", documents)
    found = [str(problem) for problem in semantic_problems(load_paths([path]))]
    assert len(found) == 1 and found[0].startswith(f"{path}:{start}"), found
    assert "\n" not in found[0]


def test_fixture_fleet_has_no_semantic_problems() -> None:
    assert semantic_problems(load_paths([FLEET_YAML])) == []


def test_load_inputs_reports_loading_and_semantic_problems_together(tmp_path: Path) -> None:
    documents, number = edited_fleet("ModelDeployment", "kimi", {SELECTOR: "device.attributes[ == 1"})
    edit(documents[number - 2], "spec.replicas", -1)  # qwen, the document before kimi
    path = write_yaml(tmp_path / "fleet.yaml", documents)
    with pytest.raises(InvalidInputError) as raised:
        load_inputs([path], None, tmp_path)
    assert [line.split(": ")[0:2] for line in raised.value.problems] == [
        [f"{path}:4 ModelDeployment ml-team/qwen", "spec.replicas"],
        [f"{path}:5 ModelDeployment ml-team/kimi", SELECTOR],
    ]


def test_load_inputs_reads_a_stack_and_merges_paths(tmp_path: Path) -> None:
    documents, number = edited_fleet("ModelDeployment", "split", {})
    extra = write_yaml(tmp_path / "split.yaml", documents[number - 1 : number])
    inputs = load_inputs([extra], "mixed", FIXTURES)
    assert list(inputs.fleet.deployments) == ["ml-team/qwen", "ml-team/split"]
    assert inputs.previous is None and inputs.config["modelplane:manifests"] == ["manifests"]
