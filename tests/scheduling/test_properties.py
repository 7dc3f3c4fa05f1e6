"""Scheduler properties over generated fleets: never overcommits, deterministic, sticky."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelplane.api.fleet import Fleet
from modelplane.scheduling.placement import Placement, replicas_from_record, to_record
from modelplane.scheduling.scheduler import schedule
from tests.scheduling.builders import cluster, deployment, fleet, gang_engine, gpu_class, member

CLASSES = [gpu_class("l4"), gpu_class("h100x8", memory="81559Mi", count=8)]
ENGINES = [
    {"name": "e", "members": [member()]},
    {"name": "e", "copies": 2, "members": [member()]},
    {"name": "e", "members": [member(count=4)]},
    gang_engine("e", workers=2),
    gang_engine("e", workers=1, claimless_leader=True),
]

clusters_strategy = st.lists(
    st.tuples(
        st.sampled_from(["us", "eu"]),
        st.lists(st.tuples(st.sampled_from(["l4", "h100x8"]), st.integers(0, 4)), min_size=1, max_size=2),
    ),
    min_size=1,
    max_size=4,
)
deployments_strategy = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, len(ENGINES) - 1), st.sampled_from([None, "us", "eu"])),
    min_size=1,
    max_size=4,
)


def build(clusters: list, deployments: list, *, packing: bool = False, extra: int = 0) -> Fleet:
    docs: list[dict[str, Any]] = list(CLASSES)
    for number, (region, pools) in enumerate(clusters):
        pool_map = {f"p{index}": (class_name, nodes) for index, (class_name, nodes) in enumerate(pools)}
        docs.append(cluster(f"c{number}", pool_map, labels={"region": region}))
    for number, (replicas, shape, region) in enumerate(deployments):
        selector = {"region": region} if region else None
        docs.append(deployment(f"d{number}", replicas + extra, engines=[ENGINES[shape]], selector=selector))
    return fleet(*docs, packing=packing)


def charged_nodes(built: Fleet, placement: Placement) -> Counter[tuple[str, str]]:
    """Nodes each pool carries, recomputed from the placement (whole-node mode): pods × copies per claiming member."""
    used: Counter[tuple[str, str]] = Counter()
    for item in placement.deployments:
        engines = {engine.name: engine for engine in built.deployments[item.key].engines}
        for replica in item.replicas:
            for engine in replica.engines:
                spec = engines[engine.name]
                for member_spec, member_placement in zip(spec.members, engine.members, strict=True):
                    if member_placement.devices:
                        used[(replica.cluster, engine.pool)] += member_spec.pods * spec.copies
    return used


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters_strategy, deployments_strategy)
def test_no_pool_is_ever_overcommitted(clusters: list, deployments: list) -> None:
    built = build(clusters, deployments)
    placement = schedule(built)
    charged = charged_nodes(built, placement)
    for pool in placement.pools:
        assert charged[(pool.cluster, pool.pool)] == pool.used <= pool.nodes


@settings(max_examples=40, deadline=None)
@given(clusters_strategy, deployments_strategy, st.booleans())
def test_packing_never_overcommits_either(clusters: list, deployments: list, packing: bool) -> None:
    placement = schedule(build(clusters, deployments, packing=packing))
    assert all(0 <= pool.used <= pool.nodes for pool in placement.pools)


@settings(max_examples=40, deadline=None)
@given(clusters_strategy, deployments_strategy)
def test_the_plan_is_deterministic(clusters: list, deployments: list) -> None:
    first = json.dumps(to_record(schedule(build(clusters, deployments), explain=True), explain=True))
    second = json.dumps(to_record(schedule(build(clusters, deployments), explain=True), explain=True))
    assert first == second


@settings(max_examples=60, deadline=None)
@given(clusters_strategy, deployments_strategy, st.integers(0, 2))
def test_replanning_never_moves_a_retained_replica(clusters: list, deployments: list, extra: int) -> None:
    before = schedule(build(clusters, deployments))
    grown = [*clusters, ("us", [("h100x8", 8), ("l4", 8)])]
    after = schedule(build(grown, deployments, extra=extra), replicas_from_record(to_record(before)))
    for item in before.deployments:
        kept = {(r.cluster, r.index, tuple(e.pool for e in r.engines)) for r in after.deployment(item.key).replicas}  # type: ignore[union-attr]
        for replica in item.replicas:
            assert (replica.cluster, replica.index, tuple(e.pool for e in replica.engines)) in kept
