"""`pulumi up` on the sandbox with the real CLI and provider: first up, a no-change preview, a one-replica scale up,
resources per second, and where the time goes. Needs the toolchain (`modelplane sandbox tools`).

Stacks: `lab` (three clusters, every topology) and a generated fleet of 6 clusters x 50 Standalone replicas.
Where the time goes comes from the engine's event stream (`pulumi up --json`, whole-second timestamps): until the
first resource is registered (CLI start, plugins, the program planning and composing), then the provider's work
per resource (create call plus its await: Deployments wait for ready pods), against the wall time.

Run: python -m bench.pulumi_up_bench [--stacks lab generated]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.fleetgen import L4_CLASS, standalone_deployment
from modelplane.sandbox.sandbox import Sandbox, pulumi_env
from modelplane.sandbox.toolchain import Toolchain

ROOT = Path(__file__).resolve().parents[1]
CLUSTERS, REPLICAS = 6, 50


def generated_project() -> Path:
    """A project with stack `generated`: 6 Existing clusters of 10 L4 nodes, 50 one-GPU replicas over them."""
    directory = Path(tempfile.mkdtemp(prefix="pulumi-up-bench-"))
    shutil.copy(ROOT / "__main__.py", directory)
    (directory / "Pulumi.yaml").write_text("name: modelplane\nruntime: python\nstackConfigDir: stacks\n")
    config = {
        "modelplane:classes": {"l4": L4_CLASS},
        "modelplane:clusters": {
            f"c{index}": {
                "cluster": {"source": "Existing", "existing": {"secretRef": {"name": f"k{index}"}}},
                "nodePools": [{"name": "gpu", "className": "l4", "nodeCount": 10}],
            }
            for index in range(CLUSTERS)
        },
        "modelplane:deployments": {"chat": standalone_deployment(REPLICAS)},
    }
    (directory / "stacks").mkdir()
    (directory / "stacks" / "Pulumi.generated.yaml").write_text(yaml.safe_dump({"config": config}))
    return directory


def pulumi(env: dict[str, str], cwd: Path, *args: str, events: Path | None = None) -> float:
    """Run the CLI; with `events`, as `--json` (the engine's event stream) written there."""
    started = time.monotonic()
    argv = ["pulumi", *args, "--non-interactive", *(["--json"] if events else [])]
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pulumi {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-1000:]}")
    if events:
        events.write_text(result.stdout)
    return time.monotonic() - started


def breakdown(event_log: Path) -> dict[str, float]:
    """First-registration delay and provider time per resource, from the engine's event log."""
    events = [json.loads(line) for line in event_log.read_text().splitlines() if line.strip()]

    starts: dict[str, float] = {}
    spans: list[float] = []
    first = last = None
    for event in events:
        stamp = float(event.get("timestamp", 0))
        first = stamp if first is None else min(first, stamp)
        last = stamp if last is None else max(last, stamp)
        pre = event.get("resourcePreEvent")
        done = event.get("resOutputsEvent")
        if pre and pre["metadata"]["type"].startswith("kubernetes:"):
            starts.setdefault(pre["metadata"]["urn"], stamp)
        if done and done["metadata"]["urn"] in starts:
            spans.append(stamp - starts[done["metadata"]["urn"]])
    first_resource = min(starts.values()) if starts else first
    return {
        "until_first_resource": (first_resource or 0) - (first or 0),
        "provider_sum": sum(spans),
        "provider_max": max(spans, default=0.0),
        "resources": float(len(spans)),
        "wall_in_log": (last or 0) - (first or 0),
    }


def one(stack: str, project: Path, scale_path: str, replicas: int, bin_dir: Path) -> dict[str, float]:
    sandbox = Sandbox(project / ".sandbox-state")
    from modelplane.cli.sandbox import _declared_secrets  # the CLI's own reading of declared secrets
    from modelplane.sandbox.sandbox import UpRequest
    from modelplane.scheduling.validation import load_inputs

    inputs = load_inputs([], stack, project)
    request = UpRequest(stack, inputs.fleet, inputs.config, _declared_secrets(project, stack), project, bin_dir, [])
    state = sandbox.up(request, lambda _line: None)
    env = {**os.environ, **pulumi_env(state)}
    name = state.sandbox_stack
    try:
        log = project / "events.jsonl"
        first = pulumi(env, project, "up", "--yes", "--skip-preview", "--stack", name, events=log)
        figures = breakdown(log)
        preview = pulumi(env, project, "preview", "--expect-no-changes", "--stack", name)
        pulumi(env, project, "config", "set", "--path", scale_path, str(replicas + 1), "--stack", name)
        scale = pulumi(env, project, "up", "--yes", "--skip-preview", "--stack", name)
    finally:
        sandbox.down(lambda _line: None)
    return {"first_up": first, "preview": preview, "scale_up": scale, **figures}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stacks", nargs="+", default=["lab", "generated"])
    args = parser.parse_args()
    bin_dir = Toolchain().installed_bin()
    if bin_dir is None:
        print("the toolchain is not built: run `modelplane sandbox tools` first", file=sys.stderr)
        return 1
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    print(
        f"{'stack':<10} {'first up s':>10} {'res':>5} {'res/s':>6} {'to 1st res s':>12} {'provider s (sum/max)':>21}"
        f" {'no-change preview s':>19} {'+1 replica up s':>15}"
    )
    for stack in args.stacks:
        if stack == "lab":
            project = Path(tempfile.mkdtemp(prefix="pulumi-up-bench-"))
            for item in ("Pulumi.yaml", "__main__.py"):
                shutil.copy(ROOT / item, project)
            (project / "stacks").mkdir()
            shutil.copy(ROOT / "stacks" / "Pulumi.lab.yaml", project / "stacks")
            figures = one("lab", project, "modelplane:deployments.chat.replicas", 3, bin_dir)
        else:
            project = generated_project()
            figures = one("generated", project, "modelplane:deployments.chat.replicas", REPLICAS, bin_dir)
        shutil.rmtree(project, ignore_errors=True)
        rate = figures["resources"] / figures["first_up"]
        provider = f"{figures['provider_sum']:.0f} / {figures['provider_max']:.1f}"
        print(
            f"{stack:<10} {figures['first_up']:>10.1f} {figures['resources']:>5.0f} {rate:>6.1f}"
            f" {figures['until_first_resource']:>12.1f} {provider:>21} {figures['preview']:>19.1f}"
            f" {figures['scale_up']:>15.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
