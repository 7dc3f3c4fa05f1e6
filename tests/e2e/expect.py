"""What a stack should put on each cluster (its plan, composed), and what is there (objects labelled as ours)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelplane.api.loading import load_stack
from modelplane.compose.common import LABEL_MANAGED_BY, MANAGED_BY
from modelplane.compose.fleet import Composition, compose_fleet
from modelplane.planning import plan, plan_record
from tests.e2e.conftest import ROOT, Kubectl

ObjectId = tuple[str, str, str]  # kind, namespace ('' when cluster-scoped), name
# Every kind the program composes (the selector below finds only objects it labelled as its own).
KINDS = (
    "namespaces,deployments.apps,leaderworkersets.leaderworkerset.x-k8s.io,services,endpointslices.discovery.k8s.io,"
    "resourceclaimtemplates.resource.k8s.io,httproutes.gateway.networking.k8s.io,persistentvolumeclaims,jobs.batch,"
    "secrets,configmaps,serviceaccounts,roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io,"
    "inferencepools.inference.networking.k8s.io,backendtlspolicies.gateway.networking.k8s.io,"
    "gateways.gateway.networking.k8s.io,gatewayclasses.gateway.networking.k8s.io"
)


def planned(stack: str, addresses: Mapping[str, str] | None = None) -> tuple[dict[str, Any], Composition]:
    """The stack's placement record and its composition (with the gateway addresses the stack reported)."""
    inputs = load_stack(ROOT, stack)
    placement = plan(inputs.fleet, inputs.previous)
    return plan_record(inputs.fleet, placement), compose_fleet(
        inputs.fleet, placement, gateway_addresses=dict(addresses or {})
    )


def composed_objects(composition: Composition, cluster: str) -> dict[ObjectId, dict[str, Any]]:
    return {
        (item["kind"], item["metadata"].get("namespace", ""), item["metadata"]["name"]): item
        for bundle in composition.for_cluster(cluster)
        for item in bundle.manifests
    }


def live_objects(kubectl: Kubectl) -> dict[ObjectId, dict[str, Any]]:
    """Objects labelled as ours that no controller made (an EndpointSlice of our Service copies its labels)."""
    listed = kubectl.json("get", KINDS, "-A", "-l", f"{LABEL_MANAGED_BY}={MANAGED_BY}")["items"]
    return {
        (item["kind"], item["metadata"].get("namespace", ""), item["metadata"]["name"]): item
        for item in listed
        if not item["metadata"].get("ownerReferences")
    }


def assert_cluster_holds_exactly(kubectl: Kubectl, composition: Composition, cluster: str) -> None:
    expected, live = composed_objects(composition, cluster), live_objects(kubectl)
    assert sorted(live) == sorted(expected), {"missing": set(expected) - set(live), "extra": set(live) - set(expected)}
    for key, manifest in expected.items():
        labels = live[key]["metadata"].get("labels", {})
        for name, value in manifest["metadata"].get("labels", {}).items():
            assert labels.get(name) == value, (key, name, labels)
