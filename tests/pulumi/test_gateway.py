"""The InferenceGateway on its cluster: MetalLB when asked for, and a Traefik that leaves the Gateway API CRDs alone."""

from __future__ import annotations

import pytest

from modelplane.components.mockview import MockRun, Registration
from tests.pulumi.helpers import run, stack_config

POOL = "172.18.255.200-172.18.255.250"
RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
IP_POOL = "kubernetes:metallb.io/v1beta1:IPAddressPool"
L2 = "kubernetes:metallb.io/v1beta1:L2Advertisement"


@pytest.fixture(scope="module")
def metallb() -> MockRun:
    """dev (an Existing kind cluster) with its gateway asking for MetalLB."""
    config = stack_config("dev")
    config["modelplane:gateways"]["default"]["traefik"].update(loadBalancer="MetalLB", metallb={"addressPool": POOL})
    result = run(config, "dev")
    assert result.error is None, result.error
    return result


def metallb_resources(result: MockRun) -> list[Registration]:
    return [
        result.named(NAMESPACE, "local/metallb-system"),
        result.named(RELEASE, "local/metallb"),
        result.named(IP_POOL, "local/metallb-system/modelplane"),
        result.named(L2, "local/metallb-system/modelplane"),
    ]


def test_metallb_is_installed_on_the_gateway_cluster_under_the_gateway(metallb: MockRun) -> None:
    for item in metallb_resources(metallb):
        assert (item.parent_name, item.provider_name) == ("default", "local"), item.name
    release = metallb.named(RELEASE, "local/metallb").inputs
    assert (release["name"], release["chart"], release["version"]) == ("metallb", "metallb", "0.14.9")
    assert release["repositoryOpts"] == {"repo": "https://metallb.github.io/metallb"}
    assert release["namespace"] == "metallb-system"
    labels = metallb.named(NAMESPACE, "local/metallb-system").inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    pool = metallb.named(IP_POOL, "local/metallb-system/modelplane").inputs
    assert pool["metadata"] == {
        "name": "modelplane",
        "namespace": "metallb-system",
        "annotations": {"pulumi.com/patchForce": "true"},
    }
    assert pool["spec"] == {"addresses": [POOL]}
    advertisement = metallb.named(L2, "local/metallb-system/modelplane").inputs
    assert advertisement["spec"] == {"ipAddressPools": ["modelplane"]}


def test_traefik_waits_for_the_address_pool_which_waits_for_metallb(metallb: MockRun) -> None:
    namespace, release, pool, advertisement = metallb_resources(metallb)
    assert namespace.urn in release.dependencies
    assert release.urn in pool.dependencies and release.urn in advertisement.dependencies
    traefik = metallb.named(RELEASE, "local/traefik")
    assert {pool.urn, advertisement.urn} <= set(traefik.dependencies)
    assert metallb.named(RELEASE, "local/envoy-gateway").urn in traefik.dependencies  # the Gateway API CRDs


def test_metallb_does_not_wait_for_the_serving_stack(metallb: MockRun) -> None:
    # The serving stack's Gateway waits for its own load-balancer address, which on kind comes from this pool.
    serving = {item.urn for item in metallb.registrations if item.parent_name == "local" and item.type == RELEASE}
    assert serving
    for item in metallb_resources(metallb):
        assert not serving & set(item.dependencies), item.name


def test_metallb_follows_chart_versions() -> None:
    config = stack_config("dev")
    config["modelplane:gateways"]["default"]["traefik"].update(loadBalancer="MetalLB", metallb={"addressPool": POOL})
    config["modelplane:chartVersions"] = {"metallb": "0.15.2"}
    result = run(config, "dev")
    assert result.named(RELEASE, "local/metallb").inputs["version"] == "0.15.2"


def test_without_a_load_balancer_there_is_no_metallb() -> None:
    result = run(stack_config("dev"), "dev")
    assert result.error is None, result.error
    assert not result.of_type(IP_POOL) and not result.of_type(L2)
    assert not [item for item in result.of_type(RELEASE) if item.inputs["chart"] == "metallb"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_traefik_does_not_install_the_gateway_api_crds_envoy_gateway_owns(stack: str) -> None:
    result = run(stack_config(stack), stack)
    assert result.error is None, result.error
    (traefik,) = [item for item in result.of_type(RELEASE) if item.inputs["chart"] == "traefik"]
    cluster = traefik.provider_name
    assert traefik.inputs["skipCrds"] is True
    envoy = result.named(RELEASE, f"{cluster}/envoy-gateway")
    assert envoy.inputs["skipCrds"] is False and envoy.urn in traefik.dependencies
