"""Render benchmark: plan, compose and write the 1,000-cluster bench fleet (target: render under 5 s).

The generated fleet gets, on top, one InferenceGateway per region and a ModelService per deployment, and every
cluster a gateway address, so the gateway clusters' routes and endpoint backends are composed too.

Run: python -m bench.render_bench
"""

from __future__ import annotations

import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.fleetgen import REGIONS, generate_fleet
from modelplane.api.fleet import Fleet
from modelplane.api.inference_gateway import InferenceGateway
from modelplane.api.model_service import ModelService
from modelplane.compose.fleet import compose_fleet
from modelplane.compose.render import write
from modelplane.planning import plan

SIZES = ((10, 20), (100, 200), (1000, 2000))
TARGET_SECONDS = 5.0


def with_routing(fleet: Fleet) -> Fleet:
    """One gateway per region (on its first cluster) and one service per deployment, spread over the gateways."""
    first = {}
    for cluster in fleet.clusters.values():
        first.setdefault(cluster.metadata.labels["modelplane.ai/region"], cluster.name)
    gateways = {
        region: InferenceGateway.model_validate(
            {
                "kind": "InferenceGateway",
                "metadata": {"name": region},
                "spec": {"backend": "Traefik", "cluster": first[region], "traefik": {"version": "40.2.0"}},
            }
        )
        for region in REGIONS
        if region in first
    }
    names = sorted(gateways)
    services = {}
    for index, deployment in enumerate(fleet.deployments.values()):
        service = ModelService.model_validate(
            {
                "kind": "ModelService",
                "metadata": {"name": deployment.name, "namespace": deployment.namespace},
                "spec": {
                    "gatewayRef": {"name": names[index % len(names)]},
                    "endpoints": [{"selector": {"matchLabels": {"modelplane.ai/deployment": deployment.name}}}],
                },
            }
        )
        services[service.key] = service
    return replace(fleet, gateways=gateways, services=services)


def main() -> None:
    print(f"{'clusters':>8} {'deploys':>7} {'objects':>8} {'files':>6} {'plan s':>7} {'compose s':>9} {'write s':>8}")
    seconds = 0.0
    for clusters, deployments in SIZES:
        fleet = with_routing(generate_fleet(clusters, deployments))
        addresses = {name: f"10.{index // 250}.{index % 250}.1" for index, name in enumerate(fleet.clusters)}
        started = time.perf_counter()
        placement = plan(fleet)
        planned = time.perf_counter()
        composition = compose_fleet(fleet, placement, gateway_addresses=addresses)
        composed = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            files = write(composition, Path(out))
        written = time.perf_counter()
        objects = sum(len(bundle.manifests) for bundle in composition.bundles)
        seconds = written - started
        print(
            f"{clusters:>8} {deployments:>7} {objects:>8} {len(files):>6} {planned - started:>7.3f}"
            f" {composed - planned:>9.3f} {written - composed:>8.3f}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    verdict = "within" if seconds < TARGET_SECONDS else "OVER"
    print(
        f"largest fleet rendered in {seconds:.2f} s ({verdict} the {TARGET_SECONDS:.0f} s target);"
        f" peak RSS {peak:.0f} MiB"
    )


if __name__ == "__main__":
    main()
