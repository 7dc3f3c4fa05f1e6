"""Issue 11, items 1 and 11: unplaced replicas say why without --explain, a selector that errors on every device is
an input problem, render warns about a ModelService that routes to nothing, plan notes what GPU packing would save."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelplane.cli import app
from tests.cli.test_plan_cli import write
from tests.scheduling.builders import API, cluster, deployment, gang_engine, gpu_class, member

H100 = gpu_class("h100x8", memory="81559Mi", count=8)  # an H100 80GB as the DRA driver reports it
PLATFORM = [H100, cluster("a", {"p": ("h100x8", 6)})]
FIELD = "spec.template.spec.engines[0].members[0].nodeSelector.devices[0].selectors[0].cel"


def selecting(cel: str, replicas: int = 1) -> dict[str, Any]:
    return deployment("m", replicas, engines=[{"name": "vllm", "members": [member(cel=cel)]}])


def memory(text: str) -> str:
    return f'device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("{text}")) >= 0'


def service(selected: str = "m") -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": API,
            "kind": "ModelService",
            "metadata": {"name": "chat", "namespace": "ml-team"},
            "spec": {"endpoints": [{"selector": {"matchLabels": {"modelplane.ai/deployment": selected}}}]},
        },
        {
            "apiVersion": API,
            "kind": "InferenceGateway",
            "metadata": {"name": "default"},
            "spec": {"backend": "Traefik", "cluster": "a", "traefik": {"version": "40.2.0"}},
        },
    ]


def plan(tmp_path: Path, documents: list[dict[str, Any]], *args: str) -> Any:
    return CliRunner().invoke(app, ["plan", str(write(tmp_path, documents)), *args])


def reasons(tmp_path: Path, documents: list[dict[str, Any]]) -> list[str]:
    result = plan(tmp_path, documents, "-o", "json")
    assert result.exit_code == 0, result.output
    (item,) = json.loads(result.stdout)["deployments"]
    return item["reasons"]


def table_text(output: str) -> str:
    """The table's words in order, without borders: a wrapped cell reads as one line again."""
    return " ".join(re.sub(r"[│┃┏┓┗┛┡┩└┘━─┳┻╇┼┬┴]", " ", output).split())


@pytest.mark.parametrize(
    ("cel", "error"),
    [
        ('device.capacity["gpu.nvidia.com"].memroy.compareTo(quantity("80Gi")) >= 0', "no capacity 'memroy'"),
        ('device.capacity["gpu.nvidia.com"].memory', "selector returned Quantity, not bool"),
        (memory("80GB"), "invalid quantity '80GB'"),
        ('device.capacity["gpu.nvidia.com"].memory >= quantity("80Gi")', "no such overload: _>=_(Quantity, Quantity)"),
    ],
    ids=["misspelt-capacity", "non-bool", "quantity-80GB", "ordering-quantities"],
)
def test_selector_failing_on_every_device_is_an_input_problem(tmp_path: Path, cel: str, error: str) -> None:
    result = plan(tmp_path, [*PLATFORM, selecting(cel)])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"{tmp_path / 'fleet.yaml'}:3 ModelDeployment ml-team/m: {FIELD}: CEL: "), line
    assert "fails with an error on every device of every InferenceClass" in line and error in line
    assert "Traceback" not in result.output


def test_a_selector_false_for_every_device_says_so_without_explain(tmp_path: Path) -> None:
    # 81559Mi is about 79.6Gi: ">= 80Gi" rightly matches no H100 80GB; that is a plan outcome, not an input problem.
    documents = [*PLATFORM, selecting(memory("80Gi"))]
    expected = "1 replica(s) unplaced: request gpu: selector #1 false for every device of every class"
    assert reasons(tmp_path, documents) == [expected]
    result = plan(tmp_path, documents)
    assert result.exit_code == 0 and expected in table_text(result.stdout)
    assert reasons(tmp_path, [*PLATFORM, selecting(memory("79Gi"))]) == []


