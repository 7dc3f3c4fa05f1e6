"""Scale benchmark: plan time and peak memory for 1k, 10k and 100k replicas on 1,000 clusters, and their growth.

Three runs per size: a fresh plan, a full sticky re-plan with the fresh record as `--previous`, and a scale-down to
half the replicas with that record. Layouts: one deployment; the same replicas spread over 1,000 deployments; and
that with GPU packing on 8-GPU nodes. Every cluster has room to spare. Targets: growth exponent between 10k and
100k ≤ 1.2, and 100k replicas planned in under 5 s. Both are judged on CPU seconds, which other load on a shared
machine barely moves; wall seconds are printed beside them.

Run: python -m bench.scale_bench [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from bench.fleetgen import fleet_of, uniform_documents
from modelplane.api.fleet import Fleet, FleetSettings
from modelplane.planning import plan, plan_record

CLUSTERS = 1000
SIZES = (1_000, 10_000, 100_000)
SCENARIOS = ("fresh", "previous", "scale-down")
TARGET_EXPONENT = 1.2
TARGET_SECONDS = 5.0


class Layout:
    """How `replicas` are declared: deployments, pool size and class, packing."""

    def __init__(self, name: str, deployments: int, nodes: int, class_name: str, *, packing: bool) -> None:
        self.name, self.deployments, self.nodes, self.class_name = name, deployments, nodes, class_name
        self.settings = FleetSettings(gpu_packing=packing)

    def fleet(self, replicas: int) -> Fleet:
        share, extra = divmod(replicas, self.deployments)
        counts = [share + (number < extra) for number in range(self.deployments)]
        return fleet_of(uniform_documents(CLUSTERS, self.nodes, counts, self.class_name), self.settings)


LAYOUTS = (
    Layout("one deployment", 1, 150, "l4-1x", packing=False),
    Layout("1,000 deployments", 1000, 150, "l4-1x", packing=False),
    Layout("1,000 deployments, packing", 1000, 16, "a100-8x", packing=True),
)


def measured(run: Callable[[], Any]) -> tuple[float, float, float, Any]:
    """Wall and CPU seconds of one run, then the peak MiB it allocated (a second, traced run: tracing is slow)."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    del result
    gc.collect()
    tracemalloc.start()
    result = run()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return wall, cpu, peak, result


def scenarios(layout: Layout, replicas: int) -> dict[str, tuple[float, float, float, int]]:
    """Wall and CPU seconds, peak MiB and replicas scheduled for each scenario at one size."""
    fleet = layout.fleet(replicas)
    halved = layout.fleet(replicas // 2)
    record = plan_record(fleet, plan(fleet))
    runs = {
        "fresh": lambda: plan_record(fleet, plan(fleet)),
        "previous": lambda: plan_record(fleet, plan(fleet, record)),
        "scale-down": lambda: plan_record(halved, plan(halved, record)),
    }
    results = {}
    for name, run in runs.items():
        wall, cpu, peak, out = measured(run)
        results[name] = (wall, cpu, peak, sum(item["scheduled"] for item in out["deployments"]))
    return results


def exponent(small: float, large: float, ratio: float) -> float:
    return math.log(large / small) / math.log(ratio)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated replica counts")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    # A deployment of 100k replicas is beyond the default bound on a placement record: raised, as its user would.
    os.environ.setdefault("MODELPLANE_MAX_RECORD_REPLICAS", str(max(sizes)))
    plan(LAYOUTS[0].fleet(1))  # builds the CEL parser once per process; not part of any plan below
    print(f"{CLUSTERS} clusters; plan = schedule + record (the work of `modelplane plan -o json` after loading)")
    header = ("layout", "replicas", "scenario", "scheduled", "cpu s", "wall s", "peak MiB")
    print("{:<27} {:>8} {:<10} {:>9} {:>6} {:>6} {:>8}".format(*header))
    verdicts: list[str] = []
    for layout in LAYOUTS:
        seconds: dict[tuple[str, int], float] = {}
        for size in sizes:
            for scenario, (wall, cpu, peak, scheduled) in scenarios(layout, size).items():
                seconds[(scenario, size)] = cpu
                print(
                    f"{layout.name:<27} {size:>8} {scenario:<10} {scheduled:>9} {cpu:>6.2f} {wall:>6.2f} {peak:>8.1f}"
                )
        if len(sizes) > 1:
            small, large = sizes[-2], sizes[-1]
            for scenario in SCENARIOS:
                growth = exponent(seconds[(scenario, small)], seconds[(scenario, large)], large / small)
                slowest = seconds[(scenario, large)]
                ok = growth <= TARGET_EXPONENT and slowest < TARGET_SECONDS
                verdict = "within" if ok else "OVER"
                verdicts.append(
                    f"{layout.name}, {scenario}: exponent {growth:.2f} from {small} to {large} replicas,"
                    f" {slowest:.2f} CPU s at {large} ({verdict} the targets)"
                )
    print(f"targets: exponent ≤ {TARGET_EXPONENT}, under {TARGET_SECONDS:.0f} s at the largest size")
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
