"""Routing, both hops Modelplane composes (reference §3.5, §4).

Workload cluster: Unified (default) takes the simple path, one Service selecting the replica's serving pods (Standalone
pods and LWS leaders, across its engines) and an HTTPRoute on the cluster's `inference-gateway`; Envoy Gateway
balances across the pods. PrefillDecode, or a Unified deployment annotated `modelplane.ai/endpoint-picker: "true"`,
routes to an InferencePool whose endpoint picker chooses the pod (and pairs prefill with decode), see `disagg`.

Gateway cluster: a ModelService is one OpenAI-compatible URL `/<namespace>/<service>/v1/...`. Each entry selects
endpoints by labels in the service's own namespace (backendRefs carry no namespace, so only those can route); an
endpoint matched by several entries counts only in the first. Endpoints that cannot route yet (a replica on another
cluster whose gateway has no known address) drop out and their entry's share goes to the rest. Beyond Modelplane,
entries carry a `priority`: only the best (lowest) tier that has routable endpoints gets traffic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelplane.api import names
from modelplane.api.fleet import Fleet
from modelplane.api.model_service import ModelService
from modelplane.compose.common import (
    ENGINE_PORT,
    FLEET_GATEWAY,
    GATEWAY_API,
    LABEL_SERVING,
    SYSTEM_NAMESPACE,
    WORKLOAD_GATEWAY,
    Manifest,
    manifest,
    metadata,
)
from modelplane.compose.endpoints import Endpoint, EndpointIndex, fleet_endpoints
from modelplane.compose.weights import Group, tiered_weights
from modelplane.compose.workloads import ReplicaContext
from modelplane.scheduling.placement import Placement

# "0s" turns off Envoy's 15 s request timeout, which would cut long token streams mid-generation.
REQUEST_TIMEOUT = "0s"


def serving_service(ctx: ReplicaContext) -> Manifest:
    spec = {
        "selector": {LABEL_SERVING: ctx.name},
        "ports": [{"name": "http", "port": ENGINE_PORT, "targetPort": ENGINE_PORT}],
    }
    meta = metadata(names.serving_service_name(ctx.name), ctx.namespace, ctx.labels)
    return manifest("v1", "Service", meta, spec=spec)


def service_backend(ctx: ReplicaContext) -> Manifest:
    return {"name": names.serving_service_name(ctx.name), "port": ENGINE_PORT}


def replica_route(ctx: ReplicaContext, backend: Manifest) -> Manifest:
    """Match `/<ns>/<replica>/`, strip it to `/`, no request timeout, one backend (Service or InferencePool)."""
    rule = {
        "matches": [{"path": {"type": "PathPrefix", "value": names.replica_path(ctx.namespace, ctx.name)}}],
        "filters": [_rewrite("/")],
        "backendRefs": [backend],
        "timeouts": {"request": REQUEST_TIMEOUT},
    }
    spec = {"parentRefs": [{"name": WORKLOAD_GATEWAY, "namespace": SYSTEM_NAMESPACE}], "rules": [rule]}
    meta = metadata(names.replica_route_name(ctx.name), ctx.namespace, ctx.labels)
    return manifest(GATEWAY_API, "HTTPRoute", meta, spec=spec)


@dataclass(frozen=True)
class Backend:
    endpoint: Endpoint
    weight: int
    priority: int


def select(service: ModelService, candidates: EndpointIndex) -> list[Group[Endpoint]]:
    """Per entry, in order, the endpoints its selector matches that no earlier entry took."""
    taken: set[str] = set()
    groups = []
    for entry in service.spec.endpoints:
        wanted = entry.selector.match_labels
        matched = [
            item
            for item in candidates.with_labels(wanted)
            if item.key not in taken and all(item.labels.get(key) == value for key, value in wanted.items())
        ]
        taken.update(item.key for item in matched)
        groups.append(Group(entry.weight, entry.priority, matched))
    return groups


def weighted_backends(groups: Sequence[Group[Endpoint]], *, routable_only: bool) -> list[Backend]:
    """Every selected endpoint with its weight (0 outside the active tier); `routable_only` drops address-less ones."""
    if routable_only:
        groups = [Group(group.weight, group.priority, [e for e in group.endpoints if e.host]) for group in groups]
    return [Backend(*item) for item in tiered_weights(groups)]


def service_backends(fleet: Fleet, placement: Placement) -> list[dict[str, Any]]:
    """For the plan record and PR previews: per ModelService, its backends as if every replica were reachable."""
    if not fleet.services:
        return []  # every replica's endpoint would be built for nothing
    endpoints = fleet_endpoints(fleet, placement)
    return [
        {
            "namespace": service.namespace,
            "name": service.name,
            "backends": [
                {"name": backend.endpoint.name, "weight": backend.weight, "priority": backend.priority}
                for backend in weighted_backends(
                    select(service, endpoints.namespace(service.namespace)), routable_only=False
                )
            ],
        }
        for service in fleet.services.values()
    ]


def service_route(service: ModelService, backends: Sequence[Backend]) -> Manifest:
    """The gateway's HTTPRoute: `/<ns>/<svc>/`, weighted backendRefs, each rewriting the prefix to its endpoint's
    path (Traefik supports per-backendRef filters, which is why Modelplane fronts the fleet with it). No request
    timeout, as the reference. Only backends with traffic are listed; with none, requests get an error, not a
    fall-through to another route."""
    refs = [_backend_ref(backend) for backend in backends if backend.weight > 0]
    rule: Manifest = {
        "matches": [{"path": {"type": "PathPrefix", "value": names.service_path(service.namespace, service.name)}}]
    }
    if refs:
        rule["backendRefs"] = refs
    spec = {"parentRefs": [{"name": FLEET_GATEWAY, "namespace": SYSTEM_NAMESPACE}], "rules": [rule]}
    meta = metadata(names.service_route_name(service.name), service.namespace)
    return manifest(GATEWAY_API, "HTTPRoute", meta, spec=spec)


def _backend_ref(backend: Backend) -> Manifest:
    endpoint = backend.endpoint
    ref: Manifest = {"name": endpoint.backend_name, "port": endpoint.port, "weight": backend.weight}
    if endpoint.rewrite_path or endpoint.host_header:
        ref["filters"] = [_rewrite(endpoint.rewrite_path, hostname=endpoint.host_header)]
    return ref


def _rewrite(prefix: str | None, *, hostname: str | None = None) -> Manifest:
    """A URLRewrite of the path prefix and, for external providers, of the Host header (beyond Modelplane)."""
    rewrite: Manifest = {}
    if hostname:
        rewrite["hostname"] = hostname
    if prefix:
        rewrite["path"] = {"type": "ReplacePrefixMatch", "replacePrefixMatch": prefix}
    return {"type": "URLRewrite", "urlRewrite": rewrite}
