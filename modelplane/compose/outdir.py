"""Replacing a render's output directory so that nothing it did not write is touched and nothing is half-written.

The new render is built complete in a hidden staging directory inside DIR (same filesystem, so the moves are
renames), after every check has passed; only then are the previous render's entries moved aside and the new ones
moved in. Whatever DIR holds that a render did not write (a user's folder named like a cluster, a symlink, a file
added inside a rendered cluster directory, a foreign SECRETS.txt) stops the render before anything changes. Each
cluster directory's marker lists the files the render wrote there; that list is what "written by render" means.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MARKER = ".modelplane-render"
MARKER_HEADER = "Written by `modelplane render`; replaced on every render. Files:\n"
STAGING_PREFIX = ".modelplane-staging-"
WRITERS = 8


class OutputError(Exception):
    """DIR cannot take the render; nothing in it was changed."""


def replace_render(out: Path, contents: Mapping[Path, str], owned_file: tuple[str, str]) -> None:
    """Make `out` hold exactly `contents` (paths relative to `out`, first part a cluster directory or a top-level
    file) in place of the previous render. `owned_file` is (name, first line) of a top-level file render writes."""
    _prepare(out)
    tops = sorted({path.parts[0] for path in contents})
    stale = [entry for entry in _previous_render(out, owned_file) if entry.name not in tops]
    for entry in [*stale, *(out / name for name in tops)]:
        _check_replaceable(entry, owned_file)
    staging = _stage(out, contents)
    trash = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
    try:
        for entry in [*stale, *(out / name for name in tops if (out / name).exists())]:
            entry.rename(trash / entry.name)
        for name in tops:
            (staging / name).rename(out / name)
    except OSError as error:
        raise OutputError(f"cannot replace the previous render: {error.strerror or error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(trash, ignore_errors=True)


def marker_text(files: list[str]) -> str:
    return MARKER_HEADER + "".join(f"{name}\n" for name in sorted(files))


def _prepare(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError("exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the directory: {error.strerror or error}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError("the directory is not writable")


def _previous_render(out: Path, owned_file: tuple[str, str]) -> list[Path]:
    """Entries of `out` the previous render wrote: marked cluster directories and the owned top-level file."""
    entries = []
    for entry in sorted(out.iterdir()):
        if entry.is_symlink():
            continue
        if (entry.is_dir() and _written_files(entry) is not None) or _owned(entry, owned_file):
            entries.append(entry)
    return entries


def _check_replaceable(entry: Path, owned_file: tuple[str, str]) -> None:
    """Raise unless `entry` is absent or wholly a previous render's."""
    shown = entry.name
    if entry.is_symlink():
        raise OutputError(f"{shown} is a symlink; render replaces only what it wrote (remove or rename it)")
    if not entry.exists():
        return
    if entry.name == owned_file[0]:
        if not _owned(entry, owned_file):
            raise OutputError(f"{shown} was not written by modelplane render (remove or rename it)")
        return
    written = _written_files(entry) if entry.is_dir() else None
    if written is None:
        raise OutputError(f"{shown} exists and was not written by modelplane render (remove or rename it)")
    foreign = _foreign_files(entry, written)
    if foreign:
        raise OutputError(f"{shown}/{foreign} was not written by modelplane render (move it out first)")


def _written_files(directory: Path) -> set[str] | None:
    """The files a render's marker lists; an empty set for a marker of an earlier version; None when unmarked."""
    marker = directory / MARKER
    if marker.is_symlink() or not marker.is_file():
        return None
    try:
        lines = marker.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    return set(lines[1:]) if lines and f"{lines[0]}\n" == MARKER_HEADER else set()


def _foreign_files(directory: Path, written: set[str]) -> str | None:
    """The first file or symlink below `directory` that the render did not write (None for an old marker)."""
    if not written:
        return None
    for root, dirs, files in os.walk(directory):
        for name in sorted([*files, *(item for item in dirs if (Path(root) / item).is_symlink())]):
            relative = (Path(root) / name).relative_to(directory).as_posix()
            if relative != MARKER and relative not in written:
                return relative
    return None


def _owned(entry: Path, owned_file: tuple[str, str]) -> bool:
    if entry.name != owned_file[0] or entry.is_symlink() or not entry.is_file():
        return False
    try:
        with entry.open(encoding="utf-8") as stream:
            return stream.readline().rstrip("\n") == owned_file[1]
    except (OSError, UnicodeDecodeError):
        return False


def _stage(out: Path, contents: Mapping[Path, str]) -> Path:
    """Every file written below a new hidden directory of `out`; removed again if anything fails."""
    try:
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
    except OSError as error:
        raise OutputError(f"cannot write: {error.strerror or error}") from None
    try:
        for directory in sorted({(staging / path).parent for path in contents}):
            directory.mkdir(parents=True, exist_ok=True)
        # Creating many small files is I/O-bound; threads overlap it (the bytes do not depend on the order).
        with ThreadPoolExecutor(WRITERS) as pool:
            list(pool.map(lambda path: (staging / path).write_text(contents[path], encoding="utf-8"), contents))
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise OutputError(f"cannot write: {error.strerror or error}") from None
    return staging
