"""Tables for people: as wide as the terminal; a fixed width when piped, so the bytes do not depend on the runner."""

from __future__ import annotations

import shutil
from collections.abc import Iterable

from rich.console import Console
from rich.table import Table

PIPED_WIDTH = 120


def console() -> Console:
    """`COLUMNS` when set, else the terminal's width, else (stdout is not a terminal) 120 columns."""
    return Console(width=shutil.get_terminal_size((PIPED_WIDTH, 24)).columns, soft_wrap=False)


def table(title: str, columns: Iterable[str]) -> Table:
    """A titled table whose cells wrap, and fold words too long for their column, rather than cut them off."""
    result = Table(title=title, title_justify="left")
    for column in columns:
        result.add_column(column, overflow="fold")
    return result
