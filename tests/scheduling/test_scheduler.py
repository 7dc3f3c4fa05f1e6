"""Scheduler behaviour, table by table (reference §10 items 1-14, §2.14 worked examples)."""

from __future__ import annotations

import pytest

from modelplane.scheduling.placement import Placement, replicas_from_record, to_record
from modelplane.scheduling.scheduler import schedule
from tests.scheduling.builders import (
    MEMORY_20GI,
    cache,
    cluster,
    deployment,
    fleet,
    gang_engine,
    gpu_class,
    member,
)

L4 = gpu_class("l4")
H100X8 = gpu_class("h100x8", memory="81559Mi", count=8)


def where(placement: Placement, key: str = "ml-team/m") -> list[str]:
    item = placement.deployment(key)
    assert item is not None
    return [f"{replica.cluster}/{replica.index}" for replica in item.replicas]


def replan(docs: tuple, previous: Placement, **kwargs: bool) -> Placement:
    return schedule(fleet(*docs, **kwargs), replicas_from_record(to_record(previous)))


def test_basic_placement_stamps_pool_and_claims() -> None:
    placement = schedule(fleet(L4, cluster("cluster-a", {"default": ("l4", 1)}), deployment("my-model")))
    item = placement.deployment("ml-team/my-model")
    assert item is not None and item.scheduled == 1 and item.unplaced == 0
    replica = item.replicas[0]
    assert (replica.cluster, replica.index) == ("cluster-a", 0)
    member_placement = replica.engines[0].members[0]
    assert member_placement.pool == "default"
    assert [(c.name, c.device_class_name, c.count, c.selectors) for c in member_placement.devices] == [
        ("gpu", "gpu.nvidia.com", 1, (MEMORY_20GI,))
    ]


@pytest.mark.parametrize(
    ("name", "docs", "reason_part"),
    [
        (
            "pool with zero nodes",
            (L4, cluster("a", {"p": ("l4", 0)}), deployment("m")),
            "no free nodes: need 1, have 0",
        ),
        (
            "selector matches no cluster",
            (L4, cluster("a", {"p": ("l4", 1)}), deployment("m", selector={"r": "x"})),
            "no cluster passes the selector, cache and taint filters: a: label r=x wanted",
        ),
        (
            "memory too small",
            (
                L4,
                cluster("a", {"p": ("l4", 1)}),
                deployment(
                    "m",
                    engines=[
                        {
                            "name": "e",
                            "members": [
                                member(cel='device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("141Gi")) >= 0')
                            ],
                        }
                    ],
                ),
            ),
            "selector #1 false for every device of every class",
        ),
        (
            "count above the node's devices",
            (
                H100X8,
                cluster("a", {"p": ("h100x8", 1)}),
                deployment("m", engines=[{"name": "e", "members": [member(count=9)]}]),
            ),
            "8 matching device(s), needs 9",
        ),
        (
            "synthetic-only request",
            (
                gpu_class("n", nic=True),
                cluster("a", {"p": ("n", 1)}),
                deployment("m", engines=[{"name": "e", "members": [member(cel='device.driver == "nic.example.com"')]}]),
            ),
            "no member would claim a DRA device on any pool: pool p: only synthetic devices",
        ),
        (
            "unknown attribute is a non-match",
            (
                L4,
                cluster("a", {"p": ("l4", 1)}),
                deployment(
                    "m",
                    engines=[
                        {"name": "e", "members": [member(cel='device.attributes["gpu.nvidia.com"].nosuch == "x"')]}
                    ],
                ),
            ),
            "selector #1 error: no attribute 'nosuch' in domain gpu.nvidia.com",
        ),
    ],
)
def test_no_fit_is_reported_not_raised(name: str, docs: tuple, reason_part: str) -> None:
    item = schedule(fleet(*docs), explain=True).deployment("ml-team/m")
    assert item is not None
    assert (item.scheduled, item.unplaced) == (0, 1), name
    assert any(reason_part in reason for reason in item.reasons), item.reasons


