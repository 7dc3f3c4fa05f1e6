"""Reading YAML and JSON input into plain data at a cost bounded by documented limits.

YAML is read from libyaml's event stream (the C parser), and the data is built here, event by event: nesting depth,
string length, documents per file and alias expansion are checked before anything deeper is built or any alias is
followed, so a tiny hostile file can never cost more than the limits allow. A repeated mapping key is an error, as
in kubectl. Excessive aliasing is refused with the rule of the YAML decoder of the Kubernetes API server (go-yaml's
`allowedAliasRatio`). Limits come from the environment, so whoever runs Modelplane can raise them; the input cannot.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from yaml import events
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.cyaml import CParser
from yaml.nodes import ScalarNode

_YAML = "tag:yaml.org,2002:"
_STR, _MERGE, _TIMESTAMP, _VALUE = (f"{_YAML}{name}" for name in ("str", "merge", "timestamp", "value"))
_COLLECTION_TAGS = frozenset({None, "!", f"{_YAML}map", f"{_YAML}seq"})
# Scalars built by PyYAML's own constructors (the rules of YAML 1.1 that kubectl's decoder also follows).
_INT, _FLOAT, _BOOL, _NULL = (f"{_YAML}{name}" for name in ("int", "float", "bool", "null"))
_BUILT = frozenset({_INT, _FLOAT, _BOOL, _NULL})
_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_INT_DIGITS = 4000  # Python converts at most 4,300 digits
_BOOLS = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}
# go-yaml keeps an untagged timestamp as the string it was written as; so do we (strict models want strings).
_AS_TEXT = frozenset({_STR, _TIMESTAMP, _VALUE})
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = SafeConstructor()
_MERGE_KEY = object()  # the key `<<`, kept apart from every real key


@dataclass(frozen=True)
class Limits:
    """What one input file may hold. Each default is far above any real fleet input (the benchmark fleet of 1,500
    clusters is a 2.7 MB manifest of 4,504 documents, 254,163 nodes, 13 levels deep); each is raised with its
    environment variable."""

    file_bytes: int = 16 * 2**20
    documents: int = 20_000
    depth: int = 64
    string_length: int = 2**20
    nodes: int = 1_000_000
    # Replicas of one deployment in a placement record (--previous, modelplane:placement); see modelplane.api.record.
    record_replicas: int = 10_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """Defaults, overridden by `MODELPLANE_MAX_*`; a malformed override is an InputError naming the variable."""
        environ = os.environ if environ is None else environ
        values = {}
        for item in fields(cls):
            text = environ.get(LIMIT_ENV[item.name])
            if text is None:
                continue
            if not text.strip().isdigit() or int(text) < 1:
                raise InputError(f"{LIMIT_ENV[item.name]}={text[:32]!r} must be a positive whole number")
            values[item.name] = int(text)
        return cls(**values)

    def exceeded(self, name: str, what: str) -> InputError:
        limit = f"{getattr(self, name):,} {LIMIT_UNITS[name]}"
        return InputError(f"{what} exceeds the limit of {limit} (raise it with {LIMIT_ENV[name]})")


LIMIT_ENV = {
    "file_bytes": "MODELPLANE_MAX_FILE_BYTES",
    "documents": "MODELPLANE_MAX_DOCUMENTS",
    "depth": "MODELPLANE_MAX_DEPTH",
    "string_length": "MODELPLANE_MAX_STRING_LENGTH",
    "nodes": "MODELPLANE_MAX_NODES",
    "record_replicas": "MODELPLANE_MAX_RECORD_REPLICAS",
}
LIMIT_UNITS = {
    "file_bytes": "bytes",
    "documents": "documents",
    "depth": "levels",
    "string_length": "characters",
    "nodes": "nodes",
    "record_replicas": "replicas",
}


class InputError(ValueError):
    """Input that cannot be read into data; `document` is its 1-based position in a multi-document file."""

    def __init__(self, message: str, document: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.document = document


def read_text(path: Path, limits: Limits) -> str:
    """A file's text, never reading more than the size limit (a FIFO or /dev/zero reports no size up front)."""
    with path.open("rb") as stream:
        data = stream.read(limits.file_bytes + 1)
    if len(data) > limits.file_bytes:
        raise limits.exceeded("file_bytes", "the file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text (byte {error.start})") from None


