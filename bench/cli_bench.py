"""Whole-CLI benchmark: `modelplane plan` and `render` of a 1,000-cluster, 2,000-deployment fleet in one manifest.

The fleet is bench.fleetgen's mix with 1-8 replicas per deployment (about 9,000 replicas), written as one
multi-document YAML file. Each command runs as its own process, as a user runs it; the stages are then timed
in-process with the functions the commands call, to show where the time goes. Target: `plan` under 3 s.

Run: python -m bench.cli_bench
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench.fleetgen import generate_documents
from modelplane.compose.fleet import compose_fleet
from modelplane.compose.render import write
from modelplane.planning import plan, plan_record
from modelplane.scheduling.validation import load_inputs

CLUSTERS, DEPLOYMENTS, MAX_REPLICAS = 1000, 2000, 8
TARGET_SECONDS = 3.0


def command() -> str:
    beside = Path(sys.executable).with_name("modelplane")
    return str(beside) if beside.exists() else shutil.which("modelplane") or "modelplane"


def timed_process(args: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one CLI process; its output goes to a file, as a redirect would."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with (cwd / "stdout").open("w") as out:
        subprocess.run([command(), *args], cwd=cwd, stdout=out, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def stage(label: str, run: Callable[[], Any]) -> Any:
    started = time.process_time()
    result = run()
    print(f"  {label:<34} {time.process_time() - started:>6.2f} CPU s")
    return result


def stages(manifest: Path, work: Path) -> None:
    print("in-process stages (one process, CEL parser built by the first plan):")
    inputs = stage("load + check (YAML, models, CEL)", lambda: load_inputs([manifest], None, work))
    placement = stage("plan", lambda: plan(inputs.fleet))
    record = stage("plan record", lambda: plan_record(inputs.fleet, placement))
    stage("print JSON (indent 2)", lambda: json.dumps(record, indent=2))
    stage("plan with --previous", lambda: plan(inputs.fleet, record))
    composition = stage("compose (render)", lambda: compose_fleet(inputs.fleet, placement))
    stage("write (render)", lambda: write(composition, work / "stages"))


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        manifest = work / "fleet.yaml"
        documents = generate_documents(CLUSTERS, DEPLOYMENTS, max_replicas=MAX_REPLICAS)
        manifest.write_text(yaml.safe_dump_all(documents, sort_keys=False))
        replicas = sum(doc["spec"]["replicas"] for doc in documents if doc["kind"] == "ModelDeployment")
        size = manifest.stat().st_size / 2**20
        print(f"{CLUSTERS} clusters, {DEPLOYMENTS} deployments, {replicas} replicas; one manifest of {size:.1f} MiB")
        runs = {
            "plan -o json": ["plan", "fleet.yaml", "-o", "json"],
            "plan (table)": ["plan", "fleet.yaml"],
            "plan -o json --previous": ["plan", "fleet.yaml", "-o", "json", "--previous", "previous.json"],
            "render": ["render", "fleet.yaml", "--out", "out"],
        }
        print(f"{'command':<26} {'wall s':>7} {'cpu s':>6}")
        seconds = {}
        for label, args in runs.items():
            wall, cpu = timed_process(args, work)
            seconds[label] = wall
            print(f"{label:<26} {wall:>7.2f} {cpu:>6.2f}")
            if label == "plan -o json":
                shutil.copy(work / "stdout", work / "previous.json")
        verdict = "within" if seconds["plan -o json"] < TARGET_SECONDS else "OVER"
        print(f"plan -o json: {seconds['plan -o json']:.2f} s ({verdict} the {TARGET_SECONDS:.0f} s target)")
        stages(manifest, work)


if __name__ == "__main__":
    main()
