"""What every node of a GPU pool carries, whoever creates it (the Pulumi program on EKS/GKE, or the sandbox)."""

from __future__ import annotations

from modelplane.api.inference_class import InferenceClass
from modelplane.api.inference_cluster import InferenceCluster, NodePool

LABEL_POOL = "modelplane.ai/pool"
LABEL_GPU = "modelplane.ai/gpu"
GPU_TAINT_KEY = "nvidia.com/gpu"
SYSTEM_POOL = "system"
# GKE starts its managed NVIDIA DRA driver on nodes with this label.
GKE_DRA_LABEL = {"cloud.google.com/gke-nvidia-gpu-dra-driver": "true"}


def gpu_labels(pool: NodePool, accelerator: str) -> dict[str, str]:
    return {LABEL_POOL: pool.name, LABEL_GPU: accelerator}


def pool_labels(cluster: InferenceCluster, pool: NodePool, inference_class: InferenceClass) -> dict[str, str]:
    """The labels of a pool's nodes: the pool, the accelerator where the class provisions one, GKE's DRA label."""
    provisioning = inference_class.spec.provisioning
    block = getattr(provisioning, provisioning.provider.lower(), None) if provisioning else None
    labels = gpu_labels(pool, block.accelerator.type) if block is not None else {LABEL_POOL: pool.name}
    if cluster.spec.cluster.source == "GKE":
        labels.update(GKE_DRA_LABEL)
    return labels


def machine_type(inference_class: InferenceClass) -> str | None:
    """The cloud machine type of the class's nodes, when it declares one."""
    provisioning = inference_class.spec.provisioning
    block = getattr(provisioning, provisioning.provider.lower(), None) if provisioning else None
    for attribute in ("instance_type", "machine_type", "vm_size", "plan", "preset"):
        value = getattr(block, attribute, None)
        if value:
            return str(value)
    return None


def gpu_taint() -> dict[str, str]:
    """The taint every GPU pool carries (engine pods tolerate it; system pods stay off GPU nodes)."""
    return {"key": GPU_TAINT_KEY, "value": "true", "effect": "NoSchedule"}
