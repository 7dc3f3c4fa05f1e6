"""Hand-made Fleets and Placements for the composition tests (no scheduler involved)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from modelplane.api.errors import Origin
from modelplane.api.fleet import KINDS, Fleet
from modelplane.scheduling.placement import (
    DeploymentPlacement,
    DeviceClaim,
    EnginePlacement,
    MemberPlacement,
    Placement,
    ReplicaPlacement,
)

GPU_CEL = 'device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("20Gi")) >= 0'


def fleet(*documents: dict[str, Any] | str) -> Fleet:
    """A Fleet from API documents (dicts or YAML text), validated by the API models."""
    objects = []
    for index, document in enumerate(documents):
        for raw in yaml.safe_load_all(document) if isinstance(document, str) else [document]:
            objects.append((KINDS[raw["kind"]].model_validate(raw), Origin("test", index)))
    return Fleet.build(objects)


def cluster(name: str, *, source: str = "EKS", labels: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    blocks = {
        "EKS": {"eks": {"region": "us-east-2"}},
        "GKE": {"gke": {"region": "us-central1"}},
        "Vultr": {"vultr": {"region": "ewr"}},
        "Nebius": {"nebius": {}},
        "AKS": {"aks": {"location": "westeurope"}},
        "Existing": {"existing": {"secretRef": {"name": "kubeconfig"}, **extra}},
    }
    return {
        "apiVersion": "modelplane.ai/v1alpha1",
        "kind": "InferenceCluster",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"cluster": {"source": source, **blocks[source]}, "nodePools": [{"name": "gpu", "className": "l4"}]},
    }


GPU_CLASS = {
    "apiVersion": "modelplane.ai/v1alpha1",
    "kind": "InferenceClass",
    "metadata": {"name": "l4"},
    "spec": {
        "devices": [
            {
                "name": "gpu",
                "driver": "gpu.nvidia.com",
                "deviceClassName": "gpu.nvidia.com",
                "capacity": {"memory": {"value": "23034Mi"}},
            }
        ]
    },
}


def container(**fields: Any) -> dict[str, Any]:
    return {"name": "engine", "image": "vllm/vllm-openai:v0.23.0", **fields}


def member(role: str = "Standalone", *, claims: bool = True, nodes: int | None = None, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"role": role, "template": {"spec": {"containers": [container(**fields)]}}}
    if claims:
        result["nodeSelector"] = {"devices": [{"name": "gpu", "count": 1, "selectors": [{"cel": GPU_CEL}]}]}
    if nodes is not None:
        result["worker"] = {"nodes": nodes}
    return result


def deployment(
    name: str = "my-model",
    namespace: str = "ml-team",
    *,
    engines: list[dict[str, Any]] | None = None,
    replicas: int = 1,
    **template_spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "modelplane.ai/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"engines": engines or [{"name": "main", "members": [member()]}], **template_spec}},
        },
    }


def claim(count: int = 1, selectors: tuple[str, ...] = (GPU_CEL,)) -> DeviceClaim:
    return DeviceClaim("gpu", "gpu.nvidia.com", count, selectors)


def engine_at(name: str, *roles: tuple[str, bool], pool: str = "gpu") -> EnginePlacement:
    """An engine placement; each role is (role, claims)."""
    members = tuple(MemberPlacement(role, pool, (claim(),) if claims else ()) for role, claims in roles)
    return EnginePlacement(name, pool, members)


def placement(*items: tuple[str, str, list[ReplicaPlacement]]) -> Placement:
    """A Placement from (namespace, deployment, replicas) triples."""
    deployments = tuple(
        DeploymentPlacement(namespace, name, len(replicas), tuple(replicas)) for namespace, name, replicas in items
    )
    return Placement(deployments=deployments, pools=())


def replica(cluster_name: str, index: int, *engines: EnginePlacement) -> ReplicaPlacement:
    return ReplicaPlacement(cluster_name, index, engines or (engine_at("main", ("Standalone", True)),))


def gateway(name: str = "default", cluster_name: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"backend": "Traefik", "traefik": {"version": "40.2.0"}}
    if cluster_name:
        spec["cluster"] = cluster_name
    return {
        "apiVersion": "modelplane.ai/v1alpha1",
        "kind": "InferenceGateway",
        "metadata": {"name": name},
        "spec": spec,
    }


def edited_recipe(source: Path, target: Path, file: str, old: str, new: str) -> Path:
    """A copy of the recipe folder `source` at `target` with `old` (which must occur) replaced in one file."""
    target.mkdir()
    for path in source.glob("*.yaml"):
        text = path.read_text()
        if path.name == file:
            assert old in text, f"{old!r} not in {path}"
            text = text.replace(old, new)
        (target / path.name).write_text(text)
    return target
