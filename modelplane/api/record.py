"""The placement record as input: its shape and bounds, checked wherever a record is read, before it is planned.

A record is what `modelplane plan -o json` wrote, but by the time it comes back (`--previous`, stack config
`modelplane:placement`, a stack output) any hand may have edited it. The scheduler's cost grows with what the record
holds, so what it may hold is bounded here: the types and ranges the plan itself writes, and at most
`Limits.record_replicas` replicas per deployment. Fields the planner does not read (reasons, why, clusters,
services) are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelplane.api.documents import Limits
from modelplane.api.errors import Origin, Problem

INT32_MAX = 2**31 - 1
Name = Annotated[str, Field(min_length=1, max_length=253)]
ShortName = Annotated[str, Field(min_length=1, max_length=63)]


class _RecordModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)


class RecordDevice(_RecordModel):
    name: ShortName
    device_class_name: Name = Field(alias="deviceClassName")
    count: Annotated[int, Field(ge=1, le=64)]


class RecordMember(_RecordModel):
    role: Literal["Standalone", "Leader", "Worker"]
    pool: ShortName
    devices: Annotated[list[RecordDevice], Field(max_length=16)] = []


class RecordEngine(_RecordModel):
    name: ShortName
    pool: ShortName
    members: Annotated[list[RecordMember], Field(min_length=1, max_length=2)]


class RecordReplica(_RecordModel):
    cluster: ShortName
    index: Annotated[int, Field(ge=0, le=INT32_MAX)]
    engines: Annotated[list[RecordEngine], Field(min_length=1, max_length=8)]


class RecordDeployment(_RecordModel):
    namespace: ShortName
    name: Name
    replicas: list[RecordReplica] = []


class PlacementRecord(_RecordModel):
    deployments: list[RecordDeployment] = []


def record_problems(record: Mapping[str, Any] | None, origin: Origin, limits: Limits | None = None) -> list[Problem]:
    """Why `record` cannot be used as the previous placement (empty when it can)."""
    if not record:
        return []
    limits = limits or Limits.from_env()
    # Counted before anything is validated, so a record of a million replicas costs a len() to refuse.
    oversized = [
        Problem(origin, "", "", f"deployments[{index}].replicas", limits.exceeded("record_replicas", what).message)
        for index, what in _replica_counts(record.get("deployments"), limits.record_replicas)
    ]
    if oversized:
        return oversized
    try:
        PlacementRecord.model_validate(record)
    except ValidationError as error:
        return [
            Problem(origin, "", "", _path(item["loc"]), item["msg"])
            for item in error.errors(include_url=False, include_input=False)
        ]
    return []


def _replica_counts(deployments: Any, limit: int) -> list[tuple[int, str]]:
    """(position, "N replicas of one deployment") of each deployment entry holding more than `limit` replicas."""
    if not isinstance(deployments, list):
        return []
    found = []
    for index, item in enumerate(deployments):
        replicas = item.get("replicas") if isinstance(item, Mapping) else None
        if isinstance(replicas, list) and len(replicas) > limit:
            found.append((index, f"{len(replicas):,} replicas of one deployment"))
    return found


def _path(loc: tuple[str | int, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
