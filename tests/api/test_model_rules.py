"""Every validation rule of the modelplane.ai/v1alpha1 models, as a user sees it: one exact problem line per case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelplane.api.loading import load_paths
from tests.api.helpers import DELETE, edited_fleet, problems, write_yaml

ENGINE = "spec.template.spec.engines[0]"
MEMBER = f"{ENGINE}.members[0]"
WORKER = f"{ENGINE}.members[1]"
REQUEST = f"{MEMBER}.nodeSelector.devices[0]"
CONTAINERS = f"{MEMBER}.template.spec.containers"
TOLERATION = "spec.template.spec.tolerations[0]"
ENGINE_IMAGE = {"name": "engine", "image": "vllm/vllm-openai:v0.23.0"}
RESERVED = "key 'modelplane.ai/x': the modelplane.ai/ prefix is reserved for Modelplane"
ROLES = "members must be one Standalone, or one Leader and a Worker"
PD = "PrefillDecode needs exactly two engines, one with phase Prefill and one with Decode"
GE = "Input should be greater than or equal to"
LE = "Input should be less than or equal to"

QWEN = ("ModelDeployment", "qwen")
KIMI = ("ModelDeployment", "kimi")
SPLIT = ("ModelDeployment", "split")
CLASS = ("InferenceClass", "h100-8x")
CLUSTER = ("InferenceCluster", "us-east")
CACHE = ("ModelCache", "qwen-weights")
GATEWAY = ("InferenceGateway", "default")
SERVICE = ("ModelService", "qwen")
ENDPOINT = ("ModelEndpoint", "openai")

# (document, edits, field path, message): each edit breaks exactly one rule.
INVALID: list[Any] = [
    # Roles: one Standalone, or one Leader and Worker(s); a nodeSelector somewhere.
    pytest.param(*QWEN, {f"{MEMBER}.role": "Leader"}, ENGINE, ROLES, id="lone-leader"),
    pytest.param(*KIMI, {f"{WORKER}.role": "Leader", f"{WORKER}.worker": DELETE}, ENGINE, ROLES, id="two-leaders"),
    pytest.param(*KIMI, {f"{MEMBER}.role": "Standalone"}, ENGINE, ROLES, id="standalone-and-worker"),
    pytest.param(
        *KIMI, {f"{WORKER}.role": "Standalone", f"{WORKER}.worker": DELETE}, ENGINE, ROLES, id="leader-standalone"
    ),
    pytest.param(
        *QWEN,
        {f"{ENGINE}.members[1]": {"template": {"spec": {"containers": [ENGINE_IMAGE]}}}},
        ENGINE,
        ROLES,
        id="two-standalone",
    ),
    pytest.param(
        *QWEN,
        {f"{MEMBER}.role": "Follower"},
        f"{MEMBER}.role",
        "Input should be 'Standalone', 'Leader' or 'Worker' (got 'Follower')",
        id="unknown-role",
    ),
    pytest.param(
        *KIMI,
        {f"{ENGINE}.members[2]": {"role": "Worker", "template": {"spec": {"containers": [ENGINE_IMAGE]}}}},
        f"{ENGINE}.members",
        "List should have at most 2 items after validation, not 3",
        id="three-members",
    ),
    pytest.param(
        *QWEN, {f"{MEMBER}.nodeSelector": DELETE}, ENGINE, "some member must have a nodeSelector", id="no-selector"
    ),
    pytest.param(
        *KIMI,
        {f"{MEMBER}.worker": {"nodes": 1}},
        MEMBER,
        "worker is only allowed on a member with role Worker",
        id="worker-on-leader",
    ),
    pytest.param(*KIMI, {f"{WORKER}.worker.nodes": 0}, f"{WORKER}.worker.nodes", f"{GE} 1 (got 0)", id="nodes-0"),
    pytest.param(*KIMI, {f"{WORKER}.worker.nodes": 64}, f"{WORKER}.worker.nodes", f"{LE} 63 (got 64)", id="nodes-64"),
    # PrefillDecode: exactly one Prefill and one Decode engine; phase only under PrefillDecode.
    pytest.param(
        *SPLIT,
        {"spec.template.spec.serving": DELETE},
        "spec.template.spec",
        "phase is only allowed when serving.mode is PrefillDecode",
        id="phase-without-pd",
    ),
    pytest.param(
        *SPLIT, {"spec.template.spec.engines[1].phase": "Prefill"}, "spec.template.spec", PD, id="two-prefill"
    ),
    pytest.param(*SPLIT, {"spec.template.spec.engines[1].phase": DELETE}, "spec.template.spec", PD, id="no-decode"),
    pytest.param(
        *QWEN, {"spec.template.spec.serving": {"mode": "PrefillDecode"}}, "spec.template.spec", PD, id="pd-one-engine"
    ),
    pytest.param(
        *SPLIT,
        {"spec.template.spec.engines[0].phase": "Both"},
        "spec.template.spec.engines[0].phase",
        "Input should be 'Prefill' or 'Decode' (got 'Both')",
        id="unknown-phase",
    ),
    # The modelplane.ai/ prefix is Modelplane's own.
    pytest.param(
        *QWEN, {"spec.template.metadata.labels": {"modelplane.ai/x": "1"}}, "spec.template.metadata.labels", RESERVED
    ),
    pytest.param(
        *KIMI,
        {f"{MEMBER}.template.metadata.labels": {"modelplane.ai/x": "1"}},
        f"{MEMBER}.template.metadata.labels",
        RESERVED,
    ),
    pytest.param(
        *KIMI,
        {f"{MEMBER}.template.metadata.annotations": {"modelplane.ai/x": "1"}},
        f"{MEMBER}.template.metadata.annotations",
        RESERVED,
    ),
    # Count ranges.
    pytest.param(*QWEN, {"spec.replicas": -1}, "spec.replicas", f"{GE} 0 (got -1)", id="replicas-negative"),
    pytest.param(*QWEN, {f"{ENGINE}.copies": 0}, f"{ENGINE}.copies", f"{GE} 1 (got 0)", id="copies-0"),
    pytest.param(*QWEN, {f"{ENGINE}.copies": 65}, f"{ENGINE}.copies", f"{LE} 64 (got 65)", id="copies-65"),
    pytest.param(*QWEN, {f"{REQUEST}.count": 0}, f"{REQUEST}.count", f"{GE} 1 (got 0)", id="request-count-0"),
    pytest.param(*QWEN, {f"{REQUEST}.count": 65}, f"{REQUEST}.count", f"{LE} 64 (got 65)", id="request-count-65"),
    pytest.param(*CLASS, {"spec.devices[0].count": 0}, "spec.devices[0].count", f"{GE} 1 (got 0)", id="device-0"),
    pytest.param(*CLASS, {"spec.devices[0].count": 65}, "spec.devices[0].count", f"{LE} 64 (got 65)", id="device-65"),
    pytest.param(
        *CLASS,
        {"spec.provisioning.eks.accelerator.count": 17},
        "spec.provisioning.eks.accelerator.count",
        f"{LE} 16 (got 17)",
        id="accelerators-17",
    ),
    pytest.param(
        *CLUSTER, {"spec.nodePools[0].nodeCount": -1}, "spec.nodePools[0].nodeCount", f"{GE} 0 (got -1)", id="pool-neg"
    ),
    pytest.param(
        *CLUSTER,
        {"spec.nodePools[0].minNodeCount": 5},
        "spec.nodePools[0]",
        "minNodeCount must not exceed maxNodeCount",
        id="pool-bounds",
    ),
    # Attributes hold exactly one of string, version, bool, int.
    pytest.param(
        *CLASS,
        {"spec.devices[0].attributes.productName.int": 1},
        "spec.devices[0].attributes.productName",
        "exactly one of string, version, bool or int must be set",
        id="attribute-two",
    ),
    pytest.param(
        *CLASS,
        {"spec.devices[0].attributes.productName": {}},
        "spec.devices[0].attributes.productName",
        "exactly one of string, version, bool or int must be set",
        id="attribute-none",
    ),
    # DRA devices need a DeviceClass; provisioning and source blocks follow their discriminator.
    pytest.param(
        *CLASS,
        {"spec.devices[0].deviceClassName": DELETE},
        "spec.devices[0]",
        "deviceClassName is required when claim is DRA",
        id="dra-class",
    ),
    pytest.param(
        *CLASS, {"spec.provisioning.eks": DELETE}, "spec.provisioning", "provider EKS requires the eks block", id="eks"
    ),
    pytest.param(
        *CLUSTER, {"spec.cluster.source": "GKE"}, "spec.cluster", "source GKE requires the gke block", id="gke-source"
    ),
    pytest.param(
        *CACHE, {"spec.huggingFace": DELETE}, "spec", "source HuggingFace requires the huggingFace block", id="hf-block"
    ),
    pytest.param(
        *GATEWAY, {"spec.traefik": DELETE}, "spec", "backend Traefik requires the traefik block", id="traefik-block"
    ),
    # Toleration operators.
    pytest.param(
        *QWEN,
        {TOLERATION: {"operator": "Equal", "value": "x"}},
        TOLERATION,
        "operator Equal requires a non-empty key",
        id="equal-no-key",
    ),
    pytest.param(
        *QWEN,
        {f"{TOLERATION}.value": "x"},
        TOLERATION,
        "operator Exists must not set a value",
        id="exists-value",
    ),
    # The one container is named engine.
    pytest.param(
        *QWEN,
        {f"{CONTAINERS}[0].name": "main"},
        CONTAINERS,
        "the container must be named 'engine', not 'main'",
        id="container-name",
    ),
    pytest.param(
        *QWEN,
        {f"{CONTAINERS}[1]": ENGINE_IMAGE},
        CONTAINERS,
        "List should have at most 1 item after validation, not 2",
        id="two-containers",
    ),
    # Unknown fields anywhere, with the exact path.
    pytest.param(
        *QWEN,
        {f"{REQUEST}.selector": []},
        f"{REQUEST}.selector",
        "unknown field; did you mean selectors?",
        id="unknown-deep",
    ),
    pytest.param(
        *QWEN, {"metadata.labelz": {}}, "metadata.labelz", "unknown field; did you mean labels?", id="unknown-metadata"
    ),
    pytest.param(*QWEN, {"status": {}}, "status", "unknown field", id="unknown-top"),
    pytest.param(
        *CLASS,
        {"spec.devices[0].attributes.productName.strng": "x"},
        "spec.devices[0].attributes.productName.strng",
        "unknown field; did you mean string?",
        id="unknown-in-map",
    ),
    pytest.param(
        *SERVICE,
        {"spec.endpoints[0].wieght": 1},
        "spec.endpoints[0].wieght",
        "unknown field; did you mean weight?",
        id="typo",
    ),
    # Names, namespaces and required fields.
    pytest.param(
        *QWEN,
        {"metadata.namespace": "ML_Team"},
        "metadata.namespace",
        "'ML_Team' must be a DNS label: at most 63 lowercase alphanumerics and '-', alphanumeric at both ends",
        id="namespace",
    ),
    pytest.param(
        *QWEN,
        {f"{ENGINE}.name": "Qwen_1"},
        f"{ENGINE}.name",
        "'Qwen_1' must be a DNS label: at most 63 lowercase alphanumerics and '-', alphanumeric at both ends",
        id="engine-name",
    ),
    pytest.param(*QWEN, {"spec.replicas": DELETE}, "spec.replicas", "required", id="missing-replicas"),
    # Pool features only where the cloud has them (reference §1.3 and the cloud XRDs).
    pytest.param(
        *CLUSTER,
        {"spec.nodePools[0].fabric": {"type": "InfiniBand"}},
        "spec",
        "nodePools[0].fabric.type InfiniBand is only available on AKS and Nebius",
        id="infiniband-on-eks",
    ),
    pytest.param(
        *CLUSTER,
        {"spec.nodePools[0].fabric": {"type": "EFA", "infiniband": {"fabric": "f1"}}},
        "spec.nodePools[0].fabric",
        "fabric.infiniband is only valid when fabric.type is InfiniBand",
        id="infiniband-block-without-infiniband",
    ),
    pytest.param(
        *CLUSTER,
        {"spec.cluster": {"source": "Nebius", "nebius": {}}, "spec.nodePools[0].fabric": {"type": "InfiniBand"}},
        "spec",
        "nodePools[0].fabric.infiniband is required when fabric.type is InfiniBand on Nebius",
        id="nebius-infiniband-needs-fabric",
    ),
    pytest.param(
        *CLUSTER,
        {
            "spec.cluster": {"source": "GKE", "gke": {"region": "europe-west4"}},
            "spec.nodePools[0].fabric": {"type": "EFA"},
        },
        "spec",
        "nodePools[0].fabric.type EFA is only available on EKS",
        id="efa-on-gke",
    ),
    pytest.param(
        *CLUSTER,
        {
            "spec.cluster": {"source": "GKE", "gke": {"region": "europe-west4"}},
            "spec.nodePools[0].capacityBlock": {"capacityReservationId": "cr-0abc"},
        },
        "spec",
        "nodePools[0].capacityBlock is only available on EKS",
        id="capacity-block-on-gke",
    ),
    pytest.param(
        *ENDPOINT,
        {"spec.url": "ftp://example.com"},
        "spec.url",
        "invalid url 'ftp://example.com': needs http:// or https:// and a host",
        id="url",
    ),
]


def load_one_edit(tmp_path: Path, kind: str, name: str, edits: dict[str, Any]) -> tuple[list[str], str]:
    """Problems of the fixture fleet with one document edited, and the `FILE:DOC KIND NS/NAME: ` prefix it gets."""
    documents, number = edited_fleet(kind, name, edits)
    path = write_yaml(tmp_path / "fleet.yaml", documents)
    namespace = documents[number - 1]["metadata"].get("namespace")
    shown = f"{namespace}/{name}" if namespace else name
    return problems(lambda: load_paths([path])), f"{path}:{number} {kind} {shown}: "


@pytest.mark.parametrize(("kind", "name", "edits", "path", "message"), INVALID)
def test_invalid_field_gives_one_exact_problem(
    tmp_path: Path, kind: str, name: str, edits: dict[str, Any], path: str, message: str
) -> None:
    found, prefix = load_one_edit(tmp_path, kind, name, edits)
    assert found == [f"{prefix}{path}: {message}"]


VALID: list[Any] = [
    pytest.param(*QWEN, {"spec.replicas": 0}, id="replicas-0-parks"),
    pytest.param(*QWEN, {"spec.replicas": 50}, id="replicas-50-beyond-modelplane-cap"),
    pytest.param(*KIMI, {f"{WORKER}.worker": DELETE}, id="worker-nodes-default"),
    pytest.param(*CLASS, {"spec.devices[0].claim": "Synthetic", "spec.devices[0].deviceClassName": DELETE}, id="synth"),
    pytest.param(*CLASS, {"spec.devices[0].attributes.nvlink": {"bool": True}}, id="bool-attribute"),
    pytest.param(*CLASS, {"spec.provisioning": DELETE}, id="no-provisioning"),
    pytest.param(*QWEN, {TOLERATION: {"operator": "Exists"}}, id="tolerate-everything"),
    pytest.param(*QWEN, {"metadata.labels": {"modelplane.ai/owner": "x"}}, id="object-labels-not-reserved"),
    pytest.param(*SERVICE, {"spec.gatewayRef": {"name": "default"}}, id="gateway-ref"),
    pytest.param(*CLUSTER, {"spec.nodePools[0].fabric": {"type": "EFA"}}, id="efa-on-eks"),
    pytest.param(
        *CLUSTER,
        {
            "spec.cluster": {"source": "Existing", "existing": {"secretRef": {"name": "kc"}}},
            "spec.nodePools[0].fabric": {"type": "InfiniBand"},
        },
        id="existing-brings-its-own-fabric",
    ),
]


@pytest.mark.parametrize(("kind", "name", "edits"), VALID)
def test_valid_edit_loads(tmp_path: Path, kind: str, name: str, edits: dict[str, Any]) -> None:
    found, _ = load_one_edit(tmp_path, kind, name, edits)
    assert found == []


def test_a_request_larger_than_one_claim_can_hold_is_refused() -> None:
    import pytest
    from pydantic import ValidationError

    from modelplane.api.model_deployment import DeviceRequest

    assert DeviceRequest.model_validate({"name": "gpu", "count": 32, "selectors": [{"cel": "true"}]}).count == 32
    with pytest.raises(ValidationError, match="at most 32 devices fit one ResourceClaim"):
        DeviceRequest.model_validate({"name": "gpu", "count": 33, "selectors": [{"cel": "true"}]})
