"""Reference §1.7, §1.8, §4 / §10 items 21–23: endpoint backends, the ModelService route and its weights."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from modelplane.api.model_endpoint import ModelEndpoint
from modelplane.compose.endpoints import address_type, endpoint_slice
from modelplane.compose.fleet import Composition, compose_fleet
from modelplane.compose.routing import service_backends
from tests.compose import builders as b
from tests.compose.checks import check_composition, check_object
from tests.compose.fixtures import ADDRESSES, rich_fleet, rich_placement

API = "modelplane.ai/v1alpha1"


def endpoint(name: str, url: str, labels: dict[str, str], rewrite: str | None = "/") -> dict[str, Any]:
    spec = {"url": url, **({"rewritePath": rewrite} if rewrite else {})}
    return {
        "apiVersion": API,
        "kind": "ModelEndpoint",
        "metadata": {"name": name, "namespace": "ml-team", "labels": labels},
        "spec": spec,
    }


def service(*entries: dict[str, Any], name: str = "qwen") -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "ModelService",
        "metadata": {"name": name, "namespace": "ml-team"},
        "spec": {"endpoints": list(entries)},
    }


def entry(labels: dict[str, str], weight: int = 1, priority: int = 0) -> dict[str, Any]:
    return {"weight": weight, "priority": priority, "selector": {"matchLabels": labels}}


REPLICA = "qwen-107f2"  # replica_name("qwen", "a", 0)
REPLICA_BACKEND = "qwen-107f2-endpoint-49229"
GATEWAY = b.gateway("default", "gw")


def route_fleet(
    *documents: dict[str, Any], replicas: dict[str, int] | None = None, addresses: dict[str, str] | None = None
) -> Composition:
    """Clusters `gw` (the gateway) and `a`, `b`; deployment qwen with replicas on a (and b)."""
    clusters = [b.cluster(name) for name in ("a", "b", "gw")]
    placed = [b.replica(cluster, index) for cluster, count in (replicas or {"a": 1}).items() for index in range(count)]
    fleet = b.fleet(b.GPU_CLASS, *clusters, GATEWAY, b.deployment("qwen"), *documents)
    composition = compose_fleet(fleet, b.placement(("ml-team", "qwen", placed)), gateway_addresses=addresses)
    check_composition(composition)
    return composition


def route(composition: Composition, name: str = "qwen") -> dict[str, Any]:
    found = composition.manifest("gw", "HTTPRoute", "ml-team", name)
    assert found is not None
    return found


def weights(composition: Composition, name: str = "qwen") -> dict[str, int]:
    return {ref["name"]: ref["weight"] for ref in route(composition, name)["spec"]["rules"][0].get("backendRefs", [])}


class TestEndpointBackends:
    """Item 21: a selectorless Service with the URL's port and an always-ready EndpointSlice."""

    @pytest.mark.parametrize(
        ("url", "address", "kind", "port"),
        [
            ("http://10.1.2.3/ns/r/v1", "10.1.2.3", "IPv4", 80),
            ("https://api.together.xyz/", "api.together.xyz", "FQDN", 443),
            ("http://[fd00::1]:8080/v1", "fd00::1", "IPv6", 8080),
        ],
    )
    def test_service_and_slice(self, url: str, address: str, kind: str, port: int) -> None:
        composition = route_fleet(endpoint("ext", url, {"p": "x"}), service(entry({"p": "x"})))
        [bundle] = [item for item in composition.bundles if item.owner == "ml-team/ext"]
        assert bundle.cluster == "gw" and bundle.owner_kind == "ModelEndpoint"
        objects = {item["kind"]: item for item in bundle.manifests}
        assert "selector" not in objects["Service"]["spec"]
        assert objects["Service"]["spec"]["ports"] == [{"protocol": "TCP", "port": port, "targetPort": port}]
        eps = objects["EndpointSlice"]
        assert eps["metadata"]["labels"]["kubernetes.io/service-name"] == objects["Service"]["metadata"]["name"]
        assert eps["addressType"] == kind
        assert eps["endpoints"] == [{"addresses": [address], "conditions": {"ready": True}}]
        assert eps["ports"] == [{"name": "", "protocol": "TCP", "port": port}]
        assert ("BackendTLSPolicy" in objects) == url.startswith("https")

    def test_https_gets_backend_tls_and_the_provider_host(self) -> None:
        composition = route_fleet(
            endpoint("together", "https://api.together.xyz/", {"p": "t"}), service(entry({"p": "t"}))
        )
        policy = composition.manifest("gw", "BackendTLSPolicy", "ml-team", "together-endpoint-9bedc")
        assert policy is not None
        assert policy["spec"]["validation"] == {"hostname": "api.together.xyz", "wellKnownCACertificates": "System"}
        assert policy["spec"]["targetRefs"] == [{"group": "", "kind": "Service", "name": "together-endpoint-9bedc"}]
        [ref] = route(composition)["spec"]["rules"][0]["backendRefs"]
        assert ref["filters"][0]["urlRewrite"]["hostname"] == "api.together.xyz"

    @pytest.mark.parametrize("url", ["http://h:abc/", "ftp://h/", "http:///v1"])
    def test_invalid_url_is_rejected(self, url: str) -> None:
        with pytest.raises(ValidationError, match="invalid url"):
            ModelEndpoint.model_validate(endpoint("bad", url, {}))

    @pytest.mark.parametrize(
        ("address", "kind"), [("10.0.0.1", "IPv4"), ("fd00::1", "IPv6"), ("gw.example.com", "FQDN")]
    )
    def test_address_type_and_pulumi_builder(self, address: str, kind: str) -> None:
        assert address_type(address) == kind
        check_object(endpoint_slice("ml-team", "r-endpoint", address, 80, {"a": "b"}))


