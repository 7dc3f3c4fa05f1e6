"""InferenceGateway: the front door that serves every ModelService URL."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from modelplane.api.common import ApiModel, Resource


class MetalLB(ApiModel):
    address_pool: Annotated[str, Field(min_length=1)]


class Traefik(ApiModel):
    version: Annotated[str, Field(min_length=1)]
    load_balancer: Literal["MetalLB"] | None = None
    metallb: MetalLB | None = None

    @model_validator(mode="after")
    def _metallb_block(self) -> Traefik:
        if self.load_balancer == "MetalLB" and self.metallb is None:
            raise ValueError("loadBalancer MetalLB requires metallb.addressPool")
        return self


class InferenceGatewaySpec(ApiModel):
    backend: Literal["Traefik"]
    traefik: Traefik | None = None
    # Beyond Modelplane: the InferenceCluster this gateway runs on, so a fleet may run one per region.
    # Unset, it runs on the first cluster by name (the plan says so).
    cluster: Annotated[str, Field(min_length=1, max_length=63)] | None = None

    @model_validator(mode="after")
    def _traefik_block(self) -> InferenceGatewaySpec:
        if self.backend == "Traefik" and self.traefik is None:
            raise ValueError("backend Traefik requires the traefik block")
        return self


class InferenceGateway(Resource[InferenceGatewaySpec]):
    kind: Literal["InferenceGateway"] = "InferenceGateway"
