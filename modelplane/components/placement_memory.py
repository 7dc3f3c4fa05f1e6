"""Sticky placement under Pulumi: the previous record is stack config `modelplane:placement`, backed up by the
stack's own last `placement` output, so a stale or missing config record never moves a replica."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Recovery:
    """The record to plan from, and one line per deployment recovered from the last outputs."""

    record: dict[str, Any] | None
    recovered: tuple[str, ...] = ()


def merge_records(config: Mapping[str, Any] | None, last: Mapping[str, Any] | None) -> Recovery:
    """Deployments the config record lacks are taken from the stack's last outputs; the config wins on both."""
    if not last:
        return Recovery(dict(config) if config else None)
    last = normalise(last)
    if not config:
        config = {"deployments": [], "clusters": last.get("clusters", [])}
    known = {_key(item) for item in config.get("deployments", [])}
    extra = [item for item in last.get("deployments", []) if _key(item) not in known and item.get("replicas")]
    messages = tuple(
        f"recovered placement of {_key(item)} from the stack's last outputs: {len(item['replicas'])} replica"
        f"{'' if len(item['replicas']) == 1 else 's'}"
        for item in extra
    )
    merged = {**config, "deployments": sorted([*config.get("deployments", []), *extra], key=_key)}
    return Recovery(merged, messages)


def normalise(value: Any) -> Any:
    """Whole floats back to ints: Pulumi hands every number of an output over as a float."""
    if isinstance(value, Mapping):
        return {key: normalise(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalise(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _key(item: Mapping[str, Any]) -> str:
    return f"{item['namespace']}/{item['name']}"
