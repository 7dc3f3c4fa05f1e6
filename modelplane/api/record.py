"""The placement record as input: its shape and bounds, checked wherever a record is read, before it is planned.

A record is what `modelplane plan -o json` wrote, but by the time it comes back (`--previous`, stack config
`modelplane:placement`, a stack output) any hand may have edited it. The scheduler's cost grows with what the record
holds, so what it may hold is bounded here: the types and ranges the plan itself writes, and at most
`Limits.record_replicas` replicas per deployment. Fields the planner does not read (reasons, why, clusters,
services) are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, NotRequired

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict  # pydantic needs it below Python 3.12

from modelplane.api.documents import Limits
from modelplane.api.errors import Origin, Problem

INT32_MAX = 2**31 - 1
Name = Annotated[str, Field(min_length=1, max_length=253)]
ShortName = Annotated[str, Field(min_length=1, max_length=63)]
# TypedDicts rather than models: a record is only checked, never used as objects, and validating into dicts takes
# half the time (100,000 replicas: about 1.8 s against 3.6 s), which is most of a sticky re-plan of that size.
_STRICT = ConfigDict(strict=True, extra="ignore")


@with_config(_STRICT)
class RecordDevice(TypedDict):
    name: ShortName
    deviceClassName: Name
    count: Annotated[int, Field(ge=1, le=64)]


@with_config(_STRICT)
class RecordMember(TypedDict):
    role: Literal["Standalone", "Leader", "Worker"]
    pool: ShortName
    devices: NotRequired[Annotated[list[RecordDevice], Field(max_length=16)]]


@with_config(_STRICT)
class RecordEngine(TypedDict):
    name: ShortName
    pool: ShortName
    members: Annotated[list[RecordMember], Field(min_length=1, max_length=2)]


@with_config(_STRICT)
class RecordReplica(TypedDict):
    cluster: ShortName
    index: Annotated[int, Field(ge=0, le=INT32_MAX)]
    engines: Annotated[list[RecordEngine], Field(min_length=1, max_length=8)]


@with_config(_STRICT)
class RecordDeployment(TypedDict):
    namespace: ShortName
    name: Name
    replicas: NotRequired[list[RecordReplica]]


@with_config(_STRICT)
class PlacementRecord(TypedDict):
    deployments: NotRequired[list[RecordDeployment]]


_RECORD = TypeAdapter(PlacementRecord)


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
        _RECORD.validate_python(record)
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