def test_explain_names_the_failing_selector_and_error() -> None:
    cel = 'device.attributes["gpu.nvidia.com"].nosuch == "x"'
    docs = (L4, cluster("a", {"p": ("l4", 1)}), deployment("m", engines=[{"name": "e", "members": [member(cel=cel)]}]))
    item = schedule(fleet(*docs), explain=True).deployment("ml-team/m")
    assert item is not None
    ((cluster_name, reason),) = item.rejected
    assert cluster_name == "a"
    assert "selector #1 error" in reason and "nosuch" in reason


def test_explain_quotes_each_deployments_own_engines_when_shapes_are_shared() -> None:
    clusters = [cluster(name, {"p": ("l4", nodes)}) for name, nodes in (("a", 1), ("b", 1), ("c", 0))]
    names = ("first", "second", "third")
    docs = [deployment(f"m{n}", engines=[{"name": engine, "members": [member()]}]) for n, engine in enumerate(names)]
    placement = schedule(fleet(L4, *clusters, *docs), explain=True)
    for number, engine in enumerate(names):
        item = placement.deployment(f"ml-team/m{number}")
        assert item is not None and item.rejected
        assert all(reason.startswith(f"engine {engine}: ") for _, reason in item.rejected), item.rejected


def test_synthetic_nic_matches_but_only_the_gpu_is_claimed() -> None:
    nic = {"name": "ib", "count": 1, "selectors": [{"cel": 'device.driver == "nic.example.com"'}]}
    docs = (
        gpu_class("n", nic=True),
        cluster("a", {"p": ("n", 1)}),
        deployment("m", engines=[{"name": "e", "members": [member(extra_requests=[nic])]}]),
    )
    item = schedule(fleet(*docs)).deployment("ml-team/m")
    assert item is not None and item.scheduled == 1
    assert [claim.name for claim in item.replicas[0].engines[0].members[0].devices] == ["gpu"]


@pytest.mark.parametrize(
    ("pools", "replicas", "expected"),
    [
        ({"a": 4, "b": 1}, 3, ["a/0", "a/1", "b/0"]),
        ({"a": 4, "b": 4}, 3, ["a/0", "a/1", "b/0"]),
        ({"a": 2}, 3, ["a/0", "a/1"]),
        ({"a": 2, "b": 2}, 2, ["a/0", "b/0"]),
        ({"a": 1, "b": 1, "c": 1}, 2, ["a/0", "b/0"]),
    ],
)
def test_spread_then_pack(pools: dict[str, int], replicas: int, expected: list[str]) -> None:
    clusters = [cluster(name, {"p": ("l4", nodes)}) for name, nodes in pools.items()]
    assert where(schedule(fleet(L4, *clusters, deployment("m", replicas)))) == expected


def test_other_deployments_use_nodes() -> None:
    docs = (L4, cluster("a", {"p": ("l4", 2)}), deployment("first", 1), deployment("m", 2))
    placement = schedule(fleet(*docs))
    assert where(placement, "ml-team/first") == ["a/0"]
    assert where(placement) == ["a/0"]


@pytest.mark.parametrize(
    ("engine", "nodes", "placed"),
    [
        (gang_engine(workers=2), 3, True),
        (gang_engine(workers=2), 2, False),
        (gang_engine(workers=2, claimless_leader=True), 2, True),
        (gang_engine(workers=1, copies=2), 4, True),
        (gang_engine(workers=1, copies=2), 3, False),
        ({"name": "e", "copies": 3, "members": [member()]}, 2, False),
        ({"name": "e", "copies": 3, "members": [member()]}, 3, True),
    ],
)
def test_node_accounting(engine: dict, nodes: int, placed: bool) -> None:
    docs = (H100X8, cluster("a", {"p": ("h100x8", nodes)}), deployment("m", engines=[engine]))
    assert bool(where(schedule(fleet(*docs)))) is placed


