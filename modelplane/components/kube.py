"""One Pulumi resource per Kubernetes object: a typed class for core kinds, CustomResource for CRD kinds."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pulumi_kubernetes.apiextensions as apiextensions
import pulumi_kubernetes.apps.v1 as apps_v1
import pulumi_kubernetes.batch.v1 as batch_v1
import pulumi_kubernetes.core.v1 as core_v1
import pulumi_kubernetes.discovery.v1 as discovery_v1
import pulumi_kubernetes.rbac.v1 as rbac_v1
import pulumi_kubernetes.storage.v1 as storage_v1

# Typed classes: the provider knows their schema and await logic (e.g. a Deployment waits until it is available).
_TYPED: dict[tuple[str, str], Callable[..., pulumi.CustomResource]] = {
    ("v1", "ConfigMap"): core_v1.ConfigMap,
    ("v1", "Namespace"): core_v1.Namespace,
    ("v1", "PersistentVolumeClaim"): core_v1.PersistentVolumeClaim,
    ("v1", "ResourceQuota"): core_v1.ResourceQuota,
    ("v1", "Secret"): core_v1.Secret,
    ("v1", "Service"): core_v1.Service,
    ("v1", "ServiceAccount"): core_v1.ServiceAccount,
    ("apps/v1", "Deployment"): apps_v1.Deployment,
    ("batch/v1", "Job"): batch_v1.Job,
    ("discovery.k8s.io/v1", "EndpointSlice"): discovery_v1.EndpointSlice,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): rbac_v1.ClusterRole,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): rbac_v1.ClusterRoleBinding,
    ("rbac.authorization.k8s.io/v1", "Role"): rbac_v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): rbac_v1.RoleBinding,
    ("storage.k8s.io/v1", "StorageClass"): storage_v1.StorageClass,
}
# resource.k8s.io/v1 (DRA, GA in Kubernetes 1.34) has no typed class in the pinned pulumi-kubernetes (4.25, matched to
# the provider plugin the sandbox builds); CustomResource registers the same type token, so the provider treats the
# object exactly as it would the typed class.
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


# The program owns its objects: a field another manager took (`kubectl scale` owns `.spec.replicas` through the
# scale subresource) is an apply conflict that fails even the preview, so drift could never be healed.
# Pulumi's own annotation makes its server-side apply force those fields back.
PATCH_FORCE = {"pulumi.com/patchForce": "true"}


def owned(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {**metadata, "annotations": {**(metadata.get("annotations") or {}), **PATCH_FORCE}}


def object_name(cluster: str, manifest: Mapping[str, Any]) -> str:
    """The Pulumi name of an object: unique per type in a stack because it carries cluster, namespace and name."""
    metadata = manifest["metadata"]
    namespace = metadata.get("namespace")
    return f"{cluster}/{namespace}/{metadata['name']}" if namespace else f"{cluster}/{metadata['name']}"


def kube_object(name: str, manifest: Mapping[str, Any], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """Create the resource for one manifest dict (`apiVersion`, `kind`, `metadata`, then kind-specific fields)."""
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    body = {key: value for key, value in manifest.items() if key not in ("apiVersion", "kind")}
    body["metadata"] = owned(body["metadata"])
    typed = _TYPED.get((api_version, kind))
    if typed is None:
        extra = sorted(set(body) - {"metadata", "spec"})
        if extra:
            raise ValueError(f"{kind} {name}: CustomResource supports metadata and spec only, got {', '.join(extra)}")
        return apiextensions.CustomResource(name, api_version=api_version, kind=kind, **body, opts=opts)
    # Typed constructors take snake_case top-level arguments; nested dicts stay in Kubernetes' camelCase.
    return typed(name, **{_CAMEL.sub("_", key).lower(): value for key, value in body.items()}, opts=opts)
