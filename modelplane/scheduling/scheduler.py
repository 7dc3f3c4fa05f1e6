"""The fleet scheduler: a pure, deterministic function (Fleet, previous placement) → Placement.

Shaped like Modelplane's (reference §2), planned for the whole fleet at once:
1. retain: each deployment keeps the replicas of the previous placement whose cluster is still selected, not
   NoExecute-tainted against it, and whose pinned pool still matches the current template (sticky);
2. scale down: surplus replicas go, most-loaded cluster first, then the later cluster name, then the highest index;
3. charge: retained replicas of every deployment are charged to the node ledger before anything new is placed,
   so a new replica can never take the nodes of a running one; a replica whose pool no longer has room for the
   current template is re-placed (the ledger never overcommits);
4. fill: deployments in namespace/name order place their missing replicas one at a time on the eligible
   cluster with the fewest replicas of that deployment (ties by name): spread first, pack when capacity forces it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import chain

from modelplane.api.fleet import Fleet
from modelplane.api.inference_cluster import InferenceCluster
from modelplane.api.model_deployment import ModelDeployment
from modelplane.scheduling.cel import SelectorEvaluator
from modelplane.scheduling.filters import (
    EVICTING_EFFECTS,
    NEW_REPLICA_EFFECTS,
    PASS,
    Verdict,
    cache_filter,
    cluster_labels_wanted,
    selector_filter,
    taint_filter,
)
from modelplane.scheduling.ledger import Ledger, PoolLedger
from modelplane.scheduling.matching import DeviceMatcher
from modelplane.scheduling.placement import (
    DeploymentPlacement,
    Placement,
    PoolUsage,
    ReplicaPlacement,
)
from modelplane.scheduling.replicas import EngineFitter, Engines


@dataclass
class _Progress:
    """One deployment's state while planning."""

    deployment: ModelDeployment
    kept: list[ReplicaPlacement] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)


def schedule(
    fleet: Fleet,
    previous: Mapping[str, tuple[ReplicaPlacement, ...]] | None = None,
    *,
    explain: bool = False,
) -> Placement:
    """Place every deployment's replicas; `previous` is the last placement per `namespace/name`."""
    planner = _Planner(fleet, explain=explain)
    progress = [_Progress(deployment) for deployment in fleet.deployments.values()]
    for item in progress:
        planner.retain(item, (previous or {}).get(item.deployment.key, ()))
        planner.scale_down(item)
    for item in progress:
        planner.charge_retained(item)
    for item in progress:
        planner.fill(item)
    return planner.placement(progress)


