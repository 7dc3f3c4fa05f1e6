"""Input handling every command shares: load, validate, read --previous; problems exit 2 without a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import typer

from modelplane.api.documents import InputError, Limits, json_documents, read_text, yaml_documents
from modelplane.api.errors import InvalidInputError, problem_line
from modelplane.api.loading import PLACEMENT_KEY, StackInputs, stack_source, stack_warnings
from modelplane.scheduling.validation import load_inputs

EXIT_INVALID = 2
COMMAND_LINE = "command line"  # where a problem of the arguments themselves is


def fail(problems: list[str]) -> NoReturn:
    for line in problems:
        typer.echo(line, err=True)
    raise typer.Exit(EXIT_INVALID)


def load_or_exit(paths: list[Path], stack: str | None, project_dir: Path) -> StackInputs:
    if not paths and not stack:
        fail([problem_line(COMMAND_LINE, "give manifest PATHs or --stack NAME")])
    if stack:
        warn(stack_warnings(project_dir, stack))
    try:
        return load_inputs(paths, stack, project_dir)
    except InvalidInputError as error:
        fail(error.problems)


def read_previous(path: Path | None, default: dict[str, Any] | None) -> dict[str, Any] | None:
    """The --previous record (a `plan -o json` output), else the stack's own record."""
    if path is None:
        return default
    try:
        limits = Limits.from_env()
        text = read_text(path, limits)
        documents = json_documents(text, limits) if path.suffix == ".json" else yaml_documents(text, limits)
    except OSError as error:
        fail([_problem(path, f"cannot read the previous placement: {error.strerror or error}")])
    except InputError as error:
        fail([_problem(path, f"cannot read the previous placement: {error}")])
    if len(documents) != 1 or not isinstance(documents[0], dict):
        fail([_problem(path, "not a placement record (expected one JSON object)")])
    return documents[0]


def record_source(previous: Path | None, stack: str | None, project_dir: Path) -> str:
    """Where the previous placement record came from, as problems name it."""
    if previous is not None:
        return str(previous)
    return f"{stack_source(project_dir, stack)}:{PLACEMENT_KEY}" if stack else "previous"


def _problem(path: Path, message: str) -> str:
    return problem_line(str(path), message)


def warn(lines: list[str]) -> None:
    for line in lines:
        typer.echo(f"warning: {line}", err=True)


def notice(lines: tuple[str, ...] | list[str]) -> None:
    for line in lines:
        typer.echo(f"notice: {line}", err=True)
