"""Sandbox benchmark: start time of a sandbox per cluster count, cold (first start) and warm (started again right
after), and resident memory per cluster. Needs the toolchain (`modelplane sandbox tools`).

Run: python -m bench.sandbox_bench [--clusters 1 3 6]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.fleetgen import L4_CLASS
from modelplane.sandbox.sandbox import Sandbox, UpRequest
from modelplane.sandbox.state import SandboxState
from modelplane.sandbox.toolchain import Toolchain
from modelplane.scheduling.validation import load_inputs

ROOT = Path(__file__).resolve().parents[1]


def project(clusters: int) -> Path:
    """A throwaway project with one stack of `clusters` Existing clusters, two L4 nodes each."""
    directory = Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
    shutil.copy(ROOT / "Pulumi.yaml", directory / "Pulumi.yaml")
    config: dict[str, Any] = {
        "modelplane:classes": {"l4": L4_CLASS},
        "modelplane:clusters": {
            f"c{index}": {
                "cluster": {"source": "Existing", "existing": {"secretRef": {"name": f"k{index}"}}},
                "nodePools": [{"name": "gpu", "className": "l4", "nodeCount": 2}],
            }
            for index in range(clusters)
        },
    }
    (directory / "stacks").mkdir()
    (directory / "stacks" / "Pulumi.bench.yaml").write_text(yaml.safe_dump({"config": config}))
    return directory


def resident_mib(state: SandboxState) -> float:
    total = 0
    for process in state.all_processes():
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            continue
        total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return total / 1024


def one(clusters: int, bin_dir: Path) -> tuple[float, float, float]:
    directory = project(clusters)
    inputs = load_inputs([], "bench", directory)
    request = UpRequest("bench", inputs.fleet, inputs.config, None, directory, bin_dir, [])
    times = []
    memory = 0.0
    try:
        for _ in range(2):
            sandbox = Sandbox(directory / "state")
            started = time.monotonic()
            state = sandbox.up(request, lambda _line: None)
            times.append(time.monotonic() - started)
            time.sleep(5)  # let the controllers settle before reading memory
            memory = resident_mib(state) / clusters
            sandbox.down(lambda _line: None)
    finally:
        Sandbox(directory / "state").down(lambda _line: None)
        shutil.rmtree(directory, ignore_errors=True)
    return times[0], times[1], memory


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", type=int, nargs="+", default=[1, 3, 6])
    args = parser.parse_args()
    bin_dir = Toolchain().installed_bin()
    if bin_dir is None:
        print("the toolchain is not built: run `modelplane sandbox tools` first", file=sys.stderr)
        return 1
    print(f"{'clusters':>8} {'cold up s':>10} {'warm up s':>10} {'s/cluster':>10} {'MiB/cluster':>12}")
    for count in args.clusters:
        cold, warm, memory = one(count, bin_dir)
        print(f"{count:>8} {cold:>10.1f} {warm:>10.1f} {warm / count:>10.1f} {memory:>12.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
