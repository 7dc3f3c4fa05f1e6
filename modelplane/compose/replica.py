"""One replica: every object it needs on its workload cluster (reference §1.6, §3)."""

from __future__ import annotations

from modelplane.api import names
from modelplane.api.model_deployment import ModelDeployment
from modelplane.compose import disagg, routing, workloads
from modelplane.compose.common import LABEL_SERVING, Manifest
from modelplane.compose.endpoints import replica_labels
from modelplane.compose.workloads import ReplicaContext
from modelplane.scheduling.placement import ReplicaPlacement

# Beyond Modelplane: opt a Unified deployment into the endpoint picker (prefix-cache-aware picking across a replica's
# pods, worth it with several copies). Read from the ModelDeployment's own metadata, which the API leaves open.
PICKER_ANNOTATION = "modelplane.ai/endpoint-picker"


def uses_picker(deployment: ModelDeployment) -> bool:
    spec = deployment.spec.template.spec
    return spec.mode == "PrefillDecode" or deployment.metadata.annotations.get(PICKER_ANNOTATION) == "true"


def compose_replica(deployment: ModelDeployment, placed: ReplicaPlacement, cache_pvc: str | None) -> list[Manifest]:
    """Workloads and claim templates per engine, then the routing surface."""
    ctx = ReplicaContext(
        name=names.replica_name(deployment.name, placed.cluster, placed.index),
        namespace=deployment.namespace,
        labels=replica_labels(deployment, placed.cluster, placed.index),
        cache_pvc=cache_pvc,
        disaggregated=deployment.spec.template.spec.mode == "PrefillDecode",
    )
    engines = {engine.name: engine for engine in deployment.engines}
    objects: list[Manifest] = []
    for engine_placement in placed.engines:
        if engine_placement.name not in engines:
            raise ValueError(f"placement of {deployment.key} names unknown engine {engine_placement.name!r}")
        objects += workloads.engine_objects(ctx, engines[engine_placement.name], engine_placement)
    if not uses_picker(deployment):
        return [*objects, routing.serving_service(ctx), routing.replica_route(ctx, routing.service_backend(ctx))]
    config = disagg.picker_config(_block_size(deployment), disaggregated=ctx.disaggregated)
    return [
        *objects,
        disagg.inference_pool(ctx.name, ctx.namespace, {LABEL_SERVING: ctx.name}, ctx.labels),
        *disagg.picker_objects(ctx.name, ctx.namespace, config, ctx.labels),
        routing.replica_route(ctx, disagg.pool_backend(ctx.name)),
    ]


def _block_size(deployment: ModelDeployment) -> int:
    """From the decode engine's flags under PrefillDecode (§3.6), else the first engine's (§3.5)."""
    engines = deployment.engines
    engine = next((item for item in engines if item.phase == "Decode"), engines[0])
    serving = next(member for member in engine.members if member.role != "Worker")
    return disagg.block_size(serving.template.spec.engine.args or [])
