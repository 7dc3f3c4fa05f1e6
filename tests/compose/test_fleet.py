"""compose_fleet: bundles, namespaces, gateways, determinism and the schema of everything it composes."""

from __future__ import annotations

import copy

import pytest

from modelplane.compose.fleet import OWNER_KINDS, Composition, compose_fleet
from tests.compose import builders as b
from tests.compose.checks import check_composition
from tests.compose.fixtures import ADDRESSES, rich_fleet, rich_placement


@pytest.fixture(scope="module")
def composition() -> Composition:
    return compose_fleet(rich_fleet(), rich_placement(), gateway_addresses=ADDRESSES)


def test_every_object_validates(composition: Composition) -> None:
    """Core objects strictly against Kubernetes 1.34, CRD objects against their CRD's required fields."""
    check_composition(composition)
    kinds = {item["kind"] for bundle in composition.bundles for item in bundle.manifests}
    assert kinds >= {
        "Namespace", "Deployment", "LeaderWorkerSet", "ResourceClaimTemplate", "Service", "HTTPRoute", "InferencePool",
        "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "PersistentVolumeClaim", "Job", "EndpointSlice",
        "BackendTLSPolicy", "Gateway", "GatewayClass",
    }  # fmt: skip


def test_bundles_are_sorted_and_owned(composition: Composition) -> None:
    rank = {kind: index for index, kind in enumerate(OWNER_KINDS)}
    keys = [(bundle.cluster, rank[bundle.owner_kind], bundle.owner) for bundle in composition.bundles]
    assert keys == sorted(keys)
    replica = next(bundle for bundle in composition.bundles if bundle.owner_kind == "ModelReplica")
    assert replica.owner.count("/") == 1
    assert composition.clusters() == ["byo-d", "byo-e", "eks-a", "gke-b", "vultr-c"]
    assert {bundle.cluster for bundle in composition.for_cluster("gke-b")} == {"gke-b"}


def test_namespaces_exist_wherever_objects_use_them(composition: Composition) -> None:
    namespaces = {(bundle.cluster, bundle.owner) for bundle in composition.bundles if bundle.owner_kind == "Namespace"}
    used = {
        (bundle.cluster, item["metadata"]["namespace"])
        for bundle in composition.bundles
        for item in bundle.manifests
        if item["metadata"].get("namespace") not in (None, "default", "modelplane-system")
    }
    assert namespaces == used
    assert ("gke-b", "ml-team") in namespaces  # the gateway cluster holds the service routes' namespace


def test_replica_objects_live_in_the_deployment_namespace_with_replica_labels(composition: Composition) -> None:
    [bundle] = [
        item for item in composition.bundles if (item.owner_kind, item.owner) == ("ModelReplica", "ml-team/qwen-f3def")
    ]
    assert bundle.cluster == "eks-a"
    for item in bundle.manifests:
        assert item["metadata"]["namespace"] == "ml-team"
        assert item["metadata"]["labels"] == {
            "team": "search",
            "modelplane.ai/deployment": "qwen",
            "modelplane.ai/cluster": "eks-a",
            "modelplane.ai/replica-index": "0",
            "app.kubernetes.io/managed-by": "modelplane",
        }


def test_cache_mounted_only_where_staged(composition: Composition) -> None:
    def volumes(cluster: str, owner: str) -> list[str]:
        [bundle] = [
            item
            for item in composition.for_cluster(cluster)
            if (item.owner_kind, item.owner) == ("ModelReplica", owner)
        ]
        deployment = next(item for item in bundle.manifests if item["kind"] == "Deployment")
        return [volume["name"] for volume in deployment["spec"]["template"]["spec"]["volumes"]]

    assert volumes("eks-a", "ml-team/qwen-f3def") == ["dshm", "model-cache"]
    assert volumes("vultr-c", "ml-team/qwen-2a203") == ["dshm"]
    assert (
        "ModelReplica ml-team/qwen-2a203: ModelCache qwen is not staged on vultr-c; its pods start without /mnt/models"
        in composition.notices
    )


def test_gateways(composition: Composition) -> None:
    gateways = {
        bundle.owner: bundle.cluster for bundle in composition.bundles if bundle.owner_kind == "InferenceGateway"
    }
    assert gateways == {"default": "gke-b", "eu": "byo-d"}
    assert "InferenceGateway eu: spec.cluster unset, running on byo-d (first cluster by name)" in composition.notices
    assert composition.manifest("byo-d", "HTTPRoute", "research", "tiny") is not None
    gateway = composition.manifest("gke-b", "Gateway", "modelplane-system", "modelplane")
    assert gateway is not None
    assert gateway["spec"] == {
        "gatewayClassName": "traefik",
        "listeners": [
            {"name": "web", "protocol": "HTTP", "port": 8000, "allowedRoutes": {"namespaces": {"from": "All"}}}
        ],
    }
    gateway_class = composition.manifest("gke-b", "GatewayClass", None, "traefik")
    assert gateway_class is not None and gateway_class["spec"] == {"controllerName": "traefik.io/gateway-controller"}


def test_two_gateways_on_one_cluster_share_it() -> None:
    gateways = [b.gateway("default", "a"), b.gateway("second", "a")]
    composition = compose_fleet(b.fleet(b.GPU_CLASS, b.cluster("a"), *gateways), b.placement())
    check_composition(composition)
    assert [bundle.owner for bundle in composition.bundles] == ["default"]
    assert composition.notices == ("InferenceGateway second: shares the Traefik gateway of default on a",)


def test_no_cluster_for_a_gateway() -> None:
    gateway = b.gateway()
    composition = compose_fleet(b.fleet(gateway), b.placement())
    assert composition.bundles == ()
    assert composition.notices == (
        "InferenceGateway default: no InferenceCluster to run on; its services are not routed",
    )


def test_deterministic_and_pure() -> None:
    fleet, placement = rich_fleet(), rich_placement()
    first = compose_fleet(fleet, placement, gateway_addresses=ADDRESSES)
    snapshot = copy.deepcopy(first)
    second = compose_fleet(rich_fleet(), rich_placement(), gateway_addresses=dict(ADDRESSES))
    assert first == second == snapshot


def test_placement_of_an_unknown_deployment_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown ModelDeployment ml-team/ghost"):
        compose_fleet(b.fleet(b.GPU_CLASS, b.cluster("a")), b.placement(("ml-team", "ghost", [b.replica("a", 0)])))


def test_a_name_clash_keeps_the_first_owner_and_says_so() -> None:
    # A ModelService named exactly like a replica would compose a second HTTPRoute of that name on the gateway cluster.
    clash = {
        "apiVersion": "modelplane.ai/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": "my-model-5ab63", "namespace": "ml-team"},
        "spec": {"endpoints": [{"selector": {"matchLabels": {"modelplane.ai/deployment": "my-model"}}}]},
    }
    fleet = b.fleet(b.GPU_CLASS, b.cluster("cluster-a"), b.gateway("default", "cluster-a"), b.deployment(), clash)
    composition = compose_fleet(fleet, b.placement(("ml-team", "my-model", [b.replica("cluster-a", 0)])))
    check_composition(composition)
    route = composition.manifest("cluster-a", "HTTPRoute", "ml-team", "my-model-5ab63")
    assert route is not None and route["spec"]["parentRefs"][0]["name"] == "inference-gateway"
    assert (
        "ModelService ml-team/my-model-5ab63: HTTPRoute my-model-5ab63 on cluster-a is already composed by "
        "ModelReplica ml-team/my-model-5ab63; left out"
    ) in composition.notices
