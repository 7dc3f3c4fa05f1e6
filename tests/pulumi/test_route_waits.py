"""A ModelService's route waits for the replicas it selects, so a new replica joins it only once it is Ready."""

from __future__ import annotations

import pytest

from modelplane.api.fleet import Fleet
from modelplane.compose.fleet import compose_fleet
from modelplane.compose.routing import service_backends
from modelplane.planning import checked_fleet, plan
from modelplane.scheduling.placement import Placement
from tests.pulumi.helpers import ROOT, run, stack_config

ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
WORKLOADS = {"kubernetes:apps/v1:Deployment", "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"}
SERVICE = "modelplane:index:ModelService"
STACKS = ["dev", "prod"]  # the lab stack needs kubeconfigs the mocks do not hold


def planned(stack: str) -> tuple[Fleet, Placement]:
    fleet = checked_fleet(stack_config(stack), project_dir=ROOT, source=stack)
    return fleet, plan(fleet)


def selected_replicas(fleet: Fleet, placement: Placement) -> dict[str, set[str]]:
    """Per ModelService key, the replica backends the plan gives it (ModelEndpoints left out)."""
    backends = service_backends(fleet, placement)
    return {
        f"{entry['namespace']}/{entry['name']}": {
            f"{entry['namespace']}/{backend['name']}"
            for backend in entry["backends"]
            if f"{entry['namespace']}/{backend['name']}" not in fleet.endpoints
        }
        for entry in backends
    }


@pytest.mark.parametrize("stack", STACKS)
def test_the_composition_names_every_replica_a_service_selects(stack: str) -> None:
    fleet, placement = planned(stack)
    routed = compose_fleet(fleet, placement).routed_replicas
    selected = selected_replicas(fleet, placement)
    assert any(selected.values())
    for service, replicas in selected.items():
        assert {replica for replica, _ in routed.get(service, ())} == replicas, service


@pytest.mark.parametrize("stack", STACKS)
def test_every_service_route_waits_for_the_workloads_of_the_replicas_it_selects(stack: str) -> None:
    result = run(stack_config(stack), stack)
    assert result.error is None
    selected = selected_replicas(*planned(stack))
    for service in result.of_type(SERVICE):
        key = service.name.split("/", 1)[1]
        route = result.named(ROUTE, service.name)
        for replica in selected[key]:
            workloads = [
                item.urn
                for item in result.registrations
                if item.type in WORKLOADS and item.parent_name.split("/", 1)[1] == replica
            ]
            assert workloads and set(workloads) <= set(route.dependencies), (service.name, replica)


def test_no_workload_waits_for_a_service_route() -> None:
    result = run(stack_config("prod"), "prod")
    services = {item.name for item in result.of_type(SERVICE)}
    routes = {item.urn for item in result.of_type(ROUTE) if item.parent_name in services}
    assert routes
    for workload in (item for item in result.registrations if item.type in WORKLOADS):
        assert not routes & set(workload.dependencies), workload.name
