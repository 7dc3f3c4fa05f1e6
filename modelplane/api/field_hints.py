""" "Did you mean" for an unknown field: a close name among its siblings, or where the same name belongs instead.

Both come from the model's own field tree (aliases as written in YAML), so a new field is suggested as soon as the
model has it.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

_SHOWN = 3


def unknown_field_hint(model: type[BaseModel], loc: Sequence[str | int]) -> str:
    """`; did you mean X?` for the unknown field at `loc` below `model` (empty when nothing is close)."""
    *parent, name = loc
    if not isinstance(name, str) or len(name) > 253:  # no field name is that long; a key may be megabytes long
        return ""
    siblings = sorted({alias for owner in _models_at(model, parent) for alias in _aliases(owner)})
    close = difflib.get_close_matches(name, siblings, n=1)
    if close:
        return f"; did you mean {close[0]}?"
    elsewhere = _paths(model).get(name.lower(), ())
    if elsewhere:
        return f"; did you mean {' or '.join(elsewhere[:_SHOWN])}?"
    return ""


def _models_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[type[BaseModel]]:
    """The models that may sit at `loc` (a pydantic error location, aliases as written)."""
    current: list[Any] = [model]
    for part in loc:
        following = [step for annotation in current for step in _step(annotation, part)]
        current = following or current  # a part pydantic adds itself (a union member's tag) moves nowhere
    return [found for annotation in current for found in _models(annotation)]


def _step(annotation: Any, part: str | int) -> list[Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _step(get_args(annotation)[0], part)
    if origin in (Union, types.UnionType):
        return [step for member in get_args(annotation) for step in _step(member, part)]
    if origin in (list, tuple, set, frozenset, Sequence):
        return [get_args(annotation)[0]] if isinstance(part, int) and get_args(annotation) else []
    if origin in (dict, Mapping):
        return [get_args(annotation)[1]] if get_args(annotation) else []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = _fields(annotation).get(str(part))
        return [field] if field is not None else []
    return []


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    """The models an annotation is or holds directly (through Optional and unions, not through lists)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        yield from _models(get_args(annotation)[0])
    elif origin in (Union, types.UnionType):
        for member in get_args(annotation):
            yield from _models(member)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    """Field annotation by the name YAML uses (its alias) and by its Python name."""
    found: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        found[name] = info.annotation
        found[info.alias or name] = info.annotation
    return found


def _aliases(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


@lru_cache(maxsize=64)
def _paths(model: type[BaseModel]) -> dict[str, tuple[str, ...]]:
    """Every field's path in the tree below `model`, by its lower-cased name, shortest first (lists as `[]`)."""
    paths: dict[str, list[str]] = {}
    pending: list[tuple[Any, str, tuple[type[BaseModel], ...]]] = [(model, "", ())]
    while pending:
        annotation, prefix, above = pending.pop(0)
        for owner, suffix in _children(annotation):
            if owner in above:  # a recursive model: its fields are listed once
                continue
            for alias in _aliases(owner):
                path = f"{prefix}{suffix}.{alias}" if prefix or suffix else alias
                paths.setdefault(alias.lower(), []).append(path)
                pending.append((_fields(owner)[alias], path, (*above, owner)))
    return {name: tuple(found) for name, found in paths.items()}


def _children(annotation: Any, suffix: str = "") -> Iterator[tuple[type[BaseModel], str]]:
    """(model, `[]` per list or map level) of what an annotation holds."""
    origin = get_origin(annotation)
    if origin is Annotated:
        yield from _children(get_args(annotation)[0], suffix)
    elif origin in (Union, types.UnionType):
        for member in get_args(annotation):
            yield from _children(member, suffix)
    elif origin in (list, tuple, set, frozenset, Sequence) and get_args(annotation):
        yield from _children(get_args(annotation)[0], f"{suffix}[]")
    elif origin in (dict, Mapping) and get_args(annotation):
        yield from _children(get_args(annotation)[1], f"{suffix}[]")
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, suffix
