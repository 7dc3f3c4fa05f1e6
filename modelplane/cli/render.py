"""`modelplane render`: the manifests `pulumi up` would apply, as plain YAML per cluster, from the same composition."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelplane.api.errors import InvalidInputError, Origin, Problem
from modelplane.cli.app import app
from modelplane.cli.inputs import fail, load_or_exit, notice, read_previous, record_source
from modelplane.cli.plan import PathsArg, PreviousOpt, ProjectOpt, StackOpt
from modelplane.compose.fleet import compose_fleet
from modelplane.compose.outdir import OutputError
from modelplane.compose.render import write
from modelplane.planning import plan as make_plan
from modelplane.planning import unrouted_services

OutOpt = Annotated[Path, typer.Option("--out", help="Output directory: one sub-directory per cluster.")]
AddressOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--gateway-address",
        help="CLUSTER=ADDRESS of a workload cluster's gateway, so fleet routes can reach its replicas (repeatable).",
    ),
]


@app.command()
def render(
    out: OutOpt,
    paths: PathsArg = None,
    stack: StackOpt = None,
    previous: PreviousOpt = None,
    project_dir: ProjectOpt = Path(),
    gateway_address: AddressOpt = None,
) -> None:
    """Plan, then write each cluster's manifests under OUT/<cluster>/; exit 2 on invalid input, as `plan`."""
    inputs = load_or_exit(list(paths or []), stack, project_dir)
    record_in = read_previous(previous, inputs.previous)
    addresses = _addresses(gateway_address or [], set(inputs.fleet.clusters))
    try:
        placement = make_plan(inputs.fleet, record_in, source=record_source(previous, stack, project_dir))
    except InvalidInputError as error:
        fail(error.problems)
    composition = compose_fleet(inputs.fleet, placement, gateway_addresses=addresses)
    notice(placement.notices)
    notice(composition.notices)
    for line in unrouted_services(inputs.fleet, placement):
        typer.echo(f"warning: {line}", err=True)
    try:
        written = write(composition, out)
    except OutputError as error:
        fail([str(Problem(Origin(f"--out {out}"), "", "", "", f"{error}; nothing was changed"))])
    typer.echo(f"wrote {len(written)} files for {len(composition.clusters())} cluster(s) to {out}")


def _addresses(values: list[str], clusters: set[str]) -> dict[str, str]:
    """Parse `CLUSTER=ADDRESS` pairs; a malformed pair or an unknown cluster is an input problem."""
    problems: list[str] = []
    addresses: dict[str, str] = {}
    for value in values:
        cluster, _, address = value.partition("=")
        if not cluster or not address:
            problems.append(_problem(f"--gateway-address {value!r}: expected CLUSTER=ADDRESS"))
        elif cluster not in clusters:
            problems.append(_problem(f"--gateway-address {value!r}: InferenceCluster {cluster!r} not found"))
        else:
            addresses[cluster] = address
    if problems:
        fail(problems)
    return addresses


def _problem(message: str) -> str:
    return str(Problem(Origin("command line"), "", "", "", message))
