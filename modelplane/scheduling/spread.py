"""The order in which fill tries clusters for one deployment, kept current as replicas land and clusters drop out.

The order is the one of the rule (fewest replicas of the deployment first, ties in candidate order), found in
O(log clusters) per replica instead of re-counting and re-sorting everything for each one: clusters without a
replica are consumed from a snapshot of the candidates in order; clusters with replicas sit in a heap by
(replicas there, name).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable

from modelplane.scheduling.placement import ReplicaPlacement


class Spread:
    """One deployment's clusters in try order; `next()` takes a cluster out, `placed()` puts it back one fuller."""

    def __init__(self, candidates: dict[str, None], kept: Iterable[ReplicaPlacement]) -> None:
        self._candidates = candidates
        self._counts: Counter[str] = Counter()
        self._taken: dict[str, set[int]] = {}
        for replica in kept:
            self._counts[replica.cluster] += 1
            self._taken.setdefault(replica.cluster, set()).add(replica.index)
        self._empty = list(candidates)
        self._position = 0
        self._loaded = [(count, name) for name, count in self._counts.items() if name in candidates]
        heapq.heapify(self._loaded)
        self._lowest_free: dict[str, int] = {}

    def next(self) -> str | None:
        """The cluster to try next; None when every candidate has been tried and rejected."""
        while self._position < len(self._empty):
            name = self._empty[self._position]
            self._position += 1
            if name not in self._counts:
                return name
        return heapq.heappop(self._loaded)[1] if self._loaded else None

    def reject(self, name: str) -> None:
        """The cluster cannot host this shape now, so never in this plan (the ledger only shrinks during fill)."""
        del self._candidates[name]

    def placed(self, name: str) -> tuple[int, int]:
        """Count a new replica on the cluster: its index (the lowest free one) and how many were there before."""
        before = self._counts[name]
        self._counts[name] = before + 1
        heapq.heappush(self._loaded, (before + 1, name))
        taken = self._taken.setdefault(name, set())
        index = self._lowest_free.get(name, 0)
        while index in taken:
            index += 1
        taken.add(index)
        self._lowest_free[name] = index + 1
        return index, before
