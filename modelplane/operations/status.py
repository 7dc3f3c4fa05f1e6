"""`modelplane status`: the placement record joined with what the clusters report. Pure: snapshots in, a keyed
report out. The conditions mirror Modelplane's ModelDeployment status (ReplicasScheduled, ReplicasReady, replica
counts), so users moving over find the same facts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelplane.api import names
from modelplane.api.fleet import Fleet
from modelplane.api.model_deployment import ModelDeployment
from modelplane.api.pools import LABEL_POOL
from modelplane.compose.common import LABEL_CACHE, LABEL_DEPLOYMENT, LABEL_REPLICA_INDEX
from modelplane.operations.observe import ClusterSnapshot, Item

Report = dict[str, Any]


def fleet_status(fleet: Fleet, record: Mapping[str, Any], observed: Mapping[str, ClusterSnapshot]) -> Report:
    """Per cluster reachability, per deployment counts, conditions and replicas, per ModelService its backends."""
    deployments = {
        f"{entry['namespace']}/{entry['name']}": deployment_status(fleet, entry, observed)
        for entry in record.get("deployments", [])
    }
    replicas = {replica["name"]: replica for entry in deployments.values() for replica in entry["replicas"].values()}
    return {
        "clusters": {
            name: {"reachable": snap.reachable, **({"error": snap.error} if snap.error else {})}
            for name, snap in sorted(observed.items())
        },
        "deployments": deployments,
        "services": {
            f"{entry['namespace']}/{entry['name']}": service_status(entry, replicas)
            for entry in record.get("services", [])
        },
    }


def deployment_status(fleet: Fleet, entry: Mapping[str, Any], observed: Mapping[str, ClusterSnapshot]) -> Report:
    deployment = fleet.deployments.get(f"{entry['namespace']}/{entry['name']}")
    replicas = {
        f"{replica['cluster']}/{replica['index']}": replica_status(deployment, entry, replica, observed)
        for replica in entry.get("replicas", [])
    }
    desired, placed = entry.get("desired", 0), len(replicas)
    ready = sum(1 for replica in replicas.values() if replica["ready"])
    return {
        "desired": desired,
        "placed": placed,
        "ready": ready,
        "conditions": conditions(desired, placed, ready, entry.get("reasons", [])),
        "replicas": replicas,
    }


def conditions(desired: int, placed: int, ready: int, reasons: list[str]) -> list[dict[str, str]]:
    if placed:
        scheduled = ("True", "ReplicasCreated", f"Scheduled {placed} of {desired} replicas")
    elif desired:
        why = next((reason for reason in reasons if "unplaced" in reason), "no cluster has room")
        scheduled = ("False", "InsufficientCapacity", f"0 of {desired} replicas scheduled: {why}")
    else:
        scheduled = ("True", "ReplicasCreated", "Scaled to 0")
    if not placed:
        ready_condition = ("False", "NoReplicasScheduled", "no replica is placed")
    elif ready == placed:
        ready_condition = ("True", "AllReplicasReady", f"{ready} of {placed} ready")
    else:
        ready_condition = ("False", "ModelStarting", f"{ready} of {placed} ready")
    return [
        {"type": kind, "status": status, "reason": reason, "message": message}
        for kind, (status, reason, message) in (("ReplicasScheduled", scheduled), ("ReplicasReady", ready_condition))
    ]


def replica_status(
    deployment: ModelDeployment | None,
    entry: Mapping[str, Any],
    replica: Mapping[str, Any],
    observed: Mapping[str, ClusterSnapshot],
) -> Report:
    cluster, namespace = replica["cluster"], entry["namespace"]
    name = names.replica_name(entry["name"], cluster, replica["index"])
    pools = sorted({engine["pool"] for engine in replica.get("engines", [])})
    found: Report = {"name": name, "cluster": cluster, "pools": pools, "ready": False, "workloads": [], "pods": []}
    snap = observed.get(cluster)
    if snap is None or not snap.reachable:
        found["reason"] = f"cluster {cluster} is unreachable" if snap else f"no kubeconfig for cluster {cluster}"
        return found
    labels = {LABEL_DEPLOYMENT: entry["name"], LABEL_REPLICA_INDEX: str(replica["index"])}
    pods = snap.pods(namespace, labels)
    found["pods"] = [pod_status(pod, snap) for pod in pods]
    workloads = [workload_status(snap, namespace, name, engine) for engine in _engines(deployment, replica)]
    found["workloads"] = workloads
    found["ready"] = bool(workloads) and all(item["ready"] for item in workloads)
    if not found["ready"]:
        found["reason"] = _first_reason(workloads, found["pods"], _hydration(snap, namespace, deployment))
    return found


def _engines(deployment: ModelDeployment | None, replica: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(engine name, is a gang) of each placed engine."""
    gangs = {engine.name: engine.is_gang for engine in deployment.engines} if deployment else {}
    return [(engine["name"], gangs.get(engine["name"], False)) for engine in replica.get("engines", [])]


