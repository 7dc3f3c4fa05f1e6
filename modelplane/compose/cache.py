"""ModelCache: weights staged once per matched cluster on a ReadWriteMany PVC by a hydration Job (reference §5)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from modelplane.api import names
from modelplane.api.fleet import Fleet
from modelplane.api.model_cache import ModelCache
from modelplane.compose.common import HYDRATED_MARKER_FILE, LABEL_CACHE, Manifest, manifest, metadata

HYDRATION_IMAGE = "python:3.11-slim"
# The tool the default image installs, pinned: the same download logic on every run (`hf download` of 1.x).
HUGGINGFACE_HUB = "huggingface_hub==1.33.0"
HYDRATION_MOUNT = "/mnt/artifact"
# Touched only after a complete download: a retried Job resumes a partial one instead of trusting a non-empty dir,
# and engine pods wait for it (workloads.cache_wait).
HYDRATED_MARKER = f"{HYDRATION_MOUNT}/{HYDRATED_MARKER_FILE}"
TOKEN_ENV = "HF_TOKEN"


@dataclass(frozen=True, order=True)
class SecretSpec:
    """A Secret on a cluster whose value is Pulumi secret config `modelplane:secrets.<source_name>.<source_key>`.

    Composition never holds secret values: the Pulumi layer creates the Secret from config, and `render` lists it
    in SECRETS.txt for you to create.
    """

    cluster: str
    namespace: str
    name: str
    key: str
    source_name: str
    source_key: str

    @property
    def config_key(self) -> str:
        return f"secrets.{self.source_name}.{self.source_key}"

    def manifest(self) -> Manifest:
        """The Secret without its data: the Pulumi layer adds `stringData` from config, as a Pulumi secret."""
        return manifest("v1", "Secret", metadata(self.name, self.namespace), type="Opaque")


def token_secret(cache: ModelCache, cluster: str) -> SecretSpec | None:
    """The hydration Job's Hugging Face token on `cluster`, copied from the cache's `authSecret`."""
    hf = cache.spec.hugging_face
    if hf is None or hf.auth_secret is None:
        return None
    auth = hf.auth_secret
    name = names.cache_secret_name(cache.namespace, cache.name)
    return SecretSpec(cluster, cache.namespace, name, auth.key, auth.name, auth.key)


def staging(fleet: Fleet, cache: ModelCache) -> tuple[list[tuple[str, str]], list[str]]:
    """`(cluster, storage class)` for every selected cluster that can hold the cache, and a notice for every selected
    one that cannot (the plan shows them too): clusters without a cache class are not matched (§5)."""
    selector = cache.spec.cluster_selector
    staged: list[tuple[str, str]] = []
    notices: list[str] = []
    for cluster in fleet.clusters.values():
        if selector and not selector.matches(cluster.metadata.labels):
            continue
        storage = cluster.cache_storage_class
        if storage:
            staged.append((cluster.name, storage))
        elif cluster.spec.cluster.source == "Existing":
            notices.append(
                f"ModelCache {cache.key}: not staged on {cluster.name}: set its "
                "spec.cluster.existing.cache.storageClassName to stage it there"
            )
        else:
            notices.append(
                f"ModelCache {cache.key}: not staged on {cluster.name}: "
                f"{cluster.spec.cluster.source} clusters have no cache storage class"
            )
    if not staged:
        notices.append(f"ModelCache {cache.key}: no cluster matched; nothing staged")
    return staged, notices


def cache_objects(cache: ModelCache, storage_class: str) -> list[Manifest]:
    """The PVC and the hydration Job for one matched cluster, in the cache's namespace."""
    hf = cache.spec.hugging_face
    if hf is None:
        raise ValueError(f"ModelCache {cache.key} has no huggingFace source")
    labels = {LABEL_CACHE: cache.name}
    pvc_name = names.cache_pvc_name(cache.namespace, cache.name)
    pvc_spec = {
        "accessModes": ["ReadWriteMany"],
        "storageClassName": storage_class,
        "resources": {"requests": {"storage": f"{hf.size_gi_b}Gi"}},
    }
    pvc = manifest("v1", "PersistentVolumeClaim", metadata(pvc_name, cache.namespace, labels), spec=pvc_spec)
    job_meta = metadata(names.cache_job_name(cache.namespace, cache.name), cache.namespace, labels)
    return [pvc, manifest("batch/v1", "Job", job_meta, spec=_job_spec(cache, pvc_name, labels))]


def hydration_command(repo: str, revision: str | None, *, install: bool = True) -> str:
    """Skip when hydrated; install the pinned `huggingface_hub` unless the image brings `hf`; `hf download`
    resumes; the marker only after success (set -e)."""
    # Quoted: they come from user input and end up in a shell (plain repo ids and revisions are left as they are).
    revision_arg = f" --revision {shlex.quote(revision)}" if revision else ""
    if install:
        tool = f"pip install --quiet --no-cache-dir --disable-pip-version-check {HUGGINGFACE_HUB}; "
    else:
        tool = "command -v hf >/dev/null || { echo 'hydrationImage has no hf CLI (huggingface_hub >= 1.0)'; exit 1; }; "
    return (
        "set -e; "
        f"if [ -f {HYDRATED_MARKER} ]; then echo 'already hydrated, skipping'; exit 0; fi; "
        f"{tool}"
        f"hf download {shlex.quote(repo)}{revision_arg} --local-dir {HYDRATION_MOUNT}; "
        f"touch {HYDRATED_MARKER}"
    )


def _job_spec(cache: ModelCache, pvc_name: str, labels: dict[str, str]) -> Manifest:
    hf = cache.spec.hugging_face
    assert hf is not None  # checked by cache_objects
    container: Manifest = {
        "name": "hydrate",
        "image": hf.hydration_image or HYDRATION_IMAGE,
        "command": ["/bin/sh", "-c", hydration_command(hf.repo, hf.revision, install=hf.hydration_image is None)],
    }
    secret = token_secret(cache, "")
    if secret:
        container["env"] = [
            {"name": TOKEN_ENV, "valueFrom": {"secretKeyRef": {"name": secret.name, "key": secret.key}}}
        ]
    container["volumeMounts"] = [{"name": "artifact", "mountPath": HYDRATION_MOUNT}]
    pod = {
        "restartPolicy": "OnFailure",
        "containers": [container],
        "volumes": [{"name": "artifact", "persistentVolumeClaim": {"claimName": pvc_name}}],
    }
    # No ttlSecondsAfterFinished (Modelplane sets 180): this Job is a Pulumi resource, and one the cluster deletes
    # reads as drift, so every drift check would re-create it. A finished pod does not keep the PVC from deletion.
    return {"backoffLimit": 3, "template": {"metadata": {"labels": labels}, "spec": pod}}
