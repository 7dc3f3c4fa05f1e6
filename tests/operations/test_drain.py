"""Cordon and drain as stack-file edits: what they write, what they refuse (leaving the file byte-identical), and
a drain that is interrupted and continued."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelplane.operations.drain import DrainError, cordon, drain
from modelplane.planning import plan_stack_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "stacks").mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(ROOT / "stacks" / "Pulumi.lab.yaml", tmp_path / "stacks" / "Pulumi.lab.yaml")
    return tmp_path


def config(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / "stacks" / "Pulumi.lab.yaml").read_text())["config"]


def test_cordon_and_uncordon_edit_the_scheduling_settings(project: Path) -> None:
    assert cordon(project, "lab", "a100-lab") is True
    assert config(project)["modelplane:scheduling"] == {"cordoned": ["a100-lab"]}
    assert cordon(project, "lab", "a100-lab") is False
    assert cordon(project, "lab", "h100-east") is True
    assert config(project)["modelplane:scheduling"] == {"cordoned": ["a100-lab", "h100-east"]}
    assert cordon(project, "lab", "a100-lab", on=False) is True
    assert cordon(project, "lab", "h100-east", on=False) is True
    assert "modelplane:scheduling" not in config(project)
    text = (project / "stacks" / "Pulumi.lab.yaml").read_text()
    assert text.startswith("# lab: a fleet of every shape")  # comments kept


def test_an_unknown_cluster_is_refused_and_the_file_unchanged(project: Path) -> None:
    before = (project / "stacks" / "Pulumi.lab.yaml").read_bytes()
    with pytest.raises(DrainError, match="no InferenceCluster nope"):
        cordon(project, "lab", "nope")
    assert (project / "stacks" / "Pulumi.lab.yaml").read_bytes() == before


class Stack:
    """Stands in for `pulumi up` in these tests: the program's plan of the current stack file, remembered."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self.last: dict[str, Any] | None = None
        self.ups = 0

    def up(self) -> dict[str, Any]:
        self.ups += 1
        self.last = plan_stack_config(config(self.project), project_dir=self.project, source="lab", previous=self.last)
        return {"placement": self.last}

    def outputs(self) -> dict[str, Any]:
        return {"placement": self.last}


def test_a_drain_the_fleet_cannot_hold_is_refused_before_anything_changes(project: Path) -> None:
    stack = Stack(project)
    stack.up()
    before = (project / "stacks" / "Pulumi.lab.yaml").read_bytes()
    with pytest.raises(DrainError, match=r"cannot hold a100-lab's replicas.*llama-pd"):
        drain(
            project, "lab", "a100-lab", stack.up, stack.outputs, lambda _o: {}, timeout=0, progress=lambda _line: None
        )
    assert (project / "stacks" / "Pulumi.lab.yaml").read_bytes() == before
    assert stack.ups == 1


def test_an_interrupted_drain_continues_where_it_stopped(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = Stack(project)
    stack.up()
    lines: list[str] = []
    # No cluster can be read here, so the replacements are never seen Ready: the drain stops after its surge.
    with pytest.raises(DrainError, match="replacements not Ready"):
        drain(
            project,
            "lab",
            "a100-lab",
            stack.up,
            stack.outputs,
            lambda _o: {},
            allow_unplaced=True,
            timeout=0,
            progress=lines.append,
        )
    assert config(project)["modelplane:scheduling"] == {"cordoned": ["a100-lab"], "draining": {"a100-lab": "surge"}}
    surge = stack.last
    assert surge is not None
    chat = next(d for d in surge["deployments"] if d["name"] == "chat")
    assert chat["draining"] == 1 and chat["scheduled"] == 4
    assert any("--allow-unplaced" in line and "llama-pd" in line for line in lines)
    # Re-running once the replacements are Ready (here: the wait is skipped) finishes the drain.
    monkeypatch.setattr("modelplane.operations.drain._wait_for_replacements", lambda *args, **kwargs: None)
    drain(project, "lab", "a100-lab", stack.up, stack.outputs, lambda _o: {}, timeout=0, progress=lines.append)
    assert config(project)["modelplane:scheduling"] == {"cordoned": ["a100-lab"]}
    assert stack.last is not None
    clusters = {r["cluster"] for d in stack.last["deployments"] for r in d["replicas"]}
    assert "a100-lab" not in clusters
