"""GKE: VPC, the cluster (Filestore CSI, workload identity), a system pool and GPU pools (§1.10 GKECluster)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_gcp.compute as compute
import pulumi_gcp.container as container
import pulumi_gcp.projects as projects
import pulumi_kubernetes as k8s

from modelplane.api.inference_class import GkeProvisioning, InferenceClass
from modelplane.api.inference_cluster import InferenceCluster, NodePool
from modelplane.api.pools import GKE_DRA_LABEL, GPU_TAINT_KEY, LABEL_POOL, SYSTEM_POOL, gpu_labels
from modelplane.components.clusters.base import exec_kubeconfig, gpu_pools, pool_scaling
from modelplane.components.kube import kube_object
from modelplane.compose.serving_stack import GKE_NVIDIA_DRIVER_ROOT

NODE_CIDR, POD_CIDR, SERVICE_CIDR = "10.0.0.0/24", "10.1.0.0/16", "10.2.0.0/16"
SYSTEM_MACHINE = "e2-standard-4"
# Lets the GKE autoscaler scale DRA GPU pools up from zero (reference §0.4, §6).
_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


class GkeSource:
    """Everything of one GKE InferenceCluster that lives outside Kubernetes, parented to its component."""

    nvidia_driver_root = GKE_NVIDIA_DRIVER_ROOT

    def __init__(
        self, cluster: InferenceCluster, classes: Mapping[str, InferenceClass], parent: pulumi.Resource
    ) -> None:
        spec = cluster.spec.cluster.gke
        assert spec is not None  # the API model requires the gke block for source GKE
        self._name, self._storage_class = cluster.name, cluster.cache_storage_class
        opts = pulumi.ResourceOptions(parent=parent)
        pools = gpu_pools(cluster, classes, "gke")
        self.network = compute.Network(cluster.name, auto_create_subnetworks=False, opts=opts)
        subnet = compute.Subnetwork(
            cluster.name,
            network=self.network.id,
            region=spec.region,
            ip_cidr_range=NODE_CIDR,
            secondary_ip_ranges=[
                {"range_name": "pods", "ip_cidr_range": POD_CIDR},
                {"range_name": "services", "ip_cidr_range": SERVICE_CIDR},
            ],
            opts=pulumi.ResourceOptions(parent=self.network),
        )
        self.cluster = container.Cluster(
            cluster.name,
            location=spec.region,
            min_master_version=spec.kubernetes_version,
            release_channel={"channel": "REGULAR"},
            network=self.network.id,
            subnetwork=subnet.id,
            ip_allocation_policy={"cluster_secondary_range_name": "pods", "services_secondary_range_name": "services"},
            # The default pool cannot be shaped like ours; GKE needs one to create the cluster, then it is removed.
            remove_default_node_pool=True,
            initial_node_count=1,
            workload_identity_config={
                "workload_pool": self.network.project.apply(lambda project: f"{project}.svc.id.goog")
            },
            addons_config={"gcp_filestore_csi_driver_config": {"enabled": True}},
            deletion_protection=False,
            opts=opts,
        )
        system = self._pool(
            SYSTEM_POOL,
            spec.region,
            [],
            1,
            {"min_node_count": 1, "max_node_count": 2},
            {
                "machine_type": SYSTEM_MACHINE,
                "oauth_scopes": _SCOPES,
                "labels": {LABEL_POOL: SYSTEM_POOL},
            },
            opts,
        )
        for pool, settings in pools:
            self._gpu_pool(pool, settings, spec.region, opts)
        self.ready: Sequence[pulumi.Resource] = [system]
        # Lifted attribute Outputs: Output.all would flatten the output types into plain dicts.
        self.kubeconfig = pulumi.Output.all(
            self.cluster.name, self.cluster.endpoint, self.cluster.master_auth.cluster_ca_certificate
        ).apply(lambda args: exec_kubeconfig(args[0], f"https://{args[1]}", args[2], "gke-gcloud-auth-plugin", []))

    def _pool(
        self,
        pool: str,
        region: str,
        zones: list[str],
        initial: int,
        autoscaling: dict[str, int],
        node_config: dict[str, object],
        opts: pulumi.ResourceOptions,
    ) -> container.NodePool:
        return container.NodePool(
            f"{self._name}-{pool}",
            name=pool,
            cluster=self.cluster.name,
            location=region,
            node_locations=zones or None,
            initial_node_count=initial,
            autoscaling=autoscaling,
            node_config=node_config,
            # GKE's autoscaler owns the size after creation.
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=["nodeCount"])),
        )

    def _gpu_pool(self, pool: NodePool, settings: GkeProvisioning, region: str, opts: pulumi.ResourceOptions) -> None:
        scaling = pool_scaling(pool)
        accelerator = settings.accelerator
        self._pool(
            pool.name,
            region,
            pool.zones,
            scaling.desired,
            {"min_node_count": scaling.minimum, "max_node_count": scaling.maximum},
            {
                "machine_type": settings.machine_type,
                "disk_size_gb": settings.disk_size_gb,
                "image_type": "COS_CONTAINERD",
                "oauth_scopes": _SCOPES,
                "labels": {**gpu_labels(pool, accelerator.type), **GKE_DRA_LABEL},
                "taints": [{"key": GPU_TAINT_KEY, "value": "true", "effect": "NO_SCHEDULE"}],
                "guest_accelerators": [
                    {
                        "type": accelerator.type,
                        "count": accelerator.count,
                        "gpu_driver_installation_config": {"gpu_driver_version": "DEFAULT"},
                    }
                ],
            },
            opts,
        )

    def cache_storage(self, parent: pulumi.Resource, provider: k8s.Provider) -> str | None:
        """The Filestore API and an Enterprise-tier RWX StorageClass on the VPC (the CSI driver is a cluster addon)."""
        api = projects.Service(
            f"{self._name}-filestore",
            service="file.googleapis.com",
            disable_on_destroy=False,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        assert self._storage_class is not None
        kube_object(
            f"{self._name}/{self._storage_class}",
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": self._storage_class},
                "provisioner": "filestore.csi.storage.gke.io",
                "parameters": {"tier": "enterprise", "network": self.network.name},
                "volumeBindingMode": "Immediate",
                "allowVolumeExpansion": True,
            },
            pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[api]),
        )
        return self._storage_class

    def extras(self, parent: pulumi.Resource, provider: k8s.Provider) -> None:
        """Nothing: GKE autoscales node pools itself."""
