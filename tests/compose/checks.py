"""Assertions every composed object must pass: Kubernetes 1.34 schemas (strict) or its CRD's required fields."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import kubernetes_validate

from modelplane.compose.fleet import Composition
from tests.compose.crds import SKELETONS, crd_gaps

K8S_VERSION = "1.34.0"
CORE = {
    ("v1", "Namespace"),
    ("v1", "Service"),
    ("v1", "ServiceAccount"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "PersistentVolumeClaim"),
    ("apps/v1", "Deployment"),
    ("batch/v1", "Job"),
    ("discovery.k8s.io/v1", "EndpointSlice"),
    ("resource.k8s.io/v1", "ResourceClaimTemplate"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
}


def check_object(obj: dict[str, Any]) -> None:
    """Core kinds validate strictly against Kubernetes 1.34; CRD kinds carry every field their CRD requires."""
    assert_no_empties(obj)
    kind = (obj["apiVersion"], obj["kind"])
    if kind in CORE:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    else:
        assert f"{obj['apiVersion']}/{obj['kind']}" in SKELETONS, f"no check for {kind}"
        assert crd_gaps(obj) == [], f"{obj['kind']} {obj['metadata']['name']} lacks {crd_gaps(obj)}"
    assert len(obj["metadata"]["name"]) <= 63, obj["metadata"]["name"]


def assert_no_empties(value: Any, path: str = "") -> None:
    """No nulls and no empty lists anywhere: optional fields are set only when present."""
    assert value is not None, f"null at {path}"
    if isinstance(value, dict):
        for key, item in value.items():
            assert_no_empties(item, f"{path}.{key}")
    elif isinstance(value, list):
        assert value, f"empty list at {path}"
        for index, item in enumerate(value):
            assert_no_empties(item, f"{path}[{index}]")


def all_objects(composition: Composition) -> Iterable[dict[str, Any]]:
    yield from (item for bundle in composition.bundles for item in bundle.manifests)
    yield from (secret.manifest() for secret in composition.secrets)


def check_composition(composition: Composition) -> None:
    """Every object checked, and no two objects of one cluster share kind, namespace and name."""
    seen: set[tuple[str, str, str, str]] = set()
    for bundle in composition.bundles:
        for item in bundle.manifests:
            check_object(item)
            identity = (bundle.cluster, item["kind"], item["metadata"].get("namespace", ""), item["metadata"]["name"])
            assert identity not in seen, f"duplicate {identity}"
            seen.add(identity)
    for secret in composition.secrets:
        check_object(secret.manifest())
