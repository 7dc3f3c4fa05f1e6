"""The `modelplane` command line: every command registers itself on the shared Typer app."""

from modelplane.cli import fleetops, plan, reconcile, render, sandbox, status, synth  # noqa: F401  (registers commands)
from modelplane.cli.app import app


def main() -> None:
    app()
