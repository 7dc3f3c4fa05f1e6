"""Stack files on disk: locating, in-place editing, the inputs fingerprint and the paths to watch.

Stack files are read with the same bounded loader as every other input (modelplane.api.documents). An edit
(`modelplane scale`) splices the new value into the file's text at the position libyaml reports for it, so every
other byte (comments, quoting, indentation, key order) stays as it was; the edited text is parsed again and must
give exactly the intended config before it is written, atomically, through a symlink to its target.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelplane import collector
from modelplane.api.documents import (
    InputError,
    Limits,
    Location,
    json_documents,
    located_documents,
    read_text,
    yaml_documents,
)
from modelplane.api.loading import missing_stack_file, stack_config, stack_source
from modelplane.api.manifest_files import OutsideProjectError, allowed_roots, contained
from modelplane.api.manifest_files import manifest_files as directory_files

PLACEMENT_KEY = "modelplane:placement"
MANIFESTS_KEY = "modelplane:manifests"
DEPLOYMENTS_KEY = "modelplane:deployments"


class StackFileError(Exception):
    """A stack file is missing, unreadable or not shaped like a Pulumi stack file."""


def _load_settings(path: Path, locate: tuple[str, ...] = ()) -> tuple[str, Any, Location]:
    """(text, the one parsed document, where `locate` sits in it) of a settings file; raises StackFileError."""
    try:
        limits = Limits.from_env()
        text = read_text(path, limits)
        with collector.paused():
            documents, location = located_documents(text, limits, unlimited_strings_at=2, locate=locate)
    except FileNotFoundError:
        raise StackFileError(f"{path}: {missing_stack_file(path)}") from None
    except OSError as exc:
        raise StackFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except InputError as exc:
        raise StackFileError(f"{path}: {exc.message}") from None
    if len(documents) > 1:
        raise StackFileError(f"{path}: holds {len(documents)} YAML documents; a settings file holds one")
    return text, documents[0] if documents else None, location


def _project_settings(project_dir: Path) -> dict[str, Any]:
    path = project_dir / "Pulumi.yaml"
    settings = _load_settings(path)[1] if path.exists() else {}
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


@dataclass(frozen=True)
class StackDocument:
    """A stack file as its text and its plain ``config:`` mapping, and where the value to edit sits in the text."""

    path: Path
    text: str
    config: dict[str, Any]
    edit: tuple[str, ...] = ()
    location: Location = field(default_factory=Location)

    @classmethod
    def load(cls, path: Path, edit: tuple[str, ...] = ()) -> StackDocument:
        """Read `path`; `edit` (keys below `config`) is located in the same pass, for `with_value`."""
        text, settings, location = _load_settings(path, ("config", *edit) if edit else ())
        return cls(path, text, _config_of(path, settings), edit, location)

    def with_value(self, keys: tuple[str, ...], value: Any) -> StackDocument:
        """The document with ``config.<keys>`` set to ``value`` (None removes the entry), only that entry's text
        changed: the rest of the file stays byte for byte. The value is written as JSON, which is YAML.

        The edited text must parse to exactly the intended config (checked by parsing it again, except for the
        common edit of a plain number into a plain scalar); otherwise StackFileError, and nothing is written.
        """
        found = self.location if keys == self.edit else _locate(self.path, self.text, keys)
        text = spliced(self.text, found, keys[-1], value, f"{self.path}: {'.'.join(keys)}")
        expected = _with(self.config, keys, value)
        simple = found.value_kind == "scalar" and isinstance(value, int) and not isinstance(value, bool)
        if not simple:
            documents = yaml_documents(text, Limits.from_env(), unlimited_strings_at=2)
            if _config_of(self.path, documents[0] if documents else None) != expected:
                raise StackFileError(
                    f"{self.path}: {'.'.join(keys)} cannot be edited in place (anchors or aliases?); nothing changed"
                )
        return StackDocument(self.path, text, expected)

    def save(self) -> None:
        """Write atomically (temp file + rename in the target's directory), through a symlink to its target, so
        watchers and readers never see half a file and a symlinked stack file stays a symlink."""
        write_atomically(self.path, self.text)


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` (temp file + rename in the target's directory), through a symlink to its target;
    raises StackFileError, and the file is then as it was."""
    target = path.resolve()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise StackFileError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        Path(tmp).chmod(target.stat().st_mode & 0o7777)
        Path(tmp).replace(target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise StackFileError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _config_of(path: Path, settings: Any) -> dict[str, Any]:
    problem, config = stack_config(settings)
    if problem:
        raise StackFileError(f"{path}: {problem}")
    return config


def _locate(path: Path, text: str, keys: tuple[str, ...]) -> Location:
    try:
        return located_documents(text, Limits.from_env(), unlimited_strings_at=2, locate=("config", *keys))[1]
    except InputError as exc:
        raise StackFileError(f"{path}: {exc.message}") from None


def spliced(text: str, found: Location, key: str, value: Any, shown: str) -> str:
    """`text` with the located entry's value replaced, the entry removed (None), or a new entry inserted."""
    rendered = json.dumps(value)
    if found.key is not None and found.entry is not None:
        if value is not None:
            return f"{text[: found.key[1]]}: {rendered}{text[found.entry[1] :]}"
        start = text.rfind("\n", 0, found.key[0]) + 1
        if found.flow or text[start : found.key[0]].strip():
            raise StackFileError(f"{shown}: cannot be removed in place (a flow mapping); nothing changed")
        end = text.find("\n", found.entry[1])
        return text[:start] + (text[end + 1 :] if end >= 0 else "")
    if value is None:
        return text
    if found.parent is None:
        raise StackFileError(f"{shown}: its parent is not a mapping in the file; nothing changed")
    if found.flow:
        at = found.parent + 1  # just after `{`
        return f"{text[:at]}{key}: {rendered}{', ' if found.first_key else ''}{text[at:]}"
    index, column = found.first_key or (0, 0)
    return f"{text[:index]}{key}: {rendered}\n{' ' * column}{text[index:]}"


def _with(config: Mapping[str, Any], keys: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of `config` with the value at `keys` replaced, or removed for None (only the path is copied)."""
    head, *rest = keys
    copied = dict(config)
    if rest:
        copied[head] = _with(config[head], tuple(rest), value)
    elif value is None:
        copied.pop(head, None)
    else:
        copied[head] = value
    return copied


def read_config(path: Path) -> dict[str, Any]:
    """The plain ``config:`` mapping of a stack file."""
    return StackDocument.load(path).config


def parse_placement(value: Any) -> dict[str, Any] | None:
    """The placement record from config: stored as JSON text (``pulumi config set``) or as an object."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = json_documents(value, Limits.from_env())[0]
        except InputError as exc:
            raise StackFileError(f"{PLACEMENT_KEY}: not a placement record: {exc.message}") from None
    if not isinstance(value, dict):
        raise StackFileError(f"{PLACEMENT_KEY}: expected a JSON object")
    return value


def dump_placement(record: Mapping[str, Any]) -> str:
    """Canonical JSON text for the record, so equal records compare equal as text."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def manifest_files(project_dir: Path, config: Mapping[str, Any]) -> list[Path]:
    """The files ``modelplane:manifests`` lists (directories expanded, sorted), those inside the allowed roots."""
    entries = config.get(MANIFESTS_KEY) or []
    roots = allowed_roots(project_dir)
    files: list[Path] = []
    for entry in entries if isinstance(entries, list) else [entries]:
        path = project_dir / str(entry)
        found = directory_files(path) if path.is_dir() else [path]
        files.extend(file for file in found if _inside(file, roots))
    return files


def _inside(path: Path, roots: tuple[Path, ...]) -> bool:
    try:
        contained(path, roots)
    except OutsideProjectError:
        return False
    return True


def _digest_file(digest: Any, path: Path, limit: int) -> None:
    """Feed at most `limit` bytes of `path` to `digest` (a FIFO or /dev/zero never ends)."""
    try:
        with path.open("rb") as stream:
            remaining = limit
            while remaining > 0 and (chunk := stream.read(min(remaining, 2**20))):
                digest.update(chunk)
                remaining -= len(chunk)
    except OSError:
        digest.update(b"<unreadable>")


def inputs_fingerprint(project_dir: Path, stack: str) -> str:
    """A digest of what the stack is built from: its config (minus the placement record) and manifests.

    The placement record is excluded because the service itself writes it after each ``up``; including
    it would make every successful run trigger the next one. Reads are bounded by the input limits, so a hostile
    file costs what the limits allow and no more.
    """
    digest = hashlib.sha256()
    limit = Limits().file_bytes
    path = stack_file(project_dir, stack)
    try:
        config = read_config(path)
    except StackFileError:
        # Half-edited, missing or over a limit: digest the bytes so a later fix still registers as a change.
        if path.exists():
            _digest_file(digest, path, limit)
        else:
            digest.update(b"<missing>")
        config = {}
    config = {k: v for k, v in config.items() if k != PLACEMENT_KEY}
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for file in manifest_files(project_dir, config):
        digest.update(str(file).encode())
        if file.is_file():
            _digest_file(digest, file, limit)
        else:
            digest.update(b"<missing>")
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
    roots = allowed_roots(project_dir)
    for entry in entries if isinstance(entries, list) else [entries]:
        target = (project_dir / str(entry)).resolve()
        if not _inside(target, roots):
            continue
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