def test_an_engine_is_never_split_across_pools() -> None:
    split = cluster("a", {"p1": ("h100x8", 2), "p2": ("h100x8", 2)})
    docs = (H100X8, split, deployment("m", engines=[gang_engine(workers=2)]))
    assert where(schedule(fleet(*docs))) == []
    whole = cluster("b", {"big": ("h100x8", 3)})
    placement = schedule(fleet(*docs, whole))
    assert where(placement) == ["b/0"]
    assert placement.deployment("ml-team/m").replicas[0].engines[0].pool == "big"  # type: ignore[union-attr]


def test_first_matching_pool_wins_in_declared_order() -> None:
    docs = (L4, H100X8, cluster("a", {"h": ("h100x8", 1), "l": ("l4", 1)}), deployment("m"))
    placement = schedule(fleet(*docs))
    assert placement.deployment("ml-team/m").replicas[0].engines[0].pool == "h"  # type: ignore[union-attr]


def test_sticky_when_a_better_cluster_appears() -> None:
    before = schedule(fleet(L4, cluster("b", {"p": ("l4", 1)}), deployment("m")))
    assert where(before) == ["b/0"]
    after = replan((L4, cluster("a", {"p": ("l4", 5)}), cluster("b", {"p": ("l4", 1)}), deployment("m")), before)
    assert where(after) == ["b/0"]


def test_replaced_when_its_cluster_is_gone() -> None:
    before = schedule(fleet(L4, cluster("a", {"p": ("l4", 1)}), deployment("m")))
    after = replan((L4, cluster("b", {"p": ("l4", 1)}), deployment("m")), before)
    assert where(after) == ["b/0"]
    item = after.deployment("ml-team/m")
    assert item is not None and any("cluster a is gone" in reason for reason in item.reasons)


@pytest.mark.parametrize(
    ("edit", "expected", "replaced"),
    [
        ({"image": "vllm/vllm-openai:v0.99.0"}, ["a/0"], False),
        ({"cel": 'device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("40Gi")) >= 0'}, ["b/0"], True),
        ({"engine": "renamed"}, ["a/0"], True),
    ],
)
def test_template_edits(edit: dict[str, str], expected: list[str], replaced: bool) -> None:
    l40s = gpu_class("l40s", memory="46068Mi")
    clusters = (L4, l40s, cluster("a", {"p": ("l4", 1)}), cluster("b", {"p": ("l40s", 1)}))
    before = schedule(fleet(*clusters, deployment("m")))
    assert where(before) == ["a/0"]
    changed_member = member(cel=edit.get("cel", MEMORY_20GI), image=edit.get("image", "vllm/vllm-openai:v0.23.0"))
    changed = deployment("m", engines=[{"name": edit.get("engine", "engine"), "members": [changed_member]}])
    after = replan((*clusters, changed), before)
    assert where(after) == expected
    item = after.deployment("ml-team/m")
    assert item is not None
    assert any(reason.startswith("re-placing a/0") for reason in item.reasons) is replaced


@pytest.mark.parametrize(
    ("previous", "replicas", "b_nodes", "expected"),
    [
        (["a/0", "a/1", "b/3"], 2, 4, ["a/0", "b/3"]),
        (["a/0", "a/1", "b/0"], 2, 4, ["a/0", "b/0"]),
        (["a/0", "b/0"], 1, 4, ["a/0"]),
        (["a/0", "a/2", "b/0"], 4, 4, ["a/0", "a/2", "b/0", "b/1"]),
        (["a/0", "a/2"], 3, 0, ["a/0", "a/1", "a/2"]),
        (["a/0", "b/0"], 0, 4, []),
    ],
)
def test_scale_down_and_gap_fill(previous: list[str], replicas: int, b_nodes: int, expected: list[str]) -> None:
    docs = (L4, cluster("a", {"p": ("l4", 4)}), cluster("b", {"p": ("l4", b_nodes)}))
    record = {
        "deployments": [
            {
                "namespace": "ml-team",
                "name": "m",
                "replicas": [
                    {
                        "cluster": c,
                        "index": int(i),
                        "engines": [
                            {
                                "name": "engine",
                                "pool": "p",
                                "members": [
                                    {
                                        "role": "Standalone",
                                        "pool": "p",
                                        "devices": [{"name": "gpu", "deviceClassName": "gpu.nvidia.com", "count": 1}],
                                    }
                                ],
                            }
                        ],
                    }
                    for c, i in (entry.split("/") for entry in previous)
                ],
            }
        ]
    }
    placement = schedule(fleet(*docs, deployment("m", replicas)), replicas_from_record(record))
    assert where(placement) == expected


