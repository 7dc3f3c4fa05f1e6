"""`modelplane cordon / uncordon / drain`: edits of `modelplane:scheduling` in the stack file, and the drain's
make-before-break sequence of `pulumi up`s.

A drain of cluster C runs in phases recorded in the stack config, so re-running it continues where it stopped:
1. `surge`: C is cordoned and its replicas are kept while the plan places their replacements elsewhere; `up`;
   then wait until every replica of the affected deployments off C is Ready (read from the clusters).
2. `remove`: C's replicas are let go; `up`. The route updates land before the old workloads are deleted (the
   engine deletes last), so traffic moves to the new backends before the old ones stop.
3. The drain entry is cleared; C stays cordoned until `modelplane uncordon C`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from modelplane.api.loading import PLACEMENT_KEY, SCHEDULING_KEY, load_stack
from modelplane.operations.observe import snapshots
from modelplane.operations.status import fleet_status
from modelplane.planning import plan_stack_config
from modelplane.reconcile.stackfiles import StackDocument, dump_placement, parse_placement, stack_file, stack_file_lock

Progress = Callable[[str], None]


class DrainError(Exception):
    """The drain (or cordon) cannot go on; the stack file is as the last completed step left it."""


def scheduling(doc: StackDocument) -> dict[str, Any]:
    value = doc.config.get(SCHEDULING_KEY) or {}
    return json.loads(value) if isinstance(value, str) else dict(value)


def _save_scheduling(doc: StackDocument, settings: Mapping[str, Any]) -> None:
    kept = {key: value for key, value in settings.items() if value not in ([], {})}
    doc.with_value((SCHEDULING_KEY,), kept or None).save()


def cordon(project_dir: Path, stack: str, cluster: str, *, on: bool = True) -> bool:
    """Cordon (or uncordon) the cluster in the stack file; False when it already was (or was not)."""
    path = stack_file(project_dir, stack)
    with stack_file_lock(path):
        doc = StackDocument.load(path)
        _known(project_dir, stack, cluster)
        settings = scheduling(doc)
        cordoned = list(settings.get("cordoned", []))
        if (cluster in cordoned) == on:
            return False
        if not on and cluster in settings.get("draining", {}):
            raise DrainError(f"cluster {cluster} is being drained: finish the drain before uncordoning it")
        settings["cordoned"] = sorted({*cordoned, cluster}) if on else [name for name in cordoned if name != cluster]
        _save_scheduling(doc, settings)
    return True


def drain(
    project_dir: Path,
    stack: str,
    cluster: str,
    up: Callable[[], Mapping[str, Any]],
    outputs: Callable[[], Mapping[str, Any]],
    kubeconfigs: Callable[[Mapping[str, Any]], Mapping[str, str]],
    *,
    allow_unplaced: bool = False,
    timeout: float = 900.0,
    progress: Progress,
) -> None:
    """`up` applies the stack and returns its outputs, `outputs` reads the last ones; `kubeconfigs` picks the
    clusters' kubeconfigs from outputs."""
    phase = _phase(project_dir, stack, cluster)
    if phase is None:
        _start(project_dir, stack, cluster, allow_unplaced, outputs, progress)
        phase = "surge"
    if phase == "surge":
        progress(f"drain {cluster}: up with replacements placed off {cluster}")
        outputs = up()
        _write_back(project_dir, stack, outputs)
        _wait_for_replacements(project_dir, stack, cluster, outputs, kubeconfigs, timeout, progress)
        _set_phase(project_dir, stack, cluster, "remove")
    progress(f"drain {cluster}: up without {cluster}'s replicas")
    _write_back(project_dir, stack, up())
    _set_phase(project_dir, stack, cluster, None)
    progress(f"drain {cluster}: done; it stays cordoned (`modelplane uncordon {cluster}` to reopen it)")


def _phase(project_dir: Path, stack: str, cluster: str) -> str | None:
    _known(project_dir, stack, cluster)
    return scheduling(StackDocument.load(stack_file(project_dir, stack))).get("draining", {}).get(cluster)


