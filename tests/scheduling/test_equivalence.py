"""Placements are pinned: the scheduler reproduces the stored plan digests of 300 random fleets and bench fleets.

A mismatch means placement changed. If that is intended (a rule change, not an optimisation), regenerate with
`python -m tests.scheduling.plan_cases` and review why every changed case moved.
"""

from __future__ import annotations

import json

import pytest

from tests.scheduling.plan_cases import BENCH_FLEETS, DIGESTS, SEEDS, bench_case, random_case

PINNED: dict[str, list[str]] = json.loads(DIGESTS.read_text())


def test_every_case_is_pinned() -> None:
    expected = {f"seed-{seed}" for seed in SEEDS} | {f"bench-{c}x{d}x{s}" for c, d, s in BENCH_FLEETS}
    assert set(PINNED) == expected


@pytest.mark.parametrize("seed", SEEDS)
def test_random_fleet_plans_are_unchanged(seed: int) -> None:
    fresh, replan, scale_down = random_case(seed)
    assert (fresh, replan, scale_down) == tuple(PINNED[f"seed-{seed}"])


@pytest.mark.parametrize(("clusters", "deployments", "scale"), BENCH_FLEETS)
def test_bench_fleet_plans_are_unchanged(clusters: int, deployments: int, scale: int) -> None:
    assert bench_case(clusters, deployments, scale) == PINNED[f"bench-{clusters}x{deployments}x{scale}"]
