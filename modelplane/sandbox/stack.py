"""The sandbox stack `S-sandbox`: stack S's fleet and settings with every cluster adopted as an Existing cluster
reached through its sandbox kubeconfig (a Pulumi secret), and the serving stack's charts off."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelplane.api.common import Resource
from modelplane.api.fleet import Fleet
from modelplane.api.inference_cluster import InferenceCluster
from modelplane.api.loading import MANIFESTS_KEY, OBJECT_KEYS, SECRETS_KEY
from modelplane.sandbox.cluster import SandboxError

SUFFIX = "-sandbox"
INSTALL_CHARTS_KEY = "modelplane:installCharts"
CLUSTER_STACKS_KEY = "modelplane:clusterStacks"
FLEET_STACK_KEY = "modelplane:fleetStack"
ROLE_KEY = "modelplane:role"
KUBECONFIG_KEY = "kubeconfig"
# What the sandbox sets where S holds a secret it cannot decrypt (a token nothing simulated ever uses).
PLACEHOLDER = "sandbox-placeholder-not-a-secret"
_ATTRIBUTE_OF_KEY = {key: key.removeprefix("modelplane:") for key in OBJECT_KEYS}


class StackShapeError(SandboxError):
    """A fleet the sandbox stack cannot express."""


@dataclass(frozen=True)
class SecretSetting:
    """One `pulumi config set --secret --path` the sandbox makes on its stack."""

    path: str  # e.g. modelplane:secrets.sandbox-us-east.kubeconfig
    value: str


def sandbox_stack_name(stack: str) -> str:
    return stack.rsplit("/", 1)[-1] + SUFFIX


def kubeconfig_secret(cluster: str) -> str:
    """The `modelplane:secrets` entry holding a sandbox cluster's kubeconfig."""
    return f"sandbox-{cluster}"


def sandbox_config(
    config: Mapping[str, Any], fleet: Fleet, cluster_stacks: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """S's settings unchanged, its fleet (from config and manifests alike) inlined, clusters adopted as Existing.

    The fleet is inlined because clusters declared in manifests cannot be rewritten in place; the sandbox stack is
    therefore a snapshot of S's fleet (re-run `sandbox up` after editing S, or edit the sandbox stack itself).
    """
    fleet_keys = {*OBJECT_KEYS, MANIFESTS_KEY, SECRETS_KEY}
    inlined: dict[str, Any] = {key: value for key, value in config.items() if key not in fleet_keys}
    for key in OBJECT_KEYS:
        entries: dict[str, Any] = {}
        for obj in _objects(fleet, key):
            if obj.name in entries:
                raise StackShapeError(
                    f"{obj.kind} {obj.name} exists in several namespaces; a stack config map keys objects by name, "
                    "so this fleet cannot be inlined into a sandbox stack"
                )
            entries[obj.name] = adopted(obj) if isinstance(obj, InferenceCluster) else config_entry(obj)
        if entries:
            inlined[key] = entries
    inlined[INSTALL_CHARTS_KEY] = False
    if cluster_stacks:
        inlined[CLUSTER_STACKS_KEY] = dict(cluster_stacks)
    return inlined


def cluster_stack_config(config: Mapping[str, Any], fleet_stack: str) -> dict[str, Any]:
    """A split fleet's cluster stack, pointed at the sandbox fleet stack, charts off."""
    public = {key: value for key, value in config.items() if key != SECRETS_KEY}
    return {**public, FLEET_STACK_KEY: fleet_stack, INSTALL_CHARTS_KEY: False}


def project_name(project_dir: Path) -> str:
    """The Pulumi project's name (Pulumi.yaml `name`), which qualifies stack names on a file backend."""
    try:
        project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise StackShapeError(f"{project_dir / 'Pulumi.yaml'}: cannot read the project: {error}") from None
    name = project.get("name") if isinstance(project, dict) else None
    if not isinstance(name, str) or not name:
        raise StackShapeError(f"{project_dir / 'Pulumi.yaml'}: the project has no name")
    return name


def secret_settings(
    fleet: Fleet, kubeconfigs: Mapping[str, str], declared: Mapping[str, Any] | None
) -> list[SecretSetting]:
    """Each sandbox kubeconfig, and a placeholder for every other secret S declares or a ModelCache names."""
    settings = [
        SecretSetting(f"{SECRETS_KEY}.{kubeconfig_secret(name)}.{KUBECONFIG_KEY}", kubeconfigs[name])
        for name in sorted(kubeconfigs)
    ]
    wanted: set[tuple[str, str]] = set()
    for name, keys in (declared or {}).items():
        wanted.update((str(name), str(key)) for key in (keys or {}) if isinstance(keys, Mapping) or keys is None)
    for cache in fleet.caches.values():
        source = cache.spec.hugging_face
        if source and source.auth_secret:
            wanted.add((source.auth_secret.name, source.auth_secret.key))
    adopted_refs = {(kubeconfig_secret(name), KUBECONFIG_KEY) for name in kubeconfigs}
    for cluster in fleet.clusters.values():
        existing = cluster.spec.cluster.existing
        if existing:  # S's own kubeconfig of an Existing cluster is not needed: the sandbox one replaces it
            wanted.discard((existing.secret_ref.name, existing.secret_ref.key))
    settings += [
        SecretSetting(f"{SECRETS_KEY}.{name}.{key}", PLACEHOLDER) for name, key in sorted(wanted - adopted_refs)
    ]
    return settings


def config_entry(obj: Resource) -> dict[str, Any]:
    """An object in the `modelplane:<kinds>` form: its spec fields plus `metadata` without the name."""
    dumped = obj.model_dump(by_alias=True, exclude_unset=True, mode="json")
    metadata = {key: value for key, value in dumped.get("metadata", {}).items() if key != "name"}
    entry = dict(dumped.get("spec", {}))
    if metadata:
        entry["metadata"] = metadata
    return entry


def adopted(cluster: InferenceCluster) -> dict[str, Any]:
    """The cluster as an Existing one on its sandbox kubeconfig, keeping the cache class its source would have."""
    entry = config_entry(cluster)
    existing: dict[str, Any] = {"secretRef": {"name": kubeconfig_secret(cluster.name), "key": KUBECONFIG_KEY}}
    if cluster.cache_storage_class:
        existing["cache"] = {"storageClassName": cluster.cache_storage_class}
    entry["cluster"] = {"source": "Existing", "existing": existing}
    return entry


def _objects(fleet: Fleet, key: str) -> list[Resource]:
    return list(getattr(fleet, _ATTRIBUTE_OF_KEY[key]).values())
