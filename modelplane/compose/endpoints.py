"""Endpoints a ModelService routes to, and their backends on the gateway cluster (reference §1.7, §4.4).

Each replica is an endpoint named like the replica, labelled with its deployment, cluster and index (plus the
template labels), reached at its workload cluster's gateway on port 80 with the path rewritten to `/<ns>/<replica>/`:
from a fleet gateway on the same cluster through the workload gateway Service's in-cluster DNS name, from any other
cluster at the gateway's load-balancer address (known after deploy; one cluster's DNS names do not resolve in
another). A user's ModelEndpoint (an external provider) is reached at its URL's host and port (443 for https). On
the gateway cluster each gets a selectorless Service plus an EndpointSlice: Traefik rejects ExternalName Services,
and it skips endpoints whose `ready` is unset.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from modelplane.api import names
from modelplane.api.fleet import Fleet
from modelplane.api.model_deployment import ModelDeployment
from modelplane.api.model_endpoint import ModelEndpoint
from modelplane.compose.common import (
    FLEET_GATEWAY_PORT,
    GATEWAY_API,
    LABEL_CLUSTER,
    LABEL_DEPLOYMENT,
    LABEL_REPLICA_INDEX,
    LABEL_SERVICE_NAME,
    Manifest,
    manifest,
    metadata,
)
from modelplane.compose.serving_stack import ENVOY_GATEWAY_NAMESPACE, GATEWAY_SERVICE
from modelplane.scheduling.placement import Placement

# The workload gateway's Service (its name fixed by the serving stack's EnvoyProxy). No cluster domain: the fleet
# gateway pod's DNS search path completes `.svc`, whatever domain the cluster uses.
IN_CLUSTER_GATEWAY = f"{GATEWAY_SERVICE}.{ENVOY_GATEWAY_NAMESPACE}.svc"


def replica_labels(deployment: ModelDeployment, cluster: str, index: int) -> dict[str, str]:
    """A replica's endpoint labels: the template labels plus the managed ones, which win (§0.4). Every object of
    the replica carries them too."""
    managed = {LABEL_DEPLOYMENT: deployment.name, LABEL_CLUSTER: cluster, LABEL_REPLICA_INDEX: str(index)}
    return {**deployment.spec.template.metadata.labels, **managed}


@dataclass(frozen=True)
class Endpoint:
    """A reachable backend. `host` is None for a replica whose cluster's gateway address is not known yet."""

    namespace: str
    name: str
    labels: Mapping[str, str] = field(compare=False)
    port: int
    rewrite_path: str | None
    host: str | None
    workload_cluster: str | None = None  # set for replicas: the cluster whose gateway address is the host
    tls: bool = False  # an https ModelEndpoint

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def seen_from(self, cluster: str) -> Endpoint:
        """The endpoint as a fleet gateway on `cluster` reaches it: a replica of that same cluster through its
        workload gateway's in-cluster name, with or without a load-balancer address (no hairpin through it)."""
        return replace(self, host=IN_CLUSTER_GATEWAY) if self.workload_cluster == cluster else self

    @property
    def backend_name(self) -> str:
        return names.endpoint_backend_name(self.name)

    @property
    def host_header(self) -> str | None:
        """An external provider's host name, sent as `Host`: providers route by it (a replica's gateway does not)."""
        if self.workload_cluster is None and self.host and address_type(self.host) == "FQDN":
            return self.host
        return None


class EndpointIndex:
    """One namespace's endpoints, sorted by name, indexed by label so selecting among thousands stays cheap."""

    def __init__(self, endpoints: list[Endpoint]) -> None:
        self.endpoints = endpoints
        self._by_label: dict[tuple[str, str], list[Endpoint]] = {}
        for endpoint in endpoints:
            for label in endpoint.labels.items():
                self._by_label.setdefault(label, []).append(endpoint)

    def with_labels(self, wanted: Mapping[str, str]) -> list[Endpoint]:
        """A superset of the endpoints carrying every wanted label (all of them when nothing is wanted)."""
        if not wanted:
            return self.endpoints
        return min((self._by_label.get(label, []) for label in wanted.items()), key=len)


