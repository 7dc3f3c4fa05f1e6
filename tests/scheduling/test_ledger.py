"""The node ledger against a plain model: whole free nodes, or first fit over every node's free devices."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from modelplane.scheduling.ledger import Demand, Ledger, PoolLedger


class Model:
    """First fit scanning every node from the first, on a full copy: the rule, without the ledger's shortcuts."""

    def __init__(self, nodes: int, capacity: Demand, *, packing: bool) -> None:
        self.packing = packing
        self.capacity = capacity
        self.whole = nodes
        self.nodes = [list(capacity) for _ in range(nodes)]

    def take(self, pods: list[Demand]) -> tuple[bool, Model]:
        after = Model(0, self.capacity, packing=self.packing)
        after.whole, after.nodes = self.whole, [list(node) for node in self.nodes]
        if not self.packing:
            after.whole -= len(pods)
            return after.whole >= 0, after
        for pod in sorted(pods, key=lambda demand: (-sum(demand), demand)):
            node = next((node for node in after.nodes if all(f >= d for f, d in zip(node, pod, strict=True))), None)
            if node is None:
                return False, after
            for index, wanted in enumerate(pod):
                node[index] -= wanted
        return True, after

    @property
    def free(self) -> int:
        return self.whole if not self.packing else sum(node == list(self.capacity) for node in self.nodes)


pods = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 2)), min_size=1, max_size=3)
steps = st.lists(st.tuples(st.lists(pods, min_size=1, max_size=3), st.booleans()), max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 12), st.booleans(), steps)
def test_trials_match_first_fit_on_a_copy(nodes: int, packing: bool, trials: list) -> None:
    capacity = (4, 2)
    ledger = Ledger({("c", "p"): PoolLedger(nodes, capacity, packing=packing)})
    model = Model(nodes, capacity, packing=packing)
    for takes, commit in trials:
        trial, staged, fits = ledger.trial(), model, True
        for pods_of_engine in takes:
            ok, after = staged.take(pods_of_engine)
            assert trial.take("c", "p", pods_of_engine) is ok
            if ok:
                staged = after
            assert trial.free("c", "p") == staged.free
            fits = fits and ok
        if commit and fits:
            trial.commit()
            model = staged
        pool = ledger.pool("c", "p")
        assert pool is not None
        assert (pool.free, pool.used) == (model.free, nodes - model.free)


def test_a_big_pool_fills_every_device_one_pod_at_a_time() -> None:
    pool = PoolLedger(1000, (8,), packing=True)
    ledger = Ledger({("c", "p"): pool})
    for _ in range(8 * 1000):
        trial = ledger.trial()
        assert trial.take("c", "p", [(1,)])
        trial.commit()
    assert pool.used == 1000
    assert not ledger.trial().take("c", "p", [(1,)])
