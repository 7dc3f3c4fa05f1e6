"""Small fleet builders for scheduler tests: plain manifests in, validated objects out."""

from __future__ import annotations

from typing import Any

from modelplane.api.errors import Origin
from modelplane.api.fleet import KINDS, Fleet, FleetSettings

API = "modelplane.ai/v1alpha1"
MEMORY_20GI = 'device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("20Gi")) >= 0'


def gpu_class(name: str, *, memory: str = "23034Mi", count: int = 1, nic: bool = False) -> dict[str, Any]:
    devices: list[dict[str, Any]] = [
        {
            "name": "gpu",
            "driver": "gpu.nvidia.com",
            "deviceClassName": "gpu.nvidia.com",
            "count": count,
            "attributes": {"architecture": {"string": "Hopper" if memory.startswith("8") else "Ada"}},
            "capacity": {"memory": {"value": memory}},
        }
    ]
    if nic:
        devices.append({"name": "nic", "claim": "Synthetic", "driver": "nic.example.com", "count": count})
    return {"apiVersion": API, "kind": "InferenceClass", "metadata": {"name": name}, "spec": {"devices": devices}}


def cluster(
    name: str,
    pools: dict[str, tuple[str, int]],
    *,
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    cache_class: str | None = "rwx",
) -> dict[str, Any]:
    existing: dict[str, Any] = {"secretRef": {"name": f"{name}-kubeconfig"}}
    if cache_class:
        existing["cache"] = {"storageClassName": cache_class}
    return {
        "apiVersion": API,
        "kind": "InferenceCluster",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "cluster": {"source": "Existing", "existing": existing},
            "taints": taints or [],
            "nodePools": [
                {"name": pool, "className": class_name, "nodeCount": nodes}
                for pool, (class_name, nodes) in pools.items()
            ],
        },
    }


def member(
    role: str = "Standalone",
    *,
    cel: str | None = MEMORY_20GI,
    count: int = 1,
    nodes: int | None = None,
    image: str = "vllm/vllm-openai:v0.23.0",
    extra_requests: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"role": role, "template": {"spec": {"containers": [{"name": "engine", "image": image}]}}}
    if cel is not None:
        spec["nodeSelector"] = {"devices": [{"name": "gpu", "count": count, "selectors": [{"cel": cel}]}]}
        spec["nodeSelector"]["devices"].extend(extra_requests or [])
    if nodes is not None:
        spec["worker"] = {"nodes": nodes}
    return spec


def deployment(
    name: str,
    replicas: int = 1,
    *,
    namespace: str = "ml-team",
    engines: list[dict[str, Any]] | None = None,
    selector: dict[str, str] | None = None,
    tolerations: list[dict[str, str]] | None = None,
    cache: str | None = None,
) -> dict[str, Any]:
    template: dict[str, Any] = {"engines": engines or [{"name": "engine", "members": [member()]}]}
    if selector:
        template["clusterSelector"] = {"matchLabels": selector}
    if tolerations:
        template["tolerations"] = tolerations
    if cache:
        template["modelCacheRef"] = {"name": cache}
    return {
        "apiVersion": API,
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "template": {"spec": template}},
    }


def cache(name: str, *, namespace: str = "ml-team", selector: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"source": "HuggingFace", "huggingFace": {"repo": "org/model", "sizeGiB": 10}}
    if selector:
        spec["clusterSelector"] = {"matchLabels": selector}
    return {"apiVersion": API, "kind": "ModelCache", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def fleet(*documents: dict[str, Any], packing: bool = False) -> Fleet:
    objects = [
        (KINDS[doc["kind"]].model_validate(doc), Origin("test.yaml", index)) for index, doc in enumerate(documents)
    ]
    return Fleet.build(objects, settings=FleetSettings(gpu_packing=packing))


def gang_engine(name: str = "engine", *, workers: int = 1, copies: int = 1, claimless_leader: bool = False) -> dict:
    leader = member("Leader", cel=None if claimless_leader else MEMORY_20GI)
    return {"name": name, "copies": copies, "members": [leader, member("Worker", nodes=workers)]}
