"""InferenceClass: what one node of a pool looks like (DRA-style devices) and, optionally, how to provision it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from modelplane.api.common import INT64_MAX, INT64_MIN, ApiModel, Resource

Provider = Literal["GKE", "EKS", "AKS", "Nebius", "Vultr"]


class Accelerator(ApiModel):
    type: Annotated[str, Field(min_length=1, max_length=63)]
    count: Annotated[int, Field(ge=1, le=16)]


class GkeProvisioning(ApiModel):
    machine_type: Annotated[str, Field(min_length=1)]
    disk_size_gb: Annotated[int, Field(ge=10, le=65536)] = 100
    accelerator: Accelerator


class EksProvisioning(ApiModel):
    instance_type: Annotated[str, Field(min_length=1)]
    disk_size_gb: Annotated[int, Field(ge=10, le=65536)] = 100
    accelerator: Accelerator


class AksProvisioning(ApiModel):
    vm_size: Annotated[str, Field(min_length=1)]
    disk_size_gb: Annotated[int, Field(ge=10, le=65536)] = 100
    accelerator: Accelerator


class NebiusProvisioning(ApiModel):
    platform: Annotated[str, Field(min_length=1, max_length=63)]
    preset: Annotated[str, Field(min_length=1, max_length=63)]
    disk_size_gb: Annotated[int, Field(ge=10, le=65536)] = 100
    drivers_preset: Annotated[str, Field(min_length=1, max_length=63)] = "cuda13.0"
    accelerator: Accelerator


class VultrProvisioning(ApiModel):
    plan: Annotated[str, Field(min_length=1, max_length=63)]
    accelerator: Accelerator


class Provisioning(ApiModel):
    """How to create nodes of this class; the block matching `provider` is required."""

    provider: Provider
    gke: GkeProvisioning | None = None
    eks: EksProvisioning | None = None
    aks: AksProvisioning | None = None
    nebius: NebiusProvisioning | None = None
    vultr: VultrProvisioning | None = None

    @model_validator(mode="after")
    def _block_for_provider(self) -> Provisioning:
        field = self.provider.lower()
        if getattr(self, field) is None:
            raise ValueError(f"provider {self.provider} requires the {field} block")
        return self


class AttributeValue(ApiModel):
    """A device attribute: exactly one of string, version, bool or int."""

    string: Annotated[str, Field(max_length=253)] | None = None
    version: Annotated[str, Field(max_length=32)] | None = None
    bool_: bool | None = Field(default=None, alias="bool")
    int_: Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)] | None = Field(default=None, alias="int")

    @model_validator(mode="after")
    def _exactly_one(self) -> AttributeValue:
        if sum(value is not None for value in (self.string, self.version, self.bool_, self.int_)) != 1:
            raise ValueError("exactly one of string, version, bool or int must be set")
        return self

    @property
    def kind(self) -> Literal["string", "version", "bool", "int"]:
        if self.string is not None:
            return "string"
        if self.version is not None:
            return "version"
        return "bool" if self.bool_ is not None else "int"

    @property
    def value(self) -> str | bool | int:
        for candidate in (self.string, self.version, self.bool_, self.int_):
            if candidate is not None:
                return candidate
        raise AssertionError("validated to hold one value")


class CapacityValue(ApiModel):
    """A capacity figure as a Kubernetes quantity string (checked against the quantity grammar at plan time)."""

    value: Annotated[str, Field(min_length=1, max_length=32)]


class Device(ApiModel):
    """One kind of device on every node of the class; `count` is per node."""

    name: Annotated[str, Field(min_length=1, max_length=63)]
    claim: Literal["DRA", "Synthetic"] = "DRA"
    driver: Annotated[str, Field(min_length=1, max_length=253)]
    device_class_name: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    count: Annotated[int, Field(ge=1, le=64)] = 1
    attributes: Annotated[dict[str, AttributeValue], Field(default_factory=dict, max_length=32)]
    capacity: Annotated[dict[str, CapacityValue], Field(default_factory=dict, max_length=32)]

    @model_validator(mode="after")
    def _dra_needs_class(self) -> Device:
        if self.claim == "DRA" and not self.device_class_name:
            raise ValueError("deviceClassName is required when claim is DRA")
        return self


class InferenceClassSpec(ApiModel):
    description: str | None = None
    provisioning: Provisioning | None = None
    devices: Annotated[list[Device], Field(min_length=1, max_length=16)]

    @model_validator(mode="after")
    def _unique_device_names(self) -> InferenceClassSpec:
        names = [device.name for device in self.devices]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"devices: duplicate name(s) {', '.join(duplicates)}")
        return self


class InferenceClass(Resource[InferenceClassSpec]):
    kind: Literal["InferenceClass"] = "InferenceClass"
