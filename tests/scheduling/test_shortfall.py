"""The unplaced summary and the packing note, at the scheduler: the reasons quote the first cause, once per shape."""

from __future__ import annotations

from modelplane.scheduling.ledger import PoolDraft, PoolLedger
from modelplane.scheduling.scheduler import schedule
from tests.scheduling.builders import MEMORY_20GI, cluster, deployment, fleet, gpu_class, member


def charged(capacity: tuple[int, ...], pods: list[tuple[int, ...]]) -> PoolLedger:
    pool = PoolLedger(len(pods), capacity, packing=False)
    draft = PoolDraft(pool)
    assert draft.take(pods)
    draft.apply()
    return pool


def test_packed_is_first_fit_largest_first() -> None:
    assert charged((8,), [(4,), (4,), (4,), (2,), (2,)]).packed() == 2
    assert charged((8,), [(1,), (1,), (1,)]).packed() == 1
    assert charged((8,), [(5,), (5,), (5,)]).packed() == 3  # no two share a node
    assert charged((1,), [(1,), (1,)]).packed() == 2


def test_packed_counts_every_device_kind() -> None:
    # Two GPUs fit a node, the single NIC does not: packing gains nothing.
    assert charged((8, 1), [(1, 1), (1, 1)]).packed() == 2


def test_packing_note_only_without_packing() -> None:
    docs = (gpu_class("h", count=8), cluster("a", {"p": ("h", 4)}), deployment("m", 3))
    (note,) = schedule(fleet(*docs)).notices
    assert "3 node(s) in 1 pool(s) hold pods that GPU packing would fit on 1 (e.g. a/p: 3 → 1)" in note
    assert schedule(fleet(*docs, packing=True)).notices == ()


def test_the_reason_is_worked_out_once_per_shape() -> None:
    # Two deployments of one shape, the second finds no candidates left: it still gets the same, real reason.
    docs = (gpu_class("l4"), cluster("a", {"p": ("l4", 1)}), deployment("m1", 2), deployment("m2", 1))
    placement = schedule(fleet(*docs))
    assert [item.reasons for item in placement.deployments] == [
        ("1 replica(s) unplaced: no free nodes: need 1, have 0 (a/p)",),
        ("1 replica(s) unplaced: no free nodes: need 1, have 0 (a/p)",),
    ]


def test_a_multi_engine_reason_names_the_engine() -> None:
    engines = [
        {"name": "small", "members": [member()]},
        {"name": "big", "members": [member(cel=MEMORY_20GI.replace("20Gi", "200Gi"))]},
    ]
    docs = (gpu_class("l4"), cluster("a", {"p": ("l4", 3)}), deployment("m", engines=engines))
    (item,) = schedule(fleet(*docs)).deployments
    assert item.reasons == (
        "1 replica(s) unplaced: engine big: request gpu: selector #1 false for every device of every class",
    )
