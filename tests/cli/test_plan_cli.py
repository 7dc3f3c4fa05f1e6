"""The `modelplane plan` contract that scripts depend on: exit codes, error lines, the JSON record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from modelplane.cli import app
from tests.scheduling.builders import cluster, deployment, gpu_class

FLEET = [gpu_class("l4"), cluster("a", {"p": ("l4", 2)}), cluster("b", {"p": ("l4", 1)}), deployment("m", 2)]


def write(tmp_path: Path, documents: list[dict[str, Any]], name: str = "fleet.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["plan", *args])


def test_json_record_has_the_documented_shape(tmp_path: Path) -> None:
    result = invoke(str(write(tmp_path, FLEET)), "-o", "json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    (item,) = record["deployments"]
    assert {key: item[key] for key in ("namespace", "name", "desired", "scheduled", "unplaced")} == {
        "namespace": "ml-team",
        "name": "m",
        "desired": 2,
        "scheduled": 2,
        "unplaced": 0,
    }
    assert [(replica["cluster"], replica["index"]) for replica in item["replicas"]] == [("a", 0), ("b", 0)]
    member = item["replicas"][0]["engines"][0]["members"][0]
    assert member == {
        "role": "Standalone",
        "pool": "p",
        "devices": [{"name": "gpu", "deviceClassName": "gpu.nvidia.com", "count": 1}],
    }
    assert record["clusters"] == [
        {"name": "a", "pools": [{"name": "p", "nodes": 2, "used": 1}]},
        {"name": "b", "pools": [{"name": "p", "nodes": 1, "used": 1}]},
    ]
    assert "why" not in item["replicas"][0] and "rejected" not in item


def test_explain_adds_why_and_rejected(tmp_path: Path) -> None:
    docs = [*FLEET[:3], cluster("c", {"p": ("l4", 0)}), deployment("m", 4)]
    record = json.loads(invoke(str(write(tmp_path, docs)), "-o", "json", "--explain").stdout)
    (item,) = record["deployments"]
    assert all(replica["why"] for replica in item["replicas"])
    assert item["unplaced"] == 1 and item["reasons"]
    assert [entry["cluster"] for entry in item["rejected"]] == ["c"]
    assert "0 free node(s)" in item["rejected"][0]["reason"]


def test_unplaceable_replicas_still_exit_zero(tmp_path: Path) -> None:
    result = invoke(str(write(tmp_path, [*FLEET[:3], deployment("m", 9)])), "-o", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["deployments"][0]["unplaced"] == 6


def test_previous_record_is_kept(tmp_path: Path) -> None:
    first = invoke(
        str(write(tmp_path, [gpu_class("l4"), cluster("b", {"p": ("l4", 1)}), deployment("m")])), "-o", "json"
    )
    previous = tmp_path / "previous.json"
    previous.write_text(first.stdout)
    bigger = write(
        tmp_path,
        [gpu_class("l4"), cluster("a", {"p": ("l4", 9)}), cluster("b", {"p": ("l4", 1)}), deployment("m")],
        "bigger.yaml",
    )
    fresh = json.loads(invoke(str(bigger), "-o", "json").stdout)
    kept = json.loads(invoke(str(bigger), "--previous", str(previous), "-o", "json").stdout)
    assert fresh["deployments"][0]["replicas"][0]["cluster"] == "a"
    assert kept["deployments"][0]["replicas"][0]["cluster"] == "b"


def test_same_input_same_bytes(tmp_path: Path) -> None:
    path = str(write(tmp_path, FLEET))
    outputs = {invoke(path, "-o", output, "--explain").stdout for output in ("json", "json")}
    assert len(outputs) == 1


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda docs: docs[3]["spec"].update(replicas=-1), "fleet.yaml:4 ModelDeployment ml-team/m: spec.replicas:"),
        (
            lambda docs: docs[3]["spec"]["template"]["spec"]["engines"][0]["members"][0]["nodeSelector"]["devices"][0][
                "selectors"
            ][0].update(cel="device.driver == ("),
            "fleet.yaml:4 ModelDeployment ml-team/m: spec.template.spec.engines[0].members[0].nodeSelector.devices[0]"
            ".selectors[0].cel:",
        ),
        (lambda docs: docs[1]["spec"].update(colour="blue"), "fleet.yaml:2 InferenceCluster a: spec.colour: "),
        (
            lambda docs: docs[1]["spec"]["nodePools"][0].update(className="nope"),
            "fleet.yaml:2 InferenceCluster a: spec.nodePools[0].className: InferenceClass 'nope' not found",
        ),
    ],
)
def test_invalid_input_exits_2_with_one_line_per_problem(tmp_path: Path, mutate: Any, expected: str) -> None:
    docs = json.loads(json.dumps(FLEET))
    mutate(docs)
    result = invoke(str(write(tmp_path, docs)), "-o", "json")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(str(tmp_path / expected)), lines
    assert "Traceback" not in result.output


def test_every_problem_is_reported_together(tmp_path: Path) -> None:
    docs = json.loads(json.dumps(FLEET))
    docs[1]["spec"]["colour"] = "blue"
    docs[3]["spec"]["replicas"] = -1
    result = invoke(str(write(tmp_path, docs)))
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 2


def test_bad_previous_file_is_an_input_problem(tmp_path: Path) -> None:
    previous = tmp_path / "previous.json"
    previous.write_text('{"deployments": [{"namespace": "x"}]}')
    result = invoke(str(write(tmp_path, FLEET)), "--previous", str(previous))
    assert result.exit_code == 2 and "previous.json" in result.stderr and "Traceback" not in result.output


def test_table_output_names_deployments_and_pools(tmp_path: Path) -> None:
    result = invoke(str(write(tmp_path, FLEET)))
    assert result.exit_code == 0
    assert "ml-team/m" in result.stdout and "Pools" in result.stdout


def test_other_kinds_are_skipped_with_a_notice(tmp_path: Path) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    result = invoke(str(write(tmp_path, [*FLEET, secret])), "-o", "json")
    assert result.exit_code == 0
    assert sum("Secret" in line for line in result.stderr.splitlines()) == 1


def test_dev_stack_plans() -> None:
    project = Path(__file__).resolve().parents[2]
    result = invoke("--stack", "dev", "--project-dir", str(project), "-o", "json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert all(item["unplaced"] == 0 for item in record["deployments"]) and record["deployments"]
