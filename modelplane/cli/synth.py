"""`modelplane synth`: run the Pulumi program offline under the SDK's mock monitor and print what it registers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelplane.api.errors import InvalidInputError
from modelplane.api.loading import ROLE_KEY, StackInputs
from modelplane.cli.app import app
from modelplane.cli.inputs import fail, load_or_exit, record_source
from modelplane.reconcile.stackfiles import StackFileError, read_config, stack_file
from modelplane.scheduling.placement import Placement

BANNER = "OFFLINE MOCK VIEW — not a pulumi preview: nothing was contacted; outputs and addresses are fake."


@app.command()
def synth(
    stack: Annotated[str, typer.Option("--stack", help="Stack name (reads its stack settings file).")] = "dev",
    project_dir: Annotated[Path, typer.Option("--project-dir", help="The Pulumi project directory.")] = Path(),
) -> None:
    """Print the resource tree (type, name, parent, provider) `pulumi up` would register, from a mock run."""
    # Imported here: the Pulumi SDKs are large and other commands do not need them.
    from modelplane.components import mockview
    from modelplane.components.fleet import main

    config = _stack_config(project_dir, stack)
    inputs = None if config.get(ROLE_KEY) == "cluster" else _checked_inputs(project_dir, stack)
    values, secret_keys = mockview.config_values(config)
    placeholders = _placeholder_secrets(inputs, values, secret_keys) if inputs else []
    run = mockview.run_program(main, values, stack=stack, secret_keys=secret_keys, project_dir=project_dir)
    typer.echo(BANNER)
    for line in placeholders:
        typer.echo(f"placeholder: {line}")
    typer.echo("\n".join(mockview.tree(run)))
    for level, message in run.logs:
        typer.echo(f"{level}: {message}", err=True)
    if run.error is not None:
        typer.echo(f"error: {run.error}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{len(run.registrations)} resources; outputs: {', '.join(sorted(run.outputs))}")


def _stack_config(project_dir: Path, stack: str) -> dict:
    try:
        return read_config(stack_file(project_dir, stack))
    except StackFileError as error:
        fail([str(error)])


def _checked_inputs(project_dir: Path, stack: str) -> tuple[StackInputs, Placement]:
    """The stack's inputs and plan, checked as `plan` checks them: invalid input exits 2 in the same format, before
    the program runs (a cluster stack's fleet comes from its fleet stack, which the program reads)."""
    from modelplane.planning import plan

    inputs = load_or_exit([], stack, project_dir)
    try:
        return inputs, plan(inputs.fleet, inputs.previous, source=record_source(None, stack, project_dir))
    except InvalidInputError as error:
        fail(error.problems)


def _placeholder_secrets(
    checked: tuple[StackInputs, Placement], values: dict[str, str], secret_keys: list[str]
) -> list[str]:
    """Secret config the stack needs but does not set gets a placeholder, so the tree shows what `up` would do."""
    import json

    from modelplane.components.program import required_secrets
    from modelplane.compose.fleet import compose_fleet

    inputs, placement = checked
    composition = compose_fleet(inputs.fleet, placement)
    secrets = json.loads(values.get("modelplane:secrets", "{}"))
    missing = [
        ref
        for ref in required_secrets(inputs.fleet, composition, set(inputs.fleet.clusters))
        if ref.key not in secrets.get(ref.name, {})
    ]
    for ref in missing:
        secrets.setdefault(ref.name, {})[ref.key] = "placeholder"
    if missing:
        values["modelplane:secrets"] = json.dumps(secrets)
        secret_keys.append("modelplane:secrets")
    return [
        f"{ref.needed_by}: modelplane:secrets.{ref.name}.{ref.key} is not set (`pulumi up` would stop; "
        f"run: {ref.set_command})"
        for ref in missing
    ]
