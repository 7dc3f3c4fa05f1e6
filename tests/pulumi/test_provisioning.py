"""GPU node pools, cache storage and the serving stack's charts, as registered for the prod stack."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from modelplane.components.mockview import MockRun
from modelplane.compose.serving_stack import DEFAULT_VERSIONS
from tests.pulumi.helpers import run, stack_config

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}


@pytest.fixture(scope="module")
def prod() -> MockRun:
    config = stack_config("prod")
    config["modelplane:chartVersions"] = {"prometheus": "75.0.0"}
    result = run(config)
    assert result.error is None, result.error
    return result


def test_eks_gpu_node_group_follows_its_class_and_pool(prod: MockRun) -> None:
    group = prod.named("aws:eks/nodeGroup:NodeGroup", "us-east-gpu-h100").inputs
    assert group["instanceTypes"] == ["p5.48xlarge"]
    assert group["amiType"] == "AL2023_x86_64_NVIDIA"
    assert group["diskSize"] == 500
    assert group["labels"] == {"modelplane.ai/pool": "gpu-h100", "modelplane.ai/gpu": "nvidia-h100-80gb"}
    assert group["taints"] == [GPU_TAINT]
    assert group["scalingConfig"] == {"minSize": 0, "maxSize": 4, "desiredSize": 1}
    assert group["region"] == "us-east-1"
    private_1a = prod.named("aws:ec2/subnet:Subnet", "us-east-private-us-east-1a")
    assert private_1a.inputs["availabilityZone"] == "us-east-1a"
    assert len(group["subnetIds"]) == 1  # only the pool's zone
    assert "capacityType" not in group and "launchTemplate" not in group


def test_eks_system_group_addons_and_cluster(prod: MockRun) -> None:
    system = prod.named("aws:eks/nodeGroup:NodeGroup", "us-east-system").inputs
    assert system["instanceTypes"] == ["m6i.xlarge"] and system["labels"] == {"modelplane.ai/pool": "system"}
    cluster = prod.named("aws:eks/cluster:Cluster", "us-east").inputs
    assert cluster["version"] == "1.36"
    assert cluster["accessConfig"]["authenticationMode"] == "API_AND_CONFIG_MAP"
    addons = {item.inputs["addonName"] for item in prod.of_type("aws:eks/addon:Addon")}
    assert addons == {"vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent", "aws-efs-csi-driver"}
    policy = prod.named("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "us-east-cluster-AmazonEKSClusterPolicy")
    assert policy.urn in prod.named("aws:eks/cluster:Cluster", "us-east").dependencies
    worker = prod.named("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "us-east-node-AmazonEKSWorkerNodePolicy")
    assert worker.urn in prod.named("aws:eks/nodeGroup:NodeGroup", "us-east-gpu-h100").dependencies
    autoscaler = prod.named("kubernetes:helm.sh/v3:Release", "us-east/cluster-autoscaler").inputs
    assert autoscaler["version"] == "9.57.0" and autoscaler["namespace"] == "kube-system"


def test_eks_capacity_block_goes_through_a_launch_template() -> None:
    config = stack_config("prod")
    pool = config["modelplane:clusters"]["us-east"]["nodePools"][0]
    pool["capacityBlock"] = {"capacityReservationId": "cr-0123456789abcdef0"}
    result = run(config)
    assert result.error is None, result.error
    group = result.named("aws:eks/nodeGroup:NodeGroup", "us-east-gpu-h100").inputs
    assert group["capacityType"] == "CAPACITY_BLOCK" and "diskSize" not in group
    template = result.named("aws:ec2/launchTemplate:LaunchTemplate", "us-east-gpu-h100").inputs
    target = template["capacityReservationSpecification"]["capacityReservationTarget"]
    assert target == {"capacityReservationId": "cr-0123456789abcdef0"}
    assert template["instanceMarketOptions"] == {"marketType": "capacity-block"}
    assert template["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 500
    assert "networkInterfaces" not in template
    assert [item.name for item in result.of_type("aws:ec2/securityGroup:SecurityGroup")] == ["us-east-efs"]


def efa_config(*, capacity_block: bool = False) -> dict[str, Any]:
    """prod with EFA on the H100 pool (p5.48xlarge) and a second EFA pool of g6.xlarge nodes on us-east."""
    config = stack_config("prod")
    classes = config["modelplane:classes"]
    classes["l4-eks"] = {
        **copy.deepcopy(classes["l4-1x"]),
        "provisioning": {
            "provider": "EKS",
            "eks": {"instanceType": "g6.xlarge", "diskSizeGb": 200, "accelerator": {"type": "nvidia-l4", "count": 1}},
        },
    }
    pools = config["modelplane:clusters"]["us-east"]["nodePools"]
    pools[0]["fabric"] = {"type": "EFA"}
    if capacity_block:
        pools[0]["capacityBlock"] = {"capacityReservationId": "cr-0123456789abcdef0"}
    pools.append({"name": "gpu-l4", "className": "l4-eks", "zones": ["us-east-1a"], "fabric": {"type": "EFA"}})
    return config


@pytest.fixture(scope="module")
def efa() -> MockRun:
    result = run(efa_config())
    assert result.error is None, result.error
    return result


@pytest.mark.parametrize(("pool", "cards"), [("gpu-h100", 32), ("gpu-l4", 1)])
def test_an_efa_pool_gets_one_efa_interface_per_network_card(efa: MockRun, pool: str, cards: int) -> None:
    template = efa.named("aws:ec2/launchTemplate:LaunchTemplate", f"us-east-{pool}")
    assert (template.parent_name, template.provider, template.inputs["region"]) == ("us-east", "", "us-east-1")
    interfaces = template.inputs["networkInterfaces"]
    assert [item["networkCardIndex"] for item in interfaces] == list(range(cards))
    assert (interfaces[0]["interfaceType"], interfaces[0]["deviceIndex"]) == ("efa", 0)
    assert all((item["interfaceType"], item["deviceIndex"]) == ("efa-only", 1) for item in interfaces[1:])
    group = efa.named("aws:ec2/securityGroup:SecurityGroup", "us-east-efa")
    # The mock IDs: the EFA group's and the EKS cluster security group's.
    assert all(item["securityGroups"] == ["us-east-efa-id", "sg-us-east-cluster"] for item in interfaces)
    assert group.urn in template.dependencies
    node_group = efa.named("aws:eks/nodeGroup:NodeGroup", f"us-east-{pool}")
    assert node_group.inputs["launchTemplate"] == {"id": f"us-east-{pool}-id", "version": "1"}
    assert template.urn in node_group.dependencies
    assert "diskSize" not in node_group.inputs and "capacityType" not in node_group.inputs
    assert template.inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"] == {"gpu-h100": 500, "gpu-l4": 200}[pool]


def test_the_efa_security_group_allows_all_traffic_within_itself(efa: MockRun) -> None:
    (group,) = [item for item in efa.of_type("aws:ec2/securityGroup:SecurityGroup") if item.name.endswith("-efa")]
    everything = [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}]
    assert group.inputs["ingress"] == everything and group.inputs["egress"] == everything
    assert group.parent_name == "us-east" and group.inputs["vpcId"] == "us-east-id"


def test_an_efa_cluster_gets_aws_dranet_once_tolerating_the_gpu_taint(efa: MockRun, prod: MockRun) -> None:
    (dranet,) = [item for item in efa.of_type("kubernetes:helm.sh/v3:Release") if item.inputs["chart"] == "aws-dranet"]
    assert dranet.name == "us-east/aws-dranet" and dranet.provider_name == "us-east" and dranet.parent_name == "us-east"
    assert dranet.inputs["repositoryOpts"] == {"repo": "https://aws.github.io/eks-charts"}
    assert (dranet.inputs["version"], dranet.inputs["namespace"]) == ("1.0.0", "kube-system")
    assert dranet.inputs["values"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert not [item for item in prod.of_type("kubernetes:helm.sh/v3:Release") if "aws-dranet" in item.name]
    assert not prod.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert [item.name for item in prod.of_type("aws:ec2/securityGroup:SecurityGroup")] == ["us-east-efs"]


def test_aws_dranet_follows_chart_versions() -> None:
    config = efa_config()
    config["modelplane:chartVersions"] = {"awsDranet": "1.1.0"}
    result = run(config)
    assert result.named("kubernetes:helm.sh/v3:Release", "us-east/aws-dranet").inputs["version"] == "1.1.0"


def test_a_capacity_block_and_efa_share_one_launch_template() -> None:
    result = run(efa_config(capacity_block=True))
    assert result.error is None, result.error
    template = result.named("aws:ec2/launchTemplate:LaunchTemplate", "us-east-gpu-h100").inputs
    assert len(template["networkInterfaces"]) == 32
    assert template["instanceMarketOptions"] == {"marketType": "capacity-block"}
    target = template["capacityReservationSpecification"]["capacityReservationTarget"]
    assert target == {"capacityReservationId": "cr-0123456789abcdef0"}
    group = result.named("aws:eks/nodeGroup:NodeGroup", "us-east-gpu-h100").inputs
    assert group["capacityType"] == "CAPACITY_BLOCK" and group["launchTemplate"]["id"] == "us-east-gpu-h100-id"
    assert len(result.of_type("aws:ec2/launchTemplate:LaunchTemplate")) == 2  # one per EFA pool, none extra


def test_gke_gpu_node_pool_has_accelerators_driver_labels_taint_and_autoscaling(prod: MockRun) -> None:
    pool = prod.named("gcp:container/nodePool:NodePool", "eu-west-gpu-l4").inputs
    node = pool["nodeConfig"]
    assert node["machineType"] == "g2-standard-8" and node["diskSizeGb"] == 200
    assert node["guestAccelerators"] == [
        {"type": "nvidia-l4", "count": 1, "gpuDriverInstallationConfig": {"gpuDriverVersion": "DEFAULT"}}
    ]
    assert node["labels"] == {
        "modelplane.ai/pool": "gpu-l4",
        "modelplane.ai/gpu": "nvidia-l4",
        "cloud.google.com/gke-nvidia-gpu-dra-driver": "true",
    }
    assert node["taints"] == [GPU_TAINT]
    assert pool["autoscaling"] == {"minNodeCount": 0, "maxNodeCount": 4}
    assert pool["nodeLocations"] == ["europe-west4-a"] and pool["initialNodeCount"] == 1
    cluster = prod.named("gcp:container/cluster:Cluster", "eu-west").inputs
    assert cluster["addonsConfig"]["gcpFilestoreCsiDriverConfig"] == {"enabled": True}
    assert cluster["removeDefaultNodePool"] is True


def test_cache_storage_per_source(prod: MockRun) -> None:
    efs = prod.named("kubernetes:storage.k8s.io/v1:StorageClass", "us-east/modelplane-rwx-efs").inputs
    assert efs["provisioner"] == "efs.csi.aws.com" and efs["parameters"]["provisioningMode"] == "efs-ap"
    assert len(prod.of_type("aws:efs/mountTarget:MountTarget")) == 2  # one per private subnet
    filestore = prod.named("kubernetes:storage.k8s.io/v1:StorageClass", "eu-west/modelplane-rwx").inputs
    assert filestore["provisioner"] == "filestore.csi.storage.gke.io"
    assert filestore["parameters"] == {"tier": "enterprise", "network": "eu-west"}


EXPECTED_CHARTS = {
    "cert-manager": ("cert-manager", "https://charts.jetstack.io", "v1.17.1"),
    "envoy-gateway": ("oci://docker.io/envoyproxy/gateway-helm", None, "v1.8.1"),
    "ai-gateway-crds": ("oci://docker.io/envoyproxy/ai-gateway-crds-helm", None, "v0.7.0"),
    "ai-gateway": ("oci://docker.io/envoyproxy/ai-gateway-helm", None, "v0.7.0"),
    "prometheus": ("kube-prometheus-stack", "https://prometheus-community.github.io/helm-charts", "75.0.0"),
    "leader-worker-set": ("oci://registry.k8s.io/lws/charts/lws", None, "v0.8.0"),
    "node-feature-discovery": ("oci://registry.k8s.io/nfd/charts/node-feature-discovery", None, "0.18.3"),
    "dra-driver": ("oci://registry.k8s.io/dra-driver-nvidia/charts/dra-driver-nvidia-gpu", None, "0.4.0"),
}


@pytest.mark.parametrize("cluster", ["us-east", "eu-west"])
def test_serving_stack_charts_are_pinned_and_overridable(prod: MockRun, cluster: str) -> None:
    for component, (chart, repo, version) in EXPECTED_CHARTS.items():
        release = prod.named("kubernetes:helm.sh/v3:Release", f"{cluster}/{component}").inputs
        assert (release["chart"], release.get("repositoryOpts", {}).get("repo"), release["version"]) == (
            chart,
            repo,
            version,
        ), component
    crds = prod.named("kubernetes:yaml/v2:ConfigFile", f"{cluster}/gateway-api-inference-extension").inputs
    assert crds["file"].endswith(f"/download/{DEFAULT_VERSIONS['gatewayApiInferenceExtension']}/manifests.yaml")


def test_gke_dra_driver_uses_the_gke_driver_root(prod: MockRun) -> None:
    gke = prod.named("kubernetes:helm.sh/v3:Release", "eu-west/dra-driver").inputs["values"]
    eks = prod.named("kubernetes:helm.sh/v3:Release", "us-east/dra-driver").inputs["values"]
    assert gke["nvidiaDriverRoot"] == "/home/kubernetes/bin/nvidia" and "nvidiaDriverRoot" not in eks


def test_gateway_objects_wait_for_the_releases_and_crds() -> None:
    result = run(stack_config("dev"), "dev")
    urn = {(item.type.rsplit(":", 1)[-1], item.name): item.urn for item in result.registrations}
    objects = [
        result.named("kubernetes:core/v1:Namespace", "local/modelplane-system"),
        result.named(
            "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy", "local/modelplane-system/inference-gateway"
        ),
        result.named("kubernetes:gateway.networking.k8s.io/v1:GatewayClass", "local/envoy"),
        result.named("kubernetes:gateway.networking.k8s.io/v1:Gateway", "local/modelplane-system/inference-gateway"),
    ]
    first = set(objects[0].dependencies)
    assert {urn[("Release", f"local/{name}")] for name in EXPECTED_CHARTS} <= first
    assert urn[("ConfigFile", "local/gateway-api-inference-extension")] in first
    for before, after in itertools.pairwise(objects):
        assert before.urn in after.dependencies, after.name
    ai_gateway = result.named("kubernetes:helm.sh/v3:Release", "local/ai-gateway")
    assert {urn[("Release", "local/ai-gateway-crds")], urn[("Release", "local/envoy-gateway")]} <= set(
        ai_gateway.dependencies
    )
    annotations = objects[-1].inputs["metadata"]["annotations"]
    assert annotations == {"pulumi.com/waitFor": "condition=Programmed", "pulumi.com/patchForce": "true"}


def test_workloads_wait_for_their_clusters_serving_stack_and_namespace() -> None:
    result = run(stack_config("dev"), "dev")
    deployment = result.of_type("kubernetes:apps/v1:Deployment")[0]
    # Depending on a component means depending on each of its children.
    gateway = result.named(
        "kubernetes:gateway.networking.k8s.io/v1:Gateway", "local/modelplane-system/inference-gateway"
    )
    namespace = result.named("kubernetes:core/v1:Namespace", "local/ml-team")
    storage = result.named("modelplane:index:CacheStorage", "local")  # no children on dev: nothing to wait for
    assert {gateway.urn, namespace.urn} <= set(deployment.dependencies)
    assert storage.urn not in deployment.dependencies


def test_an_unknown_chart_version_key_stops_the_program() -> None:
    config = stack_config("dev")
    config["modelplane:chartVersions"] = {"certmanager": "v1.18.0"}
    result = run(config, "dev")
    assert result.error is not None and "unknown key(s) certmanager" in str(result.error)
    assert not result.registrations
