"""The Typer application every `modelplane` command registers on."""

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False)
