"""Every recipe plans (every replica placed) and renders into objects that pass the schema checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from modelplane.api.fleet import Fleet
from modelplane.compose.fleet import Composition, compose_fleet
from modelplane.planning import plan
from modelplane.scheduling.validation import load_inputs
from tests.compose.checks import check_composition

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
NAMES = sorted(path.name for path in RECIPES.iterdir() if path.is_dir())


def composed(name: str) -> tuple[Fleet, Composition]:
    """Plan the recipe, check every replica was placed, compose with an address for every cluster's gateway."""
    fleet = load_inputs([RECIPES / name], None, RECIPES.parent).fleet
    placement = plan(fleet)
    for item in placement.deployments:
        assert item.unplaced == 0, f"{item.key}: {item.reasons}"
    addresses = {cluster: f"10.0.0.{index}" for index, cluster in enumerate(fleet.clusters, start=1)}
    composition = compose_fleet(fleet, placement, gateway_addresses=addresses)
    check_composition(composition)
    return fleet, composition


def of_kind(composition: Composition, kind: str) -> list[dict[str, Any]]:
    return [item for bundle in composition.bundles for item in bundle.manifests if item["kind"] == kind]


def route_weights(composition: Composition) -> list[int]:
    [route] = [
        item for item in of_kind(composition, "HTTPRoute") if item["spec"]["parentRefs"][0]["name"] == "modelplane"
    ]
    return [ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]]


def test_the_issue_recipes_are_all_here() -> None:
    assert NAMES == [
        "llama-3.1-8b-l4",
        "llama-3.3-70b-tp8",
        "mig-slices",
        "mixed-service",
        "multi-node-gang",
        "prefill-decode",
        "sglang",
        "single-gpu-vllm",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_recipe_plans_and_composes(name: str) -> None:
    fleet, composition = composed(name)
    assert fleet.classes and fleet.clusters and fleet.gateways and fleet.services  # platform side included
    assert not [notice for notice in composition.notices if "left out of its route" in notice]
    assert route_weights(composition)  # the service reaches its replicas


@pytest.mark.parametrize("name", NAMES)
def test_recipe_files_are_commented_and_not_reference_copies(name: str) -> None:
    for path in sorted((RECIPES / name).glob("*.yaml")):
        text = path.read_text()
        assert text.startswith("#"), f"{path.name} should open with a comment saying what it is"
        assert all(doc for doc in yaml.safe_load_all(text))


def test_single_gpu_vllm() -> None:
    _, composition = composed("single-gpu-vllm")
    deployments = of_kind(composition, "Deployment")
    assert len(deployments) == 2  # two replicas
    assert route_weights(composition) == [1, 1]


def test_llama_on_eks_and_gke() -> None:
    _, composition = composed("llama-3.1-8b-l4")
    clusters = {bundle.cluster for bundle in composition.bundles if bundle.owner_kind == "ModelReplica"}
    assert clusters == {"eks-us-west", "gke-us-central"}  # spread: one replica per cloud
    assert route_weights(composition) == [1, 1]


def test_70b_tensor_parallel_with_cache() -> None:
    _, composition = composed("llama-3.3-70b-tp8")
    [claim] = of_kind(composition, "ResourceClaimTemplate")
    assert claim["spec"]["spec"]["devices"]["requests"][0]["exactly"]["count"] == 8
    [pvc] = of_kind(composition, "PersistentVolumeClaim")
    assert pvc["spec"]["storageClassName"] == "modelplane-rwx"
    [engine] = of_kind(composition, "Deployment")[0]["spec"]["template"]["spec"]["containers"]
    assert engine["args"][-1] == "--model=/mnt/models"
    assert [secret.source_name for secret in composition.secrets] == ["hf-token"]


def test_multi_node_gang() -> None:
    _, composition = composed("multi-node-gang")
    [lws] = of_kind(composition, "LeaderWorkerSet")
    template = lws["spec"]["leaderWorkerTemplate"]
    assert template["size"] == 2
    for role in ("leaderTemplate", "workerTemplate"):
        assert any(volume["name"] == "model-cache" for volume in template[role]["spec"]["volumes"])
    requests = [claim["spec"]["spec"]["devices"]["requests"] for claim in of_kind(composition, "ResourceClaimTemplate")]
    # 8 GPUs + 32 EFA interfaces are 40 devices: more than one claim may hold (kube-scheduler refuses a claim of
    # more than 32), so each member has two claims and its pods reference both.
    found = sorted([(item["name"], item["exactly"]["count"]) for item in claim] for claim in requests)
    assert found == [[("efa", 32)], [("efa", 32)], [("gpu", 8)], [("gpu", 8)]]
    leader = template["leaderTemplate"]["spec"]
    assert [claim["name"] for claim in leader["resourceClaims"]] == ["devices", "devices-2"]
    [engine] = leader["containers"]
    assert engine["resources"] == {"claims": [{"name": "devices"}, {"name": "devices-2"}]}


def test_prefill_decode() -> None:
    _, composition = composed("prefill-decode")
    assert len(of_kind(composition, "InferencePool")) == 1
    decode = next(
        item for item in of_kind(composition, "Deployment") if len(item["spec"]["template"]["spec"]["containers"]) == 2
    )
    engine, sidecar = decode["spec"]["template"]["spec"]["containers"]
    assert (engine["ports"], sidecar["name"]) == ([{"containerPort": 8001}], "pd-sidecar")


def test_mixed_service() -> None:
    _, composition = composed("mixed-service")
    assert route_weights(composition) == [2, 2, 1]  # 40 + 40 for the replicas, 20 for Together (÷ gcd); Fireworks idle
    assert len(of_kind(composition, "BackendTLSPolicy")) == 1


def test_sglang() -> None:
    _, composition = composed("sglang")
    workload = next(
        item for item in of_kind(composition, "Deployment") if not item["metadata"]["name"].endswith("-epp")
    )
    assert workload["spec"]["replicas"] == 2
    engine = workload["spec"]["template"]["spec"]["containers"][0]
    assert "--model=/mnt/models" not in engine["args"]  # it brings its own command and --model-path
    config = yaml.safe_load(of_kind(composition, "ConfigMap")[0]["data"]["epp-config.yaml"])
    assert config["plugins"][0]["parameters"]["blockSizeTokens"] == 32  # from --page-size


def test_mig_slices_claim_one_slice_of_the_mig_device_class() -> None:
    _, composition = composed("mig-slices")
    claims = [
        item
        for bundle in composition.for_cluster("lab")
        for item in bundle.manifests
        if item["kind"] == "ResourceClaimTemplate"
    ]
    assert len(claims) == 2
    (request,) = claims[0]["spec"]["spec"]["devices"]["requests"]
    assert request["exactly"]["deviceClassName"] == "mig.nvidia.com"
    assert request["exactly"]["count"] == 1
