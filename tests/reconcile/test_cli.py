"""`modelplane reconcile / scale / preview`: exit codes, one-line errors, outputs (real planning facade)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from modelplane.reconcile.stackfiles import stack_file

from .test_scaling import FLEET_STACK


@pytest.fixture
def cli() -> typer.Typer:
    pytest.importorskip("modelplane.cli", exc_type=ImportError)  # the lead's package; drop once it always imports
    pytest.importorskip("modelplane.planning", exc_type=ImportError)
    import modelplane.cli.reconcile  # noqa: F401  (registers the commands)
    from modelplane.cli.app import app

    return app


@pytest.fixture
def fleet(project: Path) -> Path:
    stack_file(project, "dev").write_text(FLEET_STACK)
    return project


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(cli: typer.Typer, *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_scale_edits_and_reports_an_unreachable_service(cli: typer.Typer, fleet: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = run(cli, "scale", "qwen", "2", "--stack", "dev", "--project-dir", str(fleet), "--service-url", url)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"qwen: replicas 1 -> 2 in {stack_file(fleet, 'dev')}\n"
    assert result.stderr.startswith("notice: service not nudged")
    assert "replicas: 2" in stack_file(fleet, "dev").read_text()


def test_scale_refuses_an_unplaceable_plan(cli: typer.Typer, fleet: Path) -> None:
    before = stack_file(fleet, "dev").read_bytes()
    result = run(cli, "scale", "qwen", "3", "--stack", "dev", "--project-dir", str(fleet), "--no-nudge")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == f"{stack_file(fleet, 'dev')}: the new plan is invalid; nothing changed"
    assert lines[1] == "qwen: 1 of 3 replicas cannot be placed"
    assert "Traceback" not in result.output
    assert stack_file(fleet, "dev").read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("scale", "kimi", "2", "--stack", "dev"), "declares no deployment 'kimi'"),
        (("scale", "qwen", "2", "--stack", "staging"), "Pulumi.staging.yaml: no such stack file"),
        (("reconcile", "--stack", "staging"), "Pulumi.staging.yaml: no such stack file"),
        (("reconcile",), "no stack to reconcile"),
        (
            ("reconcile", "--stack", "dev", "--parallelism", "0"),
            "command line: parallelism: Input should be greater than",
        ),
        (
            ("reconcile", "--stack", "dev", "--insecure-no-auth", "--host", "0.0.0.0"),
            "--insecure-no-auth is only allowed on a loopback address, not on 0.0.0.0",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli: typer.Typer, fleet: Path, args: tuple[str, ...], message: str) -> None:
    result = run(cli, *args, "--project-dir", str(fleet))
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_negative_replicas_are_a_usage_error(cli: typer.Typer, fleet: Path) -> None:
    assert run(cli, "scale", "qwen", "-1", "--stack", "dev", "--project-dir", str(fleet)).exit_code == 2


def test_preview_markdown_and_json(cli: typer.Typer, fleet: Path) -> None:
    result = run(cli, "preview", "--stack", "dev", "--markdown", "--no-pulumi", "--project-dir", str(fleet))
    assert result.exit_code == 0, result.output
    assert "### Modelplane preview — stack `dev`" in result.stdout
    assert "**`default/qwen`** — desired / scheduled / unplaced: — → 1 / 1 / 0" in result.stdout
    assert "**Pulumi preview:** skipped: no Pulumi CLI on this runner" in result.stdout
    result = run(cli, "preview", "--stack", "dev", "--no-pulumi", "--project-dir", str(fleet))
    data = json.loads(result.stdout)
    assert data[0]["stack"] == "dev"
    (qwen,) = data[0]["diff"]["deployments"]
    assert (qwen["namespace"], qwen["name"], qwen["before"]) == ("default", "qwen", None)
    assert qwen["after"] == {"desired": 1, "scheduled": 1, "unplaced": 0}


def test_preview_of_an_invalid_stack_still_prints_the_comment(cli: typer.Typer, fleet: Path) -> None:
    path = stack_file(fleet, "dev")
    path.write_text(path.read_text().replace("role: Standalone", "role: Sidekick"))
    result = run(cli, "preview", "--stack", "dev", "--markdown", "--no-pulumi", "--project-dir", str(fleet))
    assert result.exit_code == 2
    assert "**The plan is invalid; `pulumi up` would fail:**" in result.stdout
    assert result.stderr.strip()


def test_an_empty_token_in_the_environment_is_refused(
    cli: typer.Typer, fleet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPLANE_API_TOKEN", " ")
    result = run(cli, "reconcile", "--stack", "dev", "--project-dir", str(fleet))
    assert result.exit_code == 2
    assert "MODELPLANE_API_TOKEN is set but empty" in result.stderr
