"""PR preview: the placement diff against the current record, route weight changes, and Pulumi's summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelplane.reconcile.driver import ChangeSummary, DriverError, StackDriver
from modelplane.reconcile.logs import Redactor
from modelplane.reconcile.scaling import Planner, facade_planner
from modelplane.reconcile.stackfiles import PLACEMENT_KEY, parse_placement, read_config, stack_file

Slot = tuple[str, tuple[str, ...]]  # (cluster, engine pools): where one replica sits


@dataclass(frozen=True)
class DeploymentDiff:
    key: str
    counts_before: tuple[int, int, int] | None  # desired, scheduled, unplaced
    counts_after: tuple[int, int, int] | None
    added: tuple[Slot, ...] = ()
    moved: tuple[tuple[Slot, Slot], ...] = ()
    removed: tuple[Slot, ...] = ()
    reasons: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.added or self.moved or self.removed) or self.counts_before != self.counts_after


@dataclass(frozen=True)
class PoolDiff:
    cluster: str
    pool: str
    free_before: int | None
    free_after: int | None


@dataclass(frozen=True)
class BackendDiff:
    service: str
    backend: str
    before: tuple[int, int] | None  # weight, priority
    after: tuple[int, int] | None


@dataclass(frozen=True)
class PlacementDiff:
    deployments: tuple[DeploymentDiff, ...]
    pools: tuple[PoolDiff, ...]
    backends: tuple[BackendDiff, ...]
    unchanged_deployments: int
    unchanged_pools: int


@dataclass(frozen=True)
class StackPreview:
    stack: str
    diff: PlacementDiff
    record_source: str
    pulumi: ChangeSummary | None = None
    pulumi_note: str | None = None


# --- diff ---------------------------------------------------------------------------------------


def _slot(replica: Mapping[str, Any]) -> Slot:
    return str(replica.get("cluster", "?")), tuple(str(e.get("pool", "?")) for e in replica.get("engines", []))


def _deployments(record: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    entries = (record or {}).get("deployments", [])
    return {f"{d.get('namespace', 'default')}/{d.get('name', '?')}": d for d in entries}


def _counts(entry: Mapping[str, Any] | None) -> tuple[int, int, int] | None:
    if entry is None:
        return None
    return int(entry.get("desired", 0)), int(entry.get("scheduled", 0)), int(entry.get("unplaced", 0))


def _deployment_diff(key: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> DeploymentDiff:
    """Replicas compared as multisets of slots: a slot lost on one side and gained on the other is a move."""
    old = Counter(_slot(r) for r in (before or {}).get("replicas", []))
    new = Counter(_slot(r) for r in (after or {}).get("replicas", []))
    gone, came = sorted((old - new).elements()), sorted((new - old).elements())
    pairs = min(len(gone), len(came))
    return DeploymentDiff(
        key=key,
        counts_before=_counts(before),
        counts_after=_counts(after),
        added=tuple(came[pairs:]),
        moved=tuple(zip(gone[:pairs], came[:pairs], strict=True)),
        removed=tuple(gone[pairs:]),
        reasons=tuple(str(r) for r in (after or {}).get("reasons", [])),
    )


def _free_nodes(record: Mapping[str, Any] | None) -> dict[tuple[str, str], int]:
    return {
        (str(c.get("name")), str(p.get("name"))): int(p.get("nodes", 0)) - int(p.get("used", 0))
        for c in (record or {}).get("clusters", [])
        for p in c.get("pools", [])
    }


def _backends(record: Mapping[str, Any] | None) -> dict[tuple[str, str], tuple[int, int]]:
    return {
        (f"{s.get('namespace', 'default')}/{s.get('name')}", str(b.get("name"))): (
            int(b.get("weight", 0)),
            int(b.get("priority", 0)),
        )
        for s in (record or {}).get("services", [])
        for b in s.get("backends", [])
    }


def placement_diff(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> PlacementDiff:
    """What changes from the current record to the new plan (deterministic order)."""
    old_d, new_d = _deployments(before), _deployments(after)
    deployments = [_deployment_diff(k, old_d.get(k), new_d.get(k)) for k in sorted(old_d.keys() | new_d.keys())]
    old_f, new_f = _free_nodes(before), _free_nodes(after)
    pools = [PoolDiff(c, p, old_f.get((c, p)), new_f.get((c, p))) for c, p in sorted(old_f.keys() | new_f.keys())]
    old_b, new_b = _backends(before), _backends(after)
    backends = [BackendDiff(s, b, old_b.get((s, b)), new_b.get((s, b))) for s, b in sorted(old_b.keys() | new_b.keys())]
    changed_pools = tuple(p for p in pools if p.free_before != p.free_after)
    changed_deployments = tuple(d for d in deployments if d.changed)
    return PlacementDiff(
        deployments=changed_deployments,
        pools=changed_pools,
        backends=tuple(b for b in backends if b.before != b.after),
        unchanged_deployments=len(deployments) - len(changed_deployments),
        unchanged_pools=len(pools) - len(changed_pools),
    )


# --- computing a stack's preview ----------------------------------------------------------------


def preview_stack(
    project_dir: Path,
    stack: str,
    *,
    planner: Planner = facade_planner,
    driver: StackDriver | None = None,
    redactor: Redactor | None = None,
) -> StackPreview:
    """Plan the stack with the current record as ``previous`` and diff; add Pulumi's preview when a driver is given.

    The current record is the stack's ``placement`` output when Pulumi can be asked (authoritative: it is
    what the last ``up`` deployed), else the ``modelplane:placement`` config value. ``PlanRejectedError``
    propagates.
    """
    path = stack_file(project_dir, stack)
    config = read_config(path)
    current, source = parse_placement(config.get(PLACEMENT_KEY)), f"config {PLACEMENT_KEY}"
    note: str | None = None if driver else "skipped: no Pulumi CLI on this runner"
    if driver is not None:
        try:
            output = parse_placement(driver.outputs(stack).get("placement"))
        except DriverError as exc:
            note = _one_line(exc, redactor)
        else:
            if output is not None:
                current, source = output, "stack output placement"
    record = planner(config, project_dir=project_dir, source=str(path), previous=current)
    summary: ChangeSummary | None = None
    if driver is not None and note is None:
        try:
            summary = driver.preview(stack)
        except DriverError as exc:
            note = _one_line(exc, redactor)
    return StackPreview(stack, placement_diff(current, record), source, summary, note)


def _one_line(exc: Exception, redactor: Redactor | None) -> str:
    """The error's last non-empty line (the diagnosis), redacted; never a config value."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = f"failed: {lines[-1] if lines else type(exc).__name__}"[:300]
    return (redactor or Redactor()).redact(text)


