"""The whole fleet's composition: every cluster's manifests, grouped by the API object that owns them.

Pure: the Pulumi program and `modelplane render` both consume `compose_fleet`'s output, so there is one copy of the
logic. Secret values never pass through here (see `SecretSpec`), and backends whose address is only known after
deploy are described (`PendingBackend`) rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from modelplane import collector
from modelplane.api import names
from modelplane.api.fleet import Fleet
from modelplane.compose import cache as caches
from modelplane.compose.cache import SecretSpec
from modelplane.compose.common import PRESENT_NAMESPACES, Manifest, manifest, metadata
from modelplane.compose.endpoints import (
    Endpoint,
    FleetEndpoints,
    backend_objects,
    backend_service,
    endpoint_slice,
    fleet_endpoints,
)
from modelplane.compose.gateway import gateway_cluster, gateway_objects
from modelplane.compose.replica import compose_replica
from modelplane.compose.routing import select, service_route, weighted_backends
from modelplane.compose.serving_stack import ENVOY_GATEWAY_NAMESPACE, GATEWAY_SERVICE
from modelplane.compose.weights import Group
from modelplane.scheduling.placement import Placement

OWNER_KINDS = ("Namespace", "InferenceGateway", "ModelCache", "ModelReplica", "ModelEndpoint", "ModelService")
# Within a bundle, what an object refers to comes before it (as Helm orders installs), so `kubectl apply` of a
# rendered file creates claims, volumes and config before the workloads that use them.
APPLY_ORDER = (
    "Namespace",
    "GatewayClass",
    "Gateway",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "PersistentVolumeClaim",
    "ResourceClaimTemplate",
    "Service",
    "EndpointSlice",
    "BackendTLSPolicy",
    "Job",
    "Deployment",
    "LeaderWorkerSet",
    "InferencePool",
    "HTTPRoute",
)
_APPLY_RANK = {kind: rank for rank, kind in enumerate(APPLY_ORDER)}


@dataclass(frozen=True)
class Bundle:
    """The manifests one API object puts on one cluster. `owner` is `<ns>/<name>` for namespaced owners."""

    owner_kind: str
    owner: str
    cluster: str
    manifests: tuple[Manifest, ...]


@dataclass(frozen=True)
class PendingBackend:
    """A replica endpoint whose workload cluster's gateway address is not known yet, so its backend (Service +
    EndpointSlice on the gateway cluster) and its backendRefs were left out. Build it once the address is known."""

    cluster: str  # the gateway cluster the Service and EndpointSlice go to
    namespace: str
    name: str  # the Service and EndpointSlice name
    endpoint: str  # the replica (endpoint) name
    workload_cluster: str  # whose gateway address the EndpointSlice points at
    port: int
    labels: Mapping[str, str] = field(compare=False)
    services: tuple[str, ...] = ()  # ModelServices (`<ns>/<name>`) that route to it once it has an address

    def service(self) -> Manifest:
        return backend_service(self.namespace, self.name, self.port, self.labels)

    def endpoint_slice(self, address: str) -> Manifest:
        return endpoint_slice(self.namespace, self.name, address, self.port, self.labels)


@dataclass(frozen=True)
class Composition:
    bundles: tuple[Bundle, ...]
    secrets: tuple[SecretSpec, ...]
    notices: tuple[str, ...]
    pending_backends: tuple[PendingBackend, ...] = ()
    # ModelService key -> the (ModelReplica key, cluster) of every replica it selects: what its route waits for.
    routed_replicas: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    @cached_property
    def _by_cluster(self) -> dict[str, list[Bundle]]:
        grouped: dict[str, list[Bundle]] = {secret.cluster: [] for secret in self.secrets}
        for bundle in self.bundles:
            grouped.setdefault(bundle.cluster, []).append(bundle)
        return grouped

    def clusters(self) -> list[str]:
        return sorted(self._by_cluster)

    def for_cluster(self, name: str) -> list[Bundle]:
        return list(self._by_cluster.get(name, []))

    def manifest(self, cluster: str, kind: str, namespace: str | None, name: str) -> Manifest | None:
        """Look one object up, e.g. a ModelService's HTTPRoute recomposed inside `Output.apply` with addresses."""
        for bundle in self.for_cluster(cluster):
            for item in bundle.manifests:
                meta = item["metadata"]
                if item["kind"] == kind and meta.get("namespace") == namespace and meta["name"] == name:
                    return item
        return None