TAINT_CASES = [
    ("NoSchedule blocks new", [{"key": "maint", "effect": "NoSchedule"}], [], False, ["b/0"]),
    ("NoSchedule keeps existing", [{"key": "maint", "effect": "NoSchedule"}], [], True, ["a/0"]),
    ("NoExecute drains", [{"key": "maint", "effect": "NoExecute"}], [], True, ["b/0"]),
    (
        "NoExecute tolerated keeps",
        [{"key": "maint", "effect": "NoExecute"}],
        [{"key": "maint", "operator": "Exists", "effect": "NoExecute"}],
        True,
        ["a/0"],
    ),
    (
        "NoSchedule toleration does not cover NoExecute",
        [{"key": "maint", "effect": "NoExecute"}],
        [{"key": "maint", "operator": "Exists", "effect": "NoSchedule"}],
        True,
        ["b/0"],
    ),
    (
        "Equal with wrong value repels",
        [{"key": "maint", "value": "yes", "effect": "NoSchedule"}],
        [{"key": "maint", "operator": "Equal", "value": "no"}],
        False,
        ["b/0"],
    ),
    (
        "Equal with right value tolerates",
        [{"key": "maint", "value": "yes", "effect": "NoSchedule"}],
        [{"key": "maint", "operator": "Equal", "value": "yes"}],
        False,
        ["a/0"],
    ),
    (
        "keyless Exists tolerates all",
        [{"key": "x", "effect": "NoSchedule"}, {"key": "y", "effect": "NoExecute"}],
        [{"operator": "Exists"}],
        False,
        ["a/0"],
    ),
    (
        "a second untolerated taint repels",
        [{"key": "x", "effect": "NoSchedule"}, {"key": "y", "effect": "NoSchedule"}],
        [{"key": "x", "operator": "Exists"}],
        False,
        ["b/0"],
    ),
]


@pytest.mark.parametrize(("name", "taints", "tolerations", "existing", "expected"), TAINT_CASES)
def test_taints_and_tolerations(name: str, taints: list, tolerations: list, existing: bool, expected: list) -> None:
    untainted = (L4, cluster("a", {"p": ("l4", 1)}), cluster("b", {"p": ("l4", 1)}))
    before = schedule(fleet(*untainted, deployment("m", tolerations=tolerations)))
    assert where(before) == ["a/0"]
    tainted = (
        L4,
        cluster("a", {"p": ("l4", 1)}, taints=taints),
        cluster("b", {"p": ("l4", 1)}),
        deployment("m", tolerations=tolerations),
    )
    after = replan(tainted, before) if existing else schedule(fleet(*tainted))
    assert where(after) == expected, name


def test_noexecute_with_no_alternative_leaves_the_count_unmet() -> None:
    before = schedule(fleet(L4, cluster("a", {"p": ("l4", 1)}), deployment("m")))
    taint = [{"key": "maint", "effect": "NoExecute"}]
    after = replan((L4, cluster("a", {"p": ("l4", 1)}, taints=taint), deployment("m")), before)
    assert where(after) == []


def test_cache_selector_merges_and_wins_conflicts() -> None:
    docs = (
        L4,
        cluster("a", {"p": ("l4", 1)}, labels={"region": "us", "tier": "b"}),
        cluster("b", {"p": ("l4", 1)}, labels={"region": "us", "tier": "a"}),
        cluster("c", {"p": ("l4", 1)}, labels={"region": "eu", "tier": "a"}),
        cache("c1", selector={"tier": "a"}),
        deployment("m", 3, selector={"region": "us", "tier": "b"}, cache="c1"),
    )
    assert where(schedule(fleet(*docs))) == ["b/0"]


