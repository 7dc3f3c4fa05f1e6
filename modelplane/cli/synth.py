"""`modelplane synth`: run the Pulumi program offline under the SDK's mock monitor and print what it registers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelplane.api.errors import InvalidInputError
from modelplane.api.loading import load_stack
from modelplane.cli.app import app
from modelplane.reconcile.stackfiles import StackFileError, read_config, stack_file

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

    values, secret_keys = mockview.config_values(_stack_config(project_dir, stack))
    placeholders = _placeholder_secrets(project_dir, stack, values, secret_keys)
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
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


def _placeholder_secrets(project_dir: Path, stack: str, values: dict[str, str], secret_keys: list[str]) -> list[str]:
    """Secret config the stack needs but does not set gets a placeholder, so the tree shows what `up` would do."""
    import json

    from modelplane.components.program import required_secrets
    from modelplane.compose.fleet import compose_fleet
    from modelplane.planning import plan

    try:
        inputs = load_stack(project_dir, stack)
        composition = compose_fleet(inputs.fleet, plan(inputs.fleet, inputs.previous))
    except InvalidInputError:
        return []  # the program run reports the problems
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
