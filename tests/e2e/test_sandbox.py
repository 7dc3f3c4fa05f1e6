"""The sandbox itself on real control planes: shapes applied, DRA allocation by the real scheduler, pods run by
kwok, and `down` leaving nothing behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelplane.api.loading import load_stack
from modelplane.sandbox.shape import cluster_shape
from tests.e2e.conftest import ROOT, SandboxRun, eventually, running

CLAIM_TEMPLATE = """
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {{name: gpu, namespace: {ns}}}
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly:
          deviceClassName: gpu.nvidia.com
          count: {count}
          selectors:
          - cel: {{expression: '{cel}'}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: engine, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: engine}}}}
  template:
    metadata: {{labels: {{app: engine}}}}
    spec:
      nodeSelector: {{modelplane.ai/pool: {pool}}}
      tolerations: [{{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}}]
      resourceClaims: [{{name: gpu, resourceClaimTemplateName: gpu}}]
      containers:
      - name: engine
        image: vllm/vllm-openai:v0.23.0
        resources: {{claims: [{{name: gpu}}]}}
"""


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory, bin_dir: Path) -> Iterator[SandboxRun]:
    with running(tmp_path_factory.mktemp("sandbox-dev"), bin_dir, "dev") as run:
        yield run


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory, bin_dir: Path) -> Iterator[SandboxRun]:
    with running(tmp_path_factory.mktemp("sandbox-prod"), bin_dir, "prod") as run:
        yield run


def names(items: list[dict]) -> dict[str, dict]:
    return {item["metadata"]["name"]: item for item in items}


def assert_cluster_matches_its_shape(run: SandboxRun, stack: str, cluster: str) -> None:
    fleet = load_stack(ROOT, stack).fleet
    shape = cluster_shape(fleet, fleet.clusters[cluster])
    kubectl = run.kubectl(cluster)
    nodes = names(kubectl.json("get", "nodes")["items"])
    assert sorted(nodes) == sorted(node["metadata"]["name"] for node in shape.nodes)
    for expected in shape.nodes:
        live = nodes[expected["metadata"]["name"]]
        for key, value in expected["metadata"]["labels"].items():
            assert live["metadata"]["labels"].get(key) == value, (key, live["metadata"]["labels"])
        assert live["spec"].get("taints", []) == expected["spec"].get("taints", [])
        for resource, quantity in expected["status"]["capacity"].items():
            assert live["status"]["capacity"][resource] == quantity
            assert live["status"]["allocatable"][resource] == quantity
        ready = [c for c in live["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True"
    classes = names(kubectl.json("get", "deviceclasses")["items"])
    for expected in shape.device_classes:
        assert classes[expected["metadata"]["name"]]["spec"]["selectors"] == expected["spec"]["selectors"]
    slices = names(kubectl.json("get", "resourceslices")["items"])
    assert sorted(slices) == sorted(item["metadata"]["name"] for item in shape.resource_slices)
    for expected in shape.resource_slices:
        live = slices[expected["metadata"]["name"]]["spec"]
        assert live["driver"] == expected["spec"]["driver"]
        assert live["nodeName"] == expected["spec"]["nodeName"]
        assert live["devices"] == expected["spec"]["devices"]


def test_dev_cluster_holds_the_declared_nodes_devices_and_classes(dev: SandboxRun) -> None:
    assert_cluster_matches_its_shape(dev, "dev", "local")


def test_prod_clusters_each_hold_their_declared_shape(prod: SandboxRun) -> None:
    for cluster in ("eu-west", "us-east"):
        assert_cluster_matches_its_shape(prod, "prod", cluster)


def test_a_matching_claim_is_allocated_by_the_scheduler_and_its_pod_runs(prod: SandboxRun) -> None:
    kubectl = prod.kubectl("us-east")
    cel = 'device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("79Gi")) >= 0'  # an H100 has 81559Mi
    kubectl.apply(CLAIM_TEMPLATE.format(ns="fits", count=8, cel=cel, pool="gpu-h100"))

    def running() -> dict | None:
        pods = kubectl.json("get", "pods", "-n", "fits")["items"]
        return pods[0] if pods and pods[0]["status"].get("phase") == "Running" else None

    pod = eventually(running, 90, message="the pod runs")
    assert pod["spec"]["nodeName"].startswith("gpu-h100-")
    assert pod["status"]["podIP"].startswith("198.18.")
    (claim,) = kubectl.json("get", "resourceclaims", "-n", "fits")["items"]
    results = claim["status"]["allocation"]["devices"]["results"]
    assert len(results) == 8
    assert {r["pool"] for r in results} == {pod["spec"]["nodeName"]}
    assert {r["driver"] for r in results} == {"gpu.nvidia.com"}
    assert claim["status"]["reservedFor"][0]["name"] == pod["metadata"]["name"]


def test_a_claim_no_device_satisfies_stays_pending_with_the_schedulers_reason(prod: SandboxRun) -> None:
    kubectl = prod.kubectl("eu-west")
    cel = 'device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("80Gi")) >= 0'  # an L4 has 23034Mi
    kubectl.apply(CLAIM_TEMPLATE.format(ns="nofit", count=1, cel=cel, pool="gpu-l4"))

    def unschedulable() -> str | None:
        pods = kubectl.json("get", "pods", "-n", "nofit")["items"]
        conditions = pods[0]["status"].get("conditions", []) if pods else []
        found = [c for c in conditions if c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable"]
        return found[0]["message"] if found else None

    message = eventually(unschedulable, 90, message="the scheduler reports the pod unschedulable")
    assert "cannot allocate all claims" in message, message
    pods = kubectl.json("get", "pods", "-n", "nofit")["items"]
    assert pods[0]["status"]["phase"] == "Pending"


def test_status_reports_each_component_up_and_every_device(dev: SandboxRun) -> None:
    report = json.loads(dev.cli("status", "-o", "json").stdout)
    (cluster,) = report["clusters"]
    assert cluster["name"] == "local"
    assert all(cluster["processes"].values()) and len(cluster["processes"]) == 5
    assert cluster["nodesReady"] == cluster["nodes"] == 3
    assert cluster["devices"] == 1


def test_a_second_up_is_refused_while_one_runs(dev: SandboxRun) -> None:
    result = dev.cli("up", "--stack", "dev", check=False)
    assert result.returncode == 2
    assert "is running" in result.stderr and "modelplane sandbox down" in result.stderr


def test_env_gives_kubectl_a_context_per_cluster_and_the_real_pulumi(dev: SandboxRun) -> None:
    import subprocess

    env = dev.shell_env()
    nodes = subprocess.run(
        ["kubectl", "--context", "local", "get", "nodes", "-o", "name"], env=env, capture_output=True, text=True
    )
    assert nodes.returncode == 0, nodes.stderr
    assert "node/gpu-l4-0" in nodes.stdout.split()
    version = subprocess.run(["pulumi", "version"], env=env, capture_output=True, text=True)
    assert version.stdout.strip().startswith("v3."), version
    stacks = subprocess.run(["pulumi", "stack", "ls", "--json"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert stacks.returncode == 0, stacks.stderr
    assert [s["name"] for s in json.loads(stacks.stdout)] == ["dev-sandbox"]


def test_a_second_sandbox_of_the_same_stack_is_refused(dev: SandboxRun, tmp_path: Path, bin_dir: Path) -> None:
    other = SandboxRun(tmp_path / "other", bin_dir)
    result = other.cli("up", "--stack", "dev", check=False)
    assert result.returncode == 2
    assert "belongs to the sandbox running in" in result.stderr, result.stderr
    assert not (tmp_path / "other" / "state.json").exists()
