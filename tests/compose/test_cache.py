"""Reference §5 / §10 item 20: ModelCache staging per matched cluster."""

from __future__ import annotations

from typing import Any

import pytest

from modelplane.compose.fleet import Composition, compose_fleet
from tests.compose import builders as b
from tests.compose.checks import check_composition

PVC = "modelcache-ml-team-qwen-17db2"
JOB = "modelcache-ml-team-qwen-hydrate-256ec"
TOKEN = "modelcache-ml-team-qwen-auth-ae01b"


def cache(**hugging_face: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelplane.ai/v1alpha1",
        "kind": "ModelCache",
        "metadata": {"name": "qwen", "namespace": "ml-team"},
        "spec": {"source": "HuggingFace", "huggingFace": {"repo": "Qwen/Qwen3-0.6B", "sizeGiB": 150, **hugging_face}},
    }


def composed(*documents: dict[str, Any]) -> Composition:
    composition = compose_fleet(b.fleet(b.GPU_CLASS, *documents), b.placement())
    check_composition(composition)
    return composition


def objects(composition: Composition, cluster: str) -> dict[str, dict[str, Any]]:
    return {
        f"{item['kind']}/{item['metadata']['name']}": item
        for bundle in composition.for_cluster(cluster)
        if bundle.owner_kind == "ModelCache"
        for item in bundle.manifests
    }


def test_pvc_and_hydration_job() -> None:
    staged = objects(composed(cache(), b.cluster("gke-a", source="GKE")), "gke-a")
    assert sorted(staged) == [f"Job/{JOB}", f"PersistentVolumeClaim/{PVC}"]
    pvc = staged[f"PersistentVolumeClaim/{PVC}"]
    assert pvc["metadata"]["namespace"] == "ml-team"
    assert pvc["metadata"]["labels"]["modelplane.ai/modelcache"] == "qwen"
    assert pvc["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "storageClassName": "modelplane-rwx",
        "resources": {"requests": {"storage": "150Gi"}},
    }
    job = staged[f"Job/{JOB}"]["spec"]
    assert job["backoffLimit"] == 3
    assert "ttlSecondsAfterFinished" not in job  # the cluster must not delete what Pulumi manages
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "OnFailure"
    container = pod["containers"][0]
    assert container["image"] == "python:3.11-slim"
    assert container["command"] == [
        "/bin/sh",
        "-c",
        "set -e; if [ -f /mnt/artifact/.modelplane-hydrated ]; then echo 'already hydrated, skipping'; exit 0; fi; "
        "pip install --quiet --no-cache-dir --disable-pip-version-check huggingface_hub==1.33.0; "
        "hf download Qwen/Qwen3-0.6B --local-dir /mnt/artifact; "
        "touch /mnt/artifact/.modelplane-hydrated",
    ]
    assert "env" not in container
    assert pod["volumes"] == [{"name": "artifact", "persistentVolumeClaim": {"claimName": PVC}}]


def test_revision_and_token_stay_secret() -> None:
    composition = composed(cache(revision="v2", authSecret={"name": "hf-token"}), b.cluster("eks-a"))
    job = objects(composition, "eks-a")[f"Job/{JOB}"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert "hf download Qwen/Qwen3-0.6B --revision v2 --local-dir /mnt/artifact" in container["command"][2]
    assert container["env"] == [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": TOKEN, "key": "HF_TOKEN"}}}]
    [secret] = composition.secrets
    assert (secret.cluster, secret.namespace, secret.name, secret.key) == ("eks-a", "ml-team", TOKEN, "HF_TOKEN")
    assert (secret.source_name, secret.source_key, secret.config_key) == (
        "hf-token",
        "HF_TOKEN",
        "secrets.hf-token.HF_TOKEN",
    )
    assert "data" not in secret.manifest() and "stringData" not in secret.manifest()
    assert not [item for bundle in composition.bundles for item in bundle.manifests if item["kind"] == "Secret"]


@pytest.mark.parametrize(
    ("source", "extra", "storage_class"),
    [
        ("EKS", {}, "modelplane-rwx-efs"),
        ("GKE", {}, "modelplane-rwx"),
        ("AKS", {}, "modelplane-rwx-fs"),
        ("Nebius", {}, "modelplane-rwx-fs"),
        ("Existing", {"cache": {"storageClassName": "nfs-rwx"}}, "nfs-rwx"),
    ],
)
def test_storage_class_per_source(source: str, extra: dict[str, Any], storage_class: str) -> None:
    staged = objects(composed(cache(), b.cluster("c", source=source, **extra)), "c")
    assert staged[f"PersistentVolumeClaim/{PVC}"]["spec"]["storageClassName"] == storage_class


@pytest.mark.parametrize(
    ("source", "why"), [("Vultr", "Vultr clusters have no cache storage class"), ("Existing", "storageClassName")]
)
def test_clusters_without_a_cache_class_are_not_matched_and_the_plan_says_so(source: str, why: str) -> None:
    composition = composed(cache(authSecret={"name": "hf-token"}), b.cluster("c", source=source))
    assert composition.bundles == ()
    assert composition.secrets == ()
    assert any(why in notice and "not staged on c" in notice for notice in composition.notices)
    assert any("no cluster matched" in notice for notice in composition.notices)


def test_cluster_selector_narrows_the_clusters() -> None:
    document = cache()
    document["spec"]["clusterSelector"] = {"matchLabels": {"tier": "a"}}
    composition = composed(document, b.cluster("in", labels={"tier": "a"}), b.cluster("out", labels={"tier": "b"}))
    assert objects(composition, "in") and not objects(composition, "out")
    assert not [notice for notice in composition.notices if "out" in notice]  # unselected is not "unmatched"
