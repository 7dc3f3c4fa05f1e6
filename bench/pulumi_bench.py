"""Pulumi layer benchmark: resources per Standalone replica, and mock-run time for prod and a 100-cluster fleet.

Run: python bench/pulumi_bench.py   (no cloud, no CLI: the program runs under the SDK's mock monitor)
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bench.fleetgen import L4_CLASS, standalone_deployment  # noqa: E402
from modelplane.components import mockview  # noqa: E402
from modelplane.components.fleet import main  # noqa: E402


def generated_fleet(clusters: int, deployments: int, replicas: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """`clusters` Existing clusters with 4 L4 nodes each; `deployments` services of `replicas` replicas."""
    names = [f"c{index:03d}" for index in range(clusters)]
    config = {
        "modelplane:classes": {"l4-1x": L4_CLASS},
        "modelplane:clusters": {
            name: {
                "cluster": {"source": "Existing", "existing": {"secretRef": {"name": name, "key": "kubeconfig"}}},
                "nodePools": [{"name": "gpu-l4", "className": "l4-1x", "nodeCount": 4}],
            }
            for name in names
        },
        "modelplane:deployments": {f"model-{i:02d}": standalone_deployment(replicas) for i in range(deployments)},
        "modelplane:services": {
            f"model-{i:02d}": {
                "metadata": {"namespace": "ml-team"},
                "endpoints": [{"selector": {"matchLabels": {"modelplane.ai/deployment": f"model-{i:02d}"}}}],
            }
            for i in range(deployments)
        },
        "modelplane:gateways": {
            "default": {"backend": "Traefik", "traefik": {"version": "40.2.0"}, "cluster": names[0]}
        },
    }
    return config, {name: {"kubeconfig": f"kubeconfig of {name}"} for name in names}


def timed_run(config: dict[str, Any], secrets: dict[str, Any], stack: str) -> tuple[mockview.MockRun, float]:
    values = {key: json.dumps(value) for key, value in config.items()}
    values["modelplane:secrets"] = json.dumps(secrets)
    start = time.perf_counter()
    result = mockview.run_program(main, values, stack=stack, secret_keys=["modelplane:secrets"], project_dir=ROOT)
    elapsed = time.perf_counter() - start
    if result.error is not None:
        raise SystemExit(f"{stack}: {result.error}")
    return result, elapsed


def per_replica(result: mockview.MockRun) -> tuple[float, float]:
    """Mean resources per replica: its ModelReplica component with children, and its backend on the gateway."""

    def mean(kind: str) -> float:
        components = result.of_type(kind)
        owned = Counter(item.parent for item in result.registrations)
        return sum(1 + owned[item.urn] for item in components) / max(len(components), 1)

    return mean("modelplane:index:ModelReplica"), mean("modelplane:index:ModelEndpoint")


def report(label: str, result: mockview.MockRun, elapsed: float) -> None:
    replicas = len(result.of_type("modelplane:index:ModelReplica"))
    on_cluster, backend = per_replica(result)
    print(
        f"{label}: {len(result.registrations)} resources, {replicas} replicas, mock run {elapsed:.2f}s; "
        f"per replica {on_cluster:.1f} on its cluster + {backend:.1f} backend on the gateway cluster"
    )


def main_bench() -> None:
    dev = yaml.safe_load((ROOT / "stacks/Pulumi.dev.yaml").read_text())["config"]
    result, elapsed = timed_run(dev, {"local-kubeconfig": {"kubeconfig": "kubeconfig"}}, "dev")
    report("dev (1 Standalone replica)", result, elapsed)
    prod = yaml.safe_load((ROOT / "stacks/Pulumi.prod.yaml").read_text())["config"]
    result, elapsed = timed_run(prod, {"hf-token": {"HF_TOKEN": "token"}}, "prod")
    report("prod (EKS + GKE, 3 deployments)", result, elapsed)
    config, secrets = generated_fleet(clusters=100, deployments=50, replicas=4)
    result, elapsed = timed_run(config, secrets, "fleet100")
    report("generated (100 Existing clusters, 50 deployments x 4)", result, elapsed)


if __name__ == "__main__":
    main_bench()
