"""Cluster-level filters: each rule is a small function returning a Verdict with its reason."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from modelplane.api.inference_cluster import InferenceCluster, Taint
from modelplane.api.model_cache import ModelCache
from modelplane.api.model_deployment import ModelDeployment, Toleration

NEW_REPLICA_EFFECTS = ("NoSchedule", "NoExecute")
EVICTING_EFFECTS = ("NoExecute",)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""


PASS = Verdict(ok=True)


def cluster_labels_wanted(deployment: ModelDeployment, cache: ModelCache | None) -> dict[str, str]:
    """The deployment's clusterSelector merged with its cache's; the cache wins a conflict, as in Modelplane."""
    spec = deployment.spec.template.spec
    wanted = dict(spec.cluster_selector.match_labels) if spec.cluster_selector else {}
    if cache and cache.spec.cluster_selector:
        wanted.update(cache.spec.cluster_selector.match_labels)
    return wanted


def selector_filter(wanted: Mapping[str, str], cluster: InferenceCluster) -> Verdict:
    labels = cluster.metadata.labels
    for key, value in sorted(wanted.items()):
        if labels.get(key) != value:
            return Verdict(False, f"label {key}={value} wanted, cluster has {labels.get(key, '<unset>')}")
    return PASS


def cache_filter(cache: ModelCache | None, cluster: InferenceCluster) -> Verdict:
    """A deployment with a cache only runs where the cache can be staged (a ReadWriteMany class is known)."""
    if cache is None or cluster.cache_storage_class:
        return PASS
    return Verdict(False, f"ModelCache {cache.name}: cluster has no cache storage class")


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Kubernetes toleration matching: empty effect matches any; Exists with no key matches every taint."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.operator == "Exists":
        return not toleration.key or toleration.key == taint.key
    return toleration.key == taint.key and (toleration.value or "") == (taint.value or "")


def untolerated(tolerations: Sequence[Toleration], taints: Iterable[Taint], effects: Sequence[str]) -> list[Taint]:
    return [
        taint
        for taint in taints
        if taint.effect in effects and not any(tolerates(toleration, taint) for toleration in tolerations)
    ]


def cordon_filter(closed: bool, cluster: InferenceCluster) -> Verdict:
    """`modelplane cordon` / `drain`: no new replica on the cluster; its replicas stay (a drain moves them)."""
    return Verdict(False, f"cluster {cluster.name} is cordoned") if closed else PASS


def taint_filter(tolerations: Sequence[Toleration], cluster: InferenceCluster, effects: Sequence[str]) -> Verdict:
    blocking = untolerated(tolerations, cluster.spec.taints, effects)
    if not blocking:
        return PASS
    shown = ", ".join(f"{taint.key}{'=' + taint.value if taint.value else ''}:{taint.effect}" for taint in blocking)
    return Verdict(False, f"taint {shown} not tolerated")
