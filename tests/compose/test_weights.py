"""Reference §4.3 / §10 item 23: per-backend weights; beyond it, priority tiers."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelplane.compose.weights import MAX_WEIGHT, Group, split_weights, tiered_weights


@pytest.mark.parametrize(
    ("groups", "want"),
    [
        ([(80, 3), (20, 1)], [[27, 27, 26], [20]]),
        ([(1, 2), (3, 1)], [[1, 1], [6]]),
        ([(2, 1), (2, 1)], [[1], [1]]),
        ([(1_000_000, 1), (1, 2)], [[1_000_000], [1, 1]]),
        ([(7, 1)], [[1]]),  # a single endpoint gets weight 1
        ([(5, 4)], [[2, 1, 1, 1]]),  # the entry total is exact; the first `remainder` endpoints get one more
    ],
    ids=["80x3+20x1", "1x2+3x1", "2+2", "max+1x2", "single", "one-entry"],
)
def test_reference_examples(groups: list[tuple[int, int]], want: list[list[int]]) -> None:
    assert split_weights(groups) == want


def test_an_entry_without_endpoints_loses_its_share() -> None:
    result = tiered_weights([Group(80, 0, ["a", "b"]), Group(20, 0, [])])
    assert result == [("a", 1, 0), ("b", 1, 0)]


def test_only_the_best_tier_with_endpoints_gets_traffic() -> None:
    groups = [Group(1, 1, ["backup"]), Group(3, 0, ["own-1", "own-2"]), Group(1, 0, ["saas"])]
    assert tiered_weights(groups) == [("backup", 0, 1), ("own-1", 2, 0), ("own-2", 1, 0), ("saas", 1, 0)]


def test_failover_to_the_next_tier_when_the_best_is_empty() -> None:
    groups = [Group(1, 0, []), Group(1, 1, ["backup-a", "backup-b"]), Group(1, 2, ["last"])]
    assert tiered_weights(groups) == [("backup-a", 1, 1), ("backup-b", 1, 1), ("last", 0, 2)]


def test_no_endpoints_at_all() -> None:
    assert tiered_weights([Group(1, 0, [])]) == []


groups_strategy = st.lists(st.tuples(st.integers(1, MAX_WEIGHT), st.integers(1, 40)), min_size=1, max_size=6)


@given(groups_strategy)
def test_weights_are_valid_and_proportional(groups: list[tuple[int, int]]) -> None:
    split = split_weights(groups)
    flat = [value for values in split for value in values]
    assert [len(values) for values in split] == [count for _, count in groups]
    assert all(1 <= value <= MAX_WEIGHT for value in flat)
    if max(flat) < MAX_WEIGHT:  # not rescaled: each entry's total share is exact
        total = sum(flat)
        entry_total = sum(weight for weight, _ in groups)
        for (weight, _), values in zip(groups, split, strict=True):
            assert Fraction(sum(values), total) == Fraction(weight, entry_total)
