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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelplane.api.documents import InputError, Limits, json_documents, read_text, yaml_documents
from modelplane.api.loading import stack_config, stack_source
from modelplane.api.manifest_files import OutsideProjectError, allowed_roots, contained
from modelplane.api.manifest_files import manifest_files as directory_files

PLACEMENT_KEY = "modelplane:placement"
MANIFESTS_KEY = "modelplane:manifests"
DEPLOYMENTS_KEY = "modelplane:deployments"


class StackFileError(Exception):
    """A stack file is missing, unreadable or not shaped like a Pulumi stack file."""


def _load_settings(path: Path, limits: Limits | None = None) -> tuple[str, Any]:
    """(text, the one parsed document) of a settings file; raises StackFileError."""
    try:
        limits = limits or Limits.from_env()
        text = read_text(path, limits)
        documents = yaml_documents(text, limits, unlimited_strings_at=2)
    except FileNotFoundError:
        raise StackFileError(f"{path}: no such stack file") from None
    except OSError as exc:
        raise StackFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except InputError as exc:
        raise StackFileError(f"{path}: {exc.message}") from None
    if len(documents) > 1:
        raise StackFileError(f"{path}: holds {len(documents)} YAML documents; a settings file holds one")
    return text, documents[0] if documents else None


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
    """A stack file as its text and its plain ``config:`` mapping."""

    path: Path
    text: str
    config: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> StackDocument:
        text, settings = _load_settings(path)
        return cls(path, text, _config_of(path, settings))

    def with_value(self, keys: tuple[str, ...], value: int) -> StackDocument:
        """The document with ``config.<keys>`` set to ``value``, only that value's text changed.

        Raises StackFileError when the value cannot be edited in place (it is a mapping or list, its parent is
        missing, or the file uses anchors the edit would break); nothing is written here.
        """
        shown = ".".join(keys)
        root = yaml.compose(self.text, Loader=yaml.CSafeLoader)  # load() checked the limits already
        parent = _mapping_at(root, ("config", *keys[:-1]))
        if parent is None:
            raise StackFileError(f"{self.path}: {'.'.join(keys[:-1])} is not a mapping; nothing changed")
        text = _spliced(self.text, parent, keys[-1], json.dumps(value), shown)
        expected = _with(self.config, keys, value)
        edited = _config_of(self.path, yaml_documents(text, Limits.from_env(), unlimited_strings_at=2)[0])
        if edited != expected:
            message = f"{shown} cannot be edited in place (anchors or aliases?); nothing changed"
            raise StackFileError(f"{self.path}: {message}")
        return StackDocument(self.path, text, edited)

    def save(self) -> None:
        """Write atomically (temp file + rename in the target's directory), through a symlink to its target, so
        watchers and readers never see half a file and a symlinked stack file stays a symlink."""
        target = self.path.resolve()
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        except OSError as exc:
            raise StackFileError(f"{self.path}: cannot write: {exc.strerror or exc}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
                stream.write(self.text)
                stream.flush()
                os.fsync(stream.fileno())
            Path(tmp).chmod(target.stat().st_mode & 0o7777)
            Path(tmp).replace(target)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise StackFileError(f"{self.path}: cannot write: {exc.strerror or exc}") from None


def _config_of(path: Path, settings: Any) -> dict[str, Any]:
    problem, config = stack_config(settings)
    if problem:
        raise StackFileError(f"{path}: {problem}")
    return config


def _mapping_at(node: yaml.Node, keys: tuple[str, ...]) -> yaml.MappingNode | None:
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return None
        found = _value_node(node, key)
        if found is None:
            return None
        node = found
    return node if isinstance(node, yaml.MappingNode) else None


def _value_node(mapping: yaml.MappingNode, key: str) -> yaml.Node | None:
    for name, value in mapping.value:
        if isinstance(name, yaml.ScalarNode) and name.value == key:
            return value
    return None


def _spliced(text: str, mapping: yaml.MappingNode, key: str, value: str, shown: str) -> str:
    """`text` with `key: value` in `mapping`: the old scalar's characters replaced, or a new entry inserted."""
    node = _value_node(mapping, key)
    if node is not None:
        if not isinstance(node, yaml.ScalarNode):
            kind = "a mapping" if isinstance(node, yaml.MappingNode) else "a list"
            raise StackFileError(f"{shown} is {kind}, not a number; fix it by hand (nothing changed)")
        start, end = node.start_mark.index, node.end_mark.index
        newline = "\n" if text[start:end].endswith("\n") else ""
        return f"{text[:start]}{value}{newline}{text[end:]}"
    if mapping.flow_style:
        at = mapping.start_mark.index + 1  # just after `{`
        return f"{text[:at]}{key}: {value}{', ' if mapping.value else ''}{text[at:]}"
    first = mapping.value[0][0].start_mark
    return f"{text[: first.index]}{key}: {value}\n{' ' * first.column}{text[first.index :]}"


def _with(config: Mapping[str, Any], keys: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of `config` with the value at `keys` replaced (only the mappings on the path are copied)."""
    head, *rest = keys
    copied = dict(config)
    copied[head] = _with(config[head], tuple(rest), value) if rest else value
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