class FleetEndpoints:
    """Every endpoint of the fleet: each placed replica and each ModelEndpoint, by namespace."""

    def __init__(self, endpoints: list[Endpoint]) -> None:
        grouped: dict[str, list[Endpoint]] = {}
        for endpoint in sorted(endpoints, key=lambda item: (item.namespace, item.name)):
            grouped.setdefault(endpoint.namespace, []).append(endpoint)
        self._namespaces = {namespace: EndpointIndex(items) for namespace, items in grouped.items()}

    def namespace(self, name: str) -> EndpointIndex:
        return self._namespaces.get(name) or EndpointIndex([])


def fleet_endpoints(fleet: Fleet, placement: Placement, addresses: Mapping[str, str] | None = None) -> FleetEndpoints:
    """Replicas are reached at their cluster's gateway address when `addresses` knows it."""
    known = addresses or {}
    found = [_external(endpoint) for endpoint in fleet.endpoints.values()]
    for item in placement.deployments:
        deployment = fleet.deployments.get(item.key)
        if deployment is None:
            raise ValueError(f"placement names unknown ModelDeployment {item.key}")
        found += [_replica(deployment, replica.cluster, replica.index, known) for replica in item.replicas]
    return FleetEndpoints(found)


def _replica(deployment: ModelDeployment, cluster: str, index: int, addresses: Mapping[str, str]) -> Endpoint:
    """A replica's endpoint (Modelplane's composed ModelEndpoint): its cluster's gateway on port 80."""
    name = names.replica_name(deployment.name, cluster, index)
    labels = replica_labels(deployment, cluster, index)
    path = names.replica_path(deployment.namespace, name)
    host = addresses.get(cluster) or None
    return Endpoint(deployment.namespace, name, labels, FLEET_GATEWAY_PORT, path, host, cluster)


def _external(endpoint: ModelEndpoint) -> Endpoint:
    spec = endpoint.spec
    labels = endpoint.metadata.labels
    tls = spec.scheme == "https"
    return Endpoint(endpoint.namespace, endpoint.name, labels, spec.port, spec.rewrite_path, spec.host, tls=tls)


AddressType = Literal["IPv4", "IPv6", "FQDN"]


def address_type(address: str) -> AddressType:
    try:
        return "IPv4" if ipaddress.ip_address(address).version == 4 else "IPv6"
    except ValueError:
        return "FQDN"


def backend_service(namespace: str, name: str, port: int, labels: Mapping[str, str]) -> Manifest:
    """A selectorless Service with one unnamed TCP port; its EndpointSlice supplies the address."""
    spec = {"ports": [{"protocol": "TCP", "port": port, "targetPort": port}]}
    return manifest("v1", "Service", metadata(name, namespace, labels), spec=spec)


def endpoint_slice(namespace: str, name: str, address: str, port: int, labels: Mapping[str, str]) -> Manifest:
    """The Service's one endpoint, always ready. The Pulumi layer calls it inside `Output.apply` for addresses
    known only after deploy."""
    meta = metadata(name, namespace, {**labels, LABEL_SERVICE_NAME: name})
    return manifest(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        meta,
        addressType=address_type(address),
        endpoints=[{"addresses": [address], "conditions": {"ready": True}}],
        ports=[{"name": "", "protocol": "TCP", "port": port}],
    )


def backend_tls_policy(namespace: str, name: str, hostname: str, labels: Mapping[str, str]) -> Manifest:
    """TLS from the gateway to an https provider, verified against the system CAs for `hostname` (also the SNI).

    Beyond Modelplane, which sends plain HTTP to port 443; Traefik implements BackendTLSPolicy (Gateway API v1.4+).
    """
    spec = {
        "targetRefs": [{"group": "", "kind": "Service", "name": name}],
        "validation": {"hostname": hostname, "wellKnownCACertificates": "System"},
    }
    return manifest(GATEWAY_API, "BackendTLSPolicy", metadata(name, namespace, labels), spec=spec)


def backend_objects(endpoint: Endpoint) -> list[Manifest]:
    """Service + EndpointSlice (+ BackendTLSPolicy for https) of a routable endpoint, in its namespace."""
    if endpoint.host is None:
        raise ValueError(f"endpoint {endpoint.key} has no address yet")
    name = endpoint.backend_name
    objects = [
        backend_service(endpoint.namespace, name, endpoint.port, endpoint.labels),
        endpoint_slice(endpoint.namespace, name, endpoint.host, endpoint.port, endpoint.labels),
    ]
    if endpoint.tls:
        objects.append(backend_tls_policy(endpoint.namespace, name, endpoint.host, endpoint.labels))
    return objects
