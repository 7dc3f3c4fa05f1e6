"""Seeded random fleets and re-plans whose plan records are pinned byte for byte (test_equivalence.py).

Each case is a fresh plan, a sticky re-plan of a perturbed fleet (clusters gone or tainted, pools shrunk, templates
changed, replicas up or down, a duplicated previous replica) and a scale-down to half the replicas. The fleets
are small so that every rule fires often: selectors, taints, caches, gangs, copies, PrefillDecode, packing.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.fleetgen import generate_documents
from modelplane.api.fleet import Fleet
from modelplane.scheduling.placement import replicas_from_record, to_record
from modelplane.scheduling.scheduler import schedule
from tests.scheduling.builders import cache, cluster, deployment, fleet, gang_engine, gpu_class, member

DIGESTS = Path(__file__).parent / "data" / "plan_digests.json"
SEEDS = range(300)
# bench.fleetgen fleets (clusters, deployments, replicas ×): many deployments sharing candidates; big deployments
BENCH_FLEETS = ((20, 40, 1), (60, 150, 1), (30, 6, 60))

CLASSES = [
    gpu_class("l4"),
    gpu_class("l40s", memory="46068Mi"),
    gpu_class("a100x8", memory="81920Mi", count=8, nic=True),
    gpu_class("h100x8", memory="81559Mi", count=8, nic=True),
    gpu_class("l4x4", count=4),
]
MEMORY = 'device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("{}")) >= 0'
NIC = {"name": "nic", "count": 1, "selectors": [{"cel": 'device.driver == "nic.example.com"'}]}
TAINT = {"key": "gpu", "value": "busy"}
TOLERATIONS = (
    [{"key": "gpu", "operator": "Exists"}],
    [{"key": "gpu", "operator": "Equal", "value": "busy", "effect": "NoSchedule"}],
    [{"operator": "Exists", "effect": "NoExecute"}],
)


def _engines(rng: random.Random) -> list[dict[str, Any]]:
    memory = MEMORY.format(rng.choice(["20Gi", "40Gi", "80Gi"]))
    shape = rng.randrange(8)
    if shape == 0:
        return [{"name": "e", "copies": rng.randint(2, 3), "members": [member(cel=memory)]}]
    if shape == 1:
        return [{"name": "e", "members": [member(cel=memory, count=rng.choice([2, 4, 8]))]}]
    if shape == 2:
        return [gang_engine("e", workers=rng.randint(1, 2), claimless_leader=rng.random() < 0.3)]
    if shape == 3:
        return [{"name": "e", "members": [member(cel=memory, extra_requests=[NIC])]}]
    if shape == 4:
        return [{"name": "a", "members": [member(cel=memory)]}, {"name": "b", "members": [member(count=4)]}]
    if shape == 5:
        return [{"name": "e", "members": [member(cel='device.attributes["gpu.nvidia.com"].architecture == "None"')]}]
    return [{"name": rng.choice(["e", "vllm"]), "members": [member(cel=memory)]}]


def _cluster(name: str, rng: random.Random) -> dict[str, Any]:
    pools = {
        f"p{index}": (rng.choice(CLASSES)["metadata"]["name"], rng.randint(0, 12)) for index in range(rng.randint(1, 3))
    }
    labels = {"region": rng.choice(["us", "eu", "ap"])}
    if rng.random() < 0.3:
        labels["tier"] = "gold"
    taints = [{**TAINT, "effect": rng.choice(["NoSchedule", "NoExecute"])}] if rng.random() < 0.2 else None
    return cluster(name, pools, labels=labels, taints=taints, cache_class=None if rng.random() < 0.2 else "rwx")


def _deployment(number: int, rng: random.Random) -> dict[str, Any]:
    namespace = rng.choice(["ml-team", "search"])
    doc = deployment(
        f"d{number:02d}",
        rng.randint(0, 12),
        namespace=namespace,
        engines=_engines(rng),
        selector=rng.choice([None, None, {"region": "us"}, {"region": "eu"}, {"tier": "gold"}]),
        tolerations=rng.choice([None, None, *TOLERATIONS]),
        cache=rng.choice([None, None, "weights"]),
    )
    if rng.random() < 0.15:
        doc["spec"]["template"]["spec"]["serving"] = {"mode": "PrefillDecode"}
        doc["spec"]["template"]["spec"]["engines"] = [
            {"name": "prefill", "phase": "Prefill", "members": [member(count=rng.choice([1, 2]))]},
            {"name": "decode", "phase": "Decode", "members": [member()]},
        ]
    return doc


def fleet_documents(seed: int) -> tuple[list[dict[str, Any]], bool]:
    """A random fleet: its manifests and whether GPU packing is on."""
    rng = random.Random(seed)
    names = rng.sample(range(100), rng.randint(1, 12))
    docs = [*CLASSES, cache("weights"), cache("weights", namespace="search", selector={"region": "eu"})]
    docs += [_cluster(f"c{number:02d}", rng) for number in names]
    docs += [_deployment(number, rng) for number in range(rng.randint(1, 8))]
    return docs, rng.random() < 0.3


def perturbed(docs: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """The same fleet after a few edits that the sticky re-plan must handle."""
    docs = copy.deepcopy(docs)
    clusters = [doc for doc in docs if doc["kind"] == "InferenceCluster"]
    deployments = [doc for doc in docs if doc["kind"] == "ModelDeployment"]
    for _ in range(rng.randint(1, 4)):
        edit = rng.randrange(8)
        target = rng.choice(clusters)
        chosen = rng.choice(deployments)
        if edit == 0 and len(clusters) > 1:
            docs.remove(target)
            clusters.remove(target)
        elif edit == 1:
            target["spec"]["taints"] = [{**TAINT, "effect": rng.choice(["NoSchedule", "NoExecute"])}]
        elif edit == 2:
            for pool in target["spec"]["nodePools"]:
                pool["nodeCount"] = max(0, pool["nodeCount"] - rng.randint(1, 4))
        elif edit == 3:
            target["spec"]["nodePools"] = target["spec"]["nodePools"][:1]
        elif edit == 4:
            chosen["spec"]["replicas"] = rng.randint(0, 16)
        elif edit == 5:
            chosen["spec"]["template"]["spec"]["engines"][0]["name"] = "renamed"
        elif edit == 6:
            selector = chosen["spec"]["template"]["spec"]["engines"][0]["members"][-1]["nodeSelector"]
            selector["devices"][0]["count"] = rng.choice([1, 2])
        else:
            engines = chosen["spec"]["template"]["spec"]["engines"]
            engines[0] = {**gang_engine(engines[0]["name"]), "phase": engines[0].get("phase")}
    return docs


def halved(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    docs = copy.deepcopy(docs)
    for doc in docs:
        if doc["kind"] == "ModelDeployment":
            doc["spec"]["replicas"] //= 2
    return docs


def digest(built: Fleet, previous: dict[str, Any] | None = None, *, explain: bool = True) -> tuple[str, dict]:
    """The plan's record (with every why and rejection) and its SHA-256."""
    record = to_record(schedule(built, replicas_from_record(previous), explain=explain), explain=explain)
    text = json.dumps({"record": record, "notices": list(built.notices)})
    return hashlib.sha256(text.encode()).hexdigest(), record