def json_documents(text: str, limits: Limits) -> list[Any]:
    """One JSON value (JSON allows nothing else per file), checked against the limits like YAML."""
    try:
        value = json.loads(text.removeprefix("\ufeff"), object_pairs_hook=_unique_pairs)
    except json.JSONDecodeError as error:
        raise InputError(f"JSON syntax error at line {error.lineno}, column {error.colno}: {error.msg}") from None
    except RecursionError:
        raise limits.exceeded("depth", "the nesting") from None
    except ValueError as error:  # a duplicate key, or an integer too long to convert
        raise InputError(str(error)) from None
    _check_data(value, limits)
    return [value]


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key[:64]!r}")
        result[key] = value
    return result


def _check_data(value: Any, limits: Limits) -> None:
    """Depth, string length and size of parsed JSON, walked without recursion."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    count = 0
    while pending:
        item, depth = pending.pop()
        count += 1
        if count > limits.nodes:
            raise limits.exceeded("nodes", "the file")
        if isinstance(item, str):
            if len(item) > limits.string_length:
                raise limits.exceeded("string_length", "a string")
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > limits.depth:
            raise limits.exceeded("depth", "the nesting")
        children = [*item, *item.values()] if isinstance(item, dict) else item
        pending.extend((child, depth + 1) for child in children)


def yaml_documents(text: str, limits: Limits, *, unlimited_strings_at: int | None = None) -> list[Any]:
    """Every document of a YAML stream as plain data (None for an empty document).

    `unlimited_strings_at` exempts the scalars at one depth from the string limit (a stack file's top-level config
    values, such as the placement record Modelplane writes as one JSON string; the file size still bounds them).
    """
    return located_documents(text, limits, unlimited_strings_at=unlimited_strings_at)[0]


@dataclass
class Location:
    """Where the entry at a key path sits in the text of a one-document stream, for an edit in place.

    `parent` is the start of the mapping that holds (or would hold) the key and `first_key` its first key's start;
    `entry` runs from the key's first character to the last character of its value's content (a block value's
    trailing comments and line break are not part of it).
    """

    parent: int | None = None
    flow: bool = False
    first_key: tuple[int, int] | None = None  # (index, column)
    key: tuple[int, int] | None = None  # the key's characters
    entry: tuple[int, int] | None = None
    value_kind: str = ""  # "", "scalar", "collection", "decorated" (alias, anchor, tag or block scalar)


def located_documents(
    text: str,
    limits: Limits,
    *,
    unlimited_strings_at: int | None = None,
    locate: tuple[str, ...] = (),
    locate_document: int = 1,
) -> tuple[list[Any], Location]:
    """`yaml_documents`, and the Location of the value at `locate` (keys from the root of document `locate_document`,
    numbered from 1)."""
    builder = _Builder(limits, unlimited_strings_at, locate, locate_document)
    parser = CParser(text)
    try:
        builder.run(parser)
    except yaml.MarkedYAMLError as error:
        raise InputError(syntax_message(error), builder.document or 1) from None
    except yaml.YAMLError as error:
        raise InputError(f"YAML syntax error: {str(error)[:200]}", builder.document or 1) from None
    finally:
        parser.dispose()
    return builder.documents, builder.location


def syntax_message(error: yaml.YAMLError) -> str:
    """`YAML syntax error at line L, column C: problem` from PyYAML's multi-line report."""
    if not isinstance(error, yaml.MarkedYAMLError) or error.problem_mark is None:
        return f"YAML syntax error: {str(error)[:200]}"
    mark = error.problem_mark
    context = f" ({error.context})" if error.context else ""
    return f"YAML syntax error at line {mark.line + 1}, column {mark.column + 1}: {error.problem}{context}"


