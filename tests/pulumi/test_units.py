"""Pure pieces of the Pulumi layer: the placement merge, chart data, pool sizing, manifest → resource mapping."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pytest

from modelplane.api.inference_cluster import NodePool
from modelplane.components.clusters.base import Scaling, pool_scaling
from modelplane.components.clusters.eks import efa_interface_count, efa_interfaces
from modelplane.components.kube import object_name
from modelplane.components.placement_memory import merge_records, normalise
from modelplane.components.program import Settings
from modelplane.compose import serving_stack


def record(*deployments: tuple[str, int]) -> dict:
    return {
        "deployments": [
            {
                "namespace": "ml",
                "name": name,
                "replicas": [{"cluster": "a", "index": i, "engines": []} for i in range(n)],
            }
            for name, n in deployments
        ],
        "clusters": [{"name": "a", "pools": []}],
    }


def test_merge_recovers_only_deployments_the_config_record_lacks() -> None:
    merged = merge_records(record(("qwen", 1)), record(("qwen", 3), ("llama", 2), ("parked", 0)))
    assert merged.record is not None
    assert [(item["name"], len(item["replicas"])) for item in merged.record["deployments"]] == [
        ("llama", 2),
        ("qwen", 1),
    ]
    assert merged.recovered == ("recovered placement of ml/llama from the stack's last outputs: 2 replicas",)


def test_merge_without_a_config_record_takes_the_last_outputs_and_says_so() -> None:
    merged = merge_records(None, normalise({"deployments": record(("qwen", 1))["deployments"], "clusters": []}))
    assert merged.record is not None and len(merged.record["deployments"]) == 1
    assert merged.recovered == ("recovered placement of ml/qwen from the stack's last outputs: 1 replica",)
    assert merge_records(None, None) == merge_records(None, {}) and merge_records(None, None).record is None
    assert merge_records(record(("qwen", 1)), None).recovered == ()


def test_normalise_turns_whole_floats_back_into_ints() -> None:
    assert normalise({"a": [1.0, 2.5, {"b": 3.0}], "c": "x"}) == {"a": [1, 2.5, {"b": 3}], "c": "x"}
    assert isinstance(normalise(4.0), int)


def test_versions_resolve_with_overrides_and_reject_unknown_keys() -> None:
    versions = serving_stack.resolve_versions({"certManager": "v1.18.0"})
    assert versions["certManager"] == "v1.18.0" and versions["envoyGateway"] == "v1.8.1"
    with pytest.raises(ValueError, match="unknown key"):
        serving_stack.resolve_versions({"certManger": "v1"})


def test_serving_charts_follow_the_reference_table() -> None:
    charts = {chart.component: chart for chart in serving_stack.serving_charts(serving_stack.DEFAULT_VERSIONS)}
    assert charts["cert-manager"].values == {"crds": {"enabled": True, "keep": False}}
    extension = charts["envoy-gateway"].values["config"]["envoyGateway"]["extensionManager"]
    assert extension["backendResources"] == [
        {"group": "inference.networking.k8s.io", "kind": "InferencePool", "version": "v1"}
    ]
    assert extension["service"]["fqdn"]["port"] == 1063
    assert charts["node-feature-discovery"].values["worker"]["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert charts["dra-driver"].values == {
        "gpuResourcesEnabledOverride": True,
        "resources": {"computeDomains": {"enabled": False}},
    }
    assert {chart.release for chart in charts.values()} >= {"mp-cert-manager", "mp-lws", "mp-dra-driver-nvidia-gpu"}


def test_gateway_objects_name_the_envoy_service_so_its_address_can_be_read() -> None:
    kinds = [item["kind"] for item in serving_stack.gateway_objects()]
    assert kinds == ["Namespace", "EnvoyProxy", "GatewayClass", "Gateway"]
    proxy = serving_stack.gateway_objects()[1]["spec"]["provider"]["kubernetes"]["envoyService"]
    assert proxy == {"name": serving_stack.GATEWAY_SERVICE, "externalTrafficPolicy": "Cluster"}


def test_traefik_skips_its_crds_and_the_chart_made_gateway() -> None:
    chart = serving_stack.traefik_chart("40.2.0")
    assert chart.skip_crds and chart.version == "40.2.0" and chart.repo == "https://traefik.github.io/charts"
    assert chart.values["gateway"] == {"enabled": False} and chart.values["gatewayClass"] == {"enabled": False}


def test_metallb_objects_pool_the_given_addresses_and_advertise_them_on_l2() -> None:
    chart = serving_stack.metallb_chart("0.14.9")
    assert (chart.release, chart.chart, chart.namespace) == ("metallb", "metallb", "metallb-system")
    assert chart.repo == "https://metallb.github.io/metallb" and not chart.skip_crds  # its CRDs come with it
    pool, advertisement = serving_stack.metallb_objects("10.0.0.100-10.0.0.149")
    assert (pool["kind"], pool["apiVersion"], pool["spec"]) == (
        "IPAddressPool",
        "metallb.io/v1beta1",
        {"addresses": ["10.0.0.100-10.0.0.149"]},
    )
    assert advertisement["kind"] == "L2Advertisement"
    assert advertisement["spec"]["ipAddressPools"] == [pool["metadata"]["name"]] == ["modelplane"]
    assert serving_stack.DEFAULT_VERSIONS["metallb"] == "0.14.9"


@pytest.mark.parametrize(
    ("instance_type", "interfaces"),
    [
        ("p5.48xlarge", 32),
        ("p5e.48xlarge", 32),
        ("p5en.48xlarge", 16),
        ("p4d.24xlarge", 4),
        ("p4de.24xlarge", 4),
        ("g6.xlarge", 1),
        ("g6e.48xlarge", 1),
    ],
)
def test_efa_interfaces_are_one_per_network_card_of_the_family(instance_type: str, interfaces: int) -> None:
    assert efa_interface_count(instance_type) == interfaces


def test_efa_interfaces_put_the_primary_on_card_0_and_efa_only_on_the_others() -> None:
    primary, second, third = efa_interfaces(3, ["sg-efa", "sg-cluster"])
    assert primary == {
        "network_card_index": 0,
        "device_index": 0,
        "interface_type": "efa",
        "security_groups": ["sg-efa", "sg-cluster"],
        "delete_on_termination": "true",
    }
    assert (second["network_card_index"], second["device_index"], second["interface_type"]) == (1, 1, "efa-only")
    assert (third["network_card_index"], third["device_index"], third["interface_type"]) == (2, 1, "efa-only")


def test_aws_dranet_chart_tolerates_the_gpu_taint() -> None:
    chart = serving_stack.aws_dranet_chart(serving_stack.DEFAULT_VERSIONS["awsDranet"])
    assert (chart.chart, chart.version, chart.namespace) == ("aws-dranet", "1.0.0", "kube-system")
    assert chart.repo == "https://aws.github.io/eks-charts"
    assert chart.values["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


@pytest.mark.parametrize(
    ("pool", "expected"),
    [
        ({"nodeCount": 2}, Scaling(2, 2, 2)),
        ({"nodeCount": 1, "maxNodeCount": 4}, Scaling(0, 4, 1)),
        ({"nodeCount": 0, "minNodeCount": 1, "maxNodeCount": 3}, Scaling(1, 3, 1)),
        ({"nodeCount": 0}, Scaling(0, 1, 0)),
    ],
)
def test_pool_scaling_tops_out_at_the_capacity_the_scheduler_plans_with(pool: dict, expected: Scaling) -> None:
    node_pool = NodePool.model_validate({"name": "p", "className": "c", **pool})
    scaling = pool_scaling(node_pool)
    assert scaling == expected and scaling.maximum == max(node_pool.nodes, 1)


def test_object_names_carry_cluster_namespace_and_name() -> None:
    assert object_name("a", {"metadata": {"name": "x", "namespace": "ns"}}) == "a/ns/x"
    assert object_name("a", {"metadata": {"name": "x"}}) == "a/x"


def test_custom_resources_must_be_spec_only() -> None:
    from modelplane.components.kube import kube_object

    with pytest.raises(ValueError, match="metadata and spec only"):
        kube_object(
            "a/x",
            {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "x"}, "data": {}},
            pulumi.ResourceOptions(),
        )
    assert k8s  # the typed classes come from pulumi_kubernetes


def test_cluster_stacks_are_named_after_the_fleet_stack() -> None:
    settings = Settings("fleet", "org/modelplane/prod-fleet", None, None, True, {})
    assert settings.cluster_stack("us-east") == "org/modelplane/prod-us-east"
    assert Settings("fleet", "org/modelplane/prod", None, None, True, {}).cluster_stack("a") == "org/modelplane/prod-a"
