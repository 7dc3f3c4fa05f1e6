"""Reading what runs on the clusters: one snapshot per cluster, read in parallel with a deadline each, so an
unreachable cluster is reported and never holds up the others."""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import yaml

from modelplane.compose.common import LABEL_DEPLOYMENT, LABEL_MANAGED_BY, MANAGED_BY

Item = dict[str, Any]
OURS = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
# (API path prefix, plural) of what status reads; objects of ours are found by their label.
OWN_KINDS = {
    "deployments": "/apis/apps/v1",
    "leaderworkersets": "/apis/leaderworkerset.x-k8s.io/v1",
    "jobs": "/apis/batch/v1",
    "persistentvolumeclaims": "/api/v1",
    "pods": "/api/v1",
}


@dataclass
class ClusterSnapshot:
    """Objects of ours on one cluster (by kind, then `namespace/name`), their claims and the nodes; or the error."""

    name: str
    error: str | None = None
    objects: dict[str, dict[str, Item]] = field(default_factory=dict)
    claims: dict[str, Item] = field(default_factory=dict)
    nodes: dict[str, Item] = field(default_factory=dict)

    @property
    def reachable(self) -> bool:
        return self.error is None

    def get(self, kind: str, namespace: str, name: str) -> Item | None:
        return self.objects.get(kind, {}).get(f"{namespace}/{name}")

    def pods(self, namespace: str, labels: Mapping[str, str]) -> list[Item]:
        return [
            pod
            for key, pod in sorted(self.objects.get("pods", {}).items())
            if key.startswith(f"{namespace}/")
            and all(pod["metadata"].get("labels", {}).get(k) == v for k, v in labels.items())
        ]


class ClusterReader:
    """GETs against one API server, authenticated the way its kubeconfig says (certificates, tokens, exec plugins)."""

    def __init__(self, kubeconfig: str, timeout: float) -> None:
        from kubernetes import config  # imported here: only status and drain read clusters

        loaded = yaml.safe_load(kubeconfig)
        self._client = config.new_client_from_config_dict(loaded)
        self.timeout = timeout

    def list(self, path: str, selector: str | None = None) -> list[Item]:
        query = [("labelSelector", selector)] if selector else []
        response = self._client.call_api(
            path,
            "GET",
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=self.timeout,
        )
        return list(json.loads(response[0].data).get("items", []))


def snapshot(name: str, kubeconfig: str, timeout: float) -> ClusterSnapshot:
    """Everything status needs from one cluster; any failure to reach it is the snapshot's error."""
    found = ClusterSnapshot(name)
    try:
        reader = ClusterReader(kubeconfig, timeout)
        for plural, prefix in OWN_KINDS.items():
            # Pods carry the replica's labels (their template's), not the managed-by label of composed objects.
            items = reader.list(f"{prefix}/{plural}", LABEL_DEPLOYMENT if plural == "pods" else OURS)
            found.objects[plural] = {_key(item): item for item in items}
        found.claims = {_key(item): item for item in reader.list("/apis/resource.k8s.io/v1/resourceclaims")}
        found.nodes = {item["metadata"]["name"]: item for item in reader.list("/api/v1/nodes")}
    except Exception as error:  # noqa: BLE001 - every failure to read a cluster is reported, never raised
        found.error = _one_line(error)
    return found


def snapshots(kubeconfigs: Mapping[str, str], timeout: float = 10.0) -> dict[str, ClusterSnapshot]:
    """Every cluster at once: the slowest (or an unreachable) one bounds the wait, not their sum."""
    if not kubeconfigs:
        return {}
    with ThreadPoolExecutor(max_workers=min(16, len(kubeconfigs))) as pool:
        futures = {name: pool.submit(snapshot, name, text, timeout) for name, text in sorted(kubeconfigs.items())}
        return {name: future.result() for name, future in futures.items()}


def _key(item: Item) -> str:
    meta = item["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    reason = getattr(error, "reason", None)
    first = text[0] if text else type(error).__name__
    return f"{type(error).__name__}: {reason or first}"[:300]
