"""`modelplane synth`: the offline, clearly labelled mock view of what `pulumi up` would register."""

from __future__ import annotations

from typer.testing import CliRunner

from modelplane.cli import synth  # noqa: F401  (registers the command)
from modelplane.cli.app import app
from tests.pulumi.helpers import ROOT


def test_synth_prints_the_labelled_tree_with_providers() -> None:
    result = CliRunner().invoke(app, ["synth", "--stack", "dev", "--project-dir", str(ROOT)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("OFFLINE MOCK VIEW — not a pulumi preview")
    # The dev stack file has no kubeconfig secret: synth shows a placeholder and says `pulumi up` would stop.
    assert any(line.startswith("placeholder: InferenceCluster local kubeconfig") for line in lines)
    assert "modelplane:index:InferenceCluster  local" in lines
    assert "    kubernetes:helm.sh/v3:Release  local/cert-manager  [provider: local]" in lines
    assert any(line.startswith("  kubernetes:apps/v1:Deployment  local/ml-team/qwen-") for line in lines)


def test_synth_of_a_missing_stack_fails_cleanly() -> None:
    result = CliRunner().invoke(app, ["synth", "--stack", "nope", "--project-dir", str(ROOT)])
    assert result.exit_code == 2 and "Pulumi.nope.yaml" in result.output