class _Planner:
    def __init__(self, fleet: Fleet, *, explain: bool) -> None:
        self.fleet = fleet
        self.explain = explain
        self.matcher = DeviceMatcher(fleet.classes, SelectorEvaluator())
        self.ledger = _initial_ledger(fleet, packing=fleet.settings.gpu_packing)
        self.fitter = EngineFitter(fleet, self.matcher)
        self._candidates: dict[tuple, dict[str, None]] = {}

    def eligibility(self, deployment: ModelDeployment, cluster: InferenceCluster, effects: tuple[str, ...]) -> Verdict:
        """Cluster-level filters in order; the first failing one is the reason."""
        cache = self.fleet.cache_for(deployment)
        tolerations = deployment.spec.template.spec.tolerations
        for verdict in (
            selector_filter(cluster_labels_wanted(deployment, cache), cluster),
            cache_filter(cache, cluster),
            taint_filter(tolerations, cluster, effects),
        ):
            if not verdict.ok:
                return verdict
        return PASS

    def retain(self, item: _Progress, previous: tuple[ReplicaPlacement, ...]) -> None:
        seen: set[tuple[str, int]] = set()
        for replica in sorted(previous, key=lambda replica: replica.identity):
            if replica.identity in seen:
                continue
            seen.add(replica.identity)
            kept, reason = self._still_fits(item.deployment, replica)
            if kept is None:
                item.reasons.append(f"re-placing {replica.cluster}/{replica.index}: {reason}")
            else:
                item.kept.append(kept)

    def _still_fits(
        self, deployment: ModelDeployment, replica: ReplicaPlacement
    ) -> tuple[ReplicaPlacement | None, str]:
        cluster = self.fleet.clusters.get(replica.cluster)
        if cluster is None:
            return None, f"cluster {replica.cluster} is gone"
        verdict = self.eligibility(deployment, cluster, EVICTING_EFFECTS)
        if not verdict.ok:
            return None, verdict.reason
        engines, reason = self.fitter.restamp(deployment, cluster, replica)
        if engines is None:
            return None, reason
        pools = ", ".join(sorted({engine.pool for engine in engines}))
        why = f"kept on {cluster.name}/{pools}: still selected and the pinned pool still matches (sticky)"
        return ReplicaPlacement(replica.cluster, replica.index, engines, why), ""

    def scale_down(self, item: _Progress) -> None:
        while len(item.kept) > item.deployment.spec.replicas:
            load = Counter(replica.cluster for replica in item.kept)
            victim = max(item.kept, key=lambda replica: (load[replica.cluster], replica.cluster, replica.index))
            item.kept.remove(victim)
            item.reasons.append(f"scaled down: removed {victim.cluster}/{victim.index}")

    def charge_retained(self, item: _Progress) -> None:
        for replica in list(item.kept):
            trial = self.ledger.trial()
            if self.fitter.charge(item.deployment, replica, trial):
                trial.commit()
                continue
            item.kept.remove(replica)
            item.reasons.append(
                f"re-placing {replica.cluster}/{replica.index}: its pool no longer has room for the current template"
            )

    def fill(self, item: _Progress) -> None:
        deployment = item.deployment
        while len(item.kept) < deployment.spec.replicas:
            placed = self._place_one(item)
            if placed is None:
                missing = deployment.spec.replicas - len(item.kept)
                item.reasons.append(self._shortfall(item, missing))
                return
            item.kept.append(placed)

    def _place_one(self, item: _Progress) -> ReplicaPlacement | None:
        """Try clusters by (replicas of this deployment there, name); the first that fits wins.

        The ledger only shrinks during fill, so a cluster that cannot host this shape now never will in this plan:
        it is dropped from the candidates shared by every deployment of the same shape.
        """
        candidates = self._candidates_for(item)
        counts = Counter(replica.cluster for replica in item.kept)
        loaded = sorted((count, name) for name, count in counts.items() if name in candidates)
        order = chain((name for name in candidates if not counts[name]), (name for _, name in loaded))
        failed: list[str] = []
        placed = None
        for name in order:
            trial = self.ledger.trial()
            engines, reason = self.fitter.place(item.deployment, self.fleet.clusters[name], trial)
            if engines is None:
                failed.append(name)
                item.rejected[name] = reason
                continue
            trial.commit()
            placed = self._new_replica(item, name, engines, counts[name])
            break
        for name in failed:
            del candidates[name]
        return placed

    def _new_replica(self, item: _Progress, name: str, engines: Engines, before: int) -> ReplicaPlacement:
        taken = {replica.index for replica in item.kept if replica.cluster == name}
        index = next(number for number in range(len(taken) + 1) if number not in taken)
        pools = ", ".join(sorted({engine.pool for engine in engines}))
        spread = "spread" if before == 0 else "packed: every cluster with fewer replicas is full or rejected"
        why = f"placed on {name}/{pools} ({spread}; {before} replica(s) of this deployment there before)"
        return ReplicaPlacement(name, index, engines, why)

    def _candidates_for(self, item: _Progress) -> dict[str, None]:
        """Clusters that pass the filters for new replicas, in name order, shared by deployments of one shape."""
        deployment = item.deployment
        spec = deployment.spec.template.spec
        cache = self.fleet.cache_for(deployment)
        key = (
            tuple(sorted(cluster_labels_wanted(deployment, cache).items())),
            cache.key if cache else None,
            tuple(toleration.model_dump_json() for toleration in spec.tolerations),
            tuple(self.fitter.signature(engine) for engine in deployment.engines),
        )
        if key not in self._candidates:
            self._candidates[key] = {
                name: None
                for name, cluster in self.fleet.clusters.items()
                if self.eligibility(deployment, cluster, NEW_REPLICA_EFFECTS).ok
            }
        return self._candidates[key]

    def _shortfall(self, item: _Progress, missing: int) -> str:
        eligible = sum(
            1
            for cluster in self.fleet.clusters.values()
            if self.eligibility(item.deployment, cluster, NEW_REPLICA_EFFECTS).ok
        )
        if not eligible:
            return f"{missing} replica(s) unplaced: no cluster passes the selector, cache and taint filters"
        return (
            f"{missing} replica(s) unplaced: none of {eligible} eligible cluster(s) has a pool that fits and has room"
        )

    def placement(self, progress: list[_Progress]) -> Placement:
        deployments = tuple(self._deployment_placement(item) for item in progress)
        pools = tuple(
            PoolUsage(cluster, pool, ledger.nodes, ledger.used) for (cluster, pool), ledger in self.ledger.items()
        )
        return Placement(deployments=deployments, pools=pools, notices=self.fleet.notices)

    def _deployment_placement(self, item: _Progress) -> DeploymentPlacement:
        deployment = item.deployment
        if deployment.spec.replicas == 0:
            item.reasons.append("scaled to zero")
        rejected: tuple[tuple[str, str], ...] = ()
        if self.explain:
            rejected = tuple(sorted(self._rejections(item).items()))
        return DeploymentPlacement(
            namespace=deployment.namespace,
            name=deployment.name,
            desired=deployment.spec.replicas,
            replicas=tuple(sorted(item.kept, key=lambda replica: replica.identity)),
            reasons=tuple(item.reasons),
            rejected=rejected,
        )

    def _rejections(self, item: _Progress) -> dict[str, str]:
        """Why each cluster that hosts none of the deployment's replicas was not used."""
        hosting = {replica.cluster for replica in item.kept}
        reasons: dict[str, str] = {}
        for name, cluster in self.fleet.clusters.items():
            if name in hosting:
                continue
            verdict = self.eligibility(item.deployment, cluster, NEW_REPLICA_EFFECTS)
            if not verdict.ok:
                reasons[name] = verdict.reason
            elif name in item.rejected:
                reasons[name] = item.rejected[name]
            else:
                # Dropped by an earlier deployment of the same shape, or never needed: ask the final ledger.
                engines, reason = self.fitter.place(item.deployment, cluster, self.ledger.trial())
                reasons[name] = reason if engines is None else "fits, but not needed: spread chose other clusters"
        return reasons


def _initial_ledger(fleet: Fleet, *, packing: bool) -> Ledger:
    pools: dict[tuple[str, str], PoolLedger] = {}
    for cluster in fleet.clusters.values():
        for pool in cluster.spec.node_pools:
            devices = fleet.classes[pool.class_name].spec.devices
            capacity = tuple(device.count for device in devices)
            pools[(cluster.name, pool.name)] = PoolLedger(pool.nodes, capacity, packing=packing)
    return Ledger(pools)
