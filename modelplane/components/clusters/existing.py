"""Existing: a cluster that already runs. Its kubeconfig is secret stack config; its cache class is the one it names."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from modelplane.api.inference_cluster import InferenceCluster
from modelplane.components.secrets import SecretStore


class ExistingSource:
    """Nothing to provision: the operator provides nodes labelled `modelplane.ai/pool` and the NVIDIA host driver."""

    nvidia_driver_root = "/"
    ready: Sequence[pulumi.Resource] = ()

    def __init__(self, cluster: InferenceCluster, secrets: SecretStore) -> None:
        existing = cluster.spec.cluster.existing
        assert existing is not None  # the API model requires the existing block for source Existing
        self.kubeconfig = secrets.value(existing.secret_ref.name, existing.secret_ref.key)
        if existing.identity_secret_ref is not None:
            # Modelplane's providers combine the kubeconfig with this identity; the Kubernetes provider here cannot.
            pulumi.log.warn(
                f"InferenceCluster {cluster.name}: existing.identitySecretRef "
                f"({existing.identity_secret_ref.type} {existing.identity_secret_ref.name}) is not used: Pulumi "
                "reaches the cluster with the kubeconfig alone, so it must be self-contained (e.g. a token, or an "
                "exec plugin available where pulumi runs)"
            )
        self._storage_class = cluster.cache_storage_class

    def cache_storage(self, parent: pulumi.Resource, provider: k8s.Provider) -> str | None:
        """The operator's own RWX class (`existing.cache.storageClassName`); none means no cache here."""
        return self._storage_class

    def extras(self, parent: pulumi.Resource, provider: k8s.Provider) -> None:
        """Nothing: an existing cluster's node scaling is the operator's."""
