"""Constants shared by the composition modules (the contracts of reference §0.4) and the object-metadata helper."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelplane.api.pools import LABEL_POOL  # noqa: F401  (part of the compose vocabulary)

Manifest = dict[str, Any]

SYSTEM_NAMESPACE = "modelplane-system"
# Namespaces that exist on every cluster with the serving stack, so no Namespace object is composed for them.
PRESENT_NAMESPACES = frozenset({"default", SYSTEM_NAMESPACE})

ENGINE_CONTAINER = "engine"
ENGINE_PORT = 8000  # the OpenAI API port; readiness is GET /health on it (§0.4)
CACHE_MOUNT = "/mnt/models"
# At the cache volume's root once the hydration Job has downloaded everything; engine pods wait for it.
HYDRATED_MARKER_FILE = ".modelplane-hydrated"

LABEL_DEPLOYMENT = "modelplane.ai/deployment"
LABEL_CLUSTER = "modelplane.ai/cluster"
LABEL_REPLICA_INDEX = "modelplane.ai/replica-index"
LABEL_SERVING = "modelplane.ai/serving"
LABEL_WORKLOAD = "modelplane.ai/workload"
LABEL_LWS_ROLE = "modelplane.ai/lws-role"
LABEL_CACHE = "modelplane.ai/modelcache"
LABEL_SERVICE_NAME = "kubernetes.io/service-name"
# Beyond Modelplane: every composed object carries it, so `kubectl apply --prune -l` and audits can find them.
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "modelplane"

# The workload cluster's Envoy gateway (serving stack) and the fleet's Traefik gateway (InferenceGateway).
WORKLOAD_GATEWAY = "inference-gateway"
FLEET_GATEWAY = "modelplane"
FLEET_GATEWAY_CLASS = "traefik"
FLEET_GATEWAY_PORT = 80  # a workload gateway's listener, where fleet routes send replica traffic
GATEWAY_API = "gateway.networking.k8s.io/v1"

# GPU pools carry this taint; DRA pods do not get the ExtendedResourceToleration admission, so every pod
# tolerates it explicitly (§3.2).
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def metadata(name: str, namespace: str | None = None, labels: Mapping[str, str] | None = None) -> Manifest:
    """`metadata` with the managed-by label merged under `labels`; the namespace only for namespaced kinds."""
    meta: Manifest = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = {**(labels or {}), LABEL_MANAGED_BY: MANAGED_BY}
    return meta


def manifest(api_version: str, kind: str, meta: Manifest, **fields: Any) -> Manifest:
    """A Kubernetes object in the usual field order: apiVersion, kind, metadata, then the rest."""
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **fields}


def http_probe(port: int) -> Manifest:
    """Readiness on `GET /health`, 30 s initial delay, 10 s period, 5 s timeout (SGLang's /health takes ~1 s)."""
    return {
        "httpGet": {"path": "/health", "port": port},
        "initialDelaySeconds": 30,
        "periodSeconds": 10,
        "timeoutSeconds": 5,
    }
