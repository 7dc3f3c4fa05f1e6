"""The node ledger: free capacity per (cluster, pool) across all deployments. It never overcommits.

By default every claiming pod is charged one whole node, as Modelplane does (#172). With GPU packing on, each
node keeps its free device counts and pods that need fewer devices than a node has share nodes (first fit,
largest pods first).

Free capacity only ever shrinks during a plan. So once no node before index i fits a pod demand, none ever will:
each pool remembers that index per demand and first fit starts there, which keeps a big pool's cost per pod
constant instead of growing with the nodes already full. A trial copies only the nodes it writes.
"""

from __future__ import annotations

from collections.abc import Sequence

Demand = tuple[int, ...]  # devices taken per class device, in class order


class PoolLedger:
    """Free capacity of one pool: whole free nodes, or each node's free devices when packing."""

    __slots__ = ("_node_free", "_starts", "capacity", "demands", "idle", "nodes")

    def __init__(self, nodes: int, capacity: Demand, *, packing: bool) -> None:
        self.nodes = nodes
        self.capacity = capacity
        self.idle = nodes  # nodes with nothing allocated
        self._node_free: list[Demand] | None = [capacity] * nodes if packing else None
        self._starts: dict[Demand, int] = {}  # per demand: no node before this index fits it
        self.demands: dict[Demand, int] = {}  # whole-node charging: pods charged, per demand

    @property
    def free(self) -> int:
        """Nodes with nothing allocated."""
        return self.idle

    @property
    def used(self) -> int:
        return self.nodes - self.idle

    def packed(self) -> int:
        """Whole-node charging: the nodes its pods would take with GPU packing (first fit, largest pods first)."""
        if _fewest_nodes(self.demands, self.capacity) >= self.used:
            return self.used  # one-device nodes, say: nothing to gain, so no fit to run
        packing = PoolLedger(self.used, self.capacity, packing=True)
        draft = PoolDraft(packing)
        draft.take([demand for demand, count in self.demands.items() for _ in range(count)])
        return self.used - draft.idle

    def may_fit(self, pods: Sequence[Demand]) -> bool:
        """A cheap necessary condition, checked before anything is staged."""
        if self._node_free is None:
            return len(pods) <= self.idle
        return len(pods) <= self.nodes * max(1, max(self.capacity, default=1))


class PoolDraft:
    """One trial's view of a pool: the nodes it allocated on, each copied on first write; `apply()` commits."""

    __slots__ = ("_nodes", "_pool", "_starts", "_taken", "idle")

    def __init__(self, pool: PoolLedger) -> None:
        self._pool = pool
        self.idle = pool.idle
        self._nodes: dict[int, Demand] = {}
        self._starts: dict[Demand, int] = {}
        self._taken: list[Demand] = []

    def take(self, pods: Sequence[Demand]) -> bool:
        """Allocate every pod or none; True when they all fit."""
        pool = self._pool
        if pool._node_free is None:
            if len(pods) > self.idle:
                return False
            self.idle -= len(pods)
            self._taken.extend(pods)
            return True
        nodes, starts, idle = dict(self._nodes), dict(self._starts), self.idle
        for number, pod in enumerate(sorted(pods, key=lambda demand: (-sum(demand), demand))):
            start = starts.get(pod, pool._starts.get(pod, 0))
            index = _first_fit(pod, start, nodes, pool._node_free)
            if index is None:
                if number == 0:  # nothing was staged yet: the scan holds for this trial whatever happens next
                    self._starts[pod] = len(pool._node_free)
                return False
            node = nodes.get(index, pool._node_free[index])
            taken = tuple(free - wanted for free, wanted in zip(node, pod, strict=True))
            if node == pool.capacity and taken != node:
                idle -= 1
            nodes[index], starts[pod] = taken, index
        self._nodes, self._starts, self.idle = nodes, starts, idle
        return True

    def apply(self) -> None:
        pool = self._pool
        pool.idle = self.idle
        for demand in self._taken:
            pool.demands[demand] = pool.demands.get(demand, 0) + 1
        if pool._node_free is not None:
            for index, node in self._nodes.items():
                pool._node_free[index] = node
            pool._starts.update(self._starts)


def _fewest_nodes(demands: dict[Demand, int], capacity: Demand) -> int:
    """No packing takes fewer nodes than its busiest device kind fills."""
    totals = [sum(demand[index] * count for demand, count in demands.items()) for index in range(len(capacity))]
    return max((-(-total // free) for total, free in zip(totals, capacity, strict=True) if free), default=0)


def _first_fit(pod: Demand, start: int, staged: dict[int, Demand], nodes: list[Demand]) -> int | None:
    for index in range(start, len(nodes)):
        node = staged.get(index, nodes[index])
        if all(free >= wanted for free, wanted in zip(node, pod, strict=True)):
            return index
    return None


class Ledger:
    """All pools of the fleet. `trial()` gives a scratch view for one replica's engines, committed only on success."""

    def __init__(self, pools: dict[tuple[str, str], PoolLedger]) -> None:
        self._pools = pools

    def pool(self, cluster: str, pool: str) -> PoolLedger | None:
        return self._pools.get((cluster, pool))

    def trial(self) -> Trial:
        return Trial(self)

    def items(self) -> list[tuple[tuple[str, str], PoolLedger]]:
        return sorted(self._pools.items())


class Trial:
    """Copy-on-write view of the ledger; `commit()` writes the touched pools back."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._drafts: dict[tuple[str, str], PoolDraft] = {}

    def take(self, cluster: str, pool: str, pods: Sequence[Demand]) -> bool:
        key = (cluster, pool)
        draft = self._drafts.get(key)
        if draft is None:
            current = self._ledger.pool(cluster, pool)
            if current is None or not current.may_fit(pods):
                return False
            draft = self._drafts[key] = PoolDraft(current)
        return draft.take(pods)

    def free(self, cluster: str, pool: str) -> int:
        draft = self._drafts.get((cluster, pool))
        if draft is not None:
            return draft.idle
        current = self._ledger.pool(cluster, pool)
        return current.free if current else 0

    def commit(self) -> None:
        for draft in self._drafts.values():
            draft.apply()
