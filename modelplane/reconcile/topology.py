"""Split stacks (one fleet stack, one stack per cluster): who reads whose outputs, and so who runs first.

A cluster stack reads its fleet stack's ``placement`` and ``fleetConfig``; the fleet stack reads each cluster
stack's ``kubeconfigs`` and ``gatewayAddresses`` (README "Split stacks"). So: fleet, then its clusters (in
parallel), then the fleet again when the clusters' addresses changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelplane.reconcile.stackfiles import StackFileError, read_config, stack_file

ROLE_KEY = "modelplane:role"
FLEET_STACK_KEY = "modelplane:fleetStack"
FLEET_OUTPUTS = ("placement", "fleetConfig")  # what a cluster stack reads from its fleet
CLUSTER_OUTPUTS = ("kubeconfigs", "gatewayAddresses")  # what the fleet stack reads from a cluster stack


@dataclass(frozen=True)
class Topology:
    """``clusters[fleet]`` = the cluster stacks (among those reconciled) that read that fleet stack."""

    clusters: Mapping[str, tuple[str, ...]]

    def fleet_of(self, stack: str) -> str | None:
        return next((fleet for fleet, clusters in self.clusters.items() if stack in clusters), None)


def split_topology(project_dir: Path, stacks: Iterable[str]) -> Topology:
    """The fleet → clusters edges among ``stacks``, from each stack's ``modelplane:role`` and ``fleetStack``."""
    stacks = list(stacks)
    clusters: dict[str, list[str]] = {}
    for stack in stacks:
        config = _config(project_dir, stack)
        if config.get(ROLE_KEY) != "cluster":
            continue
        # `<org>/<project>/<stack>` or a bare stack name: the last segment names the fleet stack.
        fleet = str(config.get(FLEET_STACK_KEY, "")).rsplit("/", 1)[-1]
        if fleet in stacks and fleet != stack:
            clusters.setdefault(fleet, []).append(stack)
    return Topology({fleet: tuple(sorted(members)) for fleet, members in sorted(clusters.items())})


def outputs_changed(before: Mapping[str, Any] | None, after: Mapping[str, Any], keys: Iterable[str]) -> bool:
    before = before or {}
    return any(before.get(key) != after.get(key) for key in keys)


def _config(project_dir: Path, stack: str) -> dict[str, Any]:
    try:
        return read_config(stack_file(project_dir, stack))
    except StackFileError:
        return {}
