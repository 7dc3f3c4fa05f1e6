"""The reconcile service on the dev sandbox with the real CLI and provider: how fast an edit becomes an update and
Running pods, how fast drift is healed, and how long a restart after `kill -9` mid-update takes to converge.
Needs the toolchain (`modelplane sandbox tools`).

- edit → update start and edit → Running: `modelplane scale qwen N` alternating 2 and 1, 10 edits; the edit is the
  stack file's write, the update start the service's "run started" log line, Running the moment kubectl shows
  exactly N engine pods Running;
- drift detected → healed: the engine Deployment deleted, 3 times; from the drift check's "drift detected" line to
  the end of the `up --refresh` that re-created it (drift checks every 5 s);
- restart after kill → converged: a scale edit whose `up` is killed (the service's process group, SIGKILL) once it
  is creating; from the restart to the service ready with the new replica count Running, 3 times.

Run: python -m bench.reconcile_bench [--edits 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from modelplane.sandbox.toolchain import Toolchain
from tests.e2e.conftest import MODELPLANE, SandboxRun, eventually, running
from tests.e2e.pulumi_cli import PulumiCli
from tests.e2e.reconcile_service import ReconcileService, run_started
from tests.e2e.test_reconcile import STACK, dev_project, engine_deployment, engine_pods, healed, stack_path

SETTINGS = {"runner": {"driftIntervalSeconds": 3600, "debounceSeconds": 0.2, "concurrentUpdateRetrySeconds": 2}}


def scale(run: SandboxRun, env: dict[str, str], svc: ReconcileService, replicas: int) -> float:
    argv = [MODELPLANE, "scale", "qwen", str(replicas), "--stack", STACK, "--project-dir", str(run.project_dir)]
    argv += ["--service-url", f"http://127.0.0.1:{svc.port}", "--state-dir", str(svc.state_dir)]
    subprocess.run(argv, cwd=run.project_dir, env=env, check=True, capture_output=True, timeout=120)
    return stack_path(run).stat().st_mtime


def running_at(run: SandboxRun, replicas: int, timeout: float = 300) -> float:
    eventually(lambda: engine_pods(run) == replicas, timeout, 0.2, message=f"{replicas} engine pods Running")
    return time.time()


def summary(name: str, values: list[float]) -> None:
    print(f"{name:34s} median {statistics.median(values):6.2f} s   max {max(values):6.2f} s   (n={len(values)})")


def edits(run: SandboxRun, env: dict[str, str], state: Path, count: int) -> None:
    svc = ReconcileService(env, run.project_dir, [STACK], state, SETTINGS).start()
    try:
        eventually(lambda: svc.call("GET", "/readyz", token=False)[0] == 200, 600, 1, message="first convergence")
        to_start, to_running = [], []
        for i in range(count):
            replicas = 2 if i % 2 == 0 else 1
            edited = scale(run, env, svc, replicas)
            started = svc.wait_for(run_started(STACK), since=edited - 0.05)
            to_start.append(started["ts"] - edited)
            to_running.append(running_at(run, replicas) - edited)
            svc.wait_for(lambda e: e.get("msg") == "run success" and e.get("work") == "up", since=started["ts"])
        summary("edit -> update start", to_start)
        summary("edit -> Running", to_running)
    finally:
        svc.stop()


def drift(run: SandboxRun, env: dict[str, str], state: Path, count: int = 3) -> None:
    svc = ReconcileService(env, run.project_dir, [STACK], state, {"runner": {"driftIntervalSeconds": 5}}).start()
    try:
        eventually(lambda: svc.call("GET", "/readyz", token=False)[0] == 200, 600, 1, message="ready")
        times = []
        for _ in range(count):
            deleted = time.time()
            run.kubectl("local").run("delete", "deployment", "-n", "ml-team", engine_deployment(run), "--wait=false")
            found = svc.wait_for(lambda e: e.get("msg") == "drift detected: remediating", since=deleted)
            done = svc.wait_for(healed, since=found["ts"], timeout=300)
            times.append(done["ts"] - found["ts"])
        summary("drift detected -> healed", times)
    finally:
        svc.stop()


def restarts(run: SandboxRun, env: dict[str, str], state: Path, count: int = 3) -> None:
    times = []
    for i in range(count):
        crashing = ReconcileService(env, run.project_dir, [STACK], state, SETTINGS).start()
        eventually(lambda c=crashing: c.call("GET", "/readyz", token=False)[0] == 200, 600, 1, message="ready")
        replicas = 2 if i % 2 == 0 else 1
        edited = scale(run, env, crashing, replicas)
        crashing.wait_for(lambda e: e.get("stream") == "engine" and "ing " in e.get("msg", ""), since=edited)
        crashing.kill_group()
        restarted_at = time.time()
        restarted = ReconcileService(env, run.project_dir, [STACK], state, SETTINGS).start()
        try:
            eventually(lambda r=restarted: r.call("GET", "/readyz", token=False)[0] == 200, 600, 0.2, message="ready")
            times.append(running_at(run, replicas) - restarted_at)
        finally:
            restarted.stop()
    summary("restart after kill -> converged", times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=10)
    args = parser.parse_args()
    bin_dir = Toolchain().installed_bin()
    if bin_dir is None:
        sys.exit("reconcile_bench needs the toolchain: run `modelplane sandbox tools` first")
    root = Path(tempfile.mkdtemp(prefix="reconcile-bench-"))
    with running(root / "sandbox", bin_dir, "dev", project_dir=dev_project(root / "project")) as run:
        env = PulumiCli(run, STACK).env
        edits(run, env, root / "state", args.edits)
        drift(run, env, root / "state")
        restarts(run, env, root / "state")


if __name__ == "__main__":
    main()
