"""The scheduler's output, and the placement record: its JSON form, read back as the previous placement."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, order=True, slots=True)
class DeviceClaim:
    """One resolved DRA request of a member: becomes a ResourceClaimTemplate request."""

    name: str
    device_class_name: str
    count: int
    selectors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MemberPlacement:
    role: str
    pool: str
    devices: tuple[DeviceClaim, ...] = ()

    @property
    def claims(self) -> bool:
        return bool(self.devices)


@dataclass(frozen=True, slots=True)
class EnginePlacement:
    name: str
    pool: str
    members: tuple[MemberPlacement, ...]


@dataclass(frozen=True, slots=True)
class ReplicaPlacement:
    """One complete serving instance pinned to a cluster; (cluster, index) is its identity."""

    cluster: str
    index: int
    engines: tuple[EnginePlacement, ...]
    why: str = ""

    @property
    def identity(self) -> tuple[str, int]:
        return (self.cluster, self.index)


@dataclass(frozen=True, slots=True)
class DeploymentPlacement:
    namespace: str
    name: str
    desired: int
    replicas: tuple[ReplicaPlacement, ...]
    reasons: tuple[str, ...] = ()
    rejected: tuple[tuple[str, str], ...] = ()
    draining: int = 0  # replicas kept on draining clusters until their replacements run: not counted as placed

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def scheduled(self) -> int:
        return len(self.replicas)

    @property
    def unplaced(self) -> int:
        return max(self.desired - (self.scheduled - self.draining), 0)


@dataclass(frozen=True, slots=True)
class PoolUsage:
    cluster: str
    pool: str
    nodes: int
    used: int

    @property
    def free(self) -> int:
        return self.nodes - self.used


@dataclass(frozen=True, slots=True)
class Placement:
    """The whole fleet's decision: deployments sorted by namespace/name, pools by cluster/pool."""

    deployments: tuple[DeploymentPlacement, ...]
    pools: tuple[PoolUsage, ...]
    notices: tuple[str, ...] = ()
    recovered: tuple[str, ...] = field(default=())

    def deployment(self, key: str) -> DeploymentPlacement | None:
        return next((item for item in self.deployments if item.key == key), None)

    def replicas_on(self, cluster: str) -> list[tuple[DeploymentPlacement, ReplicaPlacement]]:
        return [(item, replica) for item in self.deployments for replica in item.replicas if replica.cluster == cluster]


def to_record(placement: Placement, *, explain: bool = False) -> dict[str, Any]:
    """The `modelplane plan -o json` object; also the previous-placement record the next plan reads."""
    return {
        "deployments": [_deployment_record(item, explain=explain) for item in placement.deployments],
        "clusters": _cluster_records(placement.pools),
    }


def _deployment_record(item: DeploymentPlacement, *, explain: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "namespace": item.namespace,
        "name": item.name,
        "desired": item.desired,
        "scheduled": item.scheduled,
        "unplaced": item.unplaced,
        "reasons": list(item.reasons),
        "replicas": [_replica_record(replica, explain=explain) for replica in item.replicas],
    }
    if item.draining:
        record["draining"] = item.draining
    if explain:
        record["rejected"] = [{"cluster": cluster, "reason": reason} for cluster, reason in item.rejected]
    return record


def _replica_record(replica: ReplicaPlacement, *, explain: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "cluster": replica.cluster,
        "index": replica.index,
        "engines": [
            {
                "name": engine.name,
                "pool": engine.pool,
                "members": [
                    {
                        "role": member.role,
                        "pool": member.pool,
                        "devices": [
                            {"name": claim.name, "deviceClassName": claim.device_class_name, "count": claim.count}
                            for claim in member.devices
                        ],
                    }
                    for member in engine.members
                ],
            }
            for engine in replica.engines
        ],
    }
    if explain:
        record["why"] = replica.why
    return record


def _cluster_records(pools: tuple[PoolUsage, ...]) -> list[dict[str, Any]]:
    clusters: dict[str, list[dict[str, Any]]] = {}
    for pool in pools:
        clusters.setdefault(pool.cluster, []).append({"name": pool.pool, "nodes": pool.nodes, "used": pool.used})
    return [{"name": name, "pools": items} for name, items in clusters.items()]


class RecordError(ValueError):
    """A previous-placement record that is not the shape `plan -o json` writes."""


def replicas_from_record(record: Mapping[str, Any] | None) -> dict[str, tuple[ReplicaPlacement, ...]]:
    """Previous replicas per `namespace/name`, as the record stored them (device selectors are not recorded)."""
    if not record:
        return {}
    # Replicas of a deployment on one pool record the same engines: one shared tuple keeps a big record small.
    shared: dict[tuple[EnginePlacement, ...], tuple[EnginePlacement, ...]] = {}
    try:
        return {
            f"{item['namespace']}/{item['name']}": tuple(_replica_from(raw, shared) for raw in item.get("replicas", []))
            for item in record.get("deployments", [])
        }
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise RecordError(f"not a placement record: {error!r}") from None


def _replica_from(
    raw: Mapping[str, Any], shared: dict[tuple[EnginePlacement, ...], tuple[EnginePlacement, ...]]
) -> ReplicaPlacement:
    engines = tuple(
        EnginePlacement(
            name=str(engine["name"]),
            pool=str(engine["pool"]),
            members=tuple(
                MemberPlacement(
                    role=str(member["role"]),
                    pool=str(member["pool"]),
                    devices=tuple(
                        DeviceClaim(str(device["name"]), str(device["deviceClassName"]), int(device["count"]))
                        for device in member.get("devices", [])
                    ),
                )
                for member in engine["members"]
            ),
        )
        for engine in raw["engines"]
    )
    engines = shared.setdefault(engines, engines)
    return ReplicaPlacement(cluster=str(raw["cluster"]), index=int(raw["index"]), engines=engines)