def test_cache_needs_a_storage_class_on_the_cluster() -> None:
    docs = (
        L4,
        cluster("a", {"p": ("l4", 1)}, cache_class=None),
        cluster("b", {"p": ("l4", 1)}),
        cache("c1"),
        deployment("m", cache="c1"),
    )
    placement = schedule(fleet(*docs), explain=True)
    assert where(placement) == ["b/0"]
    assert dict(placement.deployment("ml-team/m").rejected)["a"].endswith("no cache storage class")  # type: ignore


def test_retained_replicas_are_charged_before_anything_new() -> None:
    before = schedule(fleet(L4, cluster("a", {"p": ("l4", 1)}), deployment("zeta")))
    assert where(before, "ml-team/zeta") == ["a/0"]
    after = replan((L4, cluster("a", {"p": ("l4", 1)}), deployment("alpha"), deployment("zeta")), before)
    assert where(after, "ml-team/zeta") == ["a/0"]
    assert where(after, "ml-team/alpha") == []


def test_a_retained_replica_that_no_longer_fits_its_shrunken_pool_is_replaced() -> None:
    before = schedule(fleet(L4, cluster("a", {"p": ("l4", 2)}), cluster("b", {"p": ("l4", 2)}), deployment("m", 2)))
    assert where(before) == ["a/0", "b/0"]
    grown = deployment("m", 2, engines=[{"name": "engine", "copies": 2, "members": [member()]}])
    after = replan((L4, cluster("a", {"p": ("l4", 2)}), cluster("b", {"p": ("l4", 3)}), grown), before)
    assert where(after) == ["a/0", "b/0"]
    shrunk = replan((L4, cluster("a", {"p": ("l4", 1)}), cluster("b", {"p": ("l4", 3)}), grown), before)
    assert where(shrunk) == ["b/0"]
    assert all(pool.used <= pool.nodes for pool in shrunk.pools)


@pytest.mark.parametrize(("packing", "expected_used"), [(False, 2), (True, 1)])
def test_gpu_packing_shares_nodes(packing: bool, expected_used: int) -> None:
    docs = (H100X8, cluster("a", {"p": ("h100x8", 2)}), deployment("m", 2), deployment("n", 1))
    placement = schedule(fleet(*docs, packing=packing))
    assert [pool.used for pool in placement.pools] == [expected_used]
    assert where(placement) == ["a/0", "a/1"]
    assert where(placement, "ml-team/n") == (["a/0"] if packing else [])


def test_packing_respects_per_node_device_counts() -> None:
    eight = {"name": "e", "members": [member(count=5)]}
    docs = (H100X8, cluster("a", {"p": ("h100x8", 1)}), deployment("m", 2, engines=[eight]))
    assert where(schedule(fleet(*docs, packing=True))) == ["a/0"]


def test_scale_to_zero_is_a_reason_not_a_failure() -> None:
    item = schedule(fleet(L4, cluster("a", {"p": ("l4", 1)}), deployment("m", 0))).deployment("ml-team/m")
    assert item is not None and item.unplaced == 0 and item.reasons == ("scaled to zero",)


def test_prefill_decode_engines_share_the_cluster() -> None:
    engines = [
        {"name": "prefill", "phase": "Prefill", "copies": 2, "members": [member()]},
        {"name": "decode", "phase": "Decode", "members": [member()]},
    ]
    md = deployment("m", 2, engines=engines)
    md["spec"]["template"]["spec"]["serving"] = {"mode": "PrefillDecode"}
    placement = schedule(fleet(L4, cluster("a", {"p": ("l4", 3)}), cluster("b", {"p": ("l4", 2)}), md))
    assert where(placement) == ["a/0"]
    assert [engine.pool for engine in placement.deployment("ml-team/m").replicas[0].engines] == ["p", "p"]  # type: ignore
