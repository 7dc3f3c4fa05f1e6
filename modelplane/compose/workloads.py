"""Engine workloads: a Standalone engine → Deployment, a Leader/Worker gang → LeaderWorkerSet (reference §3.2–3.4).

Nothing is injected into the engine beyond what the reference injects: the gang's `MODELPLANE_LEADER_ADDRESS` and
`MODELPLANE_RANK` ahead of the user's env, `--model=/mnt/models` for a cached vLLM-style serving container (no
`command`, no `--model`), and, under PrefillDecode, the NIXL side-channel env and the decode pd-sidecar. Beyond the
reference, every pod that mounts a ModelCache waits in an init container until the cache is hydrated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from modelplane.api import names
from modelplane.api.model_deployment import Engine, Member
from modelplane.compose import claims, disagg
from modelplane.compose.common import (
    CACHE_MOUNT,
    ENGINE_PORT,
    GPU_TOLERATION,
    HYDRATED_MARKER_FILE,
    LABEL_LWS_ROLE,
    LABEL_POOL,
    LABEL_SERVING,
    LABEL_WORKLOAD,
    Manifest,
    http_probe,
    manifest,
    metadata,
)
from modelplane.scheduling.placement import EnginePlacement, MemberPlacement

CACHE_VOLUME = "model-cache"
CACHE_WAIT_CONTAINER = "wait-for-cache"
SHM_VOLUME = "dshm"
# LWS injects LWS_LEADER_ADDRESS and LWS_WORKER_INDEX; the aliases keep user commands orchestrator-neutral (§3.3).
GANG_ENV = (
    {"name": "MODELPLANE_LEADER_ADDRESS", "value": "$(LWS_LEADER_ADDRESS)"},
    {"name": "MODELPLANE_RANK", "value": "$(LWS_WORKER_INDEX)"},
)


@dataclass(frozen=True)
class ReplicaContext:
    """What every object of one replica shares."""

    name: str
    namespace: str
    labels: Mapping[str, str]  # the replica labels: template labels + deployment/cluster/replica-index
    cache_pvc: str | None  # the ModelCache PVC when the cache is staged on this replica's cluster
    disaggregated: bool

    def phase(self, engine: Engine) -> str | None:
        return engine.phase if self.disaggregated else None


def template_names(ctx: ReplicaContext, engine: Engine, member: Member, spot: MemberPlacement) -> list[str]:
    """The member's ResourceClaimTemplates: one, or one per claim when its devices pass a claim's limit."""
    count = len(claims.claim_groups(spot.devices))
    return [names.claim_template_name(ctx.name, engine.name, member.role, index) for index in range(count)]


def engine_objects(ctx: ReplicaContext, engine: Engine, placed: EnginePlacement) -> list[Manifest]:
    """The engine's ResourceClaimTemplates (one per claiming member) and its workload."""
    members = [(member, _placed_member(placed, member)) for member in engine.members]
    templates = [
        claims.claim_template(name, ctx.namespace, group, ctx.labels)
        for member, spot in members
        if spot.claims
        for name, group in zip(
            template_names(ctx, engine, member, spot), claims.claim_groups(spot.devices), strict=True
        )
    ]
    workload = _gang(ctx, engine, members) if engine.is_gang else _standalone(ctx, engine, members[0])
    return [*templates, workload]


def _placed_member(placed: EnginePlacement, member: Member) -> MemberPlacement:
    spot = next((item for item in placed.members if item.role == member.role), None)
    if spot is None:
        raise ValueError(f"placement of engine {placed.name!r} has no {member.role} member")
    return spot


def _standalone(ctx: ReplicaContext, engine: Engine, member: tuple[Member, MemberPlacement]) -> Manifest:
    name = names.workload_name(ctx.name, engine.name)
    template = _pod_template(ctx, engine, *member, serving=True, extra_labels={LABEL_WORKLOAD: name})
    spec = {"replicas": engine.copies, "selector": {"matchLabels": {LABEL_WORKLOAD: name}}, "template": template}
    return manifest("apps/v1", "Deployment", metadata(name, ctx.namespace, ctx.labels), spec=spec)


def _gang(ctx: ReplicaContext, engine: Engine, members: list[tuple[Member, MemberPlacement]]) -> Manifest:
    """size = 1 + worker.nodes; only the leader serves, so only it gets the serving label, port and probe."""
    leader = next(item for item in members if item[0].role == "Leader")
    worker = next(item for item in members if item[0].role == "Worker")
    template = {
        "size": 1 + worker[0].pods,
        "leaderTemplate": _pod_template(ctx, engine, *leader, serving=True, extra_labels={LABEL_LWS_ROLE: "leader"}),
        "workerTemplate": _pod_template(ctx, engine, *worker, serving=False, extra_labels={}),
    }
    name = names.workload_name(ctx.name, engine.name)
    spec = {"replicas": engine.copies, "leaderWorkerTemplate": template}
    return manifest(
        "leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet", metadata(name, ctx.namespace, ctx.labels), spec=spec
    )