class TestServiceRoute:
    """Item 22: the gateway's HTTPRoute, one backendRef per routable endpoint, each rewriting to its path."""

    def test_route_to_a_replica(self) -> None:
        composition = route_fleet(
            service(entry({"modelplane.ai/deployment": "qwen"})), addresses={"a": "172.18.255.200"}
        )
        spec = route(composition)["spec"]
        assert spec["parentRefs"] == [{"name": "modelplane", "namespace": "modelplane-system"}]
        [rule] = spec["rules"]
        assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/ml-team/qwen/"}}]
        replica = REPLICA
        assert rule["backendRefs"] == [
            {
                "name": REPLICA_BACKEND,
                "port": 80,
                "weight": 1,
                "filters": [
                    {
                        "type": "URLRewrite",
                        "urlRewrite": {
                            "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": f"/ml-team/{replica}/"}
                        },
                    }
                ],
            }
        ]
        assert "timeouts" not in rule
        slice_ = composition.manifest("gw", "EndpointSlice", "ml-team", REPLICA_BACKEND)
        assert slice_ is not None and slice_["endpoints"][0]["addresses"] == ["172.18.255.200"]

    def test_a_replica_without_a_gateway_address_is_withheld_and_pending(self) -> None:
        composition = route_fleet(
            service(entry({"modelplane.ai/deployment": "qwen"})), replicas={"a": 1, "b": 1}, addresses={"a": "10.0.0.1"}
        )
        assert list(weights(composition)) == [REPLICA_BACKEND]
        [pending] = composition.pending_backends
        assert (pending.cluster, pending.workload_cluster, pending.port, pending.services) == (
            "gw",
            "b",
            80,
            ("ml-team/qwen",),
        )
        check_object(pending.service())
        slice_ = pending.endpoint_slice("10.9.9.9")
        check_object(slice_)
        assert slice_["metadata"]["name"] == pending.name
        assert any("1 replica endpoint(s) on b left out of its route" in notice for notice in composition.notices)

    def test_no_routable_endpoint_keeps_the_route_without_backends(self) -> None:
        composition = route_fleet(service(entry({"modelplane.ai/deployment": "qwen"})))
        assert "backendRefs" not in route(composition)["spec"]["rules"][0]

    def test_no_matching_endpoint_composes_no_route(self) -> None:
        composition = route_fleet(service(entry({"modelplane.ai/deployment": "other"})))
        assert composition.manifest("gw", "HTTPRoute", "ml-team", "qwen") is None
        assert any("no endpoint matches" in notice for notice in composition.notices)

    def test_selection_stays_in_the_service_namespace(self) -> None:
        foreign = endpoint("ext", "http://10.1.1.1/", {"p": "x"})
        foreign["metadata"]["namespace"] = "other-team"
        composition = route_fleet(foreign, service(entry({"p": "x"})))
        assert composition.manifest("gw", "HTTPRoute", "ml-team", "qwen") is None

    def test_a_missing_gateway_is_a_notice(self) -> None:
        document = service(entry({"modelplane.ai/deployment": "qwen"}), name="far")
        document["spec"]["gatewayRef"] = {"name": "nowhere"}
        fleet = b.fleet(b.GPU_CLASS, b.cluster("a"), document)
        composition = compose_fleet(fleet, b.placement())
        assert composition.bundles == ()
        assert composition.notices == ("ModelService ml-team/far: InferenceGateway nowhere is not running; not routed",)


