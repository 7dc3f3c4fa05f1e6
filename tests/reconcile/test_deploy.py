"""The deployment artefacts that cannot run here are still checked: schemas, settings, timings, workflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from ruamel.yaml import YAML

from modelplane.reconcile.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
CORE_KINDS = {"Namespace", "ServiceAccount", "Secret", "ConfigMap", "Deployment", "Service"}


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in YAML(typ="safe", pure=True).load_all((MANIFESTS / name).read_text()) if d]


def all_documents() -> list[dict[str, Any]]:
    return [d for path in sorted(MANIFESTS.glob("*.yaml")) for d in documents(path.name)]


@pytest.mark.parametrize("doc", [d for d in all_documents() if d["kind"] in CORE_KINDS], ids=lambda d: d["kind"])
def test_core_objects_match_the_kubernetes_schema(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, "1.33", strict=True)


def test_kustomization_lists_existing_files_and_not_the_secret_template() -> None:
    (kustomization,) = documents("kustomization.yaml")
    assert all((MANIFESTS / name).is_file() for name in kustomization["resources"])
    assert "secret.example.yaml" not in kustomization["resources"]


def test_deployment_fits_the_service_settings() -> None:
    (deployment,) = documents("deployment.yaml")
    (configmap,) = documents("configmap.yaml")
    settings = ServiceSettings.model_validate(YAML(typ="safe", pure=True).load(configmap["data"]["reconcile.yaml"]))
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > settings.shutdown_grace_seconds
    (service,) = (c for c in pod["containers"] if c["name"] == "reconcile")
    assert service["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert service["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "--config=/etc/modelplane/reconcile.yaml" in service["args"]
    secret_keys = {e["valueFrom"]["secretKeyRef"]["key"] for e in service["env"] if "valueFrom" in e}
    (secret, _) = documents("secret.example.yaml")
    assert secret_keys <= set(secret["stringData"])


def test_the_service_reaches_the_pod_while_it_is_not_ready() -> None:
    (service,) = documents("service.yaml")
    assert service["spec"]["publishNotReadyAddresses"] is True


def test_dockerfile_pins_the_cli_to_the_sdk_and_runs_the_service() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    sdk = next(
        line.split("==")[1]
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.startswith("pulumi==")
    )
    assert f"ARG PULUMI_VERSION={sdk}\n" in dockerfile
    assert 'ENTRYPOINT ["/usr/bin/tini", "--", "modelplane", "reconcile"]' in dockerfile
    assert "\nUSER 10001\n" in dockerfile


def test_preview_workflow_runs_the_markdown_preview_and_comments() -> None:
    workflow = YAML(typ="safe", pure=True).load((ROOT / ".github" / "workflows" / "preview.yml").read_text())
    assert "pull_request" in workflow["on"]  # YAML 1.2: `on` is a string key, as GitHub reads it
    steps = workflow["jobs"]["preview"]["steps"]
    script = next(s["run"] for s in steps if s.get("id") == "preview")
    assert 'modelplane preview "${args[@]}" --markdown > comment.md' in script
    assert any(s.get("uses", "").startswith("marocchino/sticky-pull-request-comment@") for s in steps)
    assert any(s.get("uses", "").startswith("pulumi/actions@") for s in steps)


def test_the_deployment_requires_the_token_and_keeps_it_out_of_the_environment() -> None:
    (deployment,) = documents("deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    (service,) = (c for c in pod["containers"] if c["name"] == "reconcile")
    args = service["args"]
    assert "--token-file=/etc/modelplane-token/token" in args and "--insecure-no-auth" not in args
    assert all(e["name"] != "MODELPLANE_API_TOKEN" for e in service["env"])
    (volume,) = (v for v in pod["volumes"] if v["name"] == "api-token")
    assert volume["secret"]["secretName"] == "modelplane-reconcile" and not volume["secret"].get("optional")
    assert volume["secret"]["items"] == [{"key": "MODELPLANE_API_TOKEN", "path": "token"}]
    mounts = {m["name"]: m["mountPath"] for m in service["volumeMounts"]}
    assert mounts["api-token"] == "/etc/modelplane-token"
    assert "--state-dir=/var/lib/modelplane/reconcile" in args and mounts["state"] == "/var/lib/modelplane"


def test_metrics_are_scraped_from_their_own_port() -> None:
    (deployment,) = documents("deployment.yaml")
    (service,) = (c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "reconcile")
    assert "--metrics-port=9090" in service["args"]
    assert {"name": "metrics", "containerPort": 9090} in service["ports"]
    (svc,) = documents("service.yaml")
    assert {"name": "metrics", "port": 9090, "targetPort": "metrics"} in svc["spec"]["ports"]
    monitor = documents("servicemonitor.yaml")[0]
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