def test_an_error_on_some_classes_only_is_a_reason_not_a_problem(tmp_path: Path) -> None:
    # The product name exists on the A100 class only: the H100 devices fail with an error, the A100 ones are false.
    a100 = gpu_class("a100x8", memory="81920Mi", count=8)
    a100["spec"]["devices"][0]["attributes"]["productName"] = {"string": "A100"}
    documents = [H100, a100, cluster("a", {"p": ("h100x8", 1), "q": ("a100x8", 1)})]
    cel = 'device.attributes["gpu.nvidia.com"].productName == "H200"'
    (reason,) = reasons(tmp_path, [*documents, selecting(cel)])
    assert reason == (
        "1 replica(s) unplaced: class h100x8: request gpu: selector #1 error: no attribute 'productName' in domain "
        "gpu.nvidia.com; class a100x8: request gpu: selector #1 false for every device"
    )


def test_full_pools_say_need_and_have(tmp_path: Path) -> None:
    gang = deployment("m", engines=[gang_engine("vllm", workers=2)])  # a leader and two workers: three nodes
    documents = [gpu_class("l4"), cluster("a", {"p": ("l4", 1)}), cluster("b", {"p": ("l4", 2)}), gang]
    assert reasons(tmp_path, documents) == [
        "1 replica(s) unplaced: no free nodes: need 3, have 2 (b/p, the most of 2 matching pools)"
    ]


def test_no_eligible_cluster_names_the_first_filter(tmp_path: Path) -> None:
    documents = [*PLATFORM, cluster("b", {"p": ("h100x8", 1)}), deployment("m", selector={"region": "eu"})]
    assert reasons(tmp_path, documents) == [
        "1 replica(s) unplaced: no cluster passes the selector, cache and taint filters: "
        "a: label region=eu wanted, cluster has <unset> (and 1 more cluster(s))"
    ]


def test_render_warns_when_a_service_routes_to_nothing_in_plans_words(tmp_path: Path) -> None:
    documents = [*PLATFORM, selecting(memory("80Gi")), *service()]
    (reason,) = reasons(tmp_path, documents)
    result = CliRunner().invoke(app, ["render", "--out", str(tmp_path / "out"), str(write(tmp_path, documents))])
    assert result.exit_code == 0, result.output
    assert f"warning: ModelService ml-team/chat routes to nothing: ModelDeployment ml-team/m: {reason}\n" in (
        result.stderr
    )


def test_render_warns_when_no_deployment_is_selected(tmp_path: Path) -> None:
    documents = [*PLATFORM, selecting(memory("79Gi")), *service(selected="other")]
    result = CliRunner().invoke(app, ["render", "--out", str(tmp_path / "out"), str(write(tmp_path, documents))])
    assert result.exit_code == 0, result.output
    assert "warning: ModelService ml-team/chat routes to nothing: no ModelDeployment or ModelEndpoint matches" in (
        result.stderr
    )


def test_render_does_not_warn_about_a_routed_service(tmp_path: Path) -> None:
    documents = [*PLATFORM, selecting(memory("79Gi")), *service()]
    result = CliRunner().invoke(app, ["render", "--out", str(tmp_path / "out"), str(write(tmp_path, documents))])
    assert result.exit_code == 0, result.output
    assert "warning:" not in result.stderr


def test_plan_notes_when_packing_would_use_fewer_nodes(tmp_path: Path) -> None:
    result = plan(tmp_path, [*PLATFORM, selecting(memory("79Gi"), replicas=3)])
    assert result.exit_code == 0, result.output
    assert (
        "notice: whole-node charging (the default) gives every claiming pod a node of its own: 3 node(s) in 1 pool(s) "
        "hold pods that GPU packing would fit on 1 (e.g. a/p: 3 → 1); "
        "set modelplane:scheduling.gpuPacking to true to pack them"
    ) in result.stderr


def test_no_packing_note_when_packing_saves_nothing(tmp_path: Path) -> None:
    eight = deployment("m", 3, engines=[{"name": "vllm", "members": [member(cel=memory("79Gi"), count=8)]}])
    result = plan(tmp_path, [*PLATFORM, eight])
    assert result.exit_code == 0 and "whole-node charging" not in result.stderr