# --- rendering ----------------------------------------------------------------------------------


def _pools_text(pools: tuple[str, ...]) -> str:
    return f"({', '.join(f'`{p}`' for p in pools) or 'no engines'})"


def _counts_text(counts: tuple[int, int, int] | None) -> str:
    return "—" if counts is None else f"{counts[0]} / {counts[1]} / {counts[2]}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _changes_by_cluster(d: DeploymentDiff) -> dict[str, list[str]]:
    """Per cluster, its counted changes; a move is listed on the cluster it leaves, naming where it goes."""
    changes: Counter[tuple[str, str]] = Counter()
    for cluster, pools in d.added:
        changes[cluster, f"added {_pools_text(pools)}"] += 1
    for cluster, pools in d.removed:
        changes[cluster, f"removed {_pools_text(pools)}"] += 1
    for (cluster, pools), (target, target_pools) in d.moved:
        changes[cluster, f"moved {_pools_text(pools)} to `{target}` {_pools_text(target_pools)}"] += 1
    grouped: dict[str, list[str]] = {}
    for (cluster, change), count in sorted(changes.items()):
        grouped.setdefault(cluster, []).append(f"{count} {change}")
    return grouped


def _deployment_lines(d: DeploymentDiff) -> Iterable[str]:
    counts = f"{_counts_text(d.counts_before)} → {_counts_text(d.counts_after)}"
    yield f"**`{d.key}`** — desired / scheduled / unplaced: {counts}"
    yield from (f"- `{cluster}`: {'; '.join(changes)}" for cluster, changes in _changes_by_cluster(d).items())
    if d.counts_after is None:
        yield "- deployment removed"
    yield from (f"- reason: {_cell(r)}" for r in d.reasons)
    yield ""


def _pool_lines(diff: PlacementDiff) -> Iterable[str]:
    if not diff.pools:
        yield "No change in free nodes."
        return
    yield "| Cluster | Pool | Free nodes before | Free nodes after |"
    yield "|---|---|---:|---:|"
    for p in diff.pools:
        before = "—" if p.free_before is None else str(p.free_before)
        after = "—" if p.free_after is None else str(p.free_after)
        yield f"| `{p.cluster}` | `{p.pool}` | {before} | {after} |"
    if diff.unchanged_pools:
        yield f"\n{diff.unchanged_pools} other pool(s) unchanged."


