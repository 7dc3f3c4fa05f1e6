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

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field

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
    cordon_filter,
    selector_filter,
    taint_filter,
)
from modelplane.scheduling.ledger import Demand, Ledger, PoolLedger
from modelplane.scheduling.matching import DeviceMatcher
from modelplane.scheduling.placement import (
    DeploymentPlacement,
    Placement,
    PoolUsage,
    ReplicaPlacement,
)
from modelplane.scheduling.replicas import EngineFitter, Engines
from modelplane.scheduling.shortfall import Shortfall
from modelplane.scheduling.spread import Spread


@dataclass
class _Progress:
    """One deployment's state while planning."""

    deployment: ModelDeployment
    kept: list[ReplicaPlacement] = field(default_factory=list)
    # Replicas on a cluster in a drain's surge: they hold their place but do not count towards `replicas`.
    draining: list[ReplicaPlacement] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    unplaced: int = 0  # replicas fill could not place: explained once the ledger is final


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
        self.shortfall = Shortfall(self.fitter, self.matcher, self.ledger, packing=fleet.settings.gpu_packing)
        self._candidates: dict[tuple, dict[str, None]] = {}
        self._eligible: dict[tuple, list[InferenceCluster]] = {}
        self._filtered: dict[tuple, tuple[int, str]] = {}  # per shape: clusters filtered out, the first one's why
        self._shortfalls: dict[tuple, str] = {}
        self._final_verdicts: dict[tuple, dict[str, str]] = {}

    def eligibility(self, deployment: ModelDeployment, cluster: InferenceCluster, effects: tuple[str, ...]) -> Verdict:
        """Cluster-level filters in order; the first failing one is the reason."""
        cache = self.fleet.cache_for(deployment)
        tolerations = deployment.spec.template.spec.tolerations
        for verdict in (
            cordon_filter(effects == NEW_REPLICA_EFFECTS and self.fleet.settings.closed(cluster.name), cluster),
            selector_filter(cluster_labels_wanted(deployment, cache), cluster),
            cache_filter(cache, cluster),
            taint_filter(tolerations, cluster, effects),
        ):
            if not verdict.ok:
                return verdict
        return PASS

    def retain(self, item: _Progress, previous: tuple[ReplicaPlacement, ...]) -> None:
        seen: set[tuple[str, int]] = set()
        # Replicas on one cluster with the same pins get the same verdict: decided once per (cluster, engines). The
        # record shares one engines tuple between such replicas and `previous` keeps it alive, so its id is the key.
        verdicts: dict[tuple[str, int], tuple[Engines | None, str]] = {}
        for replica in sorted(previous, key=lambda replica: replica.identity):
            if replica.identity in seen:
                continue
            seen.add(replica.identity)
            key = (replica.cluster, id(replica.engines))
            if key not in verdicts:
                verdicts[key] = self._still_fits(item.deployment, replica)
            engines, why = verdicts[key]
            phase = self.fleet.settings.draining.get(replica.cluster)
            if engines is None or phase == "remove":
                why = why if engines is None else f"cluster {replica.cluster} is drained"
                item.reasons.append(f"re-placing {replica.cluster}/{replica.index}: {why}")
            elif phase == "surge":
                why = f"kept on {replica.cluster} while its replacement comes up elsewhere (drain)"
                item.draining.append(ReplicaPlacement(replica.cluster, replica.index, engines, why))
            else:
                item.kept.append(ReplicaPlacement(replica.cluster, replica.index, engines, why))

    def _still_fits(self, deployment: ModelDeployment, replica: ReplicaPlacement) -> tuple[Engines | None, str]:
        """The replica's engines under the current template and why it stays; None and why it cannot."""
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
        return engines, f"kept on {cluster.name}/{pools}: still selected and the pinned pool still matches (sticky)"

    def scale_down(self, item: _Progress) -> None:
        victims = _surplus(item.kept, item.deployment.spec.replicas)
        if not victims:
            return
        gone = {victim.identity for victim in victims}
        item.kept = [replica for replica in item.kept if replica.identity not in gone]
        item.reasons.extend(f"scaled down: removed {victim.cluster}/{victim.index}" for victim in victims)

    def charge_retained(self, item: _Progress) -> None:
        item.draining = self._charged(item, item.draining)
        item.kept = self._charged(item, item.kept)

    def _charged(self, item: _Progress, replicas: list[ReplicaPlacement]) -> list[ReplicaPlacement]:
        """The replicas whose pools still have room for them under the current template, charged to the ledger."""
        charged: list[ReplicaPlacement] = []
        costs: dict[tuple[str, int], list[tuple[str, list[Demand]]] | None] = {}  # keyed as in retain
        for replica in replicas:
            key = (replica.cluster, id(replica.engines))
            if key not in costs:
                costs[key] = self.fitter.cost(item.deployment, replica)
            cost = costs[key]
            trial = self.ledger.trial()
            if cost is not None and all(trial.take(replica.cluster, pool, pods) for pool, pods in cost):
                trial.commit()
                charged.append(replica)
                continue
            item.reasons.append(
                f"re-placing {replica.cluster}/{replica.index}: its pool no longer has room for the current template"
            )
        return charged

    def fill(self, item: _Progress) -> None:
        deployment = item.deployment
        missing = deployment.spec.replicas - len(item.kept)
        if missing <= 0:
            return
        shape = self._shape(deployment)
        spread = Spread(self._candidates_for(deployment, shape), [*item.kept, *item.draining])
        for _ in range(missing):
            placed = self._place_one(item, spread)
            if placed is None:
                item.unplaced = deployment.spec.replicas - len(item.kept)
                return
            item.kept.append(placed)

    def _place_one(self, item: _Progress, spread: Spread) -> ReplicaPlacement | None:
        """Try clusters by (replicas of this deployment there, name); the first that fits wins.

        The ledger only shrinks during fill, so a cluster that cannot host this shape now never will in this plan:
        it is dropped from the candidates shared by every deployment of the same shape.
        """
        while (name := spread.next()) is not None:
            trial = self.ledger.trial()
            engines, reason = self.fitter.place(item.deployment, self.fleet.clusters[name], trial)
            if engines is None:
                item.rejected[name] = reason
                spread.reject(name)
                continue
            trial.commit()
            index, before = spread.placed(name)
            return _new_replica(name, index, engines, before)
        return None

    def _shape(self, deployment: ModelDeployment) -> tuple:
        """What decides where a deployment may go: deployments of one shape share their candidate clusters."""
        spec = deployment.spec.template.spec
        cache = self.fleet.cache_for(deployment)
        return (
            tuple(sorted(cluster_labels_wanted(deployment, cache).items())),
            cache.key if cache else None,
            tuple(toleration.model_dump_json() for toleration in spec.tolerations),
            tuple(self.fitter.signature(engine) for engine in deployment.engines),
        )

    def _candidates_for(self, deployment: ModelDeployment, shape: tuple) -> dict[str, None]:
        """Clusters that pass the filters for new replicas, in name order, shared by deployments of one shape."""
        if shape not in self._candidates:
            eligible: list[InferenceCluster] = []
            filtered, first = 0, ""
            for name, cluster in self.fleet.clusters.items():
                verdict = self.eligibility(deployment, cluster, NEW_REPLICA_EFFECTS)
                if verdict.ok:
                    eligible.append(cluster)
                else:
                    filtered, first = filtered + 1, first or f"{name}: {verdict.reason}"
            self._eligible[shape], self._filtered[shape] = eligible, (filtered, first)
            self._candidates[shape] = {cluster.name: None for cluster in eligible}
        return self._candidates[shape]

    def _shortfall(self, item: _Progress) -> str:
        """Why fill left replicas out, the same for every deployment of one shape (and engine names)."""
        deployment = item.deployment
        shape = self._shape(deployment)
        key = (shape, tuple(engine.name for engine in deployment.engines))
        if key not in self._shortfalls:
            eligible, (filtered, first) = self._eligible[shape], self._filtered[shape]
            if eligible:
                why = self.shortfall.reason(deployment, eligible)
            elif filtered:
                why = f"no cluster passes the selector, cache and taint filters: {first}"
                why += f" (and {filtered - 1} more cluster(s))" if filtered > 1 else ""
            else:
                why = "the fleet has no InferenceCluster"
            self._shortfalls[key] = why
        return f"{item.unplaced} replica(s) unplaced: {self._shortfalls[key]}"

    def placement(self, progress: list[_Progress]) -> Placement:
        deployments = tuple(self._deployment_placement(item) for item in progress)
        pools = tuple(
            PoolUsage(cluster, pool, ledger.nodes, ledger.used) for (cluster, pool), ledger in self.ledger.items()
        )
        notices = self.fleet.notices
        if not self.fleet.settings.gpu_packing:
            notices += _packing_note(self.ledger)
        return Placement(deployments=deployments, pools=pools, notices=notices)

    def _deployment_placement(self, item: _Progress) -> DeploymentPlacement:
        deployment = item.deployment
        if deployment.spec.replicas == 0:
            item.reasons.append("scaled to zero")
        if item.unplaced:
            item.reasons.append(self._shortfall(item))
        rejected: tuple[tuple[str, str], ...] = ()
        if self.explain:
            rejected = tuple(sorted(self._rejections(item).items()))
        return DeploymentPlacement(
            namespace=deployment.namespace,
            name=deployment.name,
            desired=deployment.spec.replicas,
            replicas=tuple(sorted([*item.kept, *item.draining], key=lambda replica: replica.identity)),
            reasons=tuple(item.reasons),
            rejected=rejected,
            draining=len(item.draining),
        )

    def _rejections(self, item: _Progress) -> dict[str, str]:
        """Why each cluster that hosts none of the deployment's replicas was not used."""
        deployment = item.deployment
        hosting = {replica.cluster for replica in [*item.kept, *item.draining]}
        # Past fill the ledger is final: a cluster's verdict is the same for every deployment of one shape (and
        # engine names, which the reasons quote).
        key = (self._shape(deployment), tuple(engine.name for engine in deployment.engines))
        verdicts = self._final_verdicts.setdefault(key, {})
        reasons: dict[str, str] = {}
        for name, cluster in self.fleet.clusters.items():
            if name in hosting:
                continue
            if name in item.rejected:  # a candidate turned down while this deployment filled
                reasons[name] = item.rejected[name]
                continue
            if name not in verdicts:
                verdicts[name] = self._final_verdict(deployment, cluster)
            reasons[name] = verdicts[name]
        return reasons

    def _final_verdict(self, deployment: ModelDeployment, cluster: InferenceCluster) -> str:
        verdict = self.eligibility(deployment, cluster, NEW_REPLICA_EFFECTS)
        if not verdict.ok:
            return verdict.reason
        # Dropped by an earlier deployment of the same shape, or never needed: ask the final ledger.
        engines, reason = self.fitter.place(deployment, cluster, self.ledger.trial())
        return reason if engines is None else "fits, but not needed: spread chose other clusters"


