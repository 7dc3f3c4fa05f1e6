"""`modelplane status --stack S`: what actually runs, read from the clusters and joined with the placement record."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from modelplane.api.errors import problem_line
from modelplane.cli.app import app
from modelplane.cli.console import console, table
from modelplane.cli.inputs import COMMAND_LINE, fail, load_or_exit
from modelplane.operations.access import AccessError, kubeconfig_contexts, stack_facts
from modelplane.operations.observe import snapshots
from modelplane.operations.status import fleet_status


@app.command()
def status(
    stack: Annotated[str, typer.Option("--stack", help="The stack whose fleet to report on.")],
    project_dir: Annotated[Path, typer.Option("--project-dir", help="The Pulumi project directory.")] = Path(),
    output: Annotated[str, typer.Option("-o", "--output", help="table or json.")] = "table",
    kubeconfig: Annotated[
        Path | None,
        typer.Option("--kubeconfig", help="Contexts named after the clusters, instead of the stack's kubeconfigs."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each cluster (read in parallel).")] = 10.0,
    watch: Annotated[float | None, typer.Option(help="Report again every SECONDS until interrupted.")] = None,
) -> None:
    """Per deployment desired/placed/ready, per replica its pods, devices and why it is not ready, per service its
    backends; unreachable clusters are reported, never waited for past --timeout."""
    if output not in ("table", "json"):
        fail([problem_line(COMMAND_LINE, f"{output!r} is not one of table, json", "--output")])
    inputs = load_or_exit([], stack, project_dir)
    while True:
        report = _report(stack, project_dir, inputs.fleet, kubeconfig, timeout)
        if output == "json":
            typer.echo(json.dumps(report, indent=2, sort_keys=True))
        else:
            _print_tables(report)
        if watch is None:
            return
        time.sleep(watch)


def _report(stack: str, project_dir: Path, fleet: Any, kubeconfig: Path | None, timeout: float) -> dict[str, Any]:
    try:
        facts = stack_facts(project_dir, stack)
        kubeconfigs = kubeconfig_contexts(kubeconfig, sorted(fleet.clusters)) if kubeconfig else facts.kubeconfigs
    except AccessError as error:
        fail([f"status: {error}"])
    report = fleet_status(fleet, facts.record, snapshots(kubeconfigs, timeout))
    return {"stack": stack, **report}


def _print_tables(report: dict[str, Any]) -> None:
    clusters = table("Clusters", ("CLUSTER", "REACHABLE", "ERROR"))
    for name, entry in report["clusters"].items():
        clusters.add_row(name, "yes" if entry["reachable"] else "NO", entry.get("error", "-"))
    columns = ("DEPLOYMENT", "DESIRED", "PLACED", "READY", "REPLICA", "POOLS", "PODS READY", "REASON")
    deployments = table("Deployments", columns)
    for key, entry in report["deployments"].items():
        rows = list(entry["replicas"].items()) or [("-", None)]
        for index, (where, replica) in enumerate(rows):
            counts = (str(entry["desired"]), str(entry["placed"]), str(entry["ready"])) if index == 0 else ("",) * 3
            if replica is None:
                deployments.add_row(key, *counts, "-", "-", "-", entry["conditions"][0]["message"])
                continue
            pods = f"{sum(1 for pod in replica['pods'] if pod['ready'])}/{len(replica['pods'])}"
            reason = "-" if replica["ready"] else replica.get("reason", "")
            deployments.add_row(key if index == 0 else "", *counts, where, ",".join(replica["pools"]), pods, reason)
    services = table("Services", ("SERVICE", "BACKEND", "KIND", "WEIGHT", "PRIORITY", "READY"))
    for key, entry in report["services"].items():
        for index, (name, backend) in enumerate(entry["backends"].items()):
            ready = "external" if backend["ready"] is None else ("yes" if backend["ready"] else "NO")
            services.add_row(
                key if index == 0 else "",
                name,
                backend["kind"],
                str(backend["weight"]),
                str(backend["priority"]),
                ready,
            )
    out = console()
    for section in (clusters, deployments, services):
        out.print(section)
