"""Issue 11 item 5: routes from the first render. A replica on the fleet gateway's own cluster routes through its
workload gateway's in-cluster DNS name; a replica on another cluster waits for that cluster's gateway address, and
the notice names `--gateway-address` and how to read the address."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner, Result

import modelplane.cli.render  # noqa: F401  (registers the command)
from modelplane.cli.app import app
from modelplane.compose.endpoints import IN_CLUSTER_GATEWAY
from modelplane.compose.fleet import Composition, compose_fleet
from tests.compose import builders as b
from tests.compose.checks import check_composition
from tests.compose.test_routing import GATEWAY, entry, service

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "single-gpu-vllm"
EDGE = """
---
apiVersion: modelplane.ai/v1alpha1
kind: InferenceCluster
metadata: {name: edge}
spec:
  cluster: {source: Existing, existing: {secretRef: {name: edge-kubeconfig}}}
  nodePools: [{name: gpu-l40s, className: l40s-1x, nodeCount: 1}]
"""
runner = CliRunner()


def render(*args: str) -> Result:
    return runner.invoke(app, ["render", *args])


def documents(path: Path, kind: str) -> list[dict[str, Any]]:
    return [item for item in yaml.safe_load_all(path.read_text()) if item["kind"] == kind]


def service_route(path: Path) -> dict[str, Any]:
    [route] = [item for item in documents(path, "HTTPRoute") if item["spec"]["parentRefs"][0]["name"] == "modelplane"]
    return route


def two_cluster_recipe(tmp_path: Path) -> Path:
    """The single-GPU recipe with its gateway moved to a second GPU cluster `edge`: one replica lands on each."""
    moved = "\n  cluster: edge\n  traefik:"
    recipe = b.edited_recipe(RECIPE, tmp_path / "recipe", "platform.yaml", "\n  cluster: lab\n  traefik:", moved)
    (recipe / "edge.yaml").write_text(EDGE)
    return recipe


def test_the_first_render_of_a_one_cluster_fleet_routes_every_replica(tmp_path: Path) -> None:
    result = render(str(RECIPE), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    assert "gateway address" not in result.stderr
    ml_team = tmp_path / "out" / "lab" / "ml-team.yaml"
    refs = service_route(ml_team)["spec"]["rules"][0]["backendRefs"]
    assert [ref["weight"] for ref in refs] == [1, 1]
    slices = {item["metadata"]["name"]: item for item in documents(ml_team, "EndpointSlice")}
    assert sorted(slices) == sorted(ref["name"] for ref in refs)
    for item in slices.values():
        assert item["addressType"] == "FQDN"
        assert item["endpoints"] == [{"addresses": [IN_CLUSTER_GATEWAY], "conditions": {"ready": True}}]
        assert item["ports"] == [{"name": "", "protocol": "TCP", "port": 80}]
    # An address of the gateway's own cluster changes nothing: in-cluster traffic does not hairpin through it.
    again = render(str(RECIPE), "--out", str(tmp_path / "again"), "--gateway-address", "lab=10.0.0.7")
    assert again.exit_code == 0, again.stderr
    assert (tmp_path / "again" / "lab" / "ml-team.yaml").read_text() == ml_team.read_text()


def test_a_replica_on_another_cluster_waits_for_its_gateway_address_and_the_notice_names_the_flag(
    tmp_path: Path,
) -> None:
    recipe = two_cluster_recipe(tmp_path)
    result = render(str(recipe), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    notices = result.stderr.splitlines()
    assert (
        "notice: ModelService ml-team/qwen3-8b: 1 replica endpoint(s) on lab left out of its route until the gateway "
        "address of their cluster is known: pass --gateway-address lab=ADDRESS to render "
        "(pulumi up reads it from the Gateway)"
    ) in notices
    assert any(
        line.startswith("notice: gateway address of lab: ")
        and "kubectl --context lab -n envoy-gateway-system get service modelplane-inference-gateway" in line
        for line in notices
    )
    routed = service_route(tmp_path / "out" / "edge" / "ml-team.yaml")["spec"]["rules"][0]["backendRefs"]
    assert len(routed) == 1  # the replica on edge, in-cluster

    result = render(str(recipe), "--out", str(tmp_path / "out"), "--gateway-address", "lab=10.0.0.7")
    assert result.exit_code == 0, result.stderr
    assert "gateway address" not in result.stderr
    edge = tmp_path / "out" / "edge" / "ml-team.yaml"
    assert len(service_route(edge)["spec"]["rules"][0]["backendRefs"]) == 2
    addresses = sorted(item["endpoints"][0]["addresses"][0] for item in documents(edge, "EndpointSlice"))
    assert addresses == sorted(["10.0.0.7", IN_CLUSTER_GATEWAY])


def test_one_replica_is_in_cluster_for_its_own_gateway_and_remote_for_another() -> None:
    """Two fleet gateways (one per region) select the same replica on `a`: the one on `a` reaches it in-cluster,
    the one on `gw` only by `a`'s address, so without that address only `gw`'s backend waits."""
    local = service(entry({"modelplane.ai/deployment": "qwen"}), name="local")
    local["spec"]["gatewayRef"] = {"name": "local"}
    remote = service(entry({"modelplane.ai/deployment": "qwen"}), name="remote")
    fleet = b.fleet(
        b.GPU_CLASS,
        b.cluster("a"),
        b.cluster("gw"),
        GATEWAY,
        b.gateway("local", "a"),
        b.deployment("qwen"),
        local,
        remote,
    )
    composition = compose_fleet(fleet, b.placement(("ml-team", "qwen", [b.replica("a", 0)])))
    check_composition(composition)
    [on_a] = slices(composition, "a")
    assert on_a["endpoints"][0]["addresses"] == [IN_CLUSTER_GATEWAY]
    assert slices(composition, "gw") == []
    assert [(item.cluster, item.workload_cluster) for item in composition.pending_backends] == [("gw", "a")]
    assert [ref["weight"] for ref in route_refs(composition, "a", "local")] == [1]
    assert route_refs(composition, "gw", "remote") == []


def route_refs(composition: Composition, cluster: str, name: str) -> list[dict[str, Any]]:
    route = composition.manifest(cluster, "HTTPRoute", "ml-team", name)
    assert route is not None
    return route["spec"]["rules"][0].get("backendRefs", [])


def slices(composition: Composition, cluster: str) -> list[dict[str, Any]]:
    return [
        item
        for bundle in composition.for_cluster(cluster)
        for item in bundle.manifests
        if item["kind"] == "EndpointSlice"
    ]