def _surplus(kept: list[ReplicaPlacement], replicas: int) -> list[ReplicaPlacement]:
    """The replicas to remove, in order: each time the highest index on the most-loaded cluster (ties: later name)."""
    surplus = len(kept) - replicas
    if surplus <= 0:
        return []
    by_cluster: dict[str, list[ReplicaPlacement]] = {}
    for replica in sorted(kept, key=lambda replica: replica.identity):
        by_cluster.setdefault(replica.cluster, []).append(replica)
    names = sorted(by_cluster)
    # A min-heap of (-load, -rank of the name) pops the most-loaded cluster, the later name on a tie.
    heap = [(-len(by_cluster[name]), -rank) for rank, name in enumerate(names)]
    heapq.heapify(heap)
    victims: list[ReplicaPlacement] = []
    for _ in range(surplus):
        minus_load, minus_rank = heapq.heappop(heap)
        victims.append(by_cluster[names[-minus_rank]].pop())
        if minus_load < -1:
            heapq.heappush(heap, (minus_load + 1, minus_rank))
    return victims


def _new_replica(name: str, index: int, engines: Engines, before: int) -> ReplicaPlacement:
    pools = ", ".join(sorted({engine.pool for engine in engines}))
    spread = "spread" if before == 0 else "packed: every cluster with fewer replicas is full or rejected"
    why = f"placed on {name}/{pools} ({spread}; {before} replica(s) of this deployment there before)"
    return ReplicaPlacement(name, index, engines, why)


