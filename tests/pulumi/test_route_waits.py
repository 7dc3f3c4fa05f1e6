"""A ModelService's route waits for the replicas it selects, so a new replica joins it only once it is Ready."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelplane.compose.fleet import compose_fleet
from modelplane.compose.routing import service_backends
from modelplane.planning import checked_fleet, plan
from tests.pulumi.helpers import run, stack_config

ROOT = Path(__file__).resolve().parents[2]
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
WORKLOADS = {"kubernetes:apps/v1:Deployment", "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"}
SERVICE = "modelplane:index:ModelService"
STACKS = ["dev", "prod"]  # the lab stack needs kubeconfigs the mocks do not hold


def selected_replicas(stack: str) -> dict[str, set[str]]:
    """Per ModelService key, the replica backends the plan gives it (ModelEndpoints left out)."""
    config = stack_config(stack)
    fleet = checked_fleet(config, project_dir=ROOT, source=stack)
    backends = service_backends(fleet, plan(fleet))
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
    config = stack_config(stack)
    fleet = checked_fleet(config, project_dir=ROOT, source=stack)
    routed = compose_fleet(fleet, plan(fleet)).routed_replicas
    selected = selected_replicas(stack)
    assert any(selected.values())
    for service, replicas in selected.items():
        assert {replica for replica, _ in routed.get(service, ())} == replicas, service


@pytest.mark.parametrize("stack", STACKS)
def test_every_service_route_waits_for_the_workloads_of_the_replicas_it_selects(stack: str) -> None:
    result = run(stack_config(stack), stack)
    assert result.error is None
    selected = selected_replicas(stack)
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
