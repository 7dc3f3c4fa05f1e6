"""`pulumi up / preview / refresh / destroy` of dev-sandbox through the real CLI, language host and provider.

The tests run in file order on one sandbox: up, then what must hold after it, then destroy.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import SandboxRun, eventually, running
from tests.e2e.expect import assert_cluster_holds_exactly, live_objects, planned
from tests.e2e.pulumi_cli import PulumiCli

STACK = "dev-sandbox"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory, bin_dir: Path) -> Iterator[SandboxRun]:
    with running(tmp_path_factory.mktemp("pulumi-dev"), bin_dir, "dev") as run:
        yield run


@pytest.fixture(scope="module")
def pulumi(dev: SandboxRun) -> PulumiCli:
    return PulumiCli(dev, STACK)


def test_up_succeeds(pulumi: PulumiCli) -> None:
    result = pulumi.up()
    assert "created" in result.stdout


def test_the_cluster_holds_exactly_the_planned_objects(dev: SandboxRun, pulumi: PulumiCli) -> None:
    _, composition = planned(STACK, pulumi.outputs()["gatewayAddresses"])
    assert_cluster_holds_exactly(dev.kubectl("local"), composition, "local")


def test_gateway_objects_are_there_and_programmed(dev: SandboxRun) -> None:
    kubectl = dev.kubectl("local")
    gateways = {g["metadata"]["name"]: g for g in kubectl.json("get", "gateways", "-A")["items"]}
    assert sorted(gateways) == ["inference-gateway", "modelplane"]
    for gateway in gateways.values():
        conditions = {c["type"]: c["status"] for c in gateway["status"]["conditions"]}
        assert conditions["Programmed"] == "True"
    classes = {c["metadata"]["name"] for c in kubectl.json("get", "gatewayclasses")["items"]}
    assert classes == {"envoy", "traefik"}


def test_the_engine_pod_runs_on_the_planned_pool_with_a_claim_the_scheduler_allocated(
    dev: SandboxRun, pulumi: PulumiCli
) -> None:
    kubectl = dev.kubectl("local")
    record = pulumi.outputs()["placement"]
    (deployment,) = record["deployments"]
    (replica,) = deployment["replicas"]
    pool = replica["engines"][0]["pool"]
    pods = kubectl.json("get", "pods", "-n", "ml-team")["items"]
    (pod,) = [p for p in pods if p["metadata"]["labels"].get("modelplane.ai/deployment") == "qwen"]
    assert pod["status"]["phase"] == "Running"
    node = kubectl.json("get", "node", pod["spec"]["nodeName"])
    assert node["metadata"]["labels"]["modelplane.ai/pool"] == pool
    (claim,) = kubectl.json("get", "resourceclaims", "-n", "ml-team")["items"]
    results = claim["status"]["allocation"]["devices"]["results"]
    assert [(r["driver"], r["pool"]) for r in results] == [("gpu.nvidia.com", pod["spec"]["nodeName"])]
    slices = kubectl.json("get", "resourceslices")["items"]
    devices = {
        d["name"] for s in slices if s["spec"]["nodeName"] == pod["spec"]["nodeName"] for d in s["spec"]["devices"]
    }
    assert results[0]["device"] in devices


def test_outputs_hold_the_placement_record_and_a_secret_kubeconfig(pulumi: PulumiCli) -> None:
    outputs = pulumi.outputs()
    record, _ = planned(STACK)
    assert outputs["placement"]["deployments"] == record["deployments"]
    assert outputs["placement"]["services"] == record["services"]
    assert outputs["kubeconfigs"] == {"local": "[secret]"}
    revealed = pulumi.outputs(secrets=True)["kubeconfigs"]["local"]
    assert yaml.safe_load(revealed)["current-context"] == "local"


def test_the_kubeconfig_appears_nowhere_in_the_exported_state(dev: SandboxRun, pulumi: PulumiCli) -> None:
    kubeconfig = yaml.safe_load((dev.root / "clusters" / "local" / "kubeconfig").read_text())
    key = kubeconfig["users"][0]["user"]["client-key-data"]
    exported = pulumi.export()
    assert json.loads(exported)["deployment"]["resources"]
    for needle in (key, base64.b64decode(key).decode().splitlines()[1], "client-key-data"):
        assert needle not in exported


def test_no_perpetual_diff_after_up(pulumi: PulumiCli) -> None:
    pulumi.run("preview", "--expect-no-changes")


def test_no_perpetual_diff_after_refresh(pulumi: PulumiCli) -> None:
    pulumi.run("refresh", "--yes", "--skip-preview")
    pulumi.run("preview", "--expect-no-changes")


def test_destroy_leaves_no_object_of_ours_and_an_empty_stack(dev: SandboxRun, pulumi: PulumiCli) -> None:
    pulumi.run("destroy", "--yes", "--skip-preview")
    kubectl = dev.kubectl("local")
    eventually(lambda: not live_objects(kubectl), 60, message="every object of ours is deleted")
    gateways = kubectl.json("get", "gateways,gatewayclasses,envoyproxies", "-A")["items"]
    assert gateways == []
    assert json.loads(pulumi.export())["deployment"].get("resources", []) == []