def random_case(seed: int) -> list[str]:
    """Digests of a fresh plan, a sticky re-plan after edits (with a duplicated replica) and a scale-down."""
    docs, packing = fleet_documents(seed)
    first, record = digest(fleet(*docs, packing=packing))
    rng = random.Random(seed + 10_000)
    previous = copy.deepcopy(record)
    placed = [item for item in previous["deployments"] if item["replicas"]]
    if placed and rng.random() < 0.3:
        item = rng.choice(placed)
        item["replicas"].append(copy.deepcopy(item["replicas"][0]))
    second, _ = digest(fleet(*perturbed(docs, rng), packing=packing), previous)
    third, _ = digest(fleet(*halved(docs), packing=packing), record)
    return [first, second, third]


def bench_case(clusters: int, deployments: int, scale: int) -> list[str]:
    """Digests of a bench fleet with `scale` times the replicas: fresh plan, sticky re-plan, scale-down to half."""
    docs = generate_documents(clusters, deployments, seed=clusters)
    for doc in docs:
        if doc["kind"] == "ModelDeployment":
            doc["spec"]["replicas"] *= scale
    first, record = digest(fleet(*docs))
    second, _ = digest(fleet(*docs), record)
    third, _ = digest(fleet(*halved(docs)), record)
    return [first, second, third]


def all_cases() -> Iterator[tuple[str, list[str]]]:
    for seed in SEEDS:
        yield f"seed-{seed}", random_case(seed)
    for clusters, deployments, scale in BENCH_FLEETS:
        yield f"bench-{clusters}x{deployments}x{scale}", bench_case(clusters, deployments, scale)


if __name__ == "__main__":
    # Rewrite the pinned digests: only after an intended change of placement rules (review the diff).
    DIGESTS.parent.mkdir(exist_ok=True)
    DIGESTS.write_text(json.dumps(dict(all_cases()), indent=1) + "\n")
