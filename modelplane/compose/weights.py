"""Per-backend weights of a ModelService (reference §4.3) and failover tiers (beyond Modelplane).

Gateway API only has per-backendRef weights, so each entry's weight is split over its endpoints:
1. scale = max over entries of ceil(endpoints / weight), so no endpoint rounds to 0;
2. per entry, weight × scale is divided over its endpoints, the first `remainder` getting one more;
3. all weights are divided by their gcd;
4. if the largest is still above 1,000,000 (the Gateway API maximum), all are rescaled so it is 1,000,000,
   each at least 1 (Python `round`, as the reference).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

MAX_WEIGHT = 1_000_000
T = TypeVar("T")


@dataclass(frozen=True)
class Group(Generic[T]):
    """One ModelService entry: its weight, its priority (lower is preferred) and the endpoints it owns."""

    weight: int
    priority: int
    endpoints: Sequence[T]


def split_weights(groups: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Weights per endpoint for `(entry weight, endpoint count)` pairs, every count ≥ 1."""
    if not groups:
        return []
    scale = max(-(-count // weight) for weight, count in groups)  # integer ceil(count / weight)
    split = []
    for weight, count in groups:
        base, remainder = divmod(weight * scale, count)
        split.append([base + 1 if index < remainder else base for index in range(count)])
    divisor = math.gcd(*(value for values in split for value in values))
    reduced = [[value // divisor for value in values] for values in split]
    top = max(max(values) for values in reduced)
    if top <= MAX_WEIGHT:
        return reduced
    return [[max(1, round(value * MAX_WEIGHT / top)) for value in values] for values in reduced]


def tiered_weights(groups: Sequence[Group[T]]) -> list[tuple[T, int, int]]:
    """`(endpoint, weight, priority)` for every endpoint; only the best priority tier with endpoints gets traffic.

    Entries without endpoints drop out (their share goes to the rest, §4.3); endpoints of worse tiers get weight 0.
    """
    populated = [group for group in groups if group.endpoints]
    if not populated:
        return []
    best = min(group.priority for group in populated)
    active = [group for group in populated if group.priority == best]
    weights = iter(split_weights([(group.weight, len(group.endpoints)) for group in active]))
    result = []
    for group in populated:
        values = next(weights) if group.priority == best else [0] * len(group.endpoints)
        result += [(endpoint, value, group.priority) for endpoint, value in zip(group.endpoints, values, strict=True)]
    return result
