"""`modelplane render`: same inputs, exit codes and error format as `plan`; writes DIR/<cluster>/..."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner, Result

import modelplane.cli.render  # noqa: F401  (registers the command)
from modelplane.cli.app import app

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "single-gpu-vllm"
runner = CliRunner()


def render(*args: str) -> Result:
    return runner.invoke(app, ["render", *args])


def test_renders_a_recipe(tmp_path: Path) -> None:
    result = render(str(RECIPE), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"wrote 3 files for 1 cluster(s) to {tmp_path / 'out'}\n"
    files = sorted(path.relative_to(tmp_path / "out").as_posix() for path in (tmp_path / "out").rglob("*.yaml"))
    assert files == ["lab/_cluster.yaml", "lab/ml-team.yaml", "lab/modelplane-system.yaml"]
    kinds = [item["kind"] for item in yaml.safe_load_all((tmp_path / "out" / "lab" / "_cluster.yaml").read_text())]
    assert kinds == ["Namespace", "GatewayClass"]
    assert "gateway address" not in result.stderr  # the gateway runs on lab: its replicas route in-cluster


def test_invalid_input_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "apiVersion: modelplane.ai/v1alpha1\nkind: ModelService\nmetadata: {name: s, namespace: ml-team}\n"
        "spec: {endpoints: []}\n"
    )
    result = render(str(broken), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and all(str(broken) in line for line in lines)
    assert not (tmp_path / "out").exists()


def test_bad_gateway_address_is_an_input_problem(tmp_path: Path) -> None:
    result = render(
        str(RECIPE), "--out", str(tmp_path), "--gateway-address", "nowhere=1.2.3.4", "--gateway-address", "lab"
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "command line: --gateway-address 'nowhere=1.2.3.4': InferenceCluster 'nowhere' not found",
        "command line: --gateway-address 'lab': expected CLUSTER=ADDRESS",
    ]


def test_previous_placement_is_kept(tmp_path: Path) -> None:
    previous = tmp_path / "previous.json"
    previous.write_text(json.dumps({"deployments": [], "clusters": []}))
    assert render(str(RECIPE), "--out", str(tmp_path / "out"), "--previous", str(previous)).exit_code == 0
    previous.write_text("[1, 2]")
    result = render(str(RECIPE), "--out", str(tmp_path / "out"), "--previous", str(previous))
    assert result.exit_code == 2
    assert "not a placement record" in result.stderr


def test_out_is_required() -> None:
    result = render(str(RECIPE))
    assert result.exit_code == 2
    assert "--out" in result.stderr
