"""InferenceCluster: a workload cluster of the fleet, its source and its GPU node pools."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from modelplane.api.common import ApiModel, DnsLabelMeta, Resource

Source = Literal["GKE", "EKS", "AKS", "Nebius", "Vultr", "Existing"]
TaintEffect = Literal["NoSchedule", "NoExecute"]
# Sources this project can provision; the others are accepted and planned, and reported as unsupported at apply time.
PROVISIONED_SOURCES = ("EKS", "GKE", "Existing")
# The ReadWriteMany StorageClass each provisioned source publishes for ModelCaches (reference §5). Vultr has none:
# its file storage is not usable from GPU nodes, so caches never match Vultr clusters.
CACHE_STORAGE_CLASSES = {
    "EKS": "modelplane-rwx-efs",
    "GKE": "modelplane-rwx",
    "AKS": "modelplane-rwx-fs",
    "Nebius": "modelplane-rwx-fs",
}
# Nodes per pool: the bound of Modelplane's own cluster XRDs (GKE/EKS/AKS/Vultr node pools: nodeCount, minNodeCount
# and maxNodeCount at most 1000), which also keeps the planner's per-node ledger bounded.
MAX_POOL_NODES = 1000
NodeCount = Annotated[int, Field(ge=0, le=MAX_POOL_NODES)]


class Credentials(ApiModel):
    type: Literal["ProviderConfig", "ClusterProviderConfig"] = "ClusterProviderConfig"
    name: Annotated[str, Field(min_length=1, max_length=253)] = "default"


class SecretKeyRef(ApiModel):
    name: Annotated[str, Field(min_length=1, max_length=253)]
    key: Annotated[str, Field(min_length=1, max_length=253)] = "kubeconfig"


class IdentitySecretRef(ApiModel):
    name: Annotated[str, Field(min_length=1, max_length=253)]
    key: Annotated[str, Field(min_length=1, max_length=253)] = "private_key"
    type: Literal["GoogleApplicationCredentials", "AWSWebIdentityCredentials", "NebiusServiceAccountCredentials"] = (
        "GoogleApplicationCredentials"
    )


class CacheStorage(ApiModel):
    storage_class_name: Annotated[str, Field(min_length=1, max_length=253)] | None = None


class ExistingSource(ApiModel):
    """A cluster that already runs; on Pulumi its kubeconfig comes from a secret stack config value."""

    secret_ref: SecretKeyRef
    identity_secret_ref: IdentitySecretRef | None = None
    cache: CacheStorage | None = None


class CloudSource(ApiModel):
    region: Annotated[str, Field(min_length=1, max_length=32)]
    kubernetes_version: str
    credentials: Credentials = Field(default_factory=Credentials)


class GkeSource(CloudSource):
    kubernetes_version: str = "1.35"


class EksSource(CloudSource):
    kubernetes_version: str = "1.36"


class VultrSource(CloudSource):
    kubernetes_version: str = "v1.36.1+3"


class AksSource(ApiModel):
    location: Annotated[str, Field(min_length=1, max_length=32)]
    kubernetes_version: str = "1.34"
    credentials: Credentials = Field(default_factory=Credentials)


class NebiusSource(ApiModel):
    kubernetes_version: str = "1.34"
    credentials: Credentials = Field(default_factory=Credentials)


class ClusterSourceSpec(ApiModel):
    source: Source
    existing: ExistingSource | None = None
    gke: GkeSource | None = None
    eks: EksSource | None = None
    aks: AksSource | None = None
    nebius: NebiusSource | None = None
    vultr: VultrSource | None = None

    @model_validator(mode="after")
    def _block_for_source(self) -> ClusterSourceSpec:
        field = self.source.lower()
        if getattr(self, field) is None:
            raise ValueError(f"source {self.source} requires the {field} block")
        return self


class Taint(ApiModel):
    key: Annotated[str, Field(min_length=1)]
    value: str | None = None
    effect: TaintEffect


class CapacityBlock(ApiModel):
    capacity_reservation_id: Annotated[str, Field(min_length=4, max_length=64, pattern=r"^cr-[0-9a-f]+$")]


class Infiniband(ApiModel):
    fabric: Annotated[str, Field(min_length=1, max_length=63)]


class Fabric(ApiModel):
    type: Literal["None", "EFA", "InfiniBand"] = "None"
    infiniband: Infiniband | None = None

    @model_validator(mode="after")
    def _infiniband_block(self) -> Fabric:
        if self.infiniband is not None and self.type != "InfiniBand":
            raise ValueError("fabric.infiniband is only valid when fabric.type is InfiniBand")
        return self


class NodePool(ApiModel):
    """A pool of identical nodes of one InferenceClass."""

    name: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    class_name: Annotated[str, Field(min_length=1, max_length=253)]
    node_count: NodeCount = 1
    min_node_count: NodeCount | None = None
    max_node_count: Annotated[int, Field(ge=1, le=MAX_POOL_NODES)] | None = None
    zones: list[str] = Field(default_factory=list)
    capacity_block: CapacityBlock | None = None
    fabric: Fabric | None = None

    @property
    def nodes(self) -> int:
        """Declared capacity the scheduler plans against: the autoscaling ceiling, as Modelplane publishes it."""
        return self.max_node_count if self.max_node_count is not None else self.node_count

    @model_validator(mode="after")
    def _bounds(self) -> NodePool:
        if self.max_node_count is None:
            return self
        if self.min_node_count is not None and self.min_node_count > self.max_node_count:
            raise ValueError("minNodeCount must not exceed maxNodeCount")
        if self.node_count > self.max_node_count:
            raise ValueError(f"nodeCount {self.node_count} must not exceed maxNodeCount {self.max_node_count}")
        return self


class InferenceClusterSpec(ApiModel):
    cluster: ClusterSourceSpec
    taints: list[Taint] = Field(default_factory=list)
    node_pools: Annotated[list[NodePool], Field(min_length=1, max_length=8)]

    @model_validator(mode="after")
    def _unique_keys(self) -> InferenceClusterSpec:
        pools = [pool.name for pool in self.node_pools]
        duplicate_pools = sorted({name for name in pools if pools.count(name) > 1})
        if duplicate_pools:
            raise ValueError(f"nodePools: duplicate name(s) {', '.join(duplicate_pools)}")
        taints = [(taint.key, taint.effect) for taint in self.taints]
        if len(set(taints)) != len(taints):
            raise ValueError("taints: duplicate (key, effect) pair")
        return self

    @model_validator(mode="after")
    def _pool_features_fit_source(self) -> InferenceClusterSpec:
        """Fabrics and capacity blocks exist only where the cloud has them (Existing clusters bring their own)."""
        source = self.cluster.source
        for index, pool in enumerate(self.node_pools):
            fabric = pool.fabric.type if pool.fabric else "None"
            where = f"nodePools[{index}]"
            if fabric == "InfiniBand" and source == "Nebius" and not pool.fabric.infiniband:  # type: ignore[union-attr]
                raise ValueError(f"{where}.fabric.infiniband is required when fabric.type is InfiniBand on Nebius")
            if source == "Existing":
                continue
            if fabric in _FABRIC_SOURCES and source not in _FABRIC_SOURCES[fabric]:
                raise ValueError(
                    f"{where}.fabric.type {fabric} is only available on {' and '.join(_FABRIC_SOURCES[fabric])}"
                )
            if pool.capacity_block and source != "EKS":
                raise ValueError(f"{where}.capacityBlock is only available on EKS")
        return self


_FABRIC_SOURCES = {"EFA": ("EKS",), "InfiniBand": ("AKS", "Nebius")}


class InferenceCluster(Resource[InferenceClusterSpec]):
    kind: Literal["InferenceCluster"] = "InferenceCluster"
    metadata: DnsLabelMeta

    @property
    def cache_storage_class(self) -> str | None:
        """The RWX StorageClass a ModelCache uses on this cluster, or None when the cluster cannot hold a cache."""
        existing = self.spec.cluster.existing
        if self.spec.cluster.source == "Existing":
            return existing.cache.storage_class_name if existing and existing.cache else None
        return CACHE_STORAGE_CLASSES.get(self.spec.cluster.source)

    def pool(self, name: str) -> NodePool | None:
        return next((pool for pool in self.spec.node_pools if pool.name == name), None)
