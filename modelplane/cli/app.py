"""The Typer application every `modelplane` command registers on."""

from importlib.metadata import version
from typing import Annotated

import typer

# Sub-commands and sub-apps inherit the help option names from the root context.
app = typer.Typer(no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"modelplane {version('modelplane')}")
        raise typer.Exit()


@app.callback()
def root(
    _: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Plan, render and operate fleets of GPU inference clusters as a Pulumi program."""