def workload_status(snap: ClusterSnapshot, namespace: str, replica: str, engine: tuple[str, bool]) -> Report:
    engine_name, gang = engine
    name = names.workload_name(replica, engine_name)
    kind = "LeaderWorkerSet" if gang else "Deployment"
    item = snap.get("leaderworkersets" if gang else "deployments", namespace, name)
    if item is None:
        return {
            "kind": kind,
            "name": name,
            "ready": False,
            "reason": f"{kind} {namespace}/{name} is not on the cluster",
        }
    wanted = item.get("spec", {}).get("replicas", 1)
    ready = item.get("status", {}).get("readyReplicas", 0) or 0
    found = {"kind": kind, "name": name, "replicas": wanted, "readyReplicas": ready, "ready": ready >= wanted}
    if not found["ready"] and gang and not item.get("status"):
        found["reason"] = "no LeaderWorkerSet controller has reported on it (is LWS installed?)"
    return found


def pod_status(pod: Item, snap: ClusterSnapshot) -> Report:
    status = pod.get("status", {})
    node = pod.get("spec", {}).get("nodeName")
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", []))
    found: Report = {"name": pod["metadata"]["name"], "phase": status.get("phase", "Unknown"), "ready": ready}
    if node:
        found["node"] = node
        pool = snap.nodes.get(node, {}).get("metadata", {}).get("labels", {}).get(LABEL_POOL)
        if pool:
            found["pool"] = pool
    devices = claim_devices(pod, snap)
    if devices:
        found["devices"] = devices
    if not ready:
        found["reason"] = pod_reason(pod)
    return found


def claim_devices(pod: Item, snap: ClusterSnapshot) -> list[dict[str, str]]:
    """The devices the scheduler allocated to the pod's claims: driver, pool (the node) and device."""
    namespace = pod["metadata"].get("namespace", "")
    devices = []
    for entry in pod.get("status", {}).get("resourceClaimStatuses", []):
        claim = snap.claims.get(f"{namespace}/{entry.get('resourceClaimName', '')}")
        allocation = (claim or {}).get("status", {}).get("allocation", {})
        for result in allocation.get("devices", {}).get("results", []):
            devices.append(
                {
                    "claim": entry.get("name", ""),
                    "driver": result["driver"],
                    "pool": result["pool"],
                    "device": result["device"],
                }
            )
    return devices


def pod_reason(pod: Item) -> str:
    """Why a pod is not ready, in the words of whoever knows: the scheduler, the kubelet, the container."""
    status = pod.get("status", {})
    if pod["metadata"].get("deletionTimestamp"):
        return "terminating"
    for condition in status.get("conditions", []):
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return f"Pending: {condition.get('reason', '')}: {condition.get('message', '')}".rstrip(": ")
    for key in ("initContainerStatuses", "containerStatuses"):
        for container in status.get(key, []):
            waiting = container.get("state", {}).get("waiting")
            if waiting:
                message = f": {waiting['message']}" if waiting.get("message") else ""
                return f"container {container['name']} {waiting.get('reason', 'waiting')}{message}"
            if container.get("lastState", {}).get("terminated") and not container.get("ready"):
                return f"container {container['name']} restarted {container.get('restartCount', 0)} time(s)"
    phase = status.get("phase", "Unknown")
    return "running, not ready (readiness probe)" if phase == "Running" else phase


def _hydration(snap: ClusterSnapshot, namespace: str, deployment: ModelDeployment | None) -> str | None:
    """A ModelCache that has not finished staging on this cluster (its Job carries the cache's label)."""
    ref = deployment.spec.template.spec.model_cache_ref if deployment else None
    if ref is None:
        return None
    for key, job in sorted(snap.objects.get("jobs", {}).items()):
        if not key.startswith(f"{namespace}/") or job["metadata"].get("labels", {}).get(LABEL_CACHE) != ref.name:
            continue
        conditions = job.get("status", {}).get("conditions", [])
        if not any(c.get("type") == "Complete" and c.get("status") == "True" for c in conditions):
            return f"ModelCache {ref.name}: hydration Job {job['metadata']['name']} has not completed"
    return None


def _first_reason(workloads: list[Report], pods: list[Report], hydration: str | None) -> str:
    if hydration:
        return hydration
    missing = next((item["reason"] for item in workloads if "reason" in item), None)
    waiting = next((pod["reason"] for pod in pods if not pod["ready"]), None)
    if waiting:
        return waiting
    if missing:
        return missing
    return "no pods yet" if not pods else "not all pods ready"


def service_status(entry: Mapping[str, Any], replicas: Mapping[str, Report]) -> Report:
    """Each backend with its weight and priority, and whether it is ready (external endpoints are not probed)."""
    backends = {}
    for backend in entry.get("backends", []):
        replica = replicas.get(backend["name"])
        found: Report = {"weight": backend.get("weight", 1), "priority": backend.get("priority", 0)}
        if replica is None:
            found.update(kind="ModelEndpoint", ready=None)
        else:
            found.update(kind="ModelReplica", cluster=replica["cluster"], ready=replica["ready"])
        backends[backend["name"]] = found
    ready = sum(1 for backend in backends.values() if backend["ready"])
    return {"backends": backends, "readyBackends": ready, "routed": bool(backends)}
