"""Stack files on disk: locating, round-trip editing, the inputs fingerprint and the paths to watch."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.comments import CommentedMap

from modelplane.api.loading import stack_source

PLACEMENT_KEY = "modelplane:placement"
MANIFESTS_KEY = "modelplane:manifests"
DEPLOYMENTS_KEY = "modelplane:deployments"
_MANIFEST_SUFFIXES = (".yaml", ".yml")


class StackFileError(Exception):
    """A stack file is missing, unreadable or not shaped like a Pulumi stack file."""


def _safe_load(path: Path) -> Any:
    try:
        return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StackFileError(f"{path}: cannot read: {exc.strerror}") from exc
    except YAMLError as exc:
        raise StackFileError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from exc


def _project_settings(project_dir: Path) -> dict[str, Any]:
    path = project_dir / "Pulumi.yaml"
    settings = _safe_load(path) if path.exists() else {}
    return settings if isinstance(settings, dict) else {}


def stack_file(project_dir: Path, stack: str) -> Path:
    """``<stackConfigDir>/Pulumi.<stack>.yaml`` as Pulumi.yaml declares it (the loader's rule, so both agree)."""
    return project_dir / stack_source(project_dir, stack)


def project_virtualenv(project_dir: Path) -> Path | None:
    """The virtualenv Pulumi.yaml's python runtime names, if any."""
    runtime = _project_settings(project_dir).get("runtime")
    options = runtime.get("options", {}) if isinstance(runtime, dict) else {}
    venv = options.get("virtualenv") if isinstance(options, dict) else None
    return project_dir / str(venv) if venv else None


def plain(node: Any) -> Any:
    """ruamel round-trip nodes to plain dict/list/str/int/float/bool (what the planner expects)."""
    if isinstance(node, Mapping):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    for kind in (int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return str(node)


@dataclass
class StackDocument:
    """A stack file loaded round-trip, so an edit keeps comments, order and quoting."""

    path: Path
    data: CommentedMap

    @classmethod
    def load(cls, path: Path) -> StackDocument:
        if not path.exists():
            raise StackFileError(f"{path}: no such stack file")
        try:
            data = _round_trip().load(path.read_text(encoding="utf-8"))
        except YAMLError as exc:
            raise StackFileError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from exc
        if data is None:
            data = CommentedMap()
        if not isinstance(data, CommentedMap) or not isinstance(data.get("config", {}), Mapping):
            raise StackFileError(f"{path}: expected a mapping with a 'config' mapping")
        return cls(path, data)

    @property
    def config(self) -> CommentedMap:
        """The ``config:`` mapping (created empty when absent)."""
        return self.data.setdefault("config", CommentedMap())

    def plain_config(self) -> dict[str, Any]:
        return plain(self.config)

    def save(self) -> None:
        """Write atomically (temp file + rename) so watchers and readers never see half a file."""
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            _round_trip().dump(self.data, fh)
        shutil.copymode(self.path, tmp)
        Path(tmp).replace(self.path)


def _round_trip() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long strings (CEL selectors, JSON placement records)
    yaml.indent(mapping=2, sequence=4, offset=2)  # the layout `pulumi config set` writes
    return yaml


def read_config(path: Path) -> dict[str, Any]:
    """The plain ``config:`` mapping of a stack file."""
    data = _safe_load(path) if path.exists() else None
    if data is None:
        raise StackFileError(f"{path}: no such stack file")
    config = (data.get("config") or {}) if isinstance(data, dict) else None
    if not isinstance(config, dict):
        raise StackFileError(f"{path}: expected a mapping with a 'config' mapping")
    return config


def parse_placement(value: Any) -> dict[str, Any] | None:
    """The placement record from config: stored as JSON text (``pulumi config set``) or as an object."""
    if value in (None, ""):
        return None
    record = json.loads(value) if isinstance(value, str) else value
    if not isinstance(record, dict):
        raise StackFileError(f"{PLACEMENT_KEY}: expected a JSON object")
    return record


def dump_placement(record: Mapping[str, Any]) -> str:
    """Canonical JSON text for the record, so equal records compare equal as text."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def manifest_files(project_dir: Path, config: Mapping[str, Any]) -> list[Path]:
    """The YAML files ``modelplane:manifests`` lists (directories expanded, sorted)."""
    entries = config.get(MANIFESTS_KEY) or []
    files: list[Path] = []
    for entry in entries if isinstance(entries, list) else [entries]:
        path = project_dir / str(entry)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in _MANIFEST_SUFFIXES and p.is_file()))
        else:
            files.append(path)
    return files


def inputs_fingerprint(project_dir: Path, stack: str) -> str:
    """A digest of what the stack is built from: its config (minus the placement record) and manifests.

    The placement record is excluded because the service itself writes it after each ``up``; including
    it would make every successful run trigger the next one.
    """
    digest = hashlib.sha256()
    path = stack_file(project_dir, stack)
    try:
        config = read_config(path)
    except StackFileError:
        # Half-edited or missing: digest the bytes so a later fix still registers as a change.
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
        config = {}
    config = {k: v for k, v in config.items() if k != PLACEMENT_KEY}
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for file in manifest_files(project_dir, config):
        digest.update(str(file).encode())
        digest.update(file.read_bytes() if file.is_file() else b"<missing>")
    return digest.hexdigest()


def watch_targets(project_dir: Path, stack: str) -> dict[Path, bool]:
    """Directories to watch for the stack's inputs, each mapped to whether to watch recursively."""
    path = stack_file(project_dir, stack)
    targets = {path.parent.resolve(): False}
    try:
        config = read_config(path)
    except StackFileError:
        config = {}
    entries = config.get(MANIFESTS_KEY) or []
    for entry in entries if isinstance(entries, list) else [entries]:
        target = (project_dir / str(entry)).resolve()
        if target.is_dir():
            targets[target] = True
        elif target.parent.is_dir():
            targets.setdefault(target.parent, False)
    return targets


@dataclass(frozen=True)
class StackInputs:
    """One stack's input files, as the reconcile core sees them."""

    project_dir: Path
    stack: str

    @property
    def path(self) -> Path:
        return stack_file(self.project_dir, self.stack)

    def fingerprint(self) -> str:
        return inputs_fingerprint(self.project_dir, self.stack)

    def watch_targets(self) -> dict[Path, bool]:
        return watch_targets(self.project_dir, self.stack)

    def lock(self) -> AbstractContextManager[None]:
        return stack_file_lock(self.path)


@contextmanager
def stack_file_lock(path: Path) -> Iterator[None]:
    """Serialise writers of one stack file (scale edits vs. placement write-back), across processes too."""
    lock_dir = Path(tempfile.gettempdir()) / "modelplane-locks"
    lock_dir.mkdir(exist_ok=True)
    name = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24]
    with (lock_dir / f"{name}.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