def _packing_note(ledger: Ledger) -> tuple[str, ...]:
    """Whole-node charging strands devices: say so when GPU packing would fit the same pods on fewer nodes."""
    gains = []
    for (cluster, pool), usage in ledger.items():
        packed = usage.packed() if usage.used > 1 else usage.used
        if packed < usage.used:
            gains.append((usage.used - packed, f"{cluster}/{pool}", usage.used, packed))
    if not gains:
        return ()
    used, packed = sum(gain[2] for gain in gains), sum(gain[3] for gain in gains)
    _, where, most, fewest = max(gains, key=lambda gain: gain[0])  # the first of the largest gains
    return (
        f"whole-node charging (the default) gives every claiming pod a node of its own: {used} node(s) in "
        f"{len(gains)} pool(s) hold pods that GPU packing would fit on {packed} (e.g. {where}: {most} → {fewest}); "
        "set modelplane:scheduling.gpuPacking to true to pack them",
    )


def _initial_ledger(fleet: Fleet, *, packing: bool) -> Ledger:
    pools: dict[tuple[str, str], PoolLedger] = {}
    for cluster in fleet.clusters.values():
        for pool in cluster.spec.node_pools:
            devices = fleet.classes[pool.class_name].spec.devices
            capacity = tuple(device.count for device in devices)
            pools[(cluster.name, pool.name)] = PoolLedger(pool.nodes, capacity, packing=packing)
    return Ledger(pools)