@dataclass(slots=True)
class _Frame:
    """A mapping or sequence being built: its value, the key waiting for a value, and its cost so far."""

    value: Any  # dict or list
    anchor: str | None
    start: int  # nodes decoded when it opened
    height: int = 0
    key: Any = None
    has_key: bool = False
    merges: list[Any] | None = None
    flow: bool = False


@dataclass(frozen=True, slots=True)
class _Anchor:
    value: Any
    nodes: int  # decoded nodes an alias to it costs
    height: int


_SCALAR, _ALIAS, _START, _END, _DOCUMENT = range(5)
_PARENT_PENDING = _Frame(None, None, 0)  # the located parent mapping has started; its frame comes next


def _value_kind(event: events.Event, kind: int) -> str:
    if kind == _START:
        return "collection"
    if kind == _ALIAS or event.anchor is not None or event.tag is not None or event.style in ("|", ">"):
        return "decorated"
    return "scalar"


_KINDS = {
    events.ScalarEvent: _SCALAR,
    events.AliasEvent: _ALIAS,
    events.MappingStartEvent: _START,
    events.SequenceStartEvent: _START,
    events.MappingEndEvent: _END,
    events.SequenceEndEvent: _END,
    events.DocumentStartEvent: _DOCUMENT,
}


class _Builder:
    """Plain data from YAML events; raises InputError (with line and document) at the first broken rule.

    One loop with local names: it runs once per event of files of megabytes, so dispatch is kept to a dict lookup.
    """

    def __init__(
        self, limits: Limits, unlimited_strings_at: int | None, locate: tuple[str, ...] = (), locate_document: int = 1
    ) -> None:
        self.locate = locate
        self.locate_document = locate_document
        self.location = Location()
        self.parent: _Frame | None = None
        self.inside = False
        self.limits = limits
        self.unlimited_at = unlimited_strings_at
        self.documents: list[Any] = []
        self.document = 0
        self.stack: list[_Frame] = []
        self.anchors: dict[str, _Anchor] = {}
        self.decoded = 0  # nodes of this document, aliases expanded (go-yaml's decodeCount)
        self.aliased = 0  # of which reached through an alias (go-yaml's aliasCount)
        self.total = 0  # nodes of the whole file, aliases expanded

    def run(self, parser: CParser) -> None:
        limits, stack, kinds = self.limits, self.stack, _KINDS
        while (event := parser.get_event()) is not None:
            kind = kinds.get(type(event))
            if kind is None:
                if isinstance(event, events.StreamEndEvent):
                    return
                continue
            if self.locate and self.document == self.locate_document:
                self.observe(event, kind)
            if kind == _SCALAR:
                value, height, scalar = event.value, 0, True
                if event.tag is None and event.anchor is None and event.implicit[0] and len(value) <= 64:
                    # The common case, inline: a short plain scalar (a name, a kind, a number).
                    self.decoded += 1
                    self.total += 1
                    if self.total > limits.nodes:
                        raise self.over(event, "nodes", "the file (aliases expanded)")
                    tag = _cached_tag(value)
                    if tag != _STR:
                        value = self.typed(event, tag)
                else:
                    value = self.scalar(event)
            elif kind == _START:
                if len(stack) >= limits.depth:
                    raise self.over(event, "depth", "the nesting")
                if event.tag not in _COLLECTION_TAGS:
                    raise self.fail(event, f"unsupported tag {event.tag[:64]}")
                self.count(event, 1)
                value = {} if type(event) is events.MappingStartEvent else []
                stack.append(_Frame(value, event.anchor, self.decoded, flow=bool(event.flow_style)))
                if self.parent is _PARENT_PENDING:
                    self.parent = stack[-1]
                continue
            elif kind == _END:
                value, height, scalar = self.end(event), stack[-1].height, False
                stack.pop()
            elif kind == _ALIAS:
                anchor = self.alias(event)
                value, height, scalar = anchor.value, anchor.height, False
            else:
                self.document_start(event)
                continue
            if not stack:
                self.documents[-1] = value
                continue
            frame = stack[-1]
            if frame.height <= height:
                frame.height = height + 1
            if type(frame.value) is list:
                frame.value.append(value)
            elif frame.has_key:
                if frame.key is _MERGE_KEY:
                    frame.merges = [*(frame.merges or []), value]
                else:
                    frame.value[frame.key] = value
                frame.has_key = False
            else:
                self.key(event, frame, value, scalar)

    def observe(self, event: events.Event, kind: int) -> None:
        """Record the Location of `self.locate`: its parent mapping's start and first key, and the entry's extent."""
        stack, want, found = self.stack, self.locate, self.location
        depth = len(stack)
        if self.inside:
            # Within the value: its extent ends with its last scalar, alias or flow collection (a block collection's
            # end is reported at the next token, past comments that belong to what follows).
            if kind in (_SCALAR, _ALIAS) or (kind == _END and stack[-1].flow):
                found.entry = (found.entry[0], event.end_mark.index)  # type: ignore[index]
            if kind == _END and depth == len(want) + 1:
                self.inside = False
        elif depth == len(want) - 1 and kind == _START and self.parent is None and self.on_path(want[:-1]):
            found.parent, found.flow = event.start_mark.index, bool(event.flow_style)
            self.parent = _PARENT_PENDING
        elif depth == len(want) and self.parent is not None and stack[-1] is self.parent:
            frame = stack[-1]
            if not frame.has_key and kind == _SCALAR:
                if not frame.value and found.first_key is None:
                    found.first_key = (event.start_mark.index, event.start_mark.column)
                if event.value == want[-1] and found.entry is None:
                    found.key = found.entry = (event.start_mark.index, event.end_mark.index)
            elif frame.has_key and frame.key == want[-1] and found.value_kind == "":
                found.value_kind = _value_kind(event, kind)
                found.entry = (found.entry[0] if found.entry else event.start_mark.index, event.end_mark.index)
                self.inside = kind == _START

    def on_path(self, keys: tuple[str, ...]) -> bool:
        return all(frame.has_key and frame.key == key for frame, key in zip(self.stack, keys, strict=True))

    def fail(self, event: events.Event, message: str) -> InputError:
        mark = event.start_mark
        return InputError(f"line {mark.line + 1}, column {mark.column + 1}: {message}", self.document)

    def over(self, event: events.Event, name: str, what: str) -> InputError:
        return self.fail(event, self.limits.exceeded(name, what).message)

    def document_start(self, event: events.DocumentStartEvent) -> None:
        self.document += 1
        if self.document > self.limits.documents:
            raise self.over(event, "documents", "the number of documents")
        self.anchors, self.decoded, self.aliased = {}, 0, 0
        self.documents.append(None)

    def count(self, event: events.Event, nodes: int) -> None:
        self.decoded += nodes
        self.total += nodes
        if self.total > self.limits.nodes:
            raise self.over(event, "nodes", "the file (aliases expanded)")

    def scalar(self, event: events.ScalarEvent) -> Any:
        self.count(event, 1)
        value = event.value
        if len(value) > self.limits.string_length and len(self.stack) != self.unlimited_at:
            raise self.over(event, "string_length", "a string")
        tag = event.tag
        if tag is None or tag == "!":
            tag = _plain_tag(value) if event.implicit[0] else _STR
        value = self.typed(event, tag)
        if event.anchor is not None:
            self.anchors[event.anchor] = _Anchor(value, 1, 0)
        return value

    def typed(self, event: events.ScalarEvent, tag: str) -> Any:
        """The scalar's value for its tag: text, a number, a bool or null, the merge key; other tags are refused."""
        if tag in _AS_TEXT:
            return event.value
        if tag in _BUILT:
            return self.built(event, tag)
        if tag == _MERGE:
            return _MERGE_KEY
        raise self.fail(event, f"unsupported tag {tag[:64]}")

    def built(self, event: events.ScalarEvent, tag: str) -> Any:
        value = event.value
        if tag == _INT and _DECIMAL.fullmatch(value) and len(value) <= _INT_DIGITS:
            return int(value)
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return _BOOLS[value.lower()]
        try:
            # The constructor's own method: `construct_object` would remember every node it ever built.
            construct = _CONSTRUCTOR.yaml_constructors[tag]
            return construct(_CONSTRUCTOR, ScalarNode(tag, value, event.start_mark, event.end_mark))
        except (ConstructorError, ValueError) as error:  # e.g. an integer of more digits than Python converts
            raise self.fail(event, f"not a valid {tag.removeprefix(_YAML)}: {str(error)[:120]}") from None

    def end(self, event: events.CollectionEndEvent) -> Any:
        frame = self.stack[-1]
        value = frame.value
        if frame.merges:
            value = _merged(frame.merges, value)
            if value is None:
                raise self.fail(event, "a merge key (<<) must merge a mapping or a list of mappings")
        if frame.anchor is not None:
            self.anchors[frame.anchor] = _Anchor(value, self.decoded - frame.start, frame.height)
        return value

    def alias(self, event: events.AliasEvent) -> _Anchor:
        anchor = self.anchors.get(event.anchor)
        if anchor is None:
            open_anchors = {frame.anchor for frame in self.stack}
            problem = "refers to its own anchor" if event.anchor in open_anchors else "has no anchor before it"
            raise self.fail(event, f"alias *{event.anchor[:64]} {problem}")
        if len(self.stack) + anchor.height > self.limits.depth:
            raise self.over(event, "depth", "the nesting (aliases expanded)")
        self.count(event, anchor.nodes)
        self.aliased += anchor.nodes
        if self.aliased > 100 and self.decoded > 1000 and self.aliased / self.decoded > _alias_ratio(self.decoded):
            raise self.fail(
                event,
                f"excessive aliasing: expanding the aliases would build {self.decoded:,} nodes, {self.aliased:,} "
                "of them through aliases (refused as the Kubernetes API server refuses it)",
            )
        return anchor

    def key(self, event: events.Event, frame: _Frame, value: Any, scalar: bool) -> None:
        if not scalar:
            raise self.fail(event, "a mapping key must be a scalar")
        if value is not _MERGE_KEY and value in frame.value:
            raise self.fail(event, f"duplicate key {str(value)[:64]!r}")
        frame.key, frame.has_key = value, True


