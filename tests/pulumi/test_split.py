"""One stack per cluster: the fleet stack plans and routes, each cluster stack realises exactly its replicas."""

from __future__ import annotations

from typing import Any

import pytest

from modelplane.components.mockview import MockRun
from modelplane.components.program import ProgramError
from modelplane.compose.endpoints import IN_CLUSTER_GATEWAY
from tests.pulumi.helpers import K8S_PREFIX, replica_component, run, stack_config

FLEET = "organization/modelplane/prod-fleet"


def fleet_config() -> dict[str, Any]:
    return stack_config("prod-fleet")


def cluster_config(cluster: str) -> dict[str, Any]:
    return stack_config(f"prod-{cluster}")


def test_the_split_stack_files_hold_the_prod_fleet() -> None:
    assert fleet_config() == {**stack_config("prod"), "modelplane:role": "fleet"}
    for cluster in ("us-east", "eu-west"):
        expected = {"modelplane:role": "cluster", "modelplane:cluster": cluster, "modelplane:fleetStack": FLEET}
        assert cluster_config(cluster) == expected


@pytest.fixture(scope="module")
def first_fleet() -> MockRun:
    result = run(fleet_config(), "prod-fleet")
    assert result.error is None, result.error
    return result


def fleet_outputs(result: MockRun) -> dict[str, tuple[dict[str, Any], list[str]]]:
    return {FLEET: ({"fleetConfig": result.outputs["fleetConfig"], "placement": result.outputs["placement"]}, [])}


def cluster_outputs(name: str, address: str) -> tuple[dict[str, Any], list[str]]:
    return ({"kubeconfigs": {name: f"kubeconfig of {name}"}, "gatewayAddresses": {name: address}}, ["kubeconfigs"])


def test_the_first_fleet_up_plans_and_records_but_has_no_cluster_to_route_on_yet(first_fleet: MockRun) -> None:
    assert {item.type for item in first_fleet.registrations} == {"pulumi:pulumi:StackReference"}
    references = {item.inputs["name"] for item in first_fleet.registrations}
    assert references == {
        "organization/modelplane/prod-fleet",
        "organization/modelplane/prod-us-east",
        "organization/modelplane/prod-eu-west",
    }
    assert set(first_fleet.outputs) == {"fleetConfig", "placement", "endpoints"}
    assert "modelplane:placement" not in first_fleet.outputs["fleetConfig"]
    assert any("prod-us-east has no kubeconfig output yet" in line for line in first_fleet.messages("warning"))


@pytest.mark.parametrize("cluster", ["us-east", "eu-west"])
def test_a_cluster_stack_gets_exactly_its_replicas(first_fleet: MockRun, cluster: str) -> None:
    result = run(cluster_config(cluster), f"prod-{cluster}", stack_outputs=fleet_outputs(first_fleet))
    assert result.error is None, result.error
    record = first_fleet.outputs["placement"]
    mine = {
        replica_component(record, item, replica)
        for item in record["deployments"]
        for replica in item["replicas"]
        if replica["cluster"] == cluster
    }
    assert mine
    assert {item.name for item in result.of_type("modelplane:index:ModelReplica")} == mine
    kube = [item for item in result.registrations if item.type.startswith(K8S_PREFIX)]
    assert {item.provider_name for item in kube} == {cluster}
    assert [item.name for item in result.of_type("modelplane:index:InferenceCluster")] == [cluster]
    assert not result.of_type("modelplane:index:ModelService") and not result.of_type(
        "modelplane:index:InferenceGateway"
    )
    assert set(result.outputs) == {"kubeconfigs", "gatewayAddresses"} and "kubeconfigs" in result.secret_outputs


def test_the_fleet_routes_once_cluster_stacks_have_run(first_fleet: MockRun) -> None:
    outputs = {
        "organization/modelplane/prod-us-east": cluster_outputs("us-east", "198.51.100.7"),
        "organization/modelplane/prod-eu-west": cluster_outputs("eu-west", "198.51.100.8"),
    }
    result = run(fleet_config(), "prod-fleet", stack_outputs=outputs)
    assert result.error is None, result.error
    (provider,) = result.of_type("pulumi:providers:kubernetes")
    assert provider.name == "us-east" and provider.inputs["kubeconfig"]["value"] == "kubeconfig of us-east"
    assert {item.type for item in result.registrations if item.type.startswith("modelplane:")} == {
        "modelplane:index:InferenceGateway",
        "modelplane:index:ModelService",
        "modelplane:index:ModelEndpoint",
    }
    slices = {item.name: item.inputs for item in result.of_type("kubernetes:discovery.k8s.io/v1:EndpointSlice")}
    addresses = {
        name.split("/")[2].split("-endpoint")[0]: item["endpoints"][0]["addresses"] for name, item in slices.items()
    }
    # The gateway runs on us-east: its replicas there are reached in-cluster, eu-west's at eu-west's gateway address.
    assert sorted(map(tuple, addresses.values())) == [("198.51.100.8",)] * 2 + [(IN_CLUSTER_GATEWAY,)] * 2
    route = result.named("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "us-east/ml-team/qwen")
    assert len(route.inputs["spec"]["rules"][0]["backendRefs"]) == 2
    assert set(result.outputs["endpoints"]) == {"ml-team/kimi", "ml-team/llama-70b", "ml-team/qwen"}


def test_a_cluster_stack_refuses_a_placement_its_replan_does_not_reproduce(first_fleet: MockRun) -> None:
    outputs = fleet_outputs(first_fleet)
    tampered = outputs[FLEET][0]["placement"] | {}
    tampered["deployments"] = [
        item | {"replicas": []} if item["name"] == "qwen" else item for item in tampered["deployments"]
    ]
    config = dict(outputs[FLEET][0], placement=tampered)
    result = run(cluster_config("eu-west"), "prod-eu-west", stack_outputs={FLEET: (config, [])})
    # qwen's replicas were dropped from the record but its spec still wants 2: the re-plan places them anew.
    assert isinstance(result.error, ProgramError) and "run the fleet stack first" in str(result.error)


def test_a_cluster_stack_before_its_fleet_stack_has_run_says_so() -> None:
    result = run(cluster_config("us-east"), "prod-us-east")
    assert isinstance(result.error, ProgramError) and "has no placement output yet" in str(result.error)
