"""Input handling every command shares: load, validate, read --previous; problems exit 2 without a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import typer
import yaml

from modelplane.api.errors import InvalidInputError, Origin, Problem
from modelplane.api.loading import StackInputs
from modelplane.scheduling.validation import load_inputs

EXIT_INVALID = 2


def fail(problems: list[str]) -> NoReturn:
    for line in problems:
        typer.echo(line, err=True)
    raise typer.Exit(EXIT_INVALID)


def load_or_exit(paths: list[Path], stack: str | None, project_dir: Path) -> StackInputs:
    if not paths and not stack:
        fail(["- - -: give manifest PATHs or --stack NAME"])
    try:
        return load_inputs(paths, stack, project_dir)
    except InvalidInputError as error:
        fail(error.problems)


def read_previous(path: Path | None, default: dict[str, Any] | None) -> dict[str, Any] | None:
    """The --previous record (a `plan -o json` output), else the stack's own record."""
    if path is None:
        return default
    try:
        loaded = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
    except (OSError, ValueError, yaml.YAMLError) as error:
        fail([str(Problem(Origin(str(path)), "", "", "", f"cannot read the previous placement: {error}"))])
    if not isinstance(loaded, dict):
        fail([str(Problem(Origin(str(path)), "", "", "", "not a placement record (expected a JSON object)"))])
    return loaded


def notice(lines: tuple[str, ...] | list[str]) -> None:
    for line in lines:
        typer.echo(f"notice: {line}", err=True)
