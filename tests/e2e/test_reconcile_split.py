"""The reconcile service on a split fleet (a fleet stack and two cluster stacks, real StackReferences on the file
backend): from nothing it runs fleet → both clusters in parallel → fleet again, and reports ready only then."""

from __future__ import annotations

import copy
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import ROOT, SandboxRun, eventually, running
from tests.e2e.expect import assert_cluster_holds_exactly, planned, serving_pods_settled
from tests.e2e.pulumi_cli import PulumiCli
from tests.e2e.reconcile_service import ReconcileService

CLUSTERS = ("east", "west")
FLEET = "mini-fleet-sandbox"
STACKS = [FLEET, *(f"mini-{name}-sandbox" for name in CLUSTERS)]


def split_project(directory: Path) -> Path:
    """dev's fleet on two clusters (one L4 node each, so the two replicas land one per cluster), split."""
    (directory / "stacks").mkdir(parents=True)
    shutil.copy(ROOT / "__main__.py", directory / "__main__.py")
    (directory / "Pulumi.yaml").write_text("name: modelplane\nruntime: python\nstackConfigDir: stacks\n")
    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())["config"]
    local = config["modelplane:clusters"].pop("local")
    for name in CLUSTERS:
        cluster = copy.deepcopy(local)
        cluster["metadata"]["labels"]["region"] = name
        config["modelplane:clusters"][name] = cluster
    config["modelplane:deployments"]["qwen"]["replicas"] = 2
    config["modelplane:gateways"]["default"]["cluster"] = "east"
    stacks = directory / "stacks"
    (stacks / "Pulumi.mini-fleet.yaml").write_text(yaml.safe_dump({"config": {"modelplane:role": "fleet", **config}}))
    for name in CLUSTERS:
        own = {
            "modelplane:role": "cluster",
            "modelplane:cluster": name,
            "modelplane:fleetStack": "organization/modelplane/mini-fleet",
        }
        (stacks / f"Pulumi.mini-{name}.yaml").write_text(yaml.safe_dump({"config": own}))
    return directory


@pytest.fixture
def split(tmp_path: Path, bin_dir: Path) -> Iterator[SandboxRun]:
    with running(tmp_path / "sandbox", bin_dir, "mini-fleet", project_dir=split_project(tmp_path / "project")) as run:
        yield run


def ups(service: ReconcileService, stack: str) -> list[tuple[float, float, list[str]]]:
    """(start, end, reasons) of each of the stack's runs that ran an `up` (a startup check that found a stack never
    deployed runs it in the same run), from the service's log."""
    runs: list[tuple[float, float, list[str]]] = []
    start = 0.0
    for entry in (e for e in service.log() if e.get("stack") == stack):
        if entry.get("msg") == "run started":
            start = entry["ts"]
        elif entry.get("msg") == "run success" and entry.get("ups") == 1:
            runs.append((start, entry["ts"], entry["reasons"]))
    return runs


def test_split_stacks_converge_fleet_then_clusters_in_parallel_then_fleet(split: SandboxRun) -> None:
    env = PulumiCli(split, FLEET).env
    settings: dict[str, Any] = {"parallelism": 2, "runner": {"driftIntervalSeconds": 3600}}
    service = ReconcileService(env, split.project_dir, STACKS, split.root.parent / "state", settings)
    try:
        service.start()
        # The start-up line, not the last one: the first runs may already be logging.
        assert service.started["splitStacks"] == {FLEET: STACKS[1:]}
        while service.call("GET", "/readyz", token=False)[0] != 200:
            assert time.monotonic() and service.process is not None and service.process.poll() is None
            time.sleep(0.5)
        ready_at = time.time()
        fleet, east, west = (ups(service, stack) for stack in STACKS)
        assert len(fleet) == 2, service.tail()
        (first, last) = fleet
        (east_up,), (west_up,) = east, west
        assert first[1] <= min(east_up[0], west_up[0])  # placement first
        assert max(east_up[0], west_up[0]) < min(east_up[1], west_up[1])  # the clusters overlap: in parallel
        assert last[0] >= max(east_up[1], west_up[1]) and "upstream" in last[2]  # routes with their addresses
        assert last[1] <= ready_at
    finally:
        service.stop()
    assert not [e for e in service.log() if e.get("stream") != "engine" and "Traceback" in str(e)]
    addresses = {n: PulumiCli(split, f"mini-{n}-sandbox").outputs()["gatewayAddresses"][n] for n in CLUSTERS}
    record, composition = planned(FLEET, addresses, project_dir=split.project_dir)
    assert sorted(r["cluster"] for r in record["deployments"][0]["replicas"]) == list(CLUSTERS)
    for name in CLUSTERS:
        kubectl = split.kubectl(name)
        assert_cluster_holds_exactly(kubectl, composition, name)
        eventually(lambda k=kubectl: serving_pods_settled(k, "ml-team"), 120, message=f"pods settle on {name}")
    PulumiCli(split, FLEET).run("preview", "--expect-no-changes")
