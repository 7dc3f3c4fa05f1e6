"""Generate realistic fleets for benchmarks: GPU classes, clusters across sources and regions, a deployment mix."""

from __future__ import annotations

import random
from typing import Any

from modelplane.api.errors import Origin
from modelplane.api.fleet import KINDS, Fleet, FleetSettings

API = "modelplane.ai/v1alpha1"
REGIONS = ("us-east", "us-west", "eu-west", "ap-south")
CLASSES: dict[str, tuple[int, str, str]] = {  # name: (GPUs per node, memory, architecture)
    "l4-1x": (1, "23034Mi", "Ada Lovelace"),
    "l40s-1x": (1, "46068Mi", "Ada Lovelace"),
    "a100-8x": (8, "81920Mi", "Ampere"),
    "h100-8x": (8, "81559Mi", "Hopper"),
}


def _class(name: str) -> dict[str, Any]:
    count, memory, architecture = CLASSES[name]
    gpu = {
        "name": "gpu",
        "driver": "gpu.nvidia.com",
        "deviceClassName": "gpu.nvidia.com",
        "count": count,
        "attributes": {"architecture": {"string": architecture}, "cudaComputeCapability": {"version": "9.0.0"}},
        "capacity": {"memory": {"value": memory}},
    }
    devices = [gpu]
    if count == 8:
        devices.append({"name": "ib", "claim": "Synthetic", "driver": "nic.nvidia.com", "count": 8})
    return {"apiVersion": API, "kind": "InferenceClass", "metadata": {"name": name}, "spec": {"devices": devices}}


def _cluster(number: int, rng: random.Random) -> dict[str, Any]:
    region = REGIONS[number % len(REGIONS)]
    pools = [
        {"name": f"pool-{index}", "className": rng.choice(sorted(CLASSES)), "nodeCount": rng.randint(2, 16)}
        for index in range(rng.randint(1, 3))
    ]
    source = {
        "source": "Existing",
        "existing": {"secretRef": {"name": f"kc-{number}"}, "cache": {"storageClassName": "rwx"}},
    }
    return {
        "apiVersion": API,
        "kind": "InferenceCluster",
        "metadata": {"name": f"cluster-{number:04d}", "labels": {"modelplane.ai/region": region}},
        "spec": {"cluster": source, "nodePools": pools},
    }


def _member(role: str, cel: str, count: int, workers: int | None = None) -> dict[str, Any]:
    member: dict[str, Any] = {
        "role": role,
        "nodeSelector": {"devices": [{"name": "gpu", "count": count, "selectors": [{"cel": cel}]}]},
        "template": {"spec": {"containers": [{"name": "engine", "image": "vllm/vllm-openai:v0.23.0"}]}},
    }
    if workers:
        member["worker"] = {"nodes": workers}
    return member


MEMORY = 'device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("{}")) >= 0'
HOPPER = 'device.attributes["gpu.nvidia.com"].architecture == "Hopper"'


def _deployment(number: int, rng: random.Random, max_replicas: int = 3) -> dict[str, Any]:
    shape = rng.random()
    template: dict[str, Any] = {}
    if shape < 0.5:
        template["engines"] = [{"name": "engine", "members": [_member("Standalone", MEMORY.format("20Gi"), 1)]}]
    elif shape < 0.7:
        template["engines"] = [{"name": "engine", "members": [_member("Standalone", MEMORY.format("80Gi"), 8)]}]
    elif shape < 0.8:
        gang = [_member("Leader", HOPPER, 8), _member("Worker", HOPPER, 8, workers=1)]
        template["engines"] = [{"name": "engine", "members": gang}]
    elif shape < 0.9:
        template["serving"] = {"mode": "PrefillDecode"}
        template["engines"] = [
            {"name": "prefill", "phase": "Prefill", "members": [_member("Standalone", MEMORY.format("40Gi"), 1)]},
            {"name": "decode", "phase": "Decode", "members": [_member("Standalone", MEMORY.format("40Gi"), 1)]},
        ]
    else:
        template["clusterSelector"] = {"matchLabels": {"modelplane.ai/region": rng.choice(REGIONS)}}
        template["engines"] = [{"name": "engine", "members": [_member("Standalone", MEMORY.format("20Gi"), 1)]}]
    return {
        "apiVersion": API,
        "kind": "ModelDeployment",
        "metadata": {"name": f"model-{number:04d}", "namespace": f"team-{number % 7}"},
        "spec": {"replicas": rng.randint(1, max_replicas), "template": {"spec": template}},
    }


