"""ModelService: one OpenAI-compatible URL weighted over endpoints (own replicas and external ModelEndpoints)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from modelplane.api.common import INT32_MAX, ApiModel, LabelSelector, LocalRef, NamespacedResource


class ServiceEndpoint(ApiModel):
    weight: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    selector: LabelSelector
    # Beyond Modelplane: failover tiers. Traffic goes to the lowest priority value that has endpoints.
    priority: Annotated[int, Field(ge=0, le=INT32_MAX)] = 0


class ModelServiceSpec(ApiModel):
    endpoints: Annotated[list[ServiceEndpoint], Field(min_length=1)]
    # Beyond Modelplane: which InferenceGateway serves this URL (Modelplane has a single one named `default`).
    gateway_ref: LocalRef | None = None

    @property
    def gateway_name(self) -> str:
        return self.gateway_ref.name if self.gateway_ref else "default"


class ModelService(NamespacedResource[ModelServiceSpec]):
    kind: Literal["ModelService"] = "ModelService"
