"""prod's sandbox twin (EKS + GKE as Existing clusters, H100 and L4) in one stack, and the same fleet split into a
fleet stack and a stack per cluster, through real StackReferences on the file backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelplane.components.program import CLUSTER_KINDS
from tests.e2e.conftest import SandboxRun, eventually
from tests.e2e.expect import assert_cluster_holds_exactly, live_objects, planned, serving_pods_settled
from tests.e2e.pulumi_cli import PulumiCli

CLUSTERS = ("eu-west", "us-east")


@pytest.fixture
def sandbox(tmp_path: Path, bin_dir: Path) -> Iterator[SandboxRun]:
    run = SandboxRun(tmp_path / "sandbox", bin_dir)
    try:
        yield run
    finally:
        run.cli("down", check=False)


def assert_fleet_holds_the_plan(sandbox: SandboxRun, stack: str, addresses: dict[str, str]) -> None:
    _, composition = planned(stack, addresses)
    for cluster in CLUSTERS:
        kubectl = sandbox.kubectl(cluster)
        assert_cluster_holds_exactly(kubectl, composition, cluster)
        eventually(lambda k=kubectl: serving_pods_settled(k, "ml-team"), 120, message=f"pods settle on {cluster}")


def test_prod_twin_goes_up_as_planned_and_destroys_cleanly(sandbox: SandboxRun) -> None:
    sandbox.up("prod")
    pulumi = PulumiCli(sandbox, "prod-sandbox")
    pulumi.up()
    outputs = pulumi.outputs()
    assert outputs["kubeconfigs"] == {"eu-west": "[secret]", "us-east": "[secret]"}
    assert_fleet_holds_the_plan(sandbox, "prod-sandbox", outputs["gatewayAddresses"])
    pulumi.run("preview", "--expect-no-changes")
    pulumi.run("destroy", "--yes", "--skip-preview")
    for cluster in CLUSTERS:
        assert live_objects(sandbox.kubectl(cluster)) == {}


def test_split_stacks_converge_in_the_documented_order_and_a_second_pass_changes_nothing(
    sandbox: SandboxRun,
) -> None:
    sandbox.up("prod-fleet")
    fleet = PulumiCli(sandbox, "prod-fleet-sandbox")
    clusters = {name: PulumiCli(sandbox, f"prod-{name}-sandbox") for name in CLUSTERS}
    fleet.up()  # placement and fleetConfig; no cluster stack has run, so its objects wait
    for name, stack in clusters.items():
        stack.up()
        resources = json.loads(stack.export())["deployment"]["resources"]
        kube = [r for r in resources if r["type"].startswith("kubernetes:") and "::providers:" not in r["urn"]]
        assert kube and all(r["urn"].rsplit("::", 1)[-1].startswith(f"{name}/") for r in kube), name
        owners = {r["type"].removeprefix("modelplane:index:") for r in resources if r["type"].startswith("modelplane:")}
        assert owners - {"InferenceCluster", "CacheStorage", "ServingStack"} <= CLUSTER_KINDS, owners
    fleet.up()  # now with every cluster's kubeconfig and gateway address: routes and gateways
    addresses = {name: stack.outputs()["gatewayAddresses"][name] for name, stack in clusters.items()}
    assert_fleet_holds_the_plan(sandbox, "prod-fleet-sandbox", addresses)
    assert fleet.outputs()["placement"]["deployments"] == planned("prod-fleet-sandbox")[0]["deployments"]
    for stack in (fleet, *clusters.values()):
        stack.run("preview", "--expect-no-changes")