def _merged(merges: list[Any], explicit: dict[Any, Any]) -> dict[Any, Any] | None:
    """YAML merge keys as PyYAML applies them: explicit keys win, then earlier merged mappings; None if malformed."""
    sources: list[dict[Any, Any]] = []
    for merge in merges:
        items = merge if isinstance(merge, list) else [merge]
        if not all(isinstance(item, dict) for item in items):
            return None
        sources.extend(items)
    result: dict[Any, Any] = {}
    for source in reversed(sources):
        result.update(source)
    result.update(explicit)
    return result


@lru_cache(maxsize=65536)
def _cached_tag(value: str) -> str:
    return str(_RESOLVER.resolve(ScalarNode, value, (True, False)))


def _plain_tag(value: str) -> str:
    """The tag YAML 1.1 gives a plain scalar; short values repeat (names, kinds, `true`), so they are cached."""
    return _cached_tag(value) if len(value) <= 64 else str(_RESOLVER.resolve(ScalarNode, value, (True, False)))


def _alias_ratio(decoded: int) -> float:
    """go-yaml's allowedAliasRatio: 99% of a small document may come from aliases, falling to 10% at 4M nodes."""
    low, high = 400_000, 4_000_000
    if decoded <= low:
        return 0.99
    if decoded >= high:
        return 0.10
    return 0.99 - 0.89 * (decoded - low) / (high - low)
