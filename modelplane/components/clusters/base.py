"""What every cluster source provides, and the GPU-pool settings EKS and GKE share (reference §1.10, §7)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pulumi
import pulumi_kubernetes as k8s

from modelplane.api.inference_class import InferenceClass
from modelplane.api.inference_cluster import InferenceCluster, NodePool


class ProvisioningError(pulumi.RunError):
    """A cluster this program cannot provision as declared (shown without a traceback)."""


class ClusterSource(Protocol):
    """A provisioned (or adopted) cluster: how to reach it, and its source-specific in-cluster extras."""

    kubeconfig: pulumi.Output[str]
    ready: Sequence[pulumi.Resource]  # what must exist before anything is applied to the cluster (nodes, addons)
    nvidia_driver_root: str

    def cache_storage(self, parent: pulumi.Resource, provider: k8s.Provider) -> str | None:
        """Create the ReadWriteMany storage ModelCaches use (children of `parent`); return its class name."""
        ...

    def extras(self, parent: pulumi.Resource, provider: k8s.Provider) -> None:
        """Source-specific in-cluster installs (e.g. the EKS cluster-autoscaler)."""
        ...


@dataclass(frozen=True)
class Scaling:
    minimum: int
    maximum: int
    desired: int


def pool_scaling(pool: NodePool) -> Scaling:
    """Autoscaling bounds: up to `nodes` (what the scheduler plans against); a pool without max is fixed size."""
    maximum = max(pool.nodes, 1)
    if pool.max_node_count is None:
        return Scaling(pool.node_count, maximum, pool.node_count)
    minimum = pool.min_node_count or 0
    return Scaling(minimum, maximum, min(max(pool.node_count, minimum), maximum))


def gpu_pools(
    cluster: InferenceCluster, classes: Mapping[str, InferenceClass], block: str
) -> list[tuple[NodePool, Any]]:
    """Each pool with its class's `provisioning.<block>`; every pool lacking one is reported before failing."""
    found, problems = [], []
    for pool in cluster.spec.node_pools:
        provisioning = classes[pool.class_name].spec.provisioning
        settings = getattr(provisioning, block, None) if provisioning else None
        if settings is None:
            problems.append(
                f"InferenceCluster {cluster.name}: pool {pool.name}: InferenceClass {pool.class_name} "
                f"has no provisioning.{block} block, so {cluster.spec.cluster.source} cannot create it"
            )
        found.append((pool, settings))
    for problem in problems:
        pulumi.log.error(problem)
    if problems:
        raise ProvisioningError(f"InferenceCluster {cluster.name}: {len(problems)} pool(s) cannot be provisioned")
    return found


def exec_kubeconfig(name: str, endpoint: str, ca_data: str, command: str, args: Sequence[str]) -> str:
    """A kubeconfig that gets short-lived credentials from a CLI plugin, so no long-lived token is stored."""
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": command, "args": list(args)}}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    return json.dumps(config)
