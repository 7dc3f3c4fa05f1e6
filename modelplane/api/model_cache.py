"""ModelCache: weights staged once per matched cluster on a ReadWriteMany volume."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from modelplane.api.common import ApiModel, LabelSelector, LabelValueMeta, NamespacedResource


class AuthSecret(ApiModel):
    name: Annotated[str, Field(min_length=1)]
    key: str = "HF_TOKEN"


class HuggingFaceSource(ApiModel):
    repo: Annotated[str, Field(min_length=1)]
    revision: str | None = None
    auth_secret: AuthSecret | None = None
    size_gi_b: Annotated[int, Field(ge=1, le=100000, alias="sizeGiB")]
    # Beyond Modelplane: an image with the `hf` CLI (huggingface_hub >= 1.0) for the hydration Job, which then
    # installs nothing at run time (air-gapped clusters, a mirrored registry).
    hydration_image: Annotated[str, Field(min_length=1)] | None = None


class ModelCacheSpec(ApiModel):
    source: Literal["HuggingFace"]
    hugging_face: HuggingFaceSource | None = None
    cluster_selector: LabelSelector | None = None

    @model_validator(mode="after")
    def _source_block(self) -> ModelCacheSpec:
        if self.source == "HuggingFace" and self.hugging_face is None:
            raise ValueError("source HuggingFace requires the huggingFace block")
        return self


class ModelCache(NamespacedResource[ModelCacheSpec]):
    kind: Literal["ModelCache"] = "ModelCache"
    metadata: LabelValueMeta
