"""The node ledger: free capacity per (cluster, pool) across all deployments. It never overcommits.

By default every claiming pod is charged one whole node, as Modelplane does (#172). With GPU packing on, each
node keeps its free device counts and pods that need fewer devices than a node has share nodes (first fit,
largest pods first).
"""

from __future__ import annotations

from collections.abc import Sequence

Demand = tuple[int, ...]  # devices taken per class device, in class order


class PoolLedger:
    """Free capacity of one pool: whole free nodes, or each node's free devices when packing."""

    __slots__ = ("_free_nodes", "_node_free", "capacity", "nodes")

    def __init__(self, nodes: int, capacity: Demand, *, packing: bool) -> None:
        self.nodes = nodes
        self.capacity = capacity
        self._free_nodes = nodes
        self._node_free: list[list[int]] | None = [list(capacity) for _ in range(nodes)] if packing else None

    def copy(self) -> PoolLedger:
        clone = PoolLedger.__new__(PoolLedger)
        clone.nodes, clone.capacity, clone._free_nodes = self.nodes, self.capacity, self._free_nodes
        clone._node_free = [list(node) for node in self._node_free] if self._node_free is not None else None
        return clone

    @property
    def free(self) -> int:
        """Nodes with nothing allocated."""
        if self._node_free is None:
            return self._free_nodes
        return sum(1 for node in self._node_free if list(self.capacity) == node)

    @property
    def used(self) -> int:
        return self.nodes - self.free

    def may_fit(self, pods: Sequence[Demand]) -> bool:
        """A cheap necessary condition, checked before copying anything."""
        if self._node_free is None:
            return len(pods) <= self._free_nodes
        return len(pods) <= self.nodes * max(1, max(self.capacity, default=1))

    def take(self, pods: Sequence[Demand]) -> bool:
        """Allocate every pod or none; True when they all fit."""
        if self._node_free is None:
            if len(pods) > self._free_nodes:
                return False
            self._free_nodes -= len(pods)
            return True
        trial = [list(node) for node in self._node_free]
        for pod in sorted(pods, key=lambda demand: (-sum(demand), demand)):
            node = next((node for node in trial if all(f >= d for f, d in zip(node, pod, strict=True))), None)
            if node is None:
                return False
            for index, taken in enumerate(pod):
                node[index] -= taken
        self._node_free = trial
        return True


class Ledger:
    """All pools of the fleet. `trial()` gives a scratch copy for one replica's engines, committed only on success."""

    def __init__(self, pools: dict[tuple[str, str], PoolLedger]) -> None:
        self._pools = pools

    def pool(self, cluster: str, pool: str) -> PoolLedger | None:
        return self._pools.get((cluster, pool))

    def trial(self) -> Trial:
        return Trial(self)

    def items(self) -> list[tuple[tuple[str, str], PoolLedger]]:
        return sorted(self._pools.items())

    def replace(self, key: tuple[str, str], pool: PoolLedger) -> None:
        self._pools[key] = pool


class Trial:
    """Copy-on-write view of the ledger; `commit()` writes the touched pools back."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._touched: dict[tuple[str, str], PoolLedger] = {}

    def take(self, cluster: str, pool: str, pods: Sequence[Demand]) -> bool:
        key = (cluster, pool)
        current = self._touched.get(key) or self._ledger.pool(cluster, pool)
        if current is None or not current.may_fit(pods):
            return False
        if key not in self._touched:
            current = self._touched[key] = current.copy()
        return current.take(pods)

    def free(self, cluster: str, pool: str) -> int:
        current = self._touched.get((cluster, pool)) or self._ledger.pool(cluster, pool)
        return current.free if current else 0

    def commit(self) -> None:
        for key, pool in self._touched.items():
            self._ledger.replace(key, pool)
