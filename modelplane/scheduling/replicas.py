"""Engine → pool placement for one replica on one cluster: one pool per engine, never split (reference §2.5)."""

from __future__ import annotations

from collections.abc import Sequence

from modelplane.api.fleet import Fleet
from modelplane.api.inference_cluster import InferenceCluster, NodePool
from modelplane.api.model_deployment import Engine, ModelDeployment
from modelplane.scheduling.ledger import Demand, Trial
from modelplane.scheduling.matching import DeviceMatcher, MemberMatch
from modelplane.scheduling.placement import EnginePlacement, MemberPlacement, ReplicaPlacement

Engines = tuple[EnginePlacement, ...]
_PoolFit = tuple[str, list[Demand], list[MemberMatch]]  # (why not, claiming pods, member matches) for one pool


class EngineFitter:
    """Places, re-checks and charges a replica's engines against the ledger."""

    def __init__(self, fleet: Fleet, matcher: DeviceMatcher) -> None:
        self.fleet = fleet
        self.matcher = matcher
        self._profiles: dict[tuple[str, tuple[str, ...]], str | list[_PoolFit]] = {}
        self._signatures: dict[int, str] = {}
        self._engines: dict[int, Engine] = {}
        self._layouts: dict[str, tuple[str, ...]] = {}
        self._placements: dict[tuple[int, str, str], EnginePlacement] = {}

    def place(self, deployment: ModelDeployment, cluster: InferenceCluster, trial: Trial) -> tuple[Engines | None, str]:
        """Engines in deployment order, each on the first pool that matches and has room in the trial ledger."""
        placed: list[EnginePlacement] = []
        for engine in deployment.engines:
            engine_placement, reason = self._place_engine(engine, cluster, trial)
            if engine_placement is None:
                return None, f"engine {engine.name}: {reason}"
            placed.append(engine_placement)
        return tuple(placed), ""

    def _place_engine(
        self, engine: Engine, cluster: InferenceCluster, trial: Trial
    ) -> tuple[EnginePlacement | None, str]:
        profile = self.profile(engine, cluster)
        if isinstance(profile, str):
            return None, profile
        misses: list[str] = []
        for pool, (miss, pods, matches) in zip(cluster.spec.node_pools, profile, strict=True):
            if miss:
                misses.append(f"pool {pool.name}: {miss}")
            elif trial.take(cluster.name, pool.name, pods):
                return self._placement(engine, pool, matches), ""
            else:
                free = trial.free(cluster.name, pool.name)
                misses.append(f"pool {pool.name}: {free} free node(s), needs room for {len(pods)} pod(s)")
        return None, "; ".join(misses)

    def profile(self, engine: Engine, cluster: InferenceCluster) -> str | list[_PoolFit]:
        """How the engine fits each pool of a cluster, ignoring capacity; shared by clusters with the same classes."""
        layout = self._layouts.get(cluster.name)
        if layout is None:
            layout = self._layouts[cluster.name] = tuple(pool.class_name for pool in cluster.spec.node_pools)
        key = (self.signature(engine), layout)
        if key not in self._profiles:
            self._profiles[key] = self._build_profile(engine, cluster.spec.node_pools)
        return self._profiles[key]

    def signature(self, engine: Engine) -> str:
        """Engines that differ only in name, images or args fit the same pools the same way."""
        found = self._signatures.get(id(engine))
        if found is None:
            self._engines[id(engine)] = engine  # keeps the id stable for the plan's lifetime
            fit = engine.model_dump_json(
                include={"copies": True, "members": {"__all__": {"role", "node_selector", "worker"}}}
            )
            found = self._signatures[id(engine)] = fit
        return found

    def _build_profile(self, engine: Engine, pools: Sequence[NodePool]) -> str | list[_PoolFit]:
        matches = [self._matches(engine, pool) for pool in pools]
        claimable = [any(pool_matches[i].claims for pool_matches in matches) for i in range(len(engine.members))]
        if not any(claimable):
            misses = [
                f"pool {pool.name}: {_pool_miss(engine, pool_matches, claimable) or 'only synthetic devices'}"
                for pool, pool_matches in zip(pools, matches, strict=True)
            ]
            return "no member would claim a DRA device on any pool: " + "; ".join(misses)
        return [
            (_pool_miss(engine, pool_matches, claimable), _pods(engine, pool_matches), pool_matches)
            for pool_matches in matches
        ]

    def restamp(
        self, deployment: ModelDeployment, cluster: InferenceCluster, replica: ReplicaPlacement
    ) -> tuple[Engines | None, str]:
        """The replica under the current template, keeping its pool pins; None when a pin no longer matches."""
        observed = {engine.name: engine for engine in replica.engines}
        if sorted(observed) != sorted(engine.name for engine in deployment.engines):
            return None, "the engines changed (added, removed or renamed)"
        placed: list[EnginePlacement] = []
        for engine in deployment.engines:
            pinned = observed[engine.name]
            if [member.role for member in pinned.members] != [member.role for member in engine.members]:
                return None, f"engine {engine.name}: its members changed"
            pool = cluster.pool(pinned.pool)
            if pool is None:
                return None, f"engine {engine.name}: pool {pinned.pool} no longer exists on {cluster.name}"
            matches = self._matches(engine, pool)
            claimable = [bool(match.claims) for match in matches]
            miss = _pool_miss(engine, matches, claimable) if any(claimable) else "no member claims a DRA device"
            if miss:
                return None, f"engine {engine.name}: pinned pool {pool.name} no longer matches: {miss}"
            placed.append(self._placement(engine, pool, matches))
        return tuple(placed), ""

    def cost(self, deployment: ModelDeployment, replica: ReplicaPlacement) -> list[tuple[str, list[Demand]]] | None:
        """A retained replica's claiming pods per pinned pool under the current template; None if a pool is gone."""
        cluster = self.fleet.clusters[replica.cluster]
        by_name = {engine.name: engine for engine in deployment.engines}
        cost: list[tuple[str, list[Demand]]] = []
        for placed in replica.engines:
            engine = by_name[placed.name]
            pool = cluster.pool(placed.pool)
            if pool is None:
                return None
            cost.append((pool.name, _pods(engine, self._matches(engine, pool))))
        return cost

    def _placement(self, engine: Engine, pool: NodePool, matches: Sequence[MemberMatch]) -> EnginePlacement:
        """Immutable and the same for every replica of the engine on the pool: built once, shared."""
        key = (id(engine), pool.name, pool.class_name)
        found = self._placements.get(key)
        if found is None:
            self._engines[id(engine)] = engine  # keeps the id stable for the plan's lifetime
            found = self._placements[key] = _engine_placement(engine, pool.name, matches)
        return found

    def _matches(self, engine: Engine, pool: NodePool) -> list[MemberMatch]:
        return [self.matcher.match(member, pool.class_name) for member in engine.members]


def _pool_miss(engine: Engine, matches: Sequence[MemberMatch], claimable: Sequence[bool]) -> str:
    for index, (member, match) in enumerate(zip(engine.members, matches, strict=True)):
        if not match.ok:
            return f"member {index} ({member.role}): {match.reason}"
        if claimable[index] and not match.claims:
            return f"member {index} ({member.role}) would claim no DRA device here"
    return ""


def _pods(engine: Engine, matches: Sequence[MemberMatch]) -> list[Demand]:
    """Each claiming pod of the engine: pods × copies per member; claimless members cost nothing."""
    pods: list[Demand] = []
    for member, match in zip(engine.members, matches, strict=True):
        if match.claims:
            pods.extend([match.demand] * (member.pods * engine.copies))
    return pods


def _engine_placement(engine: Engine, pool: str, matches: Sequence[MemberMatch]) -> EnginePlacement:
    members = tuple(
        MemberPlacement(member.role, pool, match.claims) for member, match in zip(engine.members, matches, strict=True)
    )
    return EnginePlacement(engine.name, pool, members)
