"""ModelEndpoint: a reachable OpenAI-compatible backend, usually outside the fleet (a SaaS provider)."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from modelplane.api.common import ApiModel, NamespacedResource, shown


class ModelEndpointSpec(ApiModel):
    url: Annotated[str, Field(min_length=1, max_length=2048)]
    rewrite_path: str | None = None

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError as error:
            raise ValueError(f"invalid url {shown(value)}: {error}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"invalid url {shown(value)}: needs http:// or https:// and a host")
        del port
        return value

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """The URL's port, or 443 for https and 80 otherwise."""
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme


class ModelEndpoint(NamespacedResource[ModelEndpointSpec]):
    kind: Literal["ModelEndpoint"] = "ModelEndpoint"
