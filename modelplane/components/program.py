"""The Pulumi program: stack config → Fleet → placement → composition → resources on the right clusters.

Roles (`modelplane:role`): `all` (default; the whole fleet in one stack), `fleet` (placement, record and gateways)
and `cluster` (one InferenceCluster: provisioning, serving stack and the replicas placed on it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.config import is_config_secret

from modelplane.api.errors import InvalidInputError, Origin, Problem
from modelplane.api.fleet import Fleet
from modelplane.api.loading import SECRETS_KEY, previous_from_config, stack_file_secret_problems
from modelplane.components.placement_memory import merge_records, normalise
from modelplane.components.secrets import SecretRef, SecretStore
from modelplane.compose.fleet import Composition, compose_fleet
from modelplane.compose.serving_stack import resolve_versions
from modelplane.planning import checked_fleet, plan
from modelplane.scheduling.placement import Placement, replicas_from_record

# The fleet's declared objects and planning inputs: what `fleetConfig` hands on to cluster stacks.
FLEET_KEYS = (
    "classes",
    "clusters",
    "deployments",
    "caches",
    "services",
    "endpoints",
    "gateways",
    "scheduling",
    "manifests",
)
ROLES = ("all", "fleet", "cluster")
CLUSTER_KINDS = frozenset({"Namespace", "ModelCache", "ModelReplica"})  # what a cluster stack owns
FLEET_KINDS = frozenset({"InferenceGateway", "ModelService", "ModelEndpoint"})  # what a fleet stack owns


class ProgramError(pulumi.RunError):
    """A stack that cannot run as configured (shown without a traceback)."""


@dataclass(frozen=True)
class Settings:
    """The program's own stack config."""

    role: str
    stack: str  # this stack's fully qualified name
    cluster: str | None
    fleet_stack: str | None
    recover: bool
    versions: dict[str, str]
    # False when the serving stack's charts are installed by someone else (the platform's GitOps, or the sandbox):
    # the program then creates only its own objects and waits on the controllers instead of on Helm.
    install_charts: bool = True
    # A fleet stack's cluster stacks where they do not follow the naming convention (cluster -> stack name).
    cluster_stacks: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, config: pulumi.Config) -> Settings:
        role = config.get("role") or "all"
        if role not in ROLES:
            raise ProgramError(f"modelplane:role must be one of {', '.join(ROLES)}, not {role!r}")
        try:
            versions = resolve_versions(config.get_object("chartVersions"))
        except ValueError as error:
            raise ProgramError(str(error)) from None
        settings = cls(
            role,
            f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}",
            config.get("cluster"),
            config.get("fleetStack"),
            config.get_bool("recoverPlacement") is not False,
            versions,
            config.get_bool("installCharts") is not False,
            _cluster_stacks(config.get_object("clusterStacks")),
        )
        if role == "cluster" and not (settings.cluster and settings.fleet_stack):
            raise ProgramError("modelplane:role cluster needs modelplane:cluster and modelplane:fleetStack")
        return settings

    def cluster_stack(self, cluster: str) -> str:
        """A fleet stack's cluster stack: as `modelplane:clusterStacks` names it (a short name is in this stack's
        organization and project), else by convention `<org>/<project>/<base>-<cluster>` for fleet `<base>-fleet`."""
        named = self.cluster_stacks.get(cluster)
        if named:
            return named if "/" in named else f"{self.stack.rsplit('/', 1)[0]}/{named}"
        base = self.stack.removesuffix("-fleet")
        return f"{base}-{cluster}"


