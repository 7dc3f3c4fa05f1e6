"""EKS: VPC, IAM, cluster, a system node group, a GPU node group per pool (EFA where asked), EFS for caches (§1.10)."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import pulumi
import pulumi_aws.ec2 as ec2
import pulumi_aws.efs as efs
import pulumi_aws.eks as eks
import pulumi_aws.iam as iam
import pulumi_kubernetes as k8s
import pulumi_kubernetes.helm.v3 as helm

from modelplane.api.inference_class import EksProvisioning, InferenceClass
from modelplane.api.inference_cluster import InferenceCluster, NodePool
from modelplane.api.pools import GPU_TAINT_KEY, LABEL_POOL, SYSTEM_POOL, gpu_labels
from modelplane.components.clusters.base import exec_kubeconfig, gpu_pools, pool_scaling
from modelplane.components.kube import kube_object
from modelplane.components.serving_stack import release
from modelplane.compose.serving_stack import aws_dranet_chart

VPC_CIDR = "10.0.0.0/16"
GPU_AMI = "AL2023_x86_64_NVIDIA"  # NVIDIA driver preinstalled: the DRA driver needs a host driver
SYSTEM_INSTANCE = "m6i.xlarge"
ADDONS = ("vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent")
AUTOSCALER_CHART_VERSION = "9.57.0"
_POLICY = "arn:aws:iam::aws:policy/"
_AUTOSCALER_ACTIONS = [
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags",
    "autoscaling:SetDesiredCapacity",
    "autoscaling:TerminateInstanceInAutoScalingGroup",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    "eks:DescribeNodegroup",
]
# Network cards per instance family (§1.10): an EFA node gets one EFA interface per card; unlisted families have one.
_NETWORK_CARDS = {"p5": 32, "p5e": 32, "p5en": 16, "p4d": 4, "p4de": 4}
_ALL_TRAFFIC = {"protocol": "-1", "from_port": 0, "to_port": 0, "self": True}


class _Role(NamedTuple):
    """An IAM role and what must exist before it is usable (the role and its policy attachments)."""

    role: iam.Role
    granted: list[pulumi.Resource]


class EksSource:
    """Everything of one EKS InferenceCluster that lives outside Kubernetes, parented to its component."""

    nvidia_driver_root = "/"

    def __init__(
        self,
        cluster: InferenceCluster,
        classes: Mapping[str, InferenceClass],
        versions: Mapping[str, str],
        parent: pulumi.Resource,
    ) -> None:
        spec = cluster.spec.cluster.eks
        assert spec is not None  # the API model requires the eks block for source EKS
        self._name, self._region, self._parent, self._versions = cluster.name, spec.region, parent, versions
        self._storage_class = cluster.cache_storage_class
        pools = gpu_pools(cluster, classes, "eks")
        self._network = _Network(cluster.name, spec.region, _zones(cluster, spec.region), self._opts())
        cluster_role = self._role("cluster", "eks.amazonaws.com", ["AmazonEKSClusterPolicy"])
        node_role = self._role(
            "node",
            "ec2.amazonaws.com",
            ["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"],
        )
        self.cluster = eks.Cluster(
            cluster.name,
            region=spec.region,
            version=spec.kubernetes_version,
            role_arn=cluster_role.role.arn,
            vpc_config={
                "subnet_ids": self._network.private_ids + self._network.public_ids,
                "endpoint_private_access": True,
                "endpoint_public_access": True,
            },
            access_config={
                "authentication_mode": "API_AND_CONFIG_MAP",
                "bootstrap_cluster_creator_admin_permissions": True,
            },
            opts=self._opts(depends_on=cluster_role.granted),
        )
        system = self._node_group(
            SYSTEM_POOL,
            node_role,
            self._network.private_ids,
            {
                "instance_types": [SYSTEM_INSTANCE],
                "ami_type": "AL2023_x86_64_STANDARD",
                "labels": {LABEL_POOL: SYSTEM_POOL},
                "scaling_config": {"min_size": 1, "max_size": 2, "desired_size": 1},
            },
        )
        addons = [self._addon(name, [system]) for name in ADDONS]
        self._efa_group = self._efa_security_group() if any(has_efa(pool) for pool, _ in pools) else None
        for pool, settings in pools:
            self._gpu_node_group(pool, settings, node_role)
        self.ready: Sequence[pulumi.Resource] = [system, *addons]
        # Lifted attribute Outputs: Output.all would flatten the output types into plain dicts.
        self.kubeconfig = pulumi.Output.all(
            self.cluster.name, self.cluster.endpoint, self.cluster.certificate_authority.data
        ).apply(lambda args: exec_kubeconfig(*args, "aws", _token_args(args[0], spec.region)))

    def _opts(self, **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(**{"parent": self._parent, **extra})

    def _role(self, suffix: str, service: str, policies: list[str], *, pod_identity: bool = False) -> _Role:
        """An IAM role `service` may assume, with AWS-managed policies attached."""
        actions = ["sts:AssumeRole", "sts:TagSession"] if pod_identity else ["sts:AssumeRole"]
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": actions}],
        }
        role = iam.Role(f"{self._name}-{suffix}", assume_role_policy=json.dumps(trust), opts=self._opts())
        attachments = [
            iam.RolePolicyAttachment(
                f"{self._name}-{suffix}-{policy.rsplit('/', 1)[-1]}",
                role=role.name,
                policy_arn=_POLICY + policy,
                opts=self._opts(parent=role),
            )
            for policy in policies
        ]
        return _Role(role, [role, *attachments])

    def _addon(self, name: str, depends_on: Sequence[pulumi.Resource], **args: Any) -> eks.Addon:
        return eks.Addon(
            f"{self._name}-{name}",
            cluster_name=self.cluster.name,
            addon_name=name,
            region=self._region,
            **args,
            opts=self._opts(depends_on=list(depends_on)),
        )

    def _node_group(
        self, pool: str, role: _Role, subnets: Sequence[pulumi.Input[str]], settings: dict[str, Any]
    ) -> eks.NodeGroup:
        return eks.NodeGroup(
            f"{self._name}-{pool}",
            cluster_name=self.cluster.name,
            node_group_name=pool,
            node_role_arn=role.role.arn,
            subnet_ids=list(subnets),
            region=self._region,
            **settings,
            # The cluster-autoscaler owns the size after creation.
            opts=self._opts(depends_on=role.granted, ignore_changes=["scalingConfig.desiredSize"]),
        )

    def _gpu_node_group(self, pool: NodePool, settings: EksProvisioning, role: _Role) -> eks.NodeGroup:
        scaling = pool_scaling(pool)
        group: dict[str, Any] = {
            "instance_types": [settings.instance_type],
            "ami_type": GPU_AMI,
            "labels": gpu_labels(pool, settings.accelerator.type),
            "taints": [{"key": GPU_TAINT_KEY, "value": "true", "effect": "NO_SCHEDULE"}],
            "scaling_config": {
                "min_size": scaling.minimum,
                "max_size": scaling.maximum,
                "desired_size": scaling.desired,
            },
        }
        template = self._launch_template(pool, settings)
        if template is None:
            group["disk_size"] = settings.disk_size_gb
        else:
            group["launch_template"] = {"id": template.id, "version": template.latest_version.apply(str)}
        if pool.capacity_block:
            group["capacity_type"] = "CAPACITY_BLOCK"
        subnets = self._network.private_in(pool.zones)
        return self._node_group(pool.name, role, subnets, group)

    def _launch_template(self, pool: NodePool, settings: EksProvisioning) -> ec2.LaunchTemplate | None:
        """One launch template for a capacity block and/or EFA; EKS then takes the disk from it, not `diskSize`."""
        extra: dict[str, Any] = {}
        if pool.capacity_block:
            extra["instance_market_options"] = {"market_type": "capacity-block"}
            reservation = pool.capacity_block.capacity_reservation_id
            extra["capacity_reservation_specification"] = {
                "capacity_reservation_target": {"capacity_reservation_id": reservation}
            }
        if has_efa(pool):
            assert self._efa_group is not None  # created in __init__ when any pool has EFA
            # Interfaces named in a launch template get no security group from EKS: the cluster's goes on each.
            groups = [self._efa_group.id, self.cluster.vpc_config.cluster_security_group_id]
            extra["network_interfaces"] = efa_interfaces(efa_interface_count(settings.instance_type), groups)
        if not extra:
            return None
        return ec2.LaunchTemplate(
            f"{self._name}-{pool.name}",
            region=self._region,
            block_device_mappings=[
                {"device_name": "/dev/xvda", "ebs": {"volume_size": settings.disk_size_gb, "volume_type": "gp3"}}
            ],
            **extra,
            opts=self._opts(),
        )

    def _efa_security_group(self) -> ec2.SecurityGroup:
        """EFA traffic only flows between interfaces that share a group allowing all traffic to and from itself."""
        return ec2.SecurityGroup(
            f"{self._name}-efa",
            vpc_id=self._network.vpc.id,
            region=self._region,
            description="EFA traffic between the cluster's EFA nodes",
            ingress=[_ALL_TRAFFIC],
            egress=[_ALL_TRAFFIC],
            tags={"Name": f"{self._name}-efa"},
            opts=self._opts(),
        )

    def cache_storage(self, parent: pulumi.Resource, provider: k8s.Provider) -> str | None:
        """Elastic, encrypted EFS with a mount target per private subnet, the EFS CSI driver, and StorageClass."""
        opts = pulumi.ResourceOptions(parent=parent)
        group = ec2.SecurityGroup(
            f"{self._name}-efs",
            vpc_id=self._network.vpc.id,
            region=self._region,
            ingress=[{"protocol": "tcp", "from_port": 2049, "to_port": 2049, "cidr_blocks": [VPC_CIDR]}],
            opts=opts,
        )
        file_system = efs.FileSystem(
            f"{self._name}-cache",
            encrypted=True,
            throughput_mode="elastic",
            region=self._region,
            tags={"Name": f"{self._name}-cache"},
            opts=opts,
        )
        targets = [
            efs.MountTarget(
                f"{self._name}-cache-{zone}",
                file_system_id=file_system.id,
                subnet_id=subnet.id,
                security_groups=[group.id],
                region=self._region,
                opts=opts,
            )
            for zone, subnet in self._network.private.items()
        ]
        role = self._role(
            "efs-csi", "pods.eks.amazonaws.com", ["service-role/AmazonEFSCSIDriverPolicy"], pod_identity=True
        )
        driver = self._addon(
            "aws-efs-csi-driver",
            self.ready,
            pod_identity_associations=[{"role_arn": role.role.arn, "service_account": "efs-csi-controller-sa"}],
        )
        assert self._storage_class is not None
        kube_object(
            f"{self._name}/{self._storage_class}",
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": self._storage_class},
                "provisioner": "efs.csi.aws.com",
                "parameters": {"provisioningMode": "efs-ap", "fileSystemId": file_system.id, "directoryPerms": "700"},
                "volumeBindingMode": "Immediate",
            },
            pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[driver, *targets]),
        )
        return self._storage_class

    def extras(self, parent: pulumi.Resource, provider: k8s.Provider) -> None:
        """cluster-autoscaler (Pod Identity, auto-discovery): DRA rules out Karpenter and Auto Mode (§1.10); and
        aws-dranet when some pool has EFA."""
        role = self._role("autoscaler", "pods.eks.amazonaws.com", [], pod_identity=True)
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": _AUTOSCALER_ACTIONS, "Resource": "*"}],
        }
        iam.RolePolicy(
            f"{self._name}-autoscaler",
            role=role.role.name,
            policy=json.dumps(policy),
            opts=self._opts(parent=role.role),
        )
        association = eks.PodIdentityAssociation(
            f"{self._name}-autoscaler",
            cluster_name=self.cluster.name,
            namespace="kube-system",
            service_account="cluster-autoscaler",
            role_arn=role.role.arn,
            region=self._region,
            opts=self._opts(),
        )
        helm.Release(
            f"{self._name}/cluster-autoscaler",
            name="cluster-autoscaler",
            chart="cluster-autoscaler",
            version=AUTOSCALER_CHART_VERSION,
            namespace="kube-system",
            repository_opts={"repo": "https://kubernetes.github.io/autoscaler"},
            values={
                "autoDiscovery": {"clusterName": self.cluster.name},
                "awsRegion": self._region,
                "rbac": {"serviceAccount": {"name": "cluster-autoscaler"}},
                "extraArgs": {"balance-similar-node-groups": True},
            },
            opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[association]),
        )
        if self._efa_group is not None:
            # Publishes the EFA interfaces as DRA devices (DeviceClass efa.networking.k8s.aws) for claims to use.
            chart = aws_dranet_chart(self._versions["awsDranet"])
            release(f"{self._name}/aws-dranet", chart, pulumi.ResourceOptions(parent=parent, provider=provider))


def has_efa(pool: NodePool) -> bool:
    return pool.fabric is not None and pool.fabric.type == "EFA"


def efa_interface_count(instance_type: str) -> int:
    """One EFA interface per network card of the instance's family (`p5.48xlarge` → `p5` → 32)."""
    return _NETWORK_CARDS.get(instance_type.split(".", 1)[0], 1)


