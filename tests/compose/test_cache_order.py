"""Issue 11 item 9: hydration is reproducible (pinned tool, or an image that has it) and ordered (every pod that
mounts a ModelCache waits for the hydration marker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

import modelplane.cli.render  # noqa: F401  (registers the command)
from modelplane.api.model_cache import ModelCache
from modelplane.cli.app import app
from modelplane.compose.cache import HYDRATED_MARKER, HYDRATION_MOUNT
from modelplane.scheduling.placement import EnginePlacement, MemberPlacement
from tests.compose import builders as b
from tests.compose.test_cache import JOB, TOKEN, cache, composed, objects
from tests.compose.test_workloads import PVC, STANDALONE, compose, one, pod

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "multi-node-gang"
MARKER = "/mnt/models/.modelplane-hydrated"
runner = CliRunner()


def waits_for_the_marker(spec: dict[str, Any], image: str) -> None:
    [init] = spec["initContainers"]
    assert init == {
        "name": "wait-for-cache",
        "image": image,
        "command": [
            "/bin/sh",
            "-c",
            f"until [ -f {MARKER} ]; do echo 'waiting for ModelCache volume {PVC} to be hydrated'; sleep 10; done",
        ],
        "volumeMounts": [{"name": "model-cache", "mountPath": "/mnt/models", "readOnly": True}],
    }
    assert {"name": "model-cache", "persistentVolumeClaim": {"claimName": PVC}} in spec["volumes"]


def test_the_job_touches_the_marker_the_pods_wait_for() -> None:
    assert HYDRATED_MARKER.removeprefix(HYDRATION_MOUNT) == MARKER.removeprefix("/mnt/models")


def test_a_cached_deployment_pod_waits_for_hydration() -> None:
    doc = b.deployment(engines=[{"name": "main", "members": [b.member(image="vllm/vllm-openai:v0.23.0")]}])
    spec = pod(one(compose(doc, STANDALONE, cache_pvc=PVC), "Deployment"))["spec"]  # schema-checked (1.34, strict)
    waits_for_the_marker(spec, "vllm/vllm-openai:v0.23.0")
    assert "initContainers" not in pod(one(compose(b.deployment(), STANDALONE), "Deployment"))["spec"]


def test_leader_and_worker_of_a_gang_both_wait() -> None:
    members = [b.member("Leader", image="leader:1"), b.member("Worker", nodes=1, image="worker:1")]
    doc = b.deployment(engines=[{"name": "main", "members": members}])
    gang = EnginePlacement(
        "main", "gpu", (MemberPlacement("Leader", "gpu", (b.claim(),)), MemberPlacement("Worker", "gpu", (b.claim(),)))
    )
    lws = one(compose(doc, gang, cache_pvc=PVC), "LeaderWorkerSet")
    waits_for_the_marker(pod(lws, "leaderTemplate")["spec"], "leader:1")
    waits_for_the_marker(pod(lws, "workerTemplate")["spec"], "worker:1")


def test_the_default_image_installs_a_pinned_huggingface_hub() -> None:
    job = objects(composed(cache(), b.cluster("gke-a", source="GKE")), "gke-a")[f"Job/{JOB}"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "python:3.11-slim"
    assert (
        "pip install --quiet --no-cache-dir --disable-pip-version-check huggingface_hub==1.33.0; "
        in (container["command"][2])
    )


def test_a_hydration_image_installs_nothing_and_keeps_the_token_a_secret_reference() -> None:
    spec = cache(hydrationImage="registry.example/hf-cli:1.33.0", authSecret={"name": "hf-token"})
    composition = composed(spec, b.cluster("eks-a"))
    container = objects(composition, "eks-a")[f"Job/{JOB}"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/hf-cli:1.33.0"
    script = container["command"][2]
    assert "pip" not in script
    assert (
        "command -v hf >/dev/null || { echo 'hydrationImage has no hf CLI (huggingface_hub >= 1.0)'; exit 1; }; "
        in (script)
    )
    assert "hf download Qwen/Qwen3-0.6B --local-dir /mnt/artifact; touch /mnt/artifact/.modelplane-hydrated" in script
    assert container["env"] == [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": TOKEN, "key": "HF_TOKEN"}}}]


def test_repo_and_revision_reach_the_shell_quoted() -> None:
    spec = cache(revision="main; touch /tmp/x")
    job = objects(composed(spec, b.cluster("eks-a")), "eks-a")[f"Job/{JOB}"]
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert "hf download Qwen/Qwen3-0.6B --revision 'main; touch /tmp/x' --local-dir /mnt/artifact;" in script


def test_an_empty_hydration_image_is_refused() -> None:
    with pytest.raises(ValidationError, match="hydrationImage"):
        ModelCache.model_validate(cache(hydrationImage=""))


def rendered(out: Path) -> list[dict[str, Any]]:
    return [item for path in sorted(out.glob("*/*.yaml")) for item in yaml.safe_load_all(path.read_text())]


def test_render_orders_hydration_before_every_gang_pod_and_pins_the_tool(tmp_path: Path) -> None:
    result = runner.invoke(app, ["render", str(RECIPE), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    items = rendered(tmp_path)
    [job] = [item for item in items if item["kind"] == "Job"]
    [hydrate] = job["spec"]["template"]["spec"]["containers"]
    assert "huggingface_hub==1.33.0" in hydrate["command"][2]
    claim = job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
    [lws] = [item for item in items if item["kind"] == "LeaderWorkerSet"]
    for template in ("leaderTemplate", "workerTemplate"):
        spec = lws["spec"]["leaderWorkerTemplate"][template]["spec"]
        [init] = spec["initContainers"]
        assert init["name"] == "wait-for-cache" and MARKER in init["command"][2]
        [volume] = [item for item in spec["volumes"] if item["name"] == "model-cache"]
        assert volume["persistentVolumeClaim"]["claimName"] == claim


def test_render_uses_the_hydration_image_of_the_manifest(tmp_path: Path) -> None:
    image = "    sizeGiB: 900\n    hydrationImage: registry.example/hf-cli:1.33.0\n"
    recipe = b.edited_recipe(RECIPE, tmp_path / "recipe", "model.yaml", "    sizeGiB: 900\n", image)
    result = runner.invoke(app, ["render", str(recipe), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    [job] = [item for item in rendered(tmp_path / "out") if item["kind"] == "Job"]
    [hydrate] = job["spec"]["template"]["spec"]["containers"]
    assert hydrate["image"] == "registry.example/hf-cli:1.33.0" and "pip install" not in hydrate["command"][2]
