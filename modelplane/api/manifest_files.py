"""Which files a manifest path stands for, and which paths a stack file may name.

`modelplane:manifests` comes from the stack file, which any pull request may edit, so its entries resolve inside the
project directory (symlinks and `..` included) unless whoever runs Modelplane allows more directories with
`MODELPLANE_MANIFEST_ROOTS`. Paths given on the command line are the user's own and are read as given.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
MANIFEST_ROOTS_ENV = "MODELPLANE_MANIFEST_ROOTS"


class OutsideProjectError(ValueError):
    """A `modelplane:manifests` entry that leads outside the directories it may read."""


def manifest_files(directory: Path) -> list[Path]:
    """Every `*.yaml`, `*.yml` and `*.json` file below `directory`, in sorted order."""
    return sorted(item for item in directory.rglob("*") if item.suffix in MANIFEST_SUFFIXES and item.is_file())


def allowed_roots(project_dir: Path, environ: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """The project directory, and the absolute directories `MODELPLANE_MANIFEST_ROOTS` lists (':'-separated)."""
    environ = os.environ if environ is None else environ
    extra = [Path(item) for item in environ.get(MANIFEST_ROOTS_ENV, "").split(os.pathsep) if item]
    return (project_dir.resolve(), *(root.resolve() for root in extra if root.is_absolute()))


def contained(path: Path, roots: tuple[Path, ...]) -> Path:
    """`path` resolved; raises OutsideProjectError when it is not below one of `roots`."""
    resolved = path.resolve()
    if not any(resolved.is_relative_to(root) for root in roots):
        raise OutsideProjectError(
            f"resolves to {resolved}, outside the project directory; "
            f"allow other directories with {MANIFEST_ROOTS_ENV}=DIR[{os.pathsep}DIR...]"
        )
    return resolved
