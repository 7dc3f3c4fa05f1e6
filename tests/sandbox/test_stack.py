"""The sandbox stack: S's fleet inlined, clusters adopted as Existing, charts off, same placement as S."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelplane.api.loading import load_paths, load_stack
from modelplane.planning import checked_fleet, plan_stack_config
from modelplane.sandbox.stack import (
    INSTALL_CHARTS_KEY,
    PLACEHOLDER,
    StackShapeError,
    sandbox_config,
    sandbox_stack_name,
    secret_settings,
)

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted(path.name for path in (ROOT / "recipes").iterdir() if path.is_dir())


def record(config: dict, source: str) -> str:
    return json.dumps(plan_stack_config(config, project_dir=ROOT, source=source), sort_keys=True)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_sandbox_stack_plans_exactly_as_the_stack(stack: str) -> None:
    inputs = load_stack(ROOT, stack)
    config = sandbox_config(inputs.config, inputs.fleet)
    assert record(config, "sandbox") == record(inputs.config, stack)


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipes_declared_in_manifests_are_inlined_with_the_same_plan(recipe: str) -> None:
    config = {"modelplane:manifests": [f"recipes/{recipe}"]}
    fleet = checked_fleet(config, project_dir=ROOT, source=recipe)
    inlined = sandbox_config(config, fleet)
    assert "modelplane:manifests" not in inlined
    assert record(inlined, "sandbox") == record(config, recipe)


def test_every_cluster_becomes_existing_on_its_sandbox_kubeconfig_keeping_labels_and_cache_class() -> None:
    inputs = load_stack(ROOT, "prod")
    config = sandbox_config(inputs.config, inputs.fleet)
    east = config["modelplane:clusters"]["us-east"]
    assert east["cluster"] == {
        "source": "Existing",
        "existing": {
            "secretRef": {"name": "sandbox-us-east", "key": "kubeconfig"},
            "cache": {"storageClassName": "modelplane-rwx-efs"},
        },
    }
    assert east["metadata"]["labels"] == {"region": "us-east", "cloud": "aws"}
    assert east["nodePools"][0]["maxNodeCount"] == 4
    assert config[INSTALL_CHARTS_KEY] is False
    assert config["modelplane:gateways"] == {"default": inputs.config["modelplane:gateways"]["default"]}


def test_settings_other_than_the_fleet_are_kept_and_secrets_never_copied() -> None:
    inputs = load_stack(ROOT, "dev")
    original = {**inputs.config, "modelplane:chartVersions": {"certManager": "v1.18.0"}, "gcp:project": "p"}
    original["modelplane:secrets"] = {"hf": {"HF_TOKEN": {"secure": "v1:abc"}}}
    config = sandbox_config(original, inputs.fleet)
    assert config["modelplane:chartVersions"] == {"certManager": "v1.18.0"}
    assert config["gcp:project"] == "p"
    assert "modelplane:secrets" not in config
    assert "secure" not in json.dumps(config)


def test_secret_settings_kubeconfigs_and_placeholders() -> None:
    inputs = load_stack(ROOT, "prod")
    declared = {"hf-token": {"HF_TOKEN": {"secure": "v1:xyz"}}, "other": {"API_KEY": {"secure": "v1:q"}}}
    settings = secret_settings(inputs.fleet, {"us-east": "KUBE-A", "eu-west": "KUBE-B"}, declared)
    assert [(s.path, s.value) for s in settings] == [
        ("modelplane:secrets.sandbox-eu-west.kubeconfig", "KUBE-B"),
        ("modelplane:secrets.sandbox-us-east.kubeconfig", "KUBE-A"),
        ("modelplane:secrets.hf-token.HF_TOKEN", PLACEHOLDER),
        ("modelplane:secrets.other.API_KEY", PLACEHOLDER),
    ]


def test_an_existing_clusters_own_kubeconfig_is_not_asked_for() -> None:
    inputs = load_stack(ROOT, "dev")
    declared = {"local-kubeconfig": {"kubeconfig": {"secure": "v1:abc"}}}
    settings = secret_settings(inputs.fleet, {"local": "KUBE"}, declared)
    assert [s.path for s in settings] == ["modelplane:secrets.sandbox-local.kubeconfig"]


def test_same_name_in_two_namespaces_cannot_be_inlined(tmp_path: Path) -> None:
    manifest = "\n---\n".join(
        f"""apiVersion: modelplane.ai/v1alpha1
kind: ModelService
metadata: {{name: svc, namespace: {namespace}}}
spec:
  endpoints: [{{selector: {{matchLabels: {{a: b}}}}}}]"""
        for namespace in ("a", "b")
    )
    (tmp_path / "m.yaml").write_text(manifest)
    fleet = load_paths([tmp_path / "m.yaml"])
    with pytest.raises(StackShapeError, match="ModelService svc exists in several namespaces"):
        sandbox_config({}, fleet)


@pytest.mark.parametrize(
    ("stack", "expected"), [("dev", "dev-sandbox"), ("organization/modelplane/prod", "prod-sandbox")]
)
def test_sandbox_stack_name(stack: str, expected: str) -> None:
    assert sandbox_stack_name(stack) == expected
