"""`modelplane scale` of a deployment defined in a file of `modelplane:manifests`: that document, edited in place."""

from __future__ import annotations

import difflib
from pathlib import Path

from typer.testing import CliRunner

from modelplane.cli import app
from tests.hostile.harness import BASE, PROJECT_FILE

STACK = "# the lab fleet, from its manifests\nconfig:\n  modelplane:manifests: [fleet]\n"
# A second deployment in its own file, in the flow style some people write, with comments to keep.
OTHER = """\
# gemma: a second deployment
apiVersion: modelplane.ai/v1alpha1
kind: ModelDeployment
metadata: {name: gemma, namespace: ml-team}
spec:
  replicas: 0   # off until the team asks
  template:
    spec:
      engines:
        - name: engine
          members:
            - role: Standalone
              nodeSelector:
                devices: [{name: gpu, count: 1, selectors: [{cel: 'device.driver == "gpu.nvidia.com"'}]}]
              template:
                spec:
                  containers: [{name: engine, image: "vllm/vllm-openai:v0.23.0"}]   # pinned
"""


def project(tmp_path: Path) -> Path:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "fleet").mkdir()
    (tmp_path / "Pulumi.yaml").write_text(PROJECT_FILE)
    (tmp_path / "stacks" / "Pulumi.dev.yaml").write_text(STACK)
    (tmp_path / "fleet" / "base.yaml").write_text(BASE)
    (tmp_path / "fleet" / "gemma.yaml").write_text(OTHER)
    return tmp_path


def scale(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["scale", *args, "--stack", "dev", "--project-dir", str(root), "--no-nudge"])
    return result.exit_code, result.stdout, result.stderr


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def snapshot(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): path.read_text() for path in sorted(root.rglob("*.yaml"))}


def test_a_manifest_deployment_is_scaled_in_its_document_only(tmp_path: Path) -> None:
    root = project(tmp_path)
    before = snapshot(root)
    code, out, err = scale(root, "qwen", "2")
    assert code == 0, err
    assert "qwen: replicas 1 -> 2 in " in out and out.rstrip().endswith("fleet/base.yaml")
    after = snapshot(root)
    # Only the replicas line of the ModelDeployment document (the third of four) changed; every other file is as it was.
    assert changed_lines(before["fleet/base.yaml"], after["fleet/base.yaml"]) == ["-  replicas: 1", "+  replicas: 2"]
    assert {name: text for name, text in after.items() if name != "fleet/base.yaml"} == {
        name: text for name, text in before.items() if name != "fleet/base.yaml"
    }
    plan = CliRunner().invoke(app, ["plan", "--stack", "dev", "--project-dir", str(root), "-o", "json"])
    assert plan.exit_code == 0 and '"desired": 2' in plan.stdout


def test_the_comment_after_the_value_stays(tmp_path: Path) -> None:
    root = project(tmp_path)
    before = (root / "fleet" / "gemma.yaml").read_text()
    code, out, err = scale(root, "ml-team/gemma", "1")
    assert code == 0, err
    assert "ml-team/gemma: replicas 0 -> 1 in " in out
    after = (root / "fleet" / "gemma.yaml").read_text()
    assert changed_lines(before, after) == [
        "-  replicas: 0   # off until the team asks",
        "+  replicas: 1   # off until the team asks",
    ]


def test_a_plan_that_cannot_place_them_changes_nothing(tmp_path: Path) -> None:
    root = project(tmp_path)
    before = snapshot(root)
    code, _, err = scale(root, "qwen", "5")
    assert code == 2
    assert "the new plan is invalid; nothing changed" in err and "cannot be placed" in err
    assert snapshot(root) == before


def test_an_unknown_deployment_names_where_it_was_looked_for(tmp_path: Path) -> None:
    root = project(tmp_path)
    code, _, err = scale(root, "qwne", "2")
    assert code == 2
    assert err.strip() == (
        f"{root}/stacks/Pulumi.dev.yaml: declares no deployment 'qwne' under modelplane:deployments (known: none) "
        "nor in the files of modelplane:manifests"
    )


def test_a_name_in_two_namespaces_must_be_qualified(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "fleet" / "other-ns.yaml").write_text(OTHER.replace("namespace: ml-team", "namespace: research"))
    before = snapshot(root)
    code, _, err = scale(root, "gemma", "2")
    assert code == 2
    assert "'gemma' is defined 2 times (ml-team/gemma at " in err and "name it NAMESPACE/NAME" in err
    assert snapshot(root) == before
    code, _, err = scale(root, "research/gemma", "1")
    assert code == 0, err
    assert changed_lines(before["fleet/other-ns.yaml"], (root / "fleet" / "other-ns.yaml").read_text()) == [
        "-  replicas: 0   # off until the team asks",
        "+  replicas: 1   # off until the team asks",
    ]


def test_replicas_that_are_no_number_are_left_to_the_user(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "fleet" / "base.yaml").write_text(BASE.replace("  replicas: 1\n", "  replicas: {count: 1}\n"))
    before = snapshot(root)
    code, _, err = scale(root, "qwen", "2")
    assert code == 2
    assert (
        err.strip()
        == f"{root}/fleet/base.yaml:3: spec.replicas is a mapping, not a number; fix it by hand (nothing changed)"
    )
    assert snapshot(root) == before