def _backend_lines(diff: PlacementDiff) -> Iterable[str]:
    if not diff.backends:
        yield "No route or weight changes."
        return
    yield "| Service | Backend | Weight | Priority |"
    yield "|---|---|---|---|"
    for b in diff.backends:
        weight = f"{b.before[0] if b.before else '—'} → {b.after[0] if b.after else '—'}"
        priority = f"{b.before[1] if b.before else '—'} → {b.after[1] if b.after else '—'}"
        yield f"| `{b.service}` | `{b.backend}` | {weight} | {priority} |"


def _pulumi_line(preview: StackPreview) -> str:
    if preview.pulumi is None:
        return f"**Pulumi preview:** {preview.pulumi_note}"
    changes = preview.pulumi.changes
    same = preview.pulumi.ops.get("same", 0)
    if not changes:
        return f"**Pulumi preview:** no changes ({same} unchanged)."
    listed = ", ".join(f"{n} to {op}" for op, n in changes.items())
    return f"**Pulumi preview:** {listed} ({same} unchanged)."


def render_markdown(preview: StackPreview) -> str:
    """A comment-ready section for one stack (a hidden marker lets a bot update it in place)."""
    diff = preview.diff
    lines = [f"<!-- modelplane-preview:{preview.stack} -->", f"### Modelplane preview — stack `{preview.stack}`", ""]
    lines.append(f"Placement compared with the current record ({preview.record_source}).")
    lines.append("")
    lines.append("#### Replicas")
    lines.extend(line for d in diff.deployments for line in _deployment_lines(d))
    if not diff.deployments:
        lines.extend(["No placement changes.", ""])
    if diff.unchanged_deployments:
        lines.extend([f"{diff.unchanged_deployments} deployment(s) unchanged.", ""])
    lines.extend(["#### Free nodes per pool", *_pool_lines(diff), "", "#### Routes", *_backend_lines(diff), ""])
    lines.append(_pulumi_line(preview))
    return "\n".join(lines) + "\n"


def render_rejected(stack: str, problems: Iterable[str]) -> str:
    """The comment section for a stack whose plan is invalid."""
    items = [f"- {_cell(p)}" for p in problems]
    header = [f"<!-- modelplane-preview:{stack} -->", f"### Modelplane preview — stack `{stack}`", ""]
    return "\n".join([*header, "**The plan is invalid; `pulumi up` would fail:**", "", *items]) + "\n"


def to_json(preview: StackPreview) -> dict[str, Any]:
    """The preview as keyed, camelCase data (``modelplane preview`` without ``--markdown``; schema in the README)."""
    diff = preview.diff
    return {
        "stack": preview.stack,
        "recordSource": preview.record_source,
        "diff": {
            "deployments": [_deployment_json(d) for d in diff.deployments],
            "pools": [
                {"cluster": p.cluster, "pool": p.pool, "freeBefore": p.free_before, "freeAfter": p.free_after}
                for p in diff.pools
            ],
            "backends": [_backend_json(b) for b in diff.backends],
            "unchangedDeployments": diff.unchanged_deployments,
            "unchangedPools": diff.unchanged_pools,
        },
        "pulumi": dict(preview.pulumi.ops) if preview.pulumi else None,
        "pulumiNote": preview.pulumi_note,
    }


def _slot_json(slot: Slot) -> dict[str, Any]:
    return {"cluster": slot[0], "pools": list(slot[1])}


def _counts_json(counts: tuple[int, int, int] | None) -> dict[str, int] | None:
    return None if counts is None else dict(zip(("desired", "scheduled", "unplaced"), counts, strict=True))


def _deployment_json(d: DeploymentDiff) -> dict[str, Any]:
    namespace, _, name = d.key.partition("/")
    return {
        "namespace": namespace,
        "name": name,
        "before": _counts_json(d.counts_before),
        "after": _counts_json(d.counts_after),
        "added": [_slot_json(s) for s in d.added],
        "moved": [{"from": _slot_json(a), "to": _slot_json(b)} for a, b in d.moved],
        "removed": [_slot_json(s) for s in d.removed],
        "reasons": list(d.reasons),
    }


def _route_json(values: tuple[int, int] | None) -> dict[str, int] | None:
    return None if values is None else {"weight": values[0], "priority": values[1]}


def _backend_json(b: BackendDiff) -> dict[str, Any]:
    namespace, _, service = b.service.partition("/")
    before, after = _route_json(b.before), _route_json(b.after)
    return {"namespace": namespace, "service": service, "backend": b.backend, "before": before, "after": after}
