"""Plan benchmark: wall time, replicas/s and peak RSS for generated fleets (target: 1,000 × 2,000 under 2 s).

Run: python -m bench.plan_bench
"""

from __future__ import annotations

import resource
import time

from bench.fleetgen import generate_fleet
from modelplane.planning import plan
from modelplane.scheduling.placement import to_record

SIZES = ((10, 20), (100, 200), (1000, 2000))


def main() -> None:
    print(
        f"{'clusters':>8} {'deployments':>11} {'replicas':>8} {'load s':>7} {'plan s':>7} {'replan s':>8} {'repl/s':>8}"
    )
    for clusters, deployments in SIZES:
        started = time.perf_counter()
        fleet = generate_fleet(clusters, deployments)
        loaded = time.perf_counter()
        placement = plan(fleet)
        planned = time.perf_counter()
        plan(fleet, to_record(placement))
        replanned = time.perf_counter()
        replicas = sum(item.scheduled for item in placement.deployments)
        plan_seconds = planned - loaded
        print(
            f"{clusters:>8} {deployments:>11} {replicas:>8} {loaded - started:>7.3f} {plan_seconds:>7.3f}"
            f" {replanned - planned:>8.3f} {replicas / plan_seconds:>8.0f}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