def _pod_template(
    ctx: ReplicaContext,
    engine: Engine,
    member: Member,
    spot: MemberPlacement,
    *,
    serving: bool,
    extra_labels: Mapping[str, str],
) -> Manifest:
    phase = ctx.phase(engine) if serving else None
    labels = {**member.template.metadata.labels, **ctx.labels, **extra_labels}
    if serving:
        labels[LABEL_SERVING] = ctx.name
    if phase:
        labels.update(disagg.role_labels(phase, ctx.name))
    pod_meta: Manifest = {"labels": labels}
    if member.template.metadata.annotations:
        pod_meta["annotations"] = dict(member.template.metadata.annotations)
    return {"metadata": pod_meta, "spec": _pod_spec(ctx, engine, member, spot, serving=serving, phase=phase)}


def _pod_spec(
    ctx: ReplicaContext, engine: Engine, member: Member, spot: MemberPlacement, *, serving: bool, phase: str | None
) -> Manifest:
    container = _engine_container(ctx, engine, member, spot, serving=serving, phase=phase)
    containers = [container]
    if phase == "Decode":
        containers.append(disagg.sidecar(container["ports"][0]["containerPort"]))
    volumes: list[Manifest] = [{"name": SHM_VOLUME, "emptyDir": {"medium": "Memory"}}]
    if ctx.cache_pvc:
        volumes.append({"name": CACHE_VOLUME, "persistentVolumeClaim": {"claimName": ctx.cache_pvc}})
    spec: Manifest = {"containers": containers, "volumes": volumes, "nodeSelector": {LABEL_POOL: spot.pool}}
    if ctx.cache_pvc:
        spec = {"initContainers": [cache_wait(container["image"], ctx.cache_pvc)], **spec}
    if spot.claims:
        spec["resourceClaims"] = claims.pod_claims(template_names(ctx, engine, member, spot))
    spec["tolerations"] = [dict(GPU_TOLERATION)]
    pull_secrets = member.template.spec.image_pull_secrets
    if pull_secrets:
        spec["imagePullSecrets"] = [{"name": ref.name} for ref in pull_secrets]
    return spec


def cache_wait(image: str, pvc: str) -> Manifest:
    """Wait for the hydration Job's marker on the cache volume (read-only), so an engine never loads a partial
    download (Modelplane starts pods right away). The engine's own image: already pulled for the pod, has a shell."""
    marker = f"{CACHE_MOUNT}/{HYDRATED_MARKER_FILE}"
    script = f"until [ -f {marker} ]; do echo 'waiting for ModelCache volume {pvc} to be hydrated'; sleep 10; done"
    return {
        "name": CACHE_WAIT_CONTAINER,
        "image": image,
        "command": ["/bin/sh", "-c", script],
        "volumeMounts": [{"name": CACHE_VOLUME, "mountPath": CACHE_MOUNT, "readOnly": True}],
    }


def _engine_container(
    ctx: ReplicaContext, engine: Engine, member: Member, spot: MemberPlacement, *, serving: bool, phase: str | None
) -> Manifest:
    source = member.template.spec.engine
    args = list(source.args or [])
    container: Manifest = {"name": source.name, "image": source.image}
    if source.command:
        container["command"] = list(source.command)
    if serving and ctx.cache_pvc and not source.command and not _has_model_flag(args):
        args.append(f"--model={CACHE_MOUNT}")  # without it vLLM silently serves facebook/opt-125m (§5)
    if args:
        container["args"] = args
    env = _env(member, gang=engine.is_gang, disaggregated=phase is not None)
    if env:
        container["env"] = env
    if serving:
        port = disagg.decode_port(args) if phase == "Decode" else ENGINE_PORT
        container["ports"] = [{"containerPort": port}]
        container["readinessProbe"] = http_probe(port)
    if spot.claims:
        container["resources"] = claims.container_claims(len(claims.claim_groups(spot.devices)))
    mounts = [{"name": SHM_VOLUME, "mountPath": "/dev/shm"}]
    if ctx.cache_pvc:
        # Read-write: engines write tokenizer, compile and lock files into the model directory (§5).
        mounts.append({"name": CACHE_VOLUME, "mountPath": CACHE_MOUNT})
    container["volumeMounts"] = mounts
    return container


def _env(member: Member, *, gang: bool, disaggregated: bool) -> list[Manifest]:
    """Gang aliases first (so user env and commands can use `$(MODELPLANE_*)`), then the user's, then NIXL."""
    user = [item.model_dump(by_alias=True, exclude_none=True) for item in member.template.spec.engine.env or []]
    env = [*(dict(item) for item in GANG_ENV if gang), *user]
    if disaggregated:
        env += disagg.nixl_env(user)
    return env


def _has_model_flag(args: list[str]) -> bool:
    return any(arg == "--model" or arg.startswith("--model=") for arg in args)
