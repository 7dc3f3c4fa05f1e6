"""ModelDeployment: the ML team's API: engines of members, DRA device requests, replicas."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from modelplane.api.common import (
    INT32_MAX,
    ApiModel,
    LabelSelector,
    LabelValueMeta,
    LocalRef,
    NamespacedResource,
    check_annotation_keys,
    check_dns_label,
    check_labels,
    shown,
)

Role = Literal["Standalone", "Leader", "Worker"]
Phase = Literal["Prefill", "Decode"]
ENGINE_CONTAINER = "engine"


class KeyRef(ApiModel):
    name: str
    key: str
    optional: bool | None = None


class FieldRef(ApiModel):
    field_path: str
    api_version: str | None = None


class EnvVarSource(ApiModel):
    secret_key_ref: KeyRef | None = None
    config_map_key_ref: KeyRef | None = None
    field_ref: FieldRef | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> EnvVarSource:
        if sum(ref is not None for ref in (self.secret_key_ref, self.config_map_key_ref, self.field_ref)) != 1:
            raise ValueError("exactly one of secretKeyRef, configMapKeyRef or fieldRef must be set")
        return self


class EnvVar(ApiModel):
    name: Annotated[str, Field(min_length=1)]
    value: str | None = None
    value_from: EnvVarSource | None = None

    @model_validator(mode="after")
    def _not_both(self) -> EnvVar:
        if self.value is not None and self.value_from is not None:
            raise ValueError("value and valueFrom are mutually exclusive")
        return self


class Container(ApiModel):
    name: Annotated[str, Field(min_length=1)]
    image: Annotated[str, Field(min_length=1)]
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[EnvVar] | None = None


class PodSpec(ApiModel):
    """The curated pod subset Modelplane accepts: one container named `engine`, pull secrets."""

    containers: Annotated[list[Container], Field(min_length=1, max_length=1)]
    image_pull_secrets: list[LocalRef] | None = None

    @field_validator("containers")
    @classmethod
    def _engine_container(cls, value: list[Container]) -> list[Container]:
        if value[0].name != ENGINE_CONTAINER:
            raise ValueError(f"the container must be named {ENGINE_CONTAINER!r}, not {shown(value[0].name)}")
        return value

    @property
    def engine(self) -> Container:
        return self.containers[0]


class MemberMetadata(ApiModel):
    labels: Annotated[dict[str, str], Field(default_factory=dict, max_length=32)]
    annotations: Annotated[dict[str, str], Field(default_factory=dict, max_length=32)]

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        return check_labels(value, user=True)

    @field_validator("annotations")
    @classmethod
    def _annotations(cls, value: dict[str, str]) -> dict[str, str]:
        return check_annotation_keys(value)


class MemberTemplate(ApiModel):
    metadata: MemberMetadata = Field(default_factory=MemberMetadata)
    spec: PodSpec


class Selector(ApiModel):
    """One device selector; today only CEL (compiled at plan time)."""

    cel: Annotated[str, Field(min_length=1, max_length=10240)]


MAX_DEVICES_PER_REQUEST = 32


class DeviceRequest(ApiModel):
    """What one pod of the member needs from its node: `count` devices matching every selector."""

    name: Annotated[str, Field(min_length=1, max_length=63)]
    count: Annotated[int, Field(ge=1, le=64)] = 1
    selectors: Annotated[list[Selector], Field(min_length=1, max_length=8)]

    @field_validator("name")
    @classmethod
    def _dns(cls, value: str) -> str:
        return check_dns_label(value)

    @field_validator("count")
    @classmethod
    def _fits_one_claim(cls, value: int) -> int:
        # Modelplane's schema allows 64, but Kubernetes allocates at most 32 devices per ResourceClaim
        # (resource.k8s.io/v1 AllocationResultsMaxSize): such a request could never be scheduled.
        if value > MAX_DEVICES_PER_REQUEST:
            raise ValueError(
                f"at most {MAX_DEVICES_PER_REQUEST} devices fit one ResourceClaim in Kubernetes; split the request"
            )
        return value


class NodeSelector(ApiModel):
    devices: Annotated[list[DeviceRequest], Field(min_length=1, max_length=16)]

    @field_validator("devices")
    @classmethod
    def _unique(cls, value: list[DeviceRequest]) -> list[DeviceRequest]:
        names = [request.name for request in value]
        if len(set(names)) != len(names):
            raise ValueError("duplicate device request names")
        return value


class WorkerSpec(ApiModel):
    nodes: Annotated[int, Field(ge=1, le=63)]


class Member(ApiModel):
    role: Role = "Standalone"
    node_selector: NodeSelector | None = None
    worker: WorkerSpec | None = None
    template: MemberTemplate

    @model_validator(mode="after")
    def _worker_only_on_worker(self) -> Member:
        if self.worker is not None and self.role != "Worker":
            raise ValueError("worker is only allowed on a member with role Worker")
        return self

    @property
    def pods(self) -> int:
        """Pods of this member per engine copy: one, or `worker.nodes` for a Worker (missing counts as 1)."""
        return self.worker.nodes if self.role == "Worker" and self.worker is not None else 1


class Engine(ApiModel):
    name: Annotated[str, Field(min_length=1, max_length=63)]
    copies: Annotated[int, Field(ge=1, le=64)] = 1
    phase: Phase | None = None
    members: Annotated[list[Member], Field(min_length=1, max_length=2)]

    @field_validator("name")
    @classmethod
    def _dns(cls, value: str) -> str:
        return check_dns_label(value)

    @model_validator(mode="after")
    def _roles(self) -> Engine:
        roles = [member.role for member in self.members]
        standalone = roles == ["Standalone"]
        gang = roles.count("Leader") == 1 and roles.count("Worker") >= 1 and "Standalone" not in roles
        if not (standalone or gang):
            raise ValueError("members must be one Standalone, or one Leader and a Worker")
        if not any(member.node_selector for member in self.members):
            raise ValueError("some member must have a nodeSelector")
        return self

    @property
    def is_gang(self) -> bool:
        return self.members[0].role != "Standalone"


class Toleration(ApiModel):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "NoExecute"] | None = None

    @model_validator(mode="after")
    def _operator_rules(self) -> Toleration:
        if self.operator == "Equal" and not self.key:
            raise ValueError("operator Equal requires a non-empty key")
        if self.operator == "Exists" and self.value:
            raise ValueError("operator Exists must not set a value")
        return self


class Serving(ApiModel):
    mode: Literal["Unified", "PrefillDecode"] = "Unified"


class DeploymentTemplateSpec(ApiModel):
    cluster_selector: LabelSelector | None = None
    model_cache_ref: LocalRef | None = None
    serving: Serving | None = None
    tolerations: list[Toleration] = Field(default_factory=list)
    engines: Annotated[list[Engine], Field(min_length=1, max_length=8)]

    @property
    def mode(self) -> str:
        return self.serving.mode if self.serving else "Unified"

    @model_validator(mode="after")
    def _serving_rules(self) -> DeploymentTemplateSpec:
        names = [engine.name for engine in self.engines]
        if len(set(names)) != len(names):
            raise ValueError("engines: duplicate engine names")
        phases = [engine.phase for engine in self.engines]
        if self.mode == "PrefillDecode":
            if len(self.engines) != 2 or sorted(map(str, phases)) != ["Decode", "Prefill"]:
                raise ValueError("PrefillDecode needs exactly two engines, one with phase Prefill and one with Decode")
        elif any(phases):
            raise ValueError("phase is only allowed when serving.mode is PrefillDecode")
        return self


class TemplateMetadata(ApiModel):
    labels: Annotated[dict[str, str], Field(default_factory=dict, max_length=32)]

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        return check_labels(value, user=True)


class DeploymentTemplate(ApiModel):
    metadata: TemplateMetadata = Field(default_factory=TemplateMetadata)
    spec: DeploymentTemplateSpec


class ModelDeploymentSpec(ApiModel):
    # Beyond Modelplane v0.3: 0 parks a deployment (scale to zero) and there is no cap of 10.
    replicas: Annotated[int, Field(ge=0, le=INT32_MAX)]
    template: DeploymentTemplate


class ModelDeployment(NamespacedResource[ModelDeploymentSpec]):
    kind: Literal["ModelDeployment"] = "ModelDeployment"
    metadata: LabelValueMeta

    @property
    def engines(self) -> list[Engine]:
        return self.spec.template.spec.engines