def address_hint(clusters: list[str]) -> str:
    """How to read a workload gateway's load-balancer address, for the clusters whose replicas wait for one."""
    context = clusters[0] if len(clusters) == 1 else "CLUSTER"
    return (
        f"gateway address of {', '.join(clusters)}: once the serving stack runs there, read it with "
        f"`kubectl --context {context} -n {ENVOY_GATEWAY_NAMESPACE} get service {GATEWAY_SERVICE} -o "
        "jsonpath='{.status.loadBalancer.ingress[0].ip}{.status.loadBalancer.ingress[0].hostname}'`"
    )


def compose_fleet(
    fleet: Fleet, placement: Placement, *, gateway_addresses: Mapping[str, str] | None = None
) -> Composition:
    """Compose every cluster's manifests. `gateway_addresses` maps a cluster to its workload gateway's address."""
    with collector.paused():
        composer = _Composer(fleet, placement)
        composer.caches()
        composer.replicas()
        composer.services(fleet_endpoints(fleet, placement, gateway_addresses), composer.gateways())
        composer.namespaces()
        return composer.result()


class _Composer:
    """Accumulates bundles, secrets and notices over the composition steps."""

    def __init__(self, fleet: Fleet, placement: Placement) -> None:
        self.fleet = fleet
        self.placement = placement
        self.bundles: list[Bundle] = []
        self.secrets: list[SecretSpec] = []
        self.notices: list[str] = []
        self.pending: dict[tuple[str, str], tuple[Endpoint, list[str]]] = {}
        self.staged: dict[str, set[str]] = {}  # cache key -> clusters it is staged on
        self.routed: dict[str, set[tuple[str, str]]] = {}

    def add(self, owner_kind: str, owner: str, cluster: str, manifests: list[Manifest]) -> None:
        ordered = sorted(
            manifests,
            key=lambda item: (
                _APPLY_RANK[item["kind"]],
                item["metadata"].get("namespace", ""),
                item["metadata"]["name"],
            ),
        )
        self.bundles.append(Bundle(owner_kind, owner, cluster, tuple(ordered)))

    def caches(self) -> None:
        """Per ModelCache, the PVC + Job (+ token Secret spec) on every selected cluster with a cache class (§5)."""
        for cache in self.fleet.caches.values():
            staged, notices = caches.staging(self.fleet, cache)
            self.notices += notices
            self.staged[cache.key] = {cluster for cluster, _ in staged}
            for cluster, storage in staged:
                self.add("ModelCache", cache.key, cluster, caches.cache_objects(cache, storage))
                secret = caches.token_secret(cache, cluster)
                if secret:
                    self.secrets.append(secret)

    def replicas(self) -> None:
        """Per placed replica, its workloads and routing on its cluster; the cache only where it is staged."""
        for item in self.placement.deployments:
            deployment = self.fleet.deployments.get(item.key)
            if deployment is None:
                raise ValueError(f"placement names unknown ModelDeployment {item.key}")
            cache = self.fleet.cache_for(deployment)
            for replica in item.replicas:
                name = names.replica_name(item.name, replica.cluster, replica.index)
                pvc = None
                if cache and replica.cluster in self.staged.get(cache.key, set()):
                    pvc = names.cache_pvc_name(cache.namespace, cache.name)
                elif cache:
                    self.notices.append(
                        f"ModelReplica {item.namespace}/{name}: ModelCache {cache.name} is not staged on "
                        f"{replica.cluster}; its pods start without /mnt/models"
                    )
                manifests = compose_replica(deployment, replica, pvc)
                self.add("ModelReplica", f"{item.namespace}/{name}", replica.cluster, manifests)

    def gateways(self) -> dict[str, str]:
        """The Gateway API objects on each gateway cluster; returns InferenceGateway name → cluster."""
        cluster_of: dict[str, str] = {}
        owner_on: dict[str, str] = {}
        for gateway in self.fleet.gateways.values():
            cluster, notice = gateway_cluster(self.fleet, gateway)
            if notice:
                self.notices.append(notice)
            if cluster is None:
                continue
            cluster_of[gateway.name] = cluster
            if cluster in owner_on:
                self.notices.append(
                    f"InferenceGateway {gateway.name}: shares the Traefik gateway of {owner_on[cluster]} on {cluster}"
                )
                continue
            owner_on[cluster] = gateway.name
            self.add("InferenceGateway", gateway.name, cluster, gateway_objects())
        return cluster_of

    def services(self, endpoints: FleetEndpoints, cluster_of: dict[str, str]) -> None:
        """Per ModelService, its route on its gateway's cluster and the backends it uses there (§1.8, §4)."""
        used: dict[tuple[str, str], Endpoint] = {}
        for service in self.fleet.services.values():
            cluster = cluster_of.get(service.spec.gateway_name)
            if cluster is None:
                gateway = service.spec.gateway_name
                self.notices.append(
                    f"ModelService {service.key}: InferenceGateway {gateway} is not running; not routed"
                )
                continue
            groups = [
                Group(group.weight, group.priority, [item.seen_from(cluster) for item in group.endpoints])
                for group in select(service, endpoints.namespace(service.namespace))
            ]
            selected = [item for group in groups for item in group.endpoints]
            replicas = {(item.key, item.workload_cluster) for item in selected if item.workload_cluster}
            self.routed.setdefault(service.key, set()).update(replicas)
            if not selected:
                self.notices.append(f"ModelService {service.key}: no endpoint matches; no route")
                continue
            backends = weighted_backends(groups, routable_only=True)
            self.add("ModelService", service.key, cluster, [service_route(service, backends)])
            used.update({(cluster, item.endpoint.key): item.endpoint for item in backends if item.weight > 0})
            self._note_pending(service.key, cluster, [item for item in selected if item.host is None])
        for (cluster, key), endpoint in sorted(used.items()):
            self.add("ModelEndpoint", key, cluster, backend_objects(endpoint))
        if self.pending:
            self.notices.append(
                address_hint(sorted({item.workload_cluster or "" for item, _ in self.pending.values()}))
            )

    def _note_pending(self, service: str, cluster: str, waiting: list[Endpoint]) -> None:
        for endpoint in waiting:
            self.pending.setdefault((cluster, endpoint.key), (endpoint, []))[1].append(service)
        if waiting:
            clusters = sorted({item.workload_cluster or "" for item in waiting})
            flags = " ".join(f"--gateway-address {name}=ADDRESS" for name in clusters)
            self.notices.append(
                f"ModelService {service}: {len(waiting)} replica endpoint(s) on {', '.join(clusters)} left out of "
                f"its route until the gateway address of their cluster is known: pass {flags} to render "
                "(pulumi up reads it from the Gateway)"
            )

    def namespaces(self) -> None:
        """A Namespace on each cluster for every namespace its objects use, beyond those the serving stack has."""
        wanted = {
            (bundle.cluster, item["metadata"]["namespace"])
            for bundle in self.bundles
            for item in bundle.manifests
            if item["metadata"].get("namespace") not in (None, *PRESENT_NAMESPACES)
        }
        for cluster, namespace in sorted(wanted):
            self.add("Namespace", namespace, cluster, [manifest("v1", "Namespace", metadata(namespace))])

    def result(self) -> Composition:
        rank = {kind: index for index, kind in enumerate(OWNER_KINDS)}
        bundles = self._unique(sorted(self.bundles, key=lambda item: (item.cluster, rank[item.owner_kind], item.owner)))
        pending = [
            PendingBackend(
                cluster,
                endpoint.namespace,
                endpoint.backend_name,
                endpoint.name,
                endpoint.workload_cluster or "",
                endpoint.port,
                endpoint.labels,
                tuple(services),
            )
            for (cluster, _), (endpoint, services) in sorted(self.pending.items())
        ]
        routed = {key: tuple(sorted(replicas)) for key, replicas in sorted(self.routed.items())}
        return Composition(tuple(bundles), tuple(sorted(self.secrets)), tuple(self.notices), tuple(pending), routed)

    def _unique(self, bundles: list[Bundle]) -> list[Bundle]:
        """Drop an object a later bundle composes again under the same kind, namespace and name (a ModelService
        named exactly like a replica, say) and say so, rather than hand two owners one Kubernetes object."""
        owners: dict[tuple[str, str, str, str], str] = {}
        kept = []
        for bundle in bundles:
            manifests = []
            for item in bundle.manifests:
                meta = item["metadata"]
                identity = (bundle.cluster, item["kind"], meta.get("namespace", ""), meta["name"])
                if identity in owners:
                    self.notices.append(
                        f"{bundle.owner_kind} {bundle.owner}: {item['kind']} {meta['name']} on {bundle.cluster} "
                        f"is already composed by {owners[identity]}; left out"
                    )
                    continue
                owners[identity] = f"{bundle.owner_kind} {bundle.owner}"
                manifests.append(item)
            kept.append(Bundle(bundle.owner_kind, bundle.owner, bundle.cluster, tuple(manifests)))
        return kept
