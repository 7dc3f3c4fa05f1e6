"""Checks against the reference CRDs where they exist (a development machine); skipped elsewhere.

They keep `data/crd_required.json` honest and validate composed CRD objects against the full CRD schemas
(types, enums, patterns), which the offline required-field check cannot.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from modelplane.compose.fleet import compose_fleet
from tests.compose.crds import SKELETONS, crd_skeletons
from tests.compose.fixtures import ADDRESSES, rich_fleet, rich_placement

CRDS = Path("/work/shared/reference/crds")
pytestmark = pytest.mark.skipif(not CRDS.is_dir(), reason="reference CRDs not present on this machine")


def reference_schemas() -> dict[str, dict[str, Any]]:
    """`group/version/Kind` → openAPIV3Schema of every served version in the reference CRDs."""
    found = {}
    for path in sorted(CRDS.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if crd and crd.get("kind") == "CustomResourceDefinition":
                group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
                for version in crd["spec"]["versions"]:
                    found[f"{group}/{version['name']}/{kind}"] = version["schema"]["openAPIV3Schema"]
    return found


def test_crd_skeleton_matches_reference() -> None:
    derived = {}
    for path in sorted(CRDS.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if crd and crd.get("kind") == "CustomResourceDefinition":
                derived.update(crd_skeletons(crd))
    for key, skeleton in SKELETONS.items():
        if key.endswith("/BackendTLSPolicy"):
            continue  # not among the reference CRDs; written by hand
        assert json.loads(json.dumps(derived[key], sort_keys=True)) == skeleton, key


def test_composed_crd_objects_validate_against_full_schemas() -> None:
    schemas = reference_schemas()
    composition = compose_fleet(rich_fleet(), rich_placement(), gateway_addresses=ADDRESSES)
    checked = set()
    for bundle in composition.bundles:
        for item in bundle.manifests:
            key = f"{item['apiVersion']}/{item['kind']}"
            if key in schemas:
                jsonschema.validate(item, schemas[key])
                checked.add(item["kind"])
    assert checked == {"LeaderWorkerSet", "HTTPRoute", "InferencePool", "Gateway", "GatewayClass"}
