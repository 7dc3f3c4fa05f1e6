"""Required-field checks for the CRD kinds we compose, from a skeleton of the CRDs' OpenAPI schemas.

`data/crd_required.json` keeps, per `group/version/Kind`, only `required` and the `properties` / `items` /
`additionalProperties` that lead to a requirement (status left out: we never write it). It was derived with
`skeleton()` from the reference CRDs (LWS v0.8.0, Gateway API v1.5.1 standard, GAIE v1.0.1);
`test_crd_skeleton_matches_reference` re-derives it where those CRDs are present. BackendTLSPolicy is not among
them; its entry is written by hand from the Gateway API v1 reference (spec.targetRefs, spec.validation.hostname).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SKELETONS: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "crd_required.json").read_text())


def skeleton(schema: dict[str, Any]) -> dict[str, Any]:
    """The requirement-bearing part of an OpenAPI v3 schema."""
    out: dict[str, Any] = {}
    if schema.get("required"):
        out["required"] = sorted(schema["required"])
    properties = {name: skeleton(sub) for name, sub in (schema.get("properties") or {}).items()}
    properties = {name: sub for name, sub in properties.items() if sub}
    if properties:
        out["properties"] = properties
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict) and (sub := skeleton(schema[key])):
            out[key] = sub
    return out


def crd_skeletons(crd: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """`(group/version/Kind, skeleton)` for each served version of a CRD document, without `status`."""
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    for version in crd["spec"]["versions"]:
        if version.get("served"):
            found = skeleton(version["schema"]["openAPIV3Schema"])
            found.get("properties", {}).pop("status", None)
            yield f"{group}/{version['name']}/{kind}", found


def missing_required(obj: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths of required fields absent from `obj` (checked wherever the enclosing field is present)."""
    if isinstance(obj, list):
        items = schema.get("items", {})
        return [gap for index, item in enumerate(obj) for gap in missing_required(item, items, f"{path}[{index}]")]
    if not isinstance(obj, dict):
        return []
    gaps = [f"{path}.{name}" for name in schema.get("required", []) if name not in obj]
    for name, value in obj.items():
        sub = schema.get("properties", {}).get(name) or schema.get("additionalProperties")
        if sub:
            gaps += missing_required(value, sub, f"{path}.{name}")
    return gaps


def crd_gaps(obj: dict[str, Any]) -> list[str]:
    """Required fields `obj` lacks for its CRD; raises KeyError for a kind we have no skeleton of."""
    return missing_required(obj, SKELETONS[f"{obj['apiVersion']}/{obj['kind']}"])
