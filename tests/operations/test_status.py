"""`modelplane status`'s join: a placement record and cluster snapshots in, the keyed report out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelplane.api import names
from modelplane.api.loading import load_stack
from modelplane.operations.observe import ClusterSnapshot
from modelplane.operations.status import fleet_status
from modelplane.planning import plan, plan_record

ROOT = Path(__file__).resolve().parents[2]


def lab() -> tuple[Any, dict[str, Any]]:
    inputs = load_stack(ROOT, "lab")
    return inputs.fleet, plan_record(inputs.fleet, plan(inputs.fleet, None))


def workload(kind: str, namespace: str, name: str, replicas: int, ready: int, status: bool = True) -> dict:
    return {
        "kind": kind,
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"replicas": replicas},
        **({"status": {"readyReplicas": ready}} if status else {}),
    }


def pod(name: str, labels: dict, *, ready: bool, node: str | None = None, **status: Any) -> dict:
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}, *status.pop("conditions", [])]
    return {
        "metadata": {"namespace": "ml-team", "name": name, "labels": labels},
        "spec": {"nodeName": node} if node else {},
        "status": {"phase": "Running" if ready else "Pending", "conditions": conditions, **status},
    }


def healthy_snapshots(fleet: Any, record: dict[str, Any]) -> dict[str, ClusterSnapshot]:
    """Every placed workload ready with one ready pod, as a working fleet reports it."""
    snaps = {name: ClusterSnapshot(name) for name in fleet.clusters}
    for entry in record["deployments"]:
        deployment = fleet.deployments[f"{entry['namespace']}/{entry['name']}"]
        for replica in entry["replicas"]:
            snap = snaps[replica["cluster"]]
            replica_name = names.replica_name(entry["name"], replica["cluster"], replica["index"])
            for engine in deployment.engines:
                name = names.workload_name(replica_name, engine.name)
                plural = "leaderworkersets" if engine.is_gang else "deployments"
                kind = "LeaderWorkerSet" if engine.is_gang else "Deployment"
                snap.objects.setdefault(plural, {})[f"ml-team/{name}"] = workload(kind, "ml-team", name, 1, 1)
            labels = {"modelplane.ai/deployment": entry["name"], "modelplane.ai/replica-index": str(replica["index"])}
            snap.objects.setdefault("pods", {})[f"ml-team/{replica_name}-pod"] = pod(
                f"{replica_name}-pod", labels, ready=True
            )
    return snaps


def test_a_healthy_fleet_reports_every_replica_ready_with_modelplanes_conditions() -> None:
    fleet, record = lab()
    report = fleet_status(fleet, record, healthy_snapshots(fleet, record))
    chat = report["deployments"]["ml-team/chat"]
    assert (chat["desired"], chat["placed"], chat["ready"]) == (3, 3, 3)
    assert [(c["type"], c["status"], c["reason"]) for c in chat["conditions"]] == [
        ("ReplicasScheduled", "True", "ReplicasCreated"),
        ("ReplicasReady", "True", "AllReplicasReady"),
    ]
    assert sorted(chat["replicas"]) == sorted(
        f"{r['cluster']}/{r['index']}" for r in record["deployments"][0]["replicas"]
    )
    assert report["clusters"] == {name: {"reachable": True} for name in sorted(fleet.clusters)}
    service = report["services"]["ml-team/chat"]
    assert service["readyBackends"] == 3
    assert service["backends"]["together"] == {"weight": 20, "priority": 0, "kind": "ModelEndpoint", "ready": None}


def test_a_pending_pod_says_what_the_scheduler_said() -> None:
    fleet, record = lab()
    snaps = healthy_snapshots(fleet, record)
    entry = next(d for d in record["deployments"] if d["name"] == "qwen-cached")
    (replica,) = entry["replicas"]
    snap = snaps[replica["cluster"]]
    replica_name = names.replica_name("qwen-cached", replica["cluster"], replica["index"])
    workload_name = names.workload_name(replica_name, "vllm")
    snap.objects["deployments"][f"ml-team/{workload_name}"]["status"] = {"readyReplicas": 0}
    message = "0/6 nodes are available: 1 cannot allocate all claims."
    scheduled = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
    snap.objects["pods"][f"ml-team/{replica_name}-pod"] = pod(
        f"{replica_name}-pod",
        {"modelplane.ai/deployment": "qwen-cached", "modelplane.ai/replica-index": "0"},
        ready=False,
        conditions=[scheduled],
    )
    report = fleet_status(fleet, record, snaps)
    status = report["deployments"]["ml-team/qwen-cached"]
    assert status["ready"] == 0
    assert status["conditions"][1] == {
        "type": "ReplicasReady",
        "status": "False",
        "reason": "ModelStarting",
        "message": "0 of 1 ready",
    }
    (only,) = status["replicas"].values()
    assert only["reason"] == f"Pending: Unschedulable: {message}"


def test_image_pull_and_crash_loops_are_named() -> None:
    from modelplane.operations.status import pod_reason

    waiting = {"name": "engine", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}}
    assert pod_reason(pod("p", {}, ready=False, containerStatuses=[waiting])) == (
        "container engine ImagePullBackOff: not found"
    )
    looping = {"name": "engine", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
    assert pod_reason(pod("p", {}, ready=False, containerStatuses=[looping])) == "container engine CrashLoopBackOff"


def test_an_unreachable_cluster_is_reported_and_the_others_still_are() -> None:
    fleet, record = lab()
    snaps = healthy_snapshots(fleet, record)
    snaps["a100-lab"] = ClusterSnapshot("a100-lab", error="ConnectTimeoutError: timed out")
    report = fleet_status(fleet, record, snaps)
    assert report["clusters"]["a100-lab"] == {"reachable": False, "error": "ConnectTimeoutError: timed out"}
    chat = report["deployments"]["ml-team/chat"]
    assert chat["ready"] == 2
    assert chat["replicas"]["a100-lab/0"]["reason"] == "cluster a100-lab is unreachable"
    assert report["services"]["ml-team/chat"]["readyBackends"] == 2


def test_a_gang_without_a_controller_says_so_and_a_missing_workload_is_named() -> None:
    fleet, record = lab()
    snaps = healthy_snapshots(fleet, record)
    kimi = next(d for d in record["deployments"] if d["name"] == "kimi")
    (replica,) = kimi["replicas"]
    replica_name = names.replica_name("kimi", replica["cluster"], 0)
    gang = names.workload_name(replica_name, "kimi")
    snaps[replica["cluster"]].objects["leaderworkersets"][f"ml-team/{gang}"].pop("status")
    del snaps[replica["cluster"]].objects["pods"][f"ml-team/{replica_name}-pod"]
    chat = next(d for d in record["deployments"] if d["name"] == "chat")
    gone = chat["replicas"][0]
    chat_name = names.replica_name("chat", gone["cluster"], gone["index"])
    del snaps[gone["cluster"]].objects["deployments"][f"ml-team/{names.workload_name(chat_name, 'vllm')}"]
    report = fleet_status(fleet, record, snaps)
    (only,) = report["deployments"]["ml-team/kimi"]["replicas"].values()
    assert "no LeaderWorkerSet controller has reported on it" in only["reason"]
    missing = report["deployments"]["ml-team/chat"]["replicas"][f"{gone['cluster']}/{gone['index']}"]
    assert missing["reason"].endswith("is not on the cluster")


def test_an_unplaced_deployment_says_why() -> None:
    fleet, record = lab()
    record = {
        **record,
        "deployments": [
            {
                "namespace": "ml-team",
                "name": "big",
                "desired": 2,
                "replicas": [],
                "reasons": ["2 replica(s) unplaced: none of 3 eligible cluster(s) has a pool that fits and has room"],
            }
        ],
    }
    report = fleet_status(fleet, record, healthy_snapshots(fleet, {"deployments": []}))
    big = report["deployments"]["ml-team/big"]
    assert big["conditions"][0]["reason"] == "InsufficientCapacity"
    assert "none of 3 eligible cluster(s)" in big["conditions"][0]["message"]
