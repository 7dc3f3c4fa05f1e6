"""`modelplane preview --markdown` for real: the placement diff beside the real `pulumi preview` summary, for a scale
edit and for an image change, run the way the pull-request workflow runs it."""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import MODELPLANE, ROOT, SandboxRun
from tests.e2e.pulumi_cli import PulumiCli

STACK = "prod-sandbox"
WORKFLOW = ROOT / ".github" / "workflows" / "preview.yml"
QWEN_IMAGE = "modelplane:deployments.qwen.template.spec.engines[0].members[0].template.spec.containers[0].image"


def workflow_command() -> list[str]:
    """The `modelplane preview ...` line of the workflow's preview step, its stack arguments left to fill in."""
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["preview"]["steps"]
    (script,) = [step["run"] for step in steps if step.get("id") == "preview"]
    (line,) = [line.strip() for line in script.splitlines() if line.strip().startswith("modelplane preview")]
    assert re.search(r'--stack "\$\{name%\.yaml\}"', script), "the workflow passes --stack per stack file"
    command = shlex.split(line.split(">", 1)[0])
    assert command[:2] == ["modelplane", "preview"] and command[2] == "${args[@]}"
    return command[3:]


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory, bin_dir: Path) -> Iterator[tuple[SandboxRun, PulumiCli]]:
    run = SandboxRun(tmp_path_factory.mktemp("preview-prod"), bin_dir)
    try:
        run.up("prod")
        pulumi = PulumiCli(run, STACK)
        pulumi.up()
        yield run, pulumi
    finally:
        run.cli("down", check=False)


def preview(run: SandboxRun, pulumi: PulumiCli) -> str:
    argv = [MODELPLANE, "preview", "--stack", STACK, *workflow_command()]
    result = subprocess.run(argv, cwd=ROOT, env=pulumi.env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_workflow_runs_modelplane_preview_with_markdown() -> None:
    assert workflow_command() == ["--markdown"]


def test_a_scale_edit_shows_the_new_replica_and_what_pulumi_would_create(prod: tuple[SandboxRun, PulumiCli]) -> None:
    run, pulumi = prod
    assert "**Pulumi preview:** no changes" in preview(run, pulumi)
    pulumi.config_set("modelplane:deployments.qwen.replicas", "3")
    text = preview(run, pulumi)
    assert "**`ml-team/qwen`** — desired / scheduled / unplaced: 2 / 2 / 0 → 3 / 3 / 0" in text
    assert "- added on `eu-west` (`gpu-l4`)" in text
    summary = re.search(r"\*\*Pulumi preview:\*\* (.*)", text)
    assert summary and re.search(r"\d+ to create", summary.group(1)), text
    assert "to delete" not in summary.group(1) and "to read" not in summary.group(1)
    pulumi.config_set("modelplane:deployments.qwen.replicas", "2")


def test_an_image_change_moves_nothing_and_pulumi_would_update_in_place(prod: tuple[SandboxRun, PulumiCli]) -> None:
    run, pulumi = prod
    pulumi.config_set(QWEN_IMAGE, "vllm/vllm-openai:v0.23.1")
    text = preview(run, pulumi)
    assert "No placement changes." in text and "No route or weight changes." in text, text
    summary = re.search(r"\*\*Pulumi preview:\*\* (.*)", text)
    assert summary and summary.group(1).startswith("2 to update"), text
