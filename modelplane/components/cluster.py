"""InferenceCluster: provision (or adopt) one cluster, its Kubernetes provider, cache storage and serving stack."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pulumi
import pulumi_kubernetes as k8s

from modelplane.api.inference_class import InferenceClass
from modelplane.api.inference_cluster import PROVISIONED_SOURCES, InferenceCluster
from modelplane.components.clusters.base import ClusterSource
from modelplane.components.secrets import SecretStore
from modelplane.components.serving_stack import ServingStack


class UnsupportedSourceError(pulumi.RunError):
    """A planned cluster whose source this project cannot provision yet (AKS, Nebius, Vultr)."""


def check_sources(clusters: Iterable[InferenceCluster]) -> None:
    """Fail before anything is registered, naming every cluster whose source cannot be provisioned here.

    Failing (rather than skipping) keeps the record honest: a skipped cluster's replicas would be recorded as
    placed while nothing runs them. Split stacks confine the failure to that cluster's stack.
    """
    unsupported = [cluster for cluster in clusters if cluster.spec.cluster.source not in PROVISIONED_SOURCES]
    for cluster in unsupported:
        pulumi.log.error(
            f"InferenceCluster {cluster.name}: source {cluster.spec.cluster.source} is not supported by this project "
            f"yet (supported: {', '.join(PROVISIONED_SOURCES)}); it is planned, but cannot be provisioned"
        )
    if unsupported:
        names = ", ".join(cluster.name for cluster in unsupported)
        raise UnsupportedSourceError(f"cannot provision InferenceCluster(s) {names}: unsupported source")


def make_source(
    cluster: InferenceCluster,
    classes: Mapping[str, InferenceClass],
    secrets: SecretStore,
    versions: Mapping[str, str],
    parent: pulumi.Resource,
) -> ClusterSource:
    # Imported here so a fleet without EKS or GKE clusters never loads the (large) cloud SDKs.
    source = cluster.spec.cluster.source
    if source == "EKS":
        from modelplane.components.clusters.eks import EksSource

        return EksSource(cluster, classes, versions, parent)
    if source == "GKE":
        from modelplane.components.clusters.gke import GkeSource

        return GkeSource(cluster, classes, parent)
    if source == "Existing":
        from modelplane.components.clusters.existing import ExistingSource

        return ExistingSource(cluster, secrets)
    raise UnsupportedSourceError(
        f"InferenceCluster {cluster.name}: source {source} is not supported by this project yet"
    )


class InferenceClusterComponent(pulumi.ComponentResource):
    """One workload cluster: its source's resources, one explicit Kubernetes provider, cache storage, serving stack.

    `kubeconfig` is a secret; `gateway_address` the serving stack's gateway; `storage_class` the cache class or None.
    """

    def __init__(
        self,
        cluster: InferenceCluster,
        classes: Mapping[str, InferenceClass],
        secrets: SecretStore,
        versions: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
        *,
        install_charts: bool = True,
    ) -> None:
        super().__init__("modelplane:index:InferenceCluster", cluster.name, None, opts)
        source = make_source(cluster, classes, secrets, versions, self)
        self.kubeconfig = pulumi.Output.secret(source.kubeconfig)
        self.provider = k8s.Provider(
            cluster.name,
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(source.ready)),
        )
        self.cache = CacheStorage(cluster.name, source, self.provider, pulumi.ResourceOptions(parent=self))
        self.serving = ServingStack(
            cluster.name,
            versions,
            source.nvidia_driver_root,
            self.provider,
            pulumi.ResourceOptions(parent=self),
            install_charts=install_charts,
        )
        source.extras(self, self.provider)
        self.gateway_address = self.serving.gateway_address
        self.register_outputs({"kubeconfig": self.kubeconfig, "gatewayAddress": self.gateway_address})


class CacheStorage(pulumi.ComponentResource):
    """The ReadWriteMany storage a ModelCache's PVC binds to on this cluster (reference §1.10, §5)."""

    def __init__(
        self, cluster: str, source: ClusterSource, provider: k8s.Provider, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("modelplane:index:CacheStorage", cluster, None, opts)
        self.storage_class = source.cache_storage(self, provider)
        self.register_outputs({"storageClassName": self.storage_class})
