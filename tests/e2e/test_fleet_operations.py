"""`modelplane status`, `cordon` and `drain` on a real sandbox fleet of three L4 clusters serving one 3-replica
deployment behind a ModelService. During the drain, sampled every second, ready replicas never fall below 3 and
the route never points only at unready backends; at the end the drained cluster holds no replica."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelplane.api import names
from tests.e2e.conftest import MODELPLANE, ROOT, SandboxRun, eventually, running
from tests.e2e.expect import live_objects, serving_pods_settled
from tests.e2e.pulumi_cli import PulumiCli

CLUSTERS = ("c1", "c2", "c3")
STACK = "ops-sandbox"


def ops_project(directory: Path) -> Path:
    """The bundled `ops` stack in a project of the test's own (so other tests' sandboxes never meet it)."""
    (directory / "stacks").mkdir(parents=True)
    shutil.copy(ROOT / "stacks" / "Pulumi.ops.yaml", directory / "stacks" / "Pulumi.ops.yaml")
    shutil.copy(ROOT / "__main__.py", directory / "__main__.py")
    (directory / "Pulumi.yaml").write_text("name: modelplane\nruntime: python\nstackConfigDir: stacks\n")
    return directory


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory, bin_dir: Path) -> Iterator[tuple[SandboxRun, PulumiCli]]:
    base = tmp_path_factory.mktemp("fleet-ops")
    with running(base / "sandbox", bin_dir, "ops", project_dir=ops_project(base / "project")) as run:
        pulumi = PulumiCli(run, STACK)
        pulumi.up()
        for cluster in CLUSTERS:
            kubectl = run.kubectl(cluster)
            eventually(lambda k=kubectl: serving_pods_settled(k, "ml-team"), 120, message=f"pods on {cluster}")
        yield run, pulumi


def modelplane(run: SandboxRun, pulumi: PulumiCli, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = [MODELPLANE, *args, "--stack", STACK, "--project-dir", str(run.project_dir)]
    result = subprocess.run(argv, cwd=run.project_dir, env=pulumi.env, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"modelplane {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def status(run: SandboxRun, pulumi: PulumiCli) -> dict[str, Any]:
    return json.loads(modelplane(run, pulumi, "status", "-o", "json").stdout)


def test_status_reports_every_replica_ready_with_its_devices(ops: tuple[SandboxRun, PulumiCli]) -> None:
    run, pulumi = ops
    report = status(run, pulumi)
    assert report["clusters"] == {name: {"reachable": True} for name in CLUSTERS}
    chat = report["deployments"]["ml-team/chat"]
    assert (chat["desired"], chat["placed"], chat["ready"]) == (3, 3, 3)
    assert chat["conditions"][1]["reason"] == "AllReplicasReady"
    for replica in chat["replicas"].values():
        (pod,) = replica["pods"]
        assert pod["ready"] and pod["pool"] == "gpu"
        (device,) = pod["devices"]
        assert device["driver"] == "gpu.nvidia.com" and device["pool"] == pod["node"]
    service = report["services"]["ml-team/chat"]
    assert service["readyBackends"] == 3


def test_status_says_why_a_replica_is_not_ready_and_reports_an_unreachable_cluster(
    ops: tuple[SandboxRun, PulumiCli],
) -> None:
    run, pulumi = ops
    kubectl = run.kubectl("c2")
    (deployment,) = kubectl.json("get", "deployments", "-n", "ml-team", "-l", "modelplane.ai/deployment=chat")["items"]
    name = deployment["metadata"]["name"]
    kubectl.run(
        "patch",
        "deployment",
        name,
        "-n",
        "ml-team",
        "--type=json",
        "-p",
        json.dumps(
            [
                {"op": "replace", "path": "/spec/template/spec/nodeSelector/modelplane.ai~1pool", "value": "nowhere"},
                # Recreate, so the replica is really down (a rolling update would keep the old pod serving).
                {"op": "replace", "path": "/spec/strategy", "value": {"type": "Recreate"}},
            ]
        ),
    )
    eventually(lambda: "Pending" in json.dumps(status(run, pulumi)["deployments"]), 60, message="a pending pod")
    replica = status(run, pulumi)["deployments"]["ml-team/chat"]["replicas"]["c2/0"]
    assert replica["reason"].startswith("Pending: Unschedulable:"), replica
    pulumi.run("up", "--yes", "--skip-preview", "--refresh")  # drift: the program puts the workload back
    eventually(lambda: status(run, pulumi)["deployments"]["ml-team/chat"]["ready"] == 3, 120, message="healed")
    broken = run.root / "broken-kubeconfig"
    config = yaml.safe_load((run.root / "kubeconfig").read_text())
    for cluster in config["clusters"]:
        if cluster["name"] == "c1":
            cluster["cluster"]["server"] = "https://127.0.0.1:9"  # nothing listens there
    broken.write_text(yaml.safe_dump(config))
    started = time.monotonic()
    report = json.loads(
        modelplane(run, pulumi, "status", "-o", "json", "--kubeconfig", str(broken), "--timeout", "3").stdout
    )
    assert time.monotonic() - started < 60
    assert report["clusters"]["c1"]["reachable"] is False and report["clusters"]["c1"]["error"]
    assert report["clusters"]["c2"] == {"reachable": True}
    assert report["deployments"]["ml-team/chat"]["replicas"]["c1/0"]["reason"] == "cluster c1 is unreachable"


def test_cordon_keeps_replicas_and_places_nothing_new(ops: tuple[SandboxRun, PulumiCli]) -> None:
    run, pulumi = ops
    result = modelplane(run, pulumi, "cordon", "c1")
    assert "is now cordoned" in result.stdout
    pulumi.config_set("modelplane:deployments.chat.replicas", "4")
    pulumi.up()
    replicas = status(run, pulumi)["deployments"]["ml-team/chat"]["replicas"].values()
    clusters = [replica["cluster"] for replica in replicas]
    assert clusters.count("c1") == 1 and len(clusters) == 4
    pulumi.config_set("modelplane:deployments.chat.replicas", "3")
    pulumi.up()
    assert "is now open to new replicas" in modelplane(run, pulumi, "uncordon", "c1").stdout


class Sampler(threading.Thread):
    """Every second: ready chat replicas across the clusters, and ready backends among the live route's."""

    def __init__(self, run: SandboxRun) -> None:
        super().__init__(daemon=True)
        self.sandbox = run
        self.samples: list[tuple[int, int, int]] = []
        self.stopped = threading.Event()
        self.replica_of = {
            names.replica_name("chat", cluster, index): cluster for cluster in CLUSTERS for index in range(6)
        }

    def run(self) -> None:
        while not self.stopped.is_set():
            ready: set[str] = set()
            for cluster in CLUSTERS:
                items = self.sandbox.kubectl(cluster).json(
                    "get", "deployments", "-n", "ml-team", "-l", "modelplane.ai/deployment=chat"
                )["items"]
                ready |= {
                    item["metadata"]["labels"]["modelplane.ai/replica-index"] + "@" + cluster
                    for item in items
                    if (item.get("status", {}).get("readyReplicas") or 0) >= 1
                }
            route = self.sandbox.kubectl("c3").json("get", "httproute", "chat", "-n", "ml-team")
            refs = [ref["name"] for rule in route["spec"]["rules"] for ref in rule.get("backendRefs", [])]
            routed = [self._replica(ref) for ref in refs]
            ready_routed = sum(1 for where in routed if where in ready)
            self.samples.append((len(ready), len(refs), ready_routed))
            time.sleep(1)

    def _replica(self, backend: str) -> str | None:
        for replica, cluster in self.replica_of.items():
            if backend == replica or backend.startswith(f"{replica}-endpoint-"):
                index = next(i for i in range(6) if names.replica_name("chat", cluster, i) == replica)
                return f"{index}@{cluster}"
        return None