def _start(
    project_dir: Path,
    stack: str,
    cluster: str,
    allow_unplaced: bool,
    outputs: Callable[[], Mapping[str, Any]],
    progress: Progress,
) -> None:
    """Enter the surge phase, but only if the rest of the fleet can hold the cluster's replicas. The check plans
    from what the program plans from: the config record, else the stack's last placement output."""
    path = stack_file(project_dir, stack)
    with stack_file_lock(path):
        doc = StackDocument.load(path)
        settings = scheduling(doc)
        settings["cordoned"] = sorted({*settings.get("cordoned", []), cluster})
        settings["draining"] = {**settings.get("draining", {}), cluster: "surge"}
        config = {**doc.config, SCHEDULING_KEY: settings}
        previous = parse_placement(config.get(PLACEMENT_KEY)) or outputs().get("placement")
        record = plan_stack_config(config, project_dir=project_dir, source=str(path), previous=previous)
        short = [
            f"{d['namespace']}/{d['name']}: {d['unplaced']} replica(s) of {d['desired']} cannot be placed off {cluster}"
            for d in record["deployments"]
            if d.get("draining") and d["unplaced"]
        ]
        if short and not allow_unplaced:
            raise DrainError(
                f"the rest of the fleet cannot hold {cluster}'s replicas ({'; '.join(short)}); add capacity, or "
                "drain with --allow-unplaced to lose them"
            )
        for line in short:
            progress(f"drain {cluster}: --allow-unplaced: {line}")
        _save_scheduling(doc, settings)


def _set_phase(project_dir: Path, stack: str, cluster: str, phase: str | None) -> None:
    path = stack_file(project_dir, stack)
    with stack_file_lock(path):
        doc = StackDocument.load(path)
        settings = scheduling(doc)
        draining = {name: value for name, value in settings.get("draining", {}).items() if name != cluster}
        if phase:
            draining[cluster] = phase
        settings["draining"] = draining
        _save_scheduling(doc, settings)


def _write_back(project_dir: Path, stack: str, outputs: Mapping[str, Any]) -> None:
    """Keep a config placement record (as the reconcile service keeps it) in step with what the up applied."""
    path = stack_file(project_dir, stack)
    with stack_file_lock(path):
        doc = StackDocument.load(path)
        if PLACEMENT_KEY in doc.config and outputs.get("placement") is not None:
            doc.with_value((PLACEMENT_KEY,), dump_placement(outputs["placement"])).save()


def _wait_for_replacements(
    project_dir: Path,
    stack: str,
    cluster: str,
    outputs: Mapping[str, Any],
    kubeconfigs: Callable[[Mapping[str, Any]], Mapping[str, str]],
    timeout: float,
    progress: Progress,
) -> None:
    """Until every replica, off the drained cluster, of each deployment that had one there is Ready."""
    fleet = load_stack(project_dir, stack).fleet
    record = outputs["placement"]
    affected = [d for d in record["deployments"] if d.get("draining")]
    deadline = time.monotonic() + timeout
    while True:
        report = fleet_status(fleet, record, snapshots(kubeconfigs(outputs)))
        waiting = [
            f"{d['namespace']}/{d['name']} {where}"
            for d in affected
            for where, replica in report["deployments"][f"{d['namespace']}/{d['name']}"]["replicas"].items()
            if replica["cluster"] != cluster and not replica["ready"]
        ]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise DrainError(
                f"replacements not Ready after {timeout:.0f} s ({', '.join(waiting[:5])}); {cluster}'s replicas "
                "still serve: re-run `modelplane drain` to go on waiting"
            )
        progress(f"drain {cluster}: waiting for {len(waiting)} replacement(s) to be Ready")
        time.sleep(2)


def _known(project_dir: Path, stack: str, cluster: str) -> None:
    fleet = load_stack(project_dir, stack).fleet
    if cluster not in fleet.clusters:
        known = ", ".join(sorted(fleet.clusters)) or "none"
        raise DrainError(f"stack {stack} has no InferenceCluster {cluster} (its clusters: {known})")
