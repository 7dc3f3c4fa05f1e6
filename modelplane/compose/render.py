"""Write a Composition as plain YAML files that `kubectl apply -f DIR/<cluster> --recursive` accepts.

Layout, one file per namespace of each cluster, its objects grouped by the API object that owns them:

    DIR/<cluster>/_cluster.yaml       cluster-scoped objects (Namespaces, the fleet gateway's GatewayClass)
    DIR/<cluster>/<namespace>.yaml    e.g. ml-team.yaml: each replica's, cache's, endpoint's and service's objects
    DIR/SECRETS.txt                   Secrets to create by hand (never their values)

Every document starts with a `# <owner kind> <owner>` comment, so a diff or a grep shows who composed it. One file
per namespace, not per object: file creation dominated a 1,000-cluster render (30,000 objects, about 3 s just to
create the files on a cloud VM's disk), and kubectl applies a multi-document file in order. `_cluster.yaml` sorts
before namespace files that start with a letter, so kubectl creates Namespaces first. Bytes are deterministic:
field order as composed, documents in bundle order. Every cluster directory carries a marker file listing
what it wrote; a new render replaces the marked directories of the previous one (a cluster that left the fleet
leaves nothing behind) and nothing else in DIR, atomically per entry (see modelplane.compose.outdir).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from modelplane.compose.cache import SecretSpec
from modelplane.compose.common import Manifest
from modelplane.compose.fleet import Bundle, Composition
from modelplane.compose.outdir import MARKER, marker_text, replace_render

CLUSTER_SCOPED = "_cluster"
SECRETS_FILE = "SECRETS.txt"
# The first line of SECRETS.txt: how a re-render knows the file is its own to replace.
SECRETS_HEADER = "# Secrets the rendered manifests reference. Create each on its cluster after applying the cluster's"


def write(composition: Composition, out: Path) -> list[Path]:
    """Replace the previous render in `out`; returns the files written, relative to `out`. Raises OutputError
    (nothing changed) when `out` holds anything the previous render did not write where this one writes."""
    contents: dict[Path, str] = {}
    for cluster in composition.clusters():
        files = cluster_files(cluster, composition.for_cluster(cluster))
        contents[Path(cluster, MARKER)] = marker_text([path.relative_to(cluster).as_posix() for path in files])
        contents.update(files)
    if composition.secrets:
        contents[Path(SECRETS_FILE)] = secrets_text(composition.secrets)
    replace_render(out, contents, (SECRETS_FILE, SECRETS_HEADER))
    return [path for path in contents if path.name != MARKER]


def cluster_files(cluster: str, bundles: list[Bundle]) -> dict[Path, str]:
    """`<cluster>/<namespace>.yaml` (or `_cluster.yaml`) → its documents, each headed by its owner."""
    documents: dict[Path, list[str]] = {}
    for bundle in bundles:
        header = f"# {bundle.owner_kind} {bundle.owner}\n"
        for item in bundle.manifests:
            path = Path(cluster, f"{item['metadata'].get('namespace', CLUSTER_SCOPED)}.yaml")
            documents.setdefault(path, []).append(header + dump(item))
    return {path: "---\n" + "---\n".join(items) for path, items in sorted(documents.items())}


def secrets_text(secrets: tuple[SecretSpec, ...]) -> str:
    """Which Secret to create on which cluster, and how; the values stay with you (`render` never holds them)."""
    lines = [
        SECRETS_HEADER,
        "# _cluster.yaml (it creates the namespaces) and before the rest; the value is the one Pulumi reads from",
        "# secret stack config `modelplane:<config key>`. Commands assume a kubectl context named after the cluster.",
    ]
    for secret in secrets:
        lines += [
            "",
            f"# {secret.cluster}: Secret {secret.namespace}/{secret.name}, key {secret.key}"
            f" (config key {secret.config_key})",
            f"kubectl --context {secret.cluster} --namespace {secret.namespace} create secret generic {secret.name}"
            f' --from-literal={secret.key}="$VALUE"',
        ]
    return "\n".join(lines) + "\n"


# --- YAML: block style as `yaml.safe_dump(sort_keys=False)` writes it, ~6x faster (PyYAML's representer is pure
# Python and dominated a 30,000-object render). Scalars are plain only when provably so; everything else is a JSON
# string, which is valid YAML. tests/compose/test_render.py round-trips it through yaml.safe_load.

_PLAIN = re.compile(r"[A-Za-z0-9_./$()=+-]([A-Za-z0-9_./$()=+@,: -]*[A-Za-z0-9_./$()=+)-])?")
# What a YAML double-quoted scalar may hold unescaped (YAML's printable set, minus its line breaks and the BOM).
_UNQUOTABLE = re.compile("[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"


def dump(item: Manifest) -> str:
    """One object as a YAML document."""
    lines: list[str] = []
    _mapping(item, "", lines)
    return "\n".join(lines) + "\n"


def _mapping(mapping: dict[str, Any], pad: str, lines: list[str]) -> None:
    for key, value in mapping.items():
        _entry(f"{pad}{_scalar(key)}:", value, pad, lines)


def _entry(head: str, value: Any, pad: str, lines: list[str]) -> None:
    """`head` (a `key:` or `-`) followed by the value; nested blocks indent from `pad`."""
    if isinstance(value, dict) and value:
        lines.append(head)
        _mapping(value, pad + "  ", lines)
    elif isinstance(value, list) and value:
        lines.append(head)
        _sequence(value, pad, lines)
    elif isinstance(value, str) and _literal(value):
        lines.append(f"{head} |" if value.endswith("\n") else f"{head} |-")
        lines.extend(f"{pad}  {line}" if line else "" for line in value.rstrip("\n").split("\n"))
    else:
        lines.append(f"{head} {_scalar(value)}")


def _sequence(items: list[Any], pad: str, lines: list[str]) -> None:
    """Items at the key's indentation, as PyYAML writes them; a mapping item starts on the `- ` line."""
    for item in items:
        if isinstance(item, dict) and item:
            for index, (key, value) in enumerate(item.items()):
                _entry(f"{pad}{'- ' if index == 0 else '  '}{_scalar(key)}:", value, pad + "  ", lines)
        else:
            _entry(f"{pad}-", item, pad + "  ", lines)


def _literal(value: str) -> bool:
    """A multi-line string that reads as a literal block and loads back unchanged."""
    if "\n" not in value or value.endswith("\n\n") or value[:1] in (" ", "\n") or "\r" in value:
        return False
    return all(line == line.rstrip() and line.isprintable() for line in value.split("\n"))


@cache
def _text(value: str) -> str:
    # A leading "-" is an indicator when a space or nothing follows it.
    plain = _PLAIN.fullmatch(value) and ": " not in value and value != "-" and not value.startswith("- ")
    if plain and _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _STR_TAG:
        return value
    return _UNQUOTABLE.sub(_escape, json.dumps(value, ensure_ascii=False))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict | list):  # only empty ones get here
        return "{}" if isinstance(value, dict) else "[]"
    raise TypeError(f"cannot render {type(value).__name__} {value!r}")
