"""The reconcile service for real on the dev sandbox (its pool given room for 3 replicas): first convergence and
readiness, edits applied within 2 s (`modelplane scale`, `pulumi config set --path`), SIGTERM mid-update, drift
healed and, with --no-auto-remediate, only reported; a kill -9 mid-update and the restart that clears only its
own stale lock, with a second service on the stack waiting for the backend's lock. Tests run in file order on
one sandbox; each starts the services it needs and stops them."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelplane.compose.common import LABEL_DEPLOYMENT
from modelplane.reconcile.locks import file_backend_root
from tests.e2e.conftest import MODELPLANE, ROOT, SandboxRun, eventually, running
from tests.e2e.expect import assert_cluster_holds_exactly, planned, serving_pods_settled
from tests.e2e.pulumi_cli import PulumiCli
from tests.e2e.reconcile_service import ReconcileService, lock_files, run_ended, run_started

STACK = "dev-sandbox"
QUICK = {
    "runner": {
        "driftIntervalSeconds": 3600,
        "debounceSeconds": 0.2,
        "debounceMaxSeconds": 0.5,
        "concurrentUpdateRetrySeconds": 3,
    }
}
DRIFTY = {"runner": {"driftIntervalSeconds": 8, "debounceSeconds": 0.2, "concurrentUpdateRetrySeconds": 3}}


def dev_project(directory: Path) -> Path:
    """dev, with room for 3 replicas on its one cluster (the sandbox makes the pool's maxNodeCount nodes)."""
    (directory / "stacks").mkdir(parents=True)
    shutil.copy(ROOT / "__main__.py", directory / "__main__.py")
    (directory / "Pulumi.yaml").write_text("name: modelplane\nruntime: python\nstackConfigDir: stacks\n")
    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    (pool,) = config["config"]["modelplane:clusters"]["local"]["nodePools"]
    pool["maxNodeCount"] = 3
    (directory / "stacks" / "Pulumi.dev.yaml").write_text(yaml.safe_dump(config))
    return directory


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory, bin_dir: Path) -> Iterator[SandboxRun]:
    root = tmp_path_factory.mktemp("reconcile-dev")
    with running(root / "sandbox", bin_dir, "dev", project_dir=dev_project(root / "project")) as run:
        yield run


@pytest.fixture(scope="module")
def pulumi(dev: SandboxRun) -> PulumiCli:
    return PulumiCli(dev, STACK)


@pytest.fixture
def services(dev: SandboxRun, pulumi: PulumiCli) -> Iterator[list[ReconcileService]]:
    """Services a test starts (appended); each is stopped afterwards, also when the test fails, and its log
    checked: JSON lines only, no traceback of its own, no line of the sandbox kubeconfig (its client keys)."""
    started: list[ReconcileService] = []
    try:
        yield started
    finally:
        for service in started:
            service.stop()
    secret_lines = [line.strip() for line in (dev.root / "kubeconfig").read_text().splitlines() if len(line) > 40]
    for service in started:
        text = service.log_path.read_text()
        assert not [line for line in secret_lines if line in text]
        # Every line JSON; no traceback of the service's own (engine lines may quote the program's diagnostics).
        assert not [e for e in service.log() if e.get("stream") != "engine" and "Traceback" in json.dumps(e)]


def service(dev: SandboxRun, pulumi: PulumiCli, state: str, settings: dict[str, Any], *flags: str) -> ReconcileService:
    return ReconcileService(pulumi.env, dev.project_dir, [STACK], dev.root.parent / state, settings, *flags)


def backend(pulumi: PulumiCli) -> Path:
    root = file_backend_root(pulumi.env["PULUMI_BACKEND_URL"])
    assert root is not None
    return root


def converged(dev: SandboxRun, pulumi: PulumiCli, replicas: int) -> dict[str, Any]:
    """The stack's placement is the plan (from its own record), the cluster holds exactly the planned objects,
    and `replicas` engine pods run with their claims allocated."""
    outputs = pulumi.outputs()
    record, composition = planned(STACK, outputs["gatewayAddresses"], project_dir=dev.project_dir)
    # Planned from the record the service wrote back, so `reasons` (which describe the last change) differ.
    assert without_reasons(outputs["placement"]) == without_reasons(record)
    (qwen,) = record["deployments"]
    assert qwen["scheduled"] == replicas
    kubectl = dev.kubectl("local")
    assert_cluster_holds_exactly(kubectl, composition, "local")
    eventually(lambda: serving_pods_settled(kubectl, "ml-team") and engine_pods(dev) == replicas, 120, message="pods")
    return record


def without_reasons(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in d.items() if k != "reasons"} for d in record["deployments"]]