def _cluster_stacks(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ProgramError("modelplane:clusterStacks must map InferenceCluster names to stack names")
    return dict(value)


@dataclass(frozen=True)
class Plan:
    """What the resources are built from."""

    fleet: Fleet
    placement: Placement
    composition: Composition
    config: dict[str, Any]  # the fleet's public stack config (exported as fleetConfig)


async def output_value(reference: pulumi.StackReference, name: str) -> Any:
    """A non-secret stack output as plain data (None when the stack has none yet)."""
    details = await reference.get_output_details(name)
    return normalise(details.value) if details.value is not None else None


def reported(error: InvalidInputError, summary: str) -> ProgramError:
    """Each problem as a preview error line; the returned error stops the run without a traceback."""
    for problem in error.problems:
        pulumi.log.error(problem)
    return ProgramError(f"{summary} (see the errors above)")


def load_fleet(config: Mapping[str, Any], source: str) -> Fleet:
    """The Fleet, checked exactly as `modelplane plan` checks it (schema, references, semantics)."""
    try:
        return checked_fleet(config, project_dir=Path.cwd(), source=source)
    except InvalidInputError as error:
        raise reported(error, f"{len(error.problems)} problem(s) in the stack config") from None


def plan_or_fail(fleet: Fleet, previous: Mapping[str, Any] | None, source: str) -> Placement:
    try:
        return plan(fleet, previous, source=source)
    except InvalidInputError as error:
        raise reported(error, "the previous placement record is invalid") from None


def refuse_secrets() -> None:
    """A `secure:` value inside the fleet's config stops the program as it stops `plan`.

    The engine hands the program decrypted values; it marks a key secret when anything inside it was `secure:`.
    Which field that was, only the stack file knows: its problems are `plan`'s own lines. Without the file (config
    from elsewhere, e.g. an environment), the key itself is named.
    """
    secret = [key for key in (f"modelplane:{name}" for name in FLEET_KEYS) if is_config_secret(key)]
    if not secret:
        return
    on_disk = stack_file_secret_problems(Path.cwd(), pulumi.get_stack())
    message = f"a secret value; secrets belong under {SECRETS_KEY}"
    problems = on_disk or [Problem(Origin(f"stack {pulumi.get_stack()}:{key}"), "", "", "", message) for key in secret]
    raise reported(InvalidInputError(problems), f"{len(problems)} problem(s) in the stack config")


async def plan_fleet(settings: Settings, config: pulumi.Config) -> Plan:
    """`all`/`fleet`: plan from the config record, recovering deployments it lacks from this stack's last outputs."""
    refuse_secrets()
    # Raw config text (structured values arrive as JSON): the loader parses it and reports bad JSON as a problem.
    raw = {f"modelplane:{key}": value for key in (*FLEET_KEYS, "placement") if (value := config.get(key)) is not None}
    source = f"stack {pulumi.get_stack()}"
    fleet = load_fleet(raw, source)
    try:
        previous = previous_from_config(raw, source=source)
    except InvalidInputError as error:
        raise reported(error, "modelplane:placement is not a placement record") from None
    if settings.recover:
        last = await output_value(pulumi.StackReference("placement-memory", settings.stack), "placement")
        recovery = merge_records(previous, last)
        for line in recovery.recovered:
            pulumi.log.info(line)
        previous = recovery.record
    placement = plan_or_fail(fleet, previous, "modelplane:placement")
    public = {key: value for key, value in raw.items() if key != "modelplane:placement"}
    return Plan(fleet, placement, compose_fleet(fleet, placement), public)


async def plan_cluster(settings: Settings) -> Plan:
    """`cluster`: the fleet stack's exported config and placement, re-planned (sticky, so identical) to compose."""
    reference = pulumi.StackReference("fleet", settings.fleet_stack)
    config = await output_value(reference, "fleetConfig")
    record = await output_value(reference, "placement")
    if config is None or record is None:
        raise ProgramError(
            f"fleet stack {settings.fleet_stack} has no placement output yet: run `pulumi up` there first"
        )
    fleet = load_fleet(config, f"stack {settings.fleet_stack} (fleetConfig)")
    if settings.cluster not in fleet.clusters:
        raise ProgramError(f"InferenceCluster {settings.cluster} is not in the fleet of {settings.fleet_stack}")
    placement = plan_or_fail(fleet, record, f"{settings.fleet_stack} placement")
    check_share(placement, record, settings.cluster)
    return Plan(fleet, placement, compose_fleet(fleet, placement), config)


def check_share(placement: Placement, record: Mapping[str, Any], cluster: str) -> None:
    """The cluster stack must realise exactly the replicas the fleet stack recorded for its cluster."""
    mine = {(item.key, replica.index) for item, replica in placement.replicas_on(cluster)}
    recorded = {
        (key, replica.index)
        for key, replicas in replicas_from_record(record).items()
        for replica in replicas
        if replica.cluster == cluster
    }
    if mine != recorded:
        raise ProgramError(
            f"InferenceCluster {cluster}: the fleet stack's placement differs from a re-plan of its "
            f"inputs ({sorted(recorded)} vs {sorted(mine)}); run the fleet stack first"
        )


def required_secrets(fleet: Fleet, composition: Composition, clusters: set[str]) -> list[SecretRef]:
    """Secret config the clusters of this stack need: Existing kubeconfigs and ModelCache tokens."""
    existing = [(name, fleet.clusters[name].spec.cluster) for name in sorted(clusters)]
    refs = [
        SecretRef(
            source.existing.secret_ref.name, source.existing.secret_ref.key, f"InferenceCluster {name} kubeconfig"
        )
        for name, source in existing
        if source.source == "Existing" and source.existing
    ]
    refs += [
        SecretRef(spec.source_name, spec.source_key, f"Secret {spec.namespace}/{spec.name} on {spec.cluster}")
        for spec in composition.secrets
        if spec.cluster in clusters
    ]
    return refs


def secret_store(config: pulumi.Config, required: list[SecretRef]) -> SecretStore:
    raw = config.get_secret_object("secrets")
    return SecretStore(raw, required)