def generate_documents(clusters: int, deployments: int, seed: int = 0, max_replicas: int = 3) -> list[dict[str, Any]]:
    """A mixed fleet: 1-3 pools per cluster, each deployment 1 to `max_replicas` replicas of a random shape."""
    rng = random.Random(seed)
    documents = [_class(name) for name in sorted(CLASSES)]
    documents += [_cluster(number, rng) for number in range(clusters)]
    documents += [_deployment(number, rng, max_replicas) for number in range(deployments)]
    return documents


def uniform_documents(
    clusters: int, nodes: int, replicas: list[int], class_name: str = "l4-1x"
) -> list[dict[str, Any]]:
    """`clusters` clusters of one `nodes`-node pool; one 1-GPU deployment per entry of `replicas`."""
    rng = random.Random(0)
    documents = [_class(class_name)]
    for number in range(clusters):
        cluster = _cluster(number, rng)
        cluster["spec"]["nodePools"] = [{"name": "gpu", "className": class_name, "nodeCount": nodes}]
        documents.append(cluster)
    member = _member("Standalone", MEMORY.format("20Gi"), 1)
    for number, count in enumerate(replicas):
        template = {"spec": {"engines": [{"name": "engine", "members": [member]}]}}
        metadata = {"name": f"model-{number:04d}", "namespace": "team"}
        documents.append(
            {
                "apiVersion": API,
                "kind": "ModelDeployment",
                "metadata": metadata,
                "spec": {"replicas": count, "template": template},
            }
        )
    return documents


def fleet_of(documents: list[dict[str, Any]], settings: FleetSettings | None = None) -> Fleet:
    objects = [
        (KINDS[doc["kind"]].model_validate(doc), Origin("generated", index)) for index, doc in enumerate(documents)
    ]
    return Fleet.build(objects, settings=settings)


def generate_fleet(clusters: int, deployments: int, seed: int = 0) -> Fleet:
    """A validated Fleet of `clusters` clusters and `deployments` deployments, the same for the same seed."""
    return fleet_of(generate_documents(clusters, deployments, seed))


# One NVIDIA L4 per node: the class the Pulumi and sandbox benches build their generated fleets from.
L4_CLASS: dict[str, Any] = {
    "devices": [
        {
            "name": "gpu",
            "driver": "gpu.nvidia.com",
            "deviceClassName": "gpu.nvidia.com",
            "attributes": {"productName": {"string": "NVIDIA L4"}},
            "capacity": {"memory": {"value": "23034Mi"}},
        }
    ]
}


def standalone_deployment(replicas: int, namespace: str = "ml-team") -> dict[str, Any]:
    """A one-GPU Standalone vLLM deployment in the stack-config form (`modelplane:deployments.<name>`)."""
    member = {
        "role": "Standalone",
        "nodeSelector": {"devices": [{"name": "gpu", "selectors": [{"cel": 'device.driver == "gpu.nvidia.com"'}]}]},
        "template": {"spec": {"containers": [{"name": "engine", "image": "vllm/vllm-openai:v0.23.0"}]}},
    }
    return {
        "metadata": {"namespace": namespace},
        "replicas": replicas,
        "template": {"spec": {"engines": [{"name": "vllm", "members": [member]}]}},
    }
