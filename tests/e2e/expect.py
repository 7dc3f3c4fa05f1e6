"""What a stack should put on each cluster (its plan, composed), and what is there (objects labelled as ours)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
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


def planned(
    stack: str,
    addresses: Mapping[str, str] | None = None,
    previous: Mapping[str, Any] | None = None,
    project_dir: Path = ROOT,
) -> tuple[dict[str, Any], Composition]:
    """The stack's placement record and its composition (with the gateway addresses the stack reported), planned
    from `previous` (the stack's last placement output) as the program plans, else from the stack's own record."""
    inputs = load_stack(project_dir, stack)
    placement = plan(inputs.fleet, previous if previous is not None else inputs.previous)
    composition = compose_fleet(inputs.fleet, placement, gateway_addresses=dict(addresses or {}))
    return plan_record(inputs.fleet, placement), composition


def composed_objects(composition: Composition, cluster: str) -> dict[ObjectId, dict[str, Any]]:
    """Every manifest composed for the cluster, and the Secrets whose values the program fills in from config."""
    manifests = [item for bundle in composition.for_cluster(cluster) for item in bundle.manifests]
    manifests += [spec.manifest() for spec in composition.secrets if spec.cluster == cluster]
    return {(item["kind"], item["metadata"].get("namespace", ""), item["metadata"]["name"]): item for item in manifests}


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


def workload_uids(kubectl: Kubectl) -> dict[ObjectId, str]:
    """The uid of every object of ours, to tell kept from replaced."""
    return {key: item["metadata"]["uid"] for key, item in live_objects(kubectl).items()}


def route_backends(kubectl: Kubectl, namespace: str, name: str) -> list[tuple[str, int]]:
    route = kubectl.json("get", "httproute", name, "-n", namespace)
    return sorted((ref["name"], ref.get("weight", 1)) for rule in route["spec"]["rules"] for ref in rule["backendRefs"])


def composed_backends(composition: Composition, cluster: str, namespace: str, name: str) -> list[tuple[str, int]]:
    route = composition.manifest(cluster, "HTTPRoute", namespace, name)
    assert route is not None, f"no HTTPRoute {namespace}/{name} composed on {cluster}"
    return sorted((ref["name"], ref.get("weight", 1)) for rule in route["spec"]["rules"] for ref in rule["backendRefs"])


def serving_pods_settled(kubectl: Kubectl, namespace: str) -> bool:
    """Every serving pod Running with its claims allocated and reserved; nothing left terminating."""
    pods = kubectl.json("get", "pods", "-n", namespace)["items"]
    claims = {c["metadata"]["name"]: c for c in kubectl.json("get", "resourceclaims", "-n", namespace)["items"]}
    for pod in pods:
        owners = {ref["kind"] for ref in pod["metadata"].get("ownerReferences", [])}
        if "Job" in owners:
            continue
        if pod["metadata"].get("deletionTimestamp") or pod["status"].get("phase") != "Running":
            return False
        for status in pod["status"].get("resourceClaimStatuses", []):
            claim = claims.get(status.get("resourceClaimName", ""))
            if not claim or not claim.get("status", {}).get("allocation") or not claim["status"].get("reservedFor"):
                return False
    return True
