"""Split stacks: the fleet → clusters → fleet order from the stacks' own config, and readiness only once all
of them converged."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from modelplane.reconcile.fake import FakeStackDriver
from modelplane.reconcile.service import Service
from modelplane.reconcile.settings import ServiceSettings
from modelplane.reconcile.topology import outputs_changed, split_topology

from .conftest import FakePlanner

FLEET, EAST, WEST = "prod-fleet", "prod-east", "prod-west"


def write_split(root: Path) -> Path:
    (root / "Pulumi.yaml").write_text("name: modelplane\nruntime: python\nstackConfigDir: stacks\n")
    (root / "stacks").mkdir()
    (root / "stacks" / f"Pulumi.{FLEET}.yaml").write_text("config:\n  modelplane:role: fleet\n")
    for stack, cluster in ((EAST, "east"), (WEST, "west")):
        (root / "stacks" / f"Pulumi.{stack}.yaml").write_text(
            "config:\n  modelplane:role: cluster\n"
            f"  modelplane:cluster: {cluster}\n  modelplane:fleetStack: organization/modelplane/{FLEET}\n"
        )
    (root / "stacks" / "Pulumi.other.yaml").write_text("config: {}\n")
    return root


def test_the_topology_comes_from_role_and_fleet_stack(tmp_path: Path) -> None:
    project = write_split(tmp_path)
    topology = split_topology(project, [WEST, FLEET, EAST, "other"])
    assert topology.clusters == {FLEET: (EAST, WEST)}
    assert topology.fleet_of(EAST) == FLEET and topology.fleet_of("other") is None
    assert split_topology(project, [EAST, WEST]).clusters == {}  # the fleet is not reconciled here: no edge


def test_only_the_outputs_a_reader_reads_count() -> None:
    assert not outputs_changed({"placement": 1, "endpoints": 1}, {"placement": 1, "endpoints": 2}, ["placement"])
    assert outputs_changed(None, {"placement": 1}, ["placement"])


def wait_for(condition, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


@pytest.mark.parametrize("parallelism", [1, 2])
def test_fleet_then_clusters_then_fleet_and_ready_only_after(tmp_path: Path, parallelism: int) -> None:
    project = write_split(tmp_path)
    driver = FakeStackDriver()
    for stack in (FLEET, EAST, WEST):
        driver.drift[stack] = {"create": 3}  # nothing deployed yet: every startup check finds creates
    driver.next_outputs = {
        FLEET: {"placement": {"deployments": []}, "fleetConfig": {"x": 1}},
        EAST: {"gatewayAddresses": {"east": "198.18.0.1"}},
        WEST: {"gatewayAddresses": {"west": "198.18.0.2"}},
    }
    settings = ServiceSettings.model_validate(
        {"stacks": [FLEET, EAST, WEST], "parallelism": parallelism, "tickSeconds": 0.01}
    )
    service = Service(settings, project, driver, redactor=driver.redactor, planner=FakePlanner())
    readiness: list[tuple[int, bool]] = []
    original_up = driver.up

    def up(stack: str, **kwargs):  # type: ignore[no-untyped-def]
        readiness.append((driver.ops("up"), service.ready()[0]))
        return original_up(stack, **kwargs)

    driver.up = up  # type: ignore[method-assign]
    service.start(watch=False, http=False)
    try:
        assert wait_for(lambda: service.ready()[0])
        ups = [stack for op, stack in driver.calls if op == "up"]
        assert ups[0] == FLEET and sorted(ups[1:3]) == [EAST, WEST] and ups[3:] == [FLEET], ups
        assert not any(ready for _, ready in readiness)  # never ready while any up was still to come
        first_cluster_check = min(i for i, (op, s) in enumerate(driver.calls) if s != FLEET and op != "get_config")
        first_fleet_up = driver.calls.index(("up", FLEET))
        assert first_fleet_up < first_cluster_check  # the clusters waited for the fleet's placement
        assert service.statuses()[FLEET]["converged"] is True
    finally:
        assert service.shutdown(grace=5)
