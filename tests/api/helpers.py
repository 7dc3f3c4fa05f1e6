"""Fixture documents, path-addressed edits of them, and problem capture for the loading tests."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from modelplane.api.errors import InvalidInputError

FIXTURES = Path(__file__).parent / "fixtures"
FLEET_YAML = FIXTURES / "fleet.yaml"
DELETE = object()
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def fleet_documents() -> list[dict[str, Any]]:
    """The documents of fixtures/fleet.yaml, fresh copies each call."""
    return list(yaml.safe_load_all(FLEET_YAML.read_text()))


def doc_index(documents: list[dict[str, Any]], kind: str, name: str) -> int:
    return next(i for i, doc in enumerate(documents) if doc["kind"] == kind and doc["metadata"]["name"] == name)


def edit(document: Any, path: str, value: Any) -> None:
    """Set (or, with DELETE, remove) `path` like `spec.engines[0].members[1].role` inside `document`."""
    tokens = [int(index) if index else key for key, index in _TOKEN.findall(path)]
    parent = document
    for token in tokens[:-1]:
        parent = parent[token]
    if value is DELETE:
        del parent[tokens[-1]]
    elif isinstance(parent, list) and tokens[-1] == len(parent):
        parent.append(copy.deepcopy(value))
    else:
        parent[tokens[-1]] = copy.deepcopy(value)


def edited_fleet(kind: str, name: str, edits: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The fixture fleet with `edits` applied to one document; also returns that document's 1-based number."""
    documents = fleet_documents()
    index = doc_index(documents, kind, name)
    for path, value in edits.items():
        edit(documents[index], path, value)
    return documents, index + 1


def write_yaml(path: Path, documents: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


def problems(load: Callable[[], object]) -> list[str]:
    """The problem lines `load` raises ([] when it loads cleanly)."""
    try:
        load()
    except InvalidInputError as error:
        return error.problems
    return []
