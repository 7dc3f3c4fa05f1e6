"""Settings of the reconcile service (its own YAML/JSON file; camelCase keys, CLI flags override)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from ruamel.yaml import YAML


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class BackoffSettings(_Model):
    """Capped exponential backoff after a failed run: initial, initial*2, ... up to max."""

    initial_seconds: float = Field(10.0, gt=0)
    max_seconds: float = Field(600.0, gt=0)

    def delay(self, failures: int) -> float:
        """Delay before the next attempt after ``failures`` consecutive failures (>= 1)."""
        return min(self.max_seconds, self.initial_seconds * 2 ** max(0, failures - 1))


class RunnerSettings(_Model):
    """Per-stack behaviour of the reconcile core."""

    drift_interval_seconds: float = Field(600.0, gt=0)
    auto_remediate: bool = True
    debounce_seconds: float = Field(0.5, ge=0)
    debounce_max_seconds: float = Field(1.0, ge=0)
    input_poll_seconds: float = Field(30.0, gt=0)
    backoff: BackoffSettings = BackoffSettings()
    concurrent_update_retry_seconds: float = Field(30.0, gt=0)
    # None: never cancel another update. Set it only for a backend where a crashed updater can leave a lock.
    cancel_stale_update_after_seconds: float | None = Field(None, gt=0)


class HttpSettings(_Model):
    """The control port. Every route but ``/healthz`` and ``/readyz`` needs the bearer token."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # The token's file (a mounted Secret); else MODELPLANE_API_TOKEN; else one generated into the state dir.
    token_file: Path | None = None
    # Only on a loopback address: no token at all (a developer's machine).
    insecure_no_auth: bool = False
    # Serve /metrics without a token on a listener of its own (for scrapers); None: on the main port, with token.
    metrics_port: int | None = Field(None, ge=0, le=65535)
    metrics_host: str | None = None
    max_body_bytes: int = Field(64 * 1024, gt=0)
    max_header_bytes: int = Field(16 * 1024, ge=1024)
    max_concurrency: int = Field(32, gt=0)


class AutoscalerSettings(_Model):
    """One autoscaled deployment: HPA-style replicas from a Prometheus query."""

    stack: str
    deployment: str
    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(gt=0)
    prometheus_url: str
    query: str = Field(description="PromQL returning the deployment's total load (summed if it returns many series)")
    target_per_replica: float = Field(gt=0)
    tolerance: float = Field(0.1, ge=0, lt=1)
    scale_down_stabilization_seconds: float = Field(300.0, ge=0)
    interval_seconds: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalerSettings:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas ({self.min_replicas}) > maxReplicas ({self.max_replicas})")
        return self


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/modelplane/reconcile`` (``~/.local/state/...``): the journal and a generated token."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "modelplane" / "reconcile"


class ServiceSettings(_Model):
    """The whole service: which stacks, how parallel, HTTP, per-stack behaviour, autoscalers."""

    stacks: tuple[str, ...] = ()
    state_dir: Path = Field(default_factory=default_state_dir)
    parallelism: int = Field(2, ge=1)
    tick_seconds: float = Field(0.25, gt=0)
    shutdown_grace_seconds: float = Field(1500.0, ge=0)
    http: HttpSettings = HttpSettings()
    runner: RunnerSettings = RunnerSettings()
    autoscalers: tuple[AutoscalerSettings, ...] = ()

    @model_validator(mode="after")
    def _autoscaled_stacks_known(self) -> ServiceSettings:
        unknown = sorted({a.stack for a in self.autoscalers} - set(self.stacks))
        if unknown:
            raise ValueError(f"autoscalers name stacks the service does not reconcile: {', '.join(unknown)}")
        return self


def load_settings(path: Path | None, overrides: Mapping[str, Any] | None = None) -> ServiceSettings:
    """Settings from a YAML (or JSON) file, deep-merged with ``overrides`` (camelCase keys, from CLI flags)."""
    data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8")) if path else None
    return ServiceSettings.model_validate(_merge(data or {}, overrides or {}))


def _merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
