"""`modelplane plan`: where every replica goes, and why, without touching any cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from modelplane.api.errors import InvalidInputError, problem_line
from modelplane.api.fleet import Fleet
from modelplane.cli.app import app
from modelplane.cli.console import console, table
from modelplane.cli.inputs import COMMAND_LINE, fail, load_or_exit, notice, read_previous, record_source
from modelplane.compose.cache import staging
from modelplane.planning import plan as make_plan
from modelplane.planning import plan_record

PathsArg = Annotated[list[Path] | None, typer.Argument(help="Manifest files or directories.", show_default=False)]
StackOpt = Annotated[str | None, typer.Option("--stack", help="Plan the stack's config (stacks/Pulumi.<NAME>.yaml).")]
PreviousOpt = Annotated[Path | None, typer.Option("--previous", help="An earlier `plan -o json` output to keep.")]
ProjectOpt = Annotated[Path, typer.Option("--project-dir", help="The Pulumi project directory.")]


@app.command()
def plan(
    paths: PathsArg = None,
    stack: StackOpt = None,
    previous: PreviousOpt = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table, json or yaml.")] = "table",
    explain: Annotated[bool, typer.Option("--explain", help="Say why per replica and per rejected cluster.")] = False,
    project_dir: ProjectOpt = Path(),
) -> None:
    """Plan placement: exit 0 when the input is valid (even if not every replica fits), 2 when it is not."""
    if output not in ("table", "json", "yaml"):
        fail([problem_line(COMMAND_LINE, f"{output!r} is not one of table, json, yaml", "--output")])
    inputs = load_or_exit(list(paths or []), stack, project_dir)
    record_in = read_previous(previous, inputs.previous)
    try:
        placement = make_plan(
            inputs.fleet, record_in, explain=explain, source=record_source(previous, stack, project_dir)
        )
    except InvalidInputError as error:
        fail(error.problems)
    notice(placement.notices)
    record = plan_record(inputs.fleet, placement, explain=explain)
    if output == "json":
        typer.echo(json.dumps(record, indent=2))
    elif output == "yaml":
        typer.echo(yaml.safe_dump(record, sort_keys=False), nl=False)
    else:
        _print_table(inputs.fleet, record, explain=explain)


def _print_table(fleet: Fleet, record: dict[str, Any], *, explain: bool) -> None:
    deployments = table("Deployments", ("DEPLOYMENT", "DESIRED", "SCHEDULED", "REPLICAS", "REASONS"))
    for item in record["deployments"]:
        replicas = "\n".join(_replica_line(replica, explain=explain) for replica in item["replicas"]) or "-"
        deployments.add_row(
            f"{item['namespace']}/{item['name']}",
            str(item["desired"]),
            str(item["scheduled"]),
            replicas,
            "\n".join(item["reasons"] + _rejections(item, explain=explain)) or "-",
        )
    pools = table("Pools", ("CLUSTER", "POOL", "NODES", "USED", "FREE"))
    for cluster in record["clusters"]:
        for pool in cluster["pools"]:
            free = pool["nodes"] - pool["used"]
            pools.add_row(cluster["name"], pool["name"], str(pool["nodes"]), str(pool["used"]), str(free))
    out = console()
    out.print(deployments)
    out.print(pools)
    for optional in (_services_table(record), _caches_table(fleet)):
        if optional.row_count:
            out.print(optional)


def _services_table(record: dict[str, Any]) -> Table:
    services = table("Services", ("SERVICE", "BACKEND", "WEIGHT", "PRIORITY"))
    for service in record["services"]:
        key = f"{service['namespace']}/{service['name']}"
        if not service["backends"]:
            services.add_row(key, "- (no backend)", "-", "-")
        for index, backend in enumerate(service["backends"]):
            name, weight, priority = backend["name"], str(backend["weight"]), str(backend["priority"])
            services.add_row(key if index == 0 else "", name, weight, priority)
    return services


def _caches_table(fleet: Fleet) -> Table:
    """Each ModelCache and the clusters that stage it (the same matching `render` and `pulumi up` use)."""
    caches = table("Caches", ("CACHE", "MODEL", "CLUSTER", "STORAGE CLASS"))
    for cache in fleet.caches.values():
        source = cache.spec.hugging_face
        model = "-" if source is None else source.repo + (f"@{source.revision}" if source.revision else "")
        staged, _ = staging(fleet, cache)
        for index, (cluster, storage) in enumerate(staged or [("- (no cluster matched)", "-")]):
            caches.add_row(cache.key if index == 0 else "", model if index == 0 else "", cluster, storage)
    return caches


def _replica_line(replica: dict[str, Any], *, explain: bool) -> str:
    engines = ", ".join(f"{engine['name']}→{engine['pool']}" for engine in replica["engines"])
    line = f"{replica['cluster']}/{replica['index']} ({engines})"
    return f"{line}\n  {replica['why']}" if explain else line


def _rejections(item: dict[str, Any], *, explain: bool) -> list[str]:
    if not explain:
        return []
    return [f"not on {entry['cluster']}: {entry['reason']}" for entry in item.get("rejected", [])]