class TestWeights:
    """Item 23 through the route, plus priority tiers (beyond Modelplane)."""

    def externals(self, count: int, label: str) -> list[dict[str, Any]]:
        return [endpoint(f"{label}-{index}", f"http://10.0.{index}.1/", {"p": label}) for index in range(count)]

    def test_80_over_three_and_20_over_one(self) -> None:
        composition = route_fleet(
            *self.externals(3, "x"), *self.externals(1, "y"), service(entry({"p": "x"}, 80), entry({"p": "y"}, 20))
        )
        assert sorted(weights(composition).values()) == [20, 26, 27, 27]

    def test_an_endpoint_matched_twice_counts_in_the_first_entry(self) -> None:
        both = endpoint("both", "http://10.0.0.9/", {"p": "x", "q": "y"})
        other = endpoint("y-0", "http://10.0.0.8/", {"q": "y"})
        composition = route_fleet(both, other, service(entry({"p": "x"}, 1), entry({"q": "y"}, 3)))
        backends = route(composition)["spec"]["rules"][0]["backendRefs"]
        assert [ref["name"].split("-endpoint-")[0] for ref in backends] == ["both", "y-0"]
        assert [ref["weight"] for ref in backends] == [1, 3]

    def test_an_entry_whose_endpoints_cannot_route_loses_its_share(self) -> None:
        composition = route_fleet(
            *self.externals(1, "x"), service(entry({"modelplane.ai/deployment": "qwen"}, 80), entry({"p": "x"}, 20))
        )
        assert list(weights(composition).values()) == [1]

    def test_priority_failover(self) -> None:
        docs = [
            *self.externals(1, "backup"),
            service(entry({"modelplane.ai/deployment": "qwen"}), entry({"p": "backup"}, priority=1)),
        ]
        primary = route_fleet(*docs, addresses={"a": "10.0.0.1"})
        assert list(weights(primary)) == [REPLICA_BACKEND]
        failover = route_fleet(*docs, replicas={})
        assert list(weights(failover)) == ["backup-0-endpoint-c77b7"]
        assert failover.manifest("gw", "Service", "ml-team", REPLICA_BACKEND) is None

    def test_service_backends_for_the_plan_record(self) -> None:
        services = {
            (item["namespace"], item["name"]): item["backends"]
            for item in service_backends(rich_fleet(), rich_placement())
        }
        assert services[("ml-team", "qwen")] == [
            {"name": "qwen-2a203", "weight": 2, "priority": 0},
            {"name": "qwen-f3def", "weight": 2, "priority": 0},
            {"name": "together", "weight": 1, "priority": 0},
            {"name": "on-prem", "weight": 0, "priority": 1},
        ]
        assert services[("research", "tiny")] == [
            {"name": "2b.tiny-71b9f", "weight": 1, "priority": 0},
            {"name": "lab-v6", "weight": 1, "priority": 0},
        ]


def test_rich_fleet_routes_only_reachable_replicas() -> None:
    composition = compose_fleet(rich_fleet(), rich_placement(), gateway_addresses=ADDRESSES)
    qwen = composition.manifest("gke-b", "HTTPRoute", "ml-team", "qwen")
    assert qwen is not None
    assert [ref["weight"] for ref in qwen["spec"]["rules"][0]["backendRefs"]] == [4, 1]
