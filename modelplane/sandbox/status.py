"""`sandbox status`: each cluster's ports, process health, nodes and devices, read from its API server."""

from __future__ import annotations

from typing import Any

from modelplane.sandbox.kubeapi import KubeApiError
from modelplane.sandbox.state import SandboxState


def sandbox_status(state: SandboxState) -> dict[str, Any]:
    clusters = []
    for layout in state.clusters:
        started = state.processes.get(layout.name, [])
        entry: dict[str, Any] = {
            "name": layout.name,
            "server": layout.server,
            "ports": dict(layout.ports),
            "processes": {process.name: process.alive() for process in started},
            "reachable": False,
            "nodes": 0,
            "nodesReady": 0,
            "resourceSlices": 0,
            "devices": 0,
        }
        try:
            api = layout.api(timeout=3.0)
            nodes = api.items("/api/v1/nodes")
            slices = api.items("/apis/resource.k8s.io/v1/resourceslices")
        except KubeApiError as error:
            entry["error"] = str(error)
        else:
            entry.update(
                reachable=True,
                nodes=len(nodes),
                nodesReady=sum(1 for node in nodes if _ready(node)),
                resourceSlices=len(slices),
                devices=sum(len(item.get("spec", {}).get("devices", [])) for item in slices),
            )
        clusters.append(entry)
    return {
        "stack": state.stack,
        "sandboxStack": state.sandbox_stack,
        "root": str(state.root),
        "ready": state.ready,
        "clusters": clusters,
    }


def _ready(node: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in node.get("status", {}).get("conditions", [])
    )