def engine_pods(dev: SandboxRun) -> int:
    pods = dev.kubectl("local").json("get", "pods", "-n", "ml-team", "-l", f"{LABEL_DEPLOYMENT}=qwen")["items"]
    return sum(1 for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp"))


def engine_deployment(dev: SandboxRun) -> str:
    items = dev.kubectl("local").json("get", "deployments", "-n", "ml-team", "-l", f"{LABEL_DEPLOYMENT}=qwen")["items"]
    assert items, "no engine Deployment"
    return str(items[0]["metadata"]["name"])


def scale(dev: SandboxRun, pulumi: PulumiCli, svc: ReconcileService, replicas: int) -> float:
    """`modelplane scale qwen N`, nudging the service with the token it generated; returns when the stack file
    was written (the edit; the command itself then nudges the service, which may start before it returns)."""
    argv = [MODELPLANE, "scale", "qwen", str(replicas), "--stack", STACK, "--project-dir", str(dev.project_dir)]
    argv += ["--service-url", f"http://127.0.0.1:{svc.port}", "--state-dir", str(svc.state_dir)]
    result = subprocess.run(argv, cwd=dev.project_dir, env=pulumi.env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "notice" not in result.stderr, result.stderr
    return stack_path(dev).stat().st_mtime


def stack_path(dev: SandboxRun) -> Path:
    return dev.project_dir / "stacks" / f"Pulumi.{STACK}.yaml"


def test_first_start_converges_and_only_then_reports_ready(
    dev: SandboxRun, pulumi: PulumiCli, services: list[ReconcileService]
) -> None:
    svc = service(dev, pulumi, "svc-a", QUICK)
    services.append(svc.start())
    assert svc.call("GET", "/healthz", token=False) == (200, {"status": "ok"})
    assert svc.call("GET", "/stacks", token=False)[0] == 401
    # The startup check finds a never-updated stack (everything to create) and runs `up` in the same run.
    found = svc.wait_for(lambda e: e.get("msg") == "drift detected: remediating")
    assert found["changes"]["create"] >= 20 and set(found["changes"]) == {"create"}, found
    status, body = svc.call("GET", "/readyz", token=False)
    assert status == 503 and body["stacks"][STACK]["phase"] == "running"
    svc.wait_for(lambda e: e.get("msg") == "run success" and e.get("ups") == 1, timeout=300)
    eventually(lambda: svc.call("GET", "/readyz", token=False)[0] == 200, 10, message="ready")
    converged(dev, pulumi, 1)
    pulumi.run("preview", "--expect-no-changes")


def test_edits_start_an_update_within_two_seconds_and_converge(
    dev: SandboxRun, pulumi: PulumiCli, services: list[ReconcileService]
) -> None:
    svc = service(dev, pulumi, "svc-a", QUICK)
    services.append(svc.start())
    svc.wait_for(lambda e: e.get("msg") == "run success" and e.get("stack") == STACK)  # the startup check
    edited = scale(dev, pulumi, svc, 3)
    started = svc.wait_for(run_started(STACK), since=edited)
    assert started["ts"] - edited < 2.0, started
    svc.wait_for(run_ended(STACK), since=edited, timeout=300)
    converged(dev, pulumi, 3)
    pulumi.config_set("modelplane:deployments.qwen.replicas", "2")  # a plain config edit: the file watcher
    edited = stack_path(dev).stat().st_mtime
    started = svc.wait_for(run_started(STACK), since=edited)
    assert started["ts"] - edited < 2.0 and "edit" in started["reasons"], started
    svc.wait_for(run_ended(STACK), since=edited, timeout=300)
    converged(dev, pulumi, 2)


def test_sigterm_during_an_update_lets_it_finish_and_exits_zero(
    dev: SandboxRun, pulumi: PulumiCli, services: list[ReconcileService]
) -> None:
    svc = service(dev, pulumi, "svc-a", QUICK)
    services.append(svc.start())
    svc.wait_for(lambda e: e.get("msg") == "run success" and e.get("stack") == STACK)
    edited = scale(dev, pulumi, svc, 1)
    svc.wait_for(run_started(STACK), since=edited)
    eventually(lambda: lock_files(backend(pulumi), STACK), 60, 0.1, message="the update holds the lock")
    assert svc.terminate(timeout=300) == 0
    assert svc.runs(STACK, "run success")[-1]["ts"] >= edited  # the update finished before the exit
    assert lock_files(backend(pulumi), STACK) == []
    converged(dev, pulumi, 1)


def test_drift_is_detected_and_healed(dev: SandboxRun, pulumi: PulumiCli, services: list[ReconcileService]) -> None:
    svc = service(dev, pulumi, "svc-a", DRIFTY)
    services.append(svc.start())
    svc.wait_for(lambda e: e.get("msg") == "run success" and e.get("stack") == STACK)
    kubectl = dev.kubectl("local")
    name = engine_deployment(dev)
    deleted = time.time()
    kubectl.run("delete", "deployment", "-n", "ml-team", name, "--wait=false")
    found = svc.wait_for(lambda e: e.get("msg") == "drift detected: remediating", since=deleted, timeout=120)
    assert found["changes"].get("create", 0) >= 1, found
    svc.wait_for(healed, since=deleted, timeout=300)
    assert engine_deployment(dev) == name
    converged(dev, pulumi, 1)
    scaled = time.time()
    kubectl.run("scale", "deployment", "-n", "ml-team", name, "--replicas=3")
    found = svc.wait_for(lambda e: e.get("msg") == "drift detected: remediating", since=scaled, timeout=120)
    assert found["changes"].get("update", 0) >= 1, found
    svc.wait_for(healed, since=scaled, timeout=300)
    eventually(lambda: kubectl.json("get", "deployment", "-n", "ml-team", name)["spec"]["replicas"] == 1, 30)
    converged(dev, pulumi, 1)


def test_without_auto_remediation_drift_is_reported_and_left_alone(
    dev: SandboxRun, pulumi: PulumiCli, services: list[ReconcileService]
) -> None:
    svc = service(dev, pulumi, "svc-b", DRIFTY, "--no-auto-remediate")
    services.append(svc.start())
    svc.wait_for(lambda e: e.get("msg") == "run success" and e.get("stack") == STACK)
    name = engine_deployment(dev)
    deleted = time.time()
    dev.kubectl("local").run("delete", "deployment", "-n", "ml-team", name, "--wait=false")
    found = svc.wait_for(lambda e: e.get("msg", "").startswith("drift detected: report only"), since=deleted)
    again = svc.wait_for(lambda e: e.get("msg", "").startswith("drift detected"), since=found["ts"] + 0.5)
    assert again["changes"] == found["changes"] and found["changes"].get("create", 0) >= 1
    status, stacks = svc.call("GET", "/stacks")
    assert status == 200 and stacks[STACK]["lastDrift"] == found["changes"]
    metrics = svc.call("GET", "/metrics")[1]
    assert f'modelplane_reconcile_pending_changes{{stack="{STACK}"}} {float(sum(found["changes"].values()))}' in metrics
    assert svc.runs(STACK, "run started") == []  # no `up` at all
    assert dev.kubectl("local").run("get", "deployment", "-n", "ml-team", name, check=False).returncode != 0


def test_a_kill_mid_update_is_recovered_by_the_restarted_service_only(
    dev: SandboxRun, pulumi: PulumiCli, services: list[ReconcileService]
) -> None:
    """Continues from the previous test: the engine Deployment is gone (drift left alone)."""
    crashing = service(dev, pulumi, "svc-b", QUICK, "--no-auto-remediate")
    services.append(crashing.start())
    crashing.wait_for(lambda e: e.get("msg") == "run success" and e.get("stack") == STACK)
    edited = scale(dev, pulumi, crashing, 2)  # accepted; its `up` is killed below
    crashing.wait_for(run_started(STACK), since=edited)
    crashing.wait_for(lambda e: e.get("stream") == "engine" and " creating " in e.get("msg", ""), since=edited)
    crashing.kill_group()
    (stale,) = lock_files(backend(pulumi), STACK)

    # A second service on the same stack (its own state dir): it may not touch that lock; it reports and waits.
    other = service(dev, pulumi, "svc-c", DRIFTY)
    services.append(other.start())
    conflict = other.wait_for(lambda e: e.get("msg", "").startswith("run conflict"), timeout=120)
    assert "the stack is currently locked" in conflict["msg"], conflict
    assert lock_files(backend(pulumi), STACK) == [stale] and stale.exists()
    _, stacks = other.call("GET", "/stacks")
    assert "currently locked" in (stacks[STACK]["lastError"] or ""), stacks

    restarted = service(dev, pulumi, "svc-b", QUICK, "--no-auto-remediate")
    services.append(restarted.start())
    restarted.wait_for(lambda e: e.get("msg") == "first run: recovery")
    cleared = restarted.wait_for(lambda e: e.get("msg", "").startswith("cleared the stale lock"))
    assert cleared["lock"] == str(stale)
    eventually(lambda: not stale.exists(), 10, message="the stale lock is gone")
    eventually(lambda: restarted.runs(STACK, "run success") or other.runs(STACK, "run success"), 300, 1)
    eventually(lambda: restarted.call("GET", "/readyz", token=False)[0] == 200, 300, 1, message="recovered")
    converged(dev, pulumi, 2)  # the edit accepted before the crash is applied, the deleted Deployment is back
    assert not json.loads(pulumi.export())["deployment"].get("pending_operations")
    updates = [u for u in pulumi_history(pulumi) if u["kind"] in ("update", "refresh")]
    spans = sorted((u["startTime"], u["endTime"]) for u in updates[-6:])
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans)), spans


def healed(entry: dict[str, Any]) -> bool:
    """A drift check's run that ran `up` (``preview --refresh`` found changes, ``up --refresh`` applied them)."""
    return entry.get("msg") == "run success" and "drift" in entry.get("reasons", []) and entry.get("ups") == 1


def pulumi_history(pulumi: PulumiCli) -> list[dict[str, Any]]:
    return list(json.loads(pulumi.run("stack", "history", "--json").stdout))