def efa_interfaces(count: int, security_groups: Sequence[pulumi.Input[str]]) -> list[dict[str, Any]]:
    """Card 0 is the primary interface, EFA with ENA (an EFA-only one cannot be primary); every other card gets an
    EFA-only interface at device index 1, which takes no IP address from the subnet."""
    return [
        {
            "network_card_index": card,
            "device_index": 0 if card == 0 else 1,
            "interface_type": "efa" if card == 0 else "efa-only",
            "security_groups": list(security_groups),
            "delete_on_termination": "true",
        }
        for card in range(count)
    ]


def _zones(cluster: InferenceCluster, region: str) -> list[str]:
    """The pools' zones; EKS needs subnets in at least two, so `<region>a`/`b` fill up a shorter list."""
    zones = sorted({zone for pool in cluster.spec.node_pools for zone in pool.zones})
    for suffix in "abc":
        if len(zones) >= 2:
            break
        if f"{region}{suffix}" not in zones:
            zones.append(f"{region}{suffix}")
    return zones


class _Network:
    """A VPC with a public and a private subnet per zone, one NAT gateway; nodes run in the private subnets."""

    def __init__(self, name: str, region: str, zones: list[str], opts: pulumi.ResourceOptions) -> None:
        blocks = list(ipaddress.ip_network(VPC_CIDR).subnets(new_prefix=20))
        self.vpc = ec2.Vpc(
            name,
            cidr_block=VPC_CIDR,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            region=region,
            tags={"Name": name},
            opts=opts,
        )
        child = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=self.vpc))

        def subnet(kind: str, index: int, zone: str, tags: dict[str, str]) -> ec2.Subnet:
            offset = 0 if kind == "private" else len(blocks) // 2
            return ec2.Subnet(
                f"{name}-{kind}-{zone}",
                vpc_id=self.vpc.id,
                cidr_block=str(blocks[offset + index]),
                availability_zone=zone,
                map_public_ip_on_launch=kind == "public",
                region=region,
                tags={"Name": f"{name}-{kind}-{zone}", **tags},
                opts=child,
            )

        self.private = {
            zone: subnet("private", i, zone, {"kubernetes.io/role/internal-elb": "1"}) for i, zone in enumerate(zones)
        }
        self.public = {zone: subnet("public", i, zone, {"kubernetes.io/role/elb": "1"}) for i, zone in enumerate(zones)}
        gateway = ec2.InternetGateway(name, vpc_id=self.vpc.id, region=region, opts=child)
        nat_ip = ec2.Eip(f"{name}-nat", domain="vpc", region=region, opts=child)
        nat = ec2.NatGateway(
            name, allocation_id=nat_ip.id, subnet_id=self.public[zones[0]].id, region=region, opts=child
        )
        self._route(f"{name}-public", {"gateway_id": gateway.id}, self.public, region, child)
        self._route(f"{name}-private", {"nat_gateway_id": nat.id}, self.private, region, child)

    def _route(
        self,
        name: str,
        target: Mapping[str, pulumi.Input[str]],
        subnets: Mapping[str, ec2.Subnet],
        region: str,
        opts: pulumi.ResourceOptions,
    ) -> None:
        table = ec2.RouteTable(
            name, vpc_id=self.vpc.id, routes=[{"cidr_block": "0.0.0.0/0", **target}], region=region, opts=opts
        )
        for zone, subnet in subnets.items():
            ec2.RouteTableAssociation(
                f"{name}-{zone}", route_table_id=table.id, subnet_id=subnet.id, region=region, opts=opts
            )

    @property
    def private_ids(self) -> list[pulumi.Output[str]]:
        return [subnet.id for subnet in self.private.values()]

    @property
    def public_ids(self) -> list[pulumi.Output[str]]:
        return [subnet.id for subnet in self.public.values()]

    def private_in(self, zones: Sequence[str]) -> list[pulumi.Output[str]]:
        return [subnet.id for zone, subnet in self.private.items() if not zones or zone in zones]


def _token_args(cluster: str, region: str) -> list[str]:
    return ["eks", "get-token", "--cluster-name", cluster, "--region", region]