def test_drain_moves_the_replicas_without_dropping_serving_capacity(ops: tuple[SandboxRun, PulumiCli]) -> None:
    run, pulumi = ops
    sampler = Sampler(run)
    sampler.start()
    try:
        result = modelplane(run, pulumi, "drain", "c1")
    finally:
        sampler.stopped.set()
        sampler.join(30)
    assert "done; it stays cordoned" in result.stderr
    assert len(sampler.samples) >= 10, sampler.samples
    assert min(ready for ready, _, _ in sampler.samples) >= 3, sampler.samples
    assert all(ready_routed >= 1 for _, _, ready_routed in sampler.samples), sampler.samples
    report = status(run, pulumi)
    chat = report["deployments"]["ml-team/chat"]
    assert (chat["placed"], chat["ready"]) == (3, 3)
    assert "c1" not in {replica["cluster"] for replica in chat["replicas"].values()}
    assert not [key for key in live_objects(run.kubectl("c1")) if key[0] == "Deployment"]
    stack_file = run.project_dir / "stacks" / f"Pulumi.{STACK}.yaml"
    scheduling = yaml.safe_load(stack_file.read_text().partition("\n")[2])["config"]["modelplane:scheduling"]
    assert scheduling == {"cordoned": ["c1"]}


def test_a_drain_the_fleet_cannot_hold_is_refused_and_changes_nothing(ops: tuple[SandboxRun, PulumiCli]) -> None:
    run, pulumi = ops
    stack_file = run.project_dir / "stacks" / f"Pulumi.{STACK}.yaml"
    pulumi.config_set("modelplane:deployments.chat.replicas", "4")
    pulumi.up()  # c1 is cordoned: the fourth replica fills c2 and c3 (two nodes each)
    before = stack_file.read_bytes()
    result = modelplane(run, pulumi, "drain", "c2", check=False)  # c1 is cordoned and c3 is full: no room
    assert result.returncode == 2
    assert "cannot hold c2's replicas" in result.stderr and "--allow-unplaced" in result.stderr
    assert stack_file.read_bytes() == before
