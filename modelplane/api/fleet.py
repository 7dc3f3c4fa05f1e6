"""The Fleet: every validated object of one input, with cross-object references checked."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from modelplane.api.common import ApiModel, Resource
from modelplane.api.errors import Origin, Problem
from modelplane.api.inference_class import InferenceClass
from modelplane.api.inference_cluster import InferenceCluster
from modelplane.api.inference_gateway import InferenceGateway
from modelplane.api.model_cache import ModelCache
from modelplane.api.model_deployment import ModelDeployment
from modelplane.api.model_endpoint import ModelEndpoint
from modelplane.api.model_service import ModelService

KINDS: dict[str, type[Resource]] = {
    kind.model_fields["kind"].default: kind
    for kind in (
        InferenceClass,
        InferenceCluster,
        ModelDeployment,
        ModelCache,
        ModelService,
        ModelEndpoint,
        InferenceGateway,
    )
}


DrainPhase = Literal["surge", "remove"]


class FleetSettings(ApiModel):
    """Fleet-wide planning options (stack config `modelplane:scheduling`)."""

    # Beyond Modelplane: pack pods that need fewer devices than a node has onto shared nodes (GPU-level ledger).
    gpu_packing: bool = False
    # `modelplane cordon`: clusters that get no new replica (the ones there stay).
    cordoned: list[str] = Field(default_factory=list)
    # `modelplane drain`, per cluster: `surge` keeps its replicas while their replacements come up elsewhere,
    # `remove` then lets them go (make-before-break). A draining cluster is cordoned.
    draining: dict[str, DrainPhase] = Field(default_factory=dict)

    def closed(self, cluster: str) -> bool:
        """No new replica goes to the cluster."""
        return cluster in self.cordoned or cluster in self.draining


@dataclass(frozen=True)
class Fleet:
    """Validated objects keyed by `name` (cluster-scoped) or `namespace/name`, iterated in sorted key order."""

    classes: dict[str, InferenceClass] = field(default_factory=dict)
    clusters: dict[str, InferenceCluster] = field(default_factory=dict)
    deployments: dict[str, ModelDeployment] = field(default_factory=dict)
    caches: dict[str, ModelCache] = field(default_factory=dict)
    services: dict[str, ModelService] = field(default_factory=dict)
    endpoints: dict[str, ModelEndpoint] = field(default_factory=dict)
    gateways: dict[str, InferenceGateway] = field(default_factory=dict)
    origins: dict[tuple[str, str], Origin] = field(default_factory=dict)
    notices: tuple[str, ...] = ()
    settings: FleetSettings = field(default_factory=FleetSettings)

    @classmethod
    def build(
        cls,
        objects: Iterable[tuple[Resource, Origin]],
        notices: Iterable[str] = (),
        settings: FleetSettings | None = None,
    ) -> Fleet:
        """Collect objects into a Fleet; duplicates and dangling references become Problems (raised by caller)."""
        buckets: dict[str, dict[str, Resource]] = {name: {} for name in _BUCKETS.values()}
        origins: dict[tuple[str, str], Origin] = {}
        for obj, origin in objects:
            buckets[_BUCKETS[obj.kind]][obj.key] = obj
            origins[(obj.kind, obj.key)] = origin
        sorted_buckets = {name: dict(sorted(items.items())) for name, items in buckets.items()}
        return cls(**sorted_buckets, origins=origins, notices=tuple(notices), settings=settings or FleetSettings())

    def origin(self, obj: Resource) -> Origin:
        return self.origins.get((obj.kind, obj.key), Origin("<input>"))

    def problem(self, obj: Resource, path: str, message: str) -> Problem:
        return Problem(self.origin(obj), obj.kind, obj.name, path, message, obj.namespace)

    def cache_for(self, deployment: ModelDeployment) -> ModelCache | None:
        ref = deployment.spec.template.spec.model_cache_ref
        return self.caches.get(f"{deployment.namespace}/{ref.name}") if ref else None

    def reference_problems(self) -> list[Problem]:
        """Dangling references: pool className → InferenceClass, modelCacheRef → ModelCache in the namespace."""
        problems = [
            self.problem(cluster, f"spec.nodePools[{index}].className", f"InferenceClass {pool.class_name!r} not found")
            for cluster in self.clusters.values()
            for index, pool in enumerate(cluster.spec.node_pools)
            if pool.class_name not in self.classes
        ]
        for deployment in self.deployments.values():
            ref = deployment.spec.template.spec.model_cache_ref
            if ref and self.cache_for(deployment) is None:
                message = f"ModelCache {ref.name!r} not found in namespace {deployment.namespace!r}"
                problems.append(self.problem(deployment, "spec.template.spec.modelCacheRef.name", message))
        for gateway in self.gateways.values():
            if gateway.spec.cluster and gateway.spec.cluster not in self.clusters:
                message = f"InferenceCluster {gateway.spec.cluster!r} not found"
                problems.append(self.problem(gateway, "spec.cluster", message))
        for service in self.services.values():
            if service.spec.gateway_ref and service.spec.gateway_name not in self.gateways:
                message = f"InferenceGateway {service.spec.gateway_name!r} not found"
                problems.append(self.problem(service, "spec.gatewayRef.name", message))
        return problems


_BUCKETS = {
    "InferenceClass": "classes",
    "InferenceCluster": "clusters",
    "ModelDeployment": "deployments",
    "ModelCache": "caches",
    "ModelService": "services",
    "ModelEndpoint": "endpoints",
    "InferenceGateway": "gateways",
}
