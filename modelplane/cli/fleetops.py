"""`modelplane cordon / uncordon / drain CLUSTER --stack S`: close a cluster to new replicas, or move its replicas
elsewhere without dropping serving capacity (make-before-break)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelplane.api.errors import InvalidInputError
from modelplane.cli.app import app
from modelplane.cli.inputs import fail
from modelplane.operations.drain import DrainError, cordon, drain
from modelplane.reconcile.driver import AutomationStackDriver, DriverError
from modelplane.reconcile.logs import Redactor
from modelplane.reconcile.stackfiles import StackFileError

ClusterArg = Annotated[str, typer.Argument(help="The InferenceCluster.")]
StackOpt = Annotated[str, typer.Option("--stack", help="The stack whose config to edit.")]
ProjectOpt = Annotated[Path, typer.Option("--project-dir", help="The Pulumi project directory.")]


def _progress(line: str) -> None:
    typer.echo(line, err=True)


@app.command("cordon")
def cordon_command(cluster: ClusterArg, stack: StackOpt, project_dir: ProjectOpt = Path()) -> None:
    """No new replica goes to CLUSTER (its replicas stay); recorded in the stack config: `pulumi up` applies it."""
    _edit(cluster, stack, project_dir, on=True)


@app.command("uncordon")
def uncordon_command(cluster: ClusterArg, stack: StackOpt, project_dir: ProjectOpt = Path()) -> None:
    """Open CLUSTER to new replicas again."""
    _edit(cluster, stack, project_dir, on=False)


def _edit(cluster: str, stack: str, project_dir: Path, *, on: bool) -> None:
    try:
        changed = cordon(project_dir, stack, cluster, on=on)
    except InvalidInputError as error:
        fail(error.problems)
    except StackFileError as error:
        fail([str(error)])
    except DrainError as error:
        fail([f"{'cordon' if on else 'uncordon'}: {error}"])
    state = "cordoned" if on else "open to new replicas"
    typer.echo(f"cluster {cluster} {'is now' if changed else 'was already'} {state} in stack {stack}")


@app.command("drain")
def drain_command(
    cluster: ClusterArg,
    stack: StackOpt,
    project_dir: ProjectOpt = Path(),
    allow_unplaced: Annotated[
        bool, typer.Option("--allow-unplaced", help="Drain even if the rest of the fleet cannot hold every replica.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the replacements to be Ready.")] = 900.0,
) -> None:
    """Move CLUSTER's replicas elsewhere: replacements first, the old ones only once those are Ready. Runs
    `pulumi up` twice; re-running it after an interruption continues where it stopped."""
    driver = AutomationStackDriver(project_dir, Redactor())

    def up() -> dict[str, Any]:
        return driver.up(stack).outputs

    try:
        drain(
            project_dir,
            stack,
            cluster,
            up,
            lambda: driver.outputs(stack),
            lambda outputs: dict(outputs.get("kubeconfigs") or {}),
            allow_unplaced=allow_unplaced,
            timeout=timeout,
            progress=_progress,
        )
    except InvalidInputError as error:
        fail(error.problems)
    except StackFileError as error:
        fail([str(error)])
    except (DrainError, DriverError) as error:
        fail([f"drain: {error}"])
