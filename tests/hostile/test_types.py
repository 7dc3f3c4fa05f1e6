"""Types and ranges are strict: no coercion, Kubernetes integer ranges, names that fit where they end up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.hostile.harness import Case, assert_refused, edited, manifest, plan_manifest, plan_stack, stack_text

DEPLOYMENT = "ModelDeployment ml-team/qwen"
CLUSTER = "InferenceCluster lab"
CLASS = "InferenceClass l4-1x"
SERVICE = "ModelService ml-team/qwen"
MEMBER = "spec.template.spec.engines.0.members.0"
NAME_64 = "n" * 64


def field_case(kind: str, path: str, value: Any, expect: str, *, stack: bool = False) -> Case:
    """The base fleet with one field replaced, as a manifest (or as a stack file)."""
    documents = edited(kind, path, value)
    if stack:
        return plan_stack(stack_text(documents), expect)
    return plan_manifest(manifest(documents), expect)


def shown(path: str) -> str:
    """`a.0.b` as problems show it: `a[0].b`."""
    parts = path.split(".")
    return "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in parts).lstrip(".")


TABLE: list[tuple[str, str, str, Any, str]] = [
    # (id, kind, path, value, message)
    ("replicas-true", "ModelDeployment", "spec.replicas", True, "Input should be a valid integer"),
    ("replicas-string", "ModelDeployment", "spec.replicas", "3", "Input should be a valid integer (got '3')"),
    ("replicas-float", "ModelDeployment", "spec.replicas", 3.0, "Input should be a valid integer"),
    ("replicas-fraction", "ModelDeployment", "spec.replicas", 1.5, "Input should be a valid integer"),
    ("replicas-null", "ModelDeployment", "spec.replicas", None, "Input should be a valid integer"),
    ("replicas-list", "ModelDeployment", "spec.replicas", [1], "Input should be a valid integer"),
    ("replicas-mapping", "ModelDeployment", "spec.replicas", {"n": 1}, "Input should be a valid integer"),
    ("replicas-negative", "ModelDeployment", "spec.replicas", -1, "greater than or equal to 0 (got -1)"),
    ("replicas-int32-overflow", "ModelDeployment", "spec.replicas", 2**31, "less than or equal to 2147483647"),
    ("replicas-2-63", "ModelDeployment", "spec.replicas", 2**63, "less than or equal to 2147483647"),
    ("replicas-10-40", "ModelDeployment", "spec.replicas", 10**40, "less than or equal to 2147483647"),
    ("replicas-10-200", "ModelDeployment", "spec.replicas", 10**200, "less than or equal to 2147483647"),
    ("copies-string", "ModelDeployment", "spec.template.spec.engines.0.copies", "2", "valid integer"),
    ("copies-65", "ModelDeployment", "spec.template.spec.engines.0.copies", 65, "less than or equal to 64"),
    ("device-count-string", "ModelDeployment", f"{MEMBER}.nodeSelector.devices.0.count", "1", "valid integer"),
    ("device-count-zero", "ModelDeployment", f"{MEMBER}.nodeSelector.devices.0.count", 0, "greater than or equal"),
    ("cel-not-string", "ModelDeployment", f"{MEMBER}.nodeSelector.devices.0.selectors.0.cel", 1, "valid string"),
    ("image-number", "ModelDeployment", f"{MEMBER}.template.spec.containers.0.image", 1, "valid string"),
    ("args-not-list", "ModelDeployment", f"{MEMBER}.template.spec.containers.0.args", "--a", "valid list"),
    ("args-numbers", "ModelDeployment", f"{MEMBER}.template.spec.containers.0.args", [1], "valid string"),
    ("role-lowercase", "ModelDeployment", f"{MEMBER}.role", "standalone", "Input should be 'Standalone'"),
    ("weight-string", "ModelService", "spec.endpoints.0.weight", "80", "Input should be a valid integer (got '80')"),
    ("weight-float", "ModelService", "spec.endpoints.0.weight", 80.5, "valid integer"),
    ("weight-zero", "ModelService", "spec.endpoints.0.weight", 0, "greater than or equal to 1"),
    ("weight-over-a-million", "ModelService", "spec.endpoints.0.weight", 1_000_001, "less than or equal to 1000000"),
    ("weight-bool", "ModelService", "spec.endpoints.0.weight", True, "valid integer"),
    ("priority-string", "ModelService", "spec.endpoints.0.priority", "1", "valid integer"),
    ("priority-negative", "ModelService", "spec.endpoints.0.priority", -1, "greater than or equal to 0"),
    ("priority-int32-overflow", "ModelService", "spec.endpoints.0.priority", 2**31, "less than or equal to 2147483647"),
    ("match-label-int", "ModelService", "spec.endpoints.0.selector.matchLabels", {"a": 1}, "valid string"),
    ("node-count-string", "InferenceCluster", "spec.nodePools.0.nodeCount", "2", "Input should be a valid integer"),
    ("node-count-bool", "InferenceCluster", "spec.nodePools.0.nodeCount", True, "valid integer"),
    ("node-count-float", "InferenceCluster", "spec.nodePools.0.nodeCount", 2.0, "valid integer"),
    ("node-count-negative", "InferenceCluster", "spec.nodePools.0.nodeCount", -1, "greater than or equal to 0"),
    ("node-count-1001", "InferenceCluster", "spec.nodePools.0.nodeCount", 1001, "less than or equal to 1000"),
    ("pool-name-41", "InferenceCluster", "spec.nodePools.0.name", "p" * 41, "at most 40 characters"),
    ("pool-name-upper", "InferenceCluster", "spec.nodePools.0.name", "L4", "String should match pattern"),
    ("class-name-number", "InferenceCluster", "spec.nodePools.0.className", 4, "valid string"),
    ("taint-effect", "InferenceCluster", "spec.taints", [{"key": "k", "effect": "PreferNoSchedule"}], "'NoSchedule'"),
    ("source-unknown", "InferenceCluster", "spec.cluster.source", "OnPrem", "Input should be 'GKE'"),
    ("device-count-in-class", "InferenceClass", "spec.devices.0.count", "1", "valid integer"),
    ("device-count-65", "InferenceClass", "spec.devices.0.count", 65, "less than or equal to 64"),
    ("attribute-int-2-63", "InferenceClass", "spec.devices.0.attributes", {"x": {"int": 2**63}}, "9223372036854775807"),
    ("attribute-int-below", "InferenceClass", "spec.devices.0.attributes", {"x": {"int": -(2**63) - 1}}, "greater"),
    ("attribute-bool-string", "InferenceClass", "spec.devices.0.attributes", {"x": {"bool": "true"}}, "valid boolean"),
    ("attribute-string-number", "InferenceClass", "spec.devices.0.attributes", {"x": {"string": 1}}, "valid string"),
    ("capacity-negative", "InferenceClass", "spec.devices.0.capacity", {"memory": {"value": "-1Gi"}}, "not be neg"),
    ("capacity-1e400", "InferenceClass", "spec.devices.0.capacity", {"memory": {"value": "1e400"}}, "2^63-1"),
    ("capacity-number", "InferenceClass", "spec.devices.0.capacity", {"memory": {"value": 24}}, "valid string"),
    ("capacity-nonsense", "InferenceClass", "spec.devices.0.capacity", {"memory": {"value": "lots"}}, "quantity"),
    ("claim-lowercase", "InferenceClass", "spec.devices.0.claim", "dra", "Input should be 'DRA' or 'Synthetic'"),
    # names, where they end up
    ("namespace-64", "ModelDeployment", "metadata.namespace", NAME_64, "must be a DNS label: at most 63"),
    ("namespace-dot", "ModelDeployment", "metadata.namespace", "ml.team", "must be a DNS label"),
    ("namespace-upper", "ModelDeployment", "metadata.namespace", "ML", "must be a DNS label"),
    ("namespace-number", "ModelDeployment", "metadata.namespace", 7, "valid string"),
    ("deployment-name-64", "ModelDeployment", "metadata.name", NAME_64, "String should have at most 63 characters"),
    ("deployment-name-upper", "ModelDeployment", "metadata.name", "Qwen", "must be a DNS subdomain"),
    ("cluster-name-64", "InferenceCluster", "metadata.name", NAME_64, "metadata.name: String should have at most 63"),
    ("cluster-name-dot", "InferenceCluster", "metadata.name", "lab.one", "must be a DNS label"),
    ("cluster-name-underscore", "InferenceCluster", "metadata.name", "lab_one", "must be a DNS subdomain"),
    ("class-name-254", "InferenceClass", "metadata.name", "c" * 254, "at most 253 characters"),
    ("label-value-64", "InferenceCluster", "metadata.labels", {"region": "r" * 64}, "must be at most 63"),
    ("label-key-bad", "InferenceCluster", "metadata.labels", {"-bad": "x"}, "name must be 1-63 alphanumerics"),
    ("engine-name-64", "ModelDeployment", "spec.template.spec.engines.0.name", NAME_64, "at most 63 characters"),
    ("device-request-name", "ModelDeployment", f"{MEMBER}.nodeSelector.devices.0.name", "GPU", "DNS label"),
    (
        "template-label-reserved",
        "ModelDeployment",
        "spec.template.metadata",
        {"labels": {"modelplane.ai/x": "y"}},
        "reserved",
    ),
]
SUBJECTS = {
    "ModelDeployment": DEPLOYMENT,
    "InferenceCluster": CLUSTER,
    "InferenceClass": CLASS,
    "ModelService": SERVICE,
}


def expected_line(kind: str, path: str, message: str) -> str:
    """What the problem line must hold: the object (unless its name is the invalid value) and the field path."""
    if path in ("metadata.name", "metadata.namespace"):
        return f" {kind} "
    return f"{SUBJECTS[kind]}: {shown(path)}"


ROWS = [
    pytest.param(kind, path, value, message, stack, id=f"{case_id}{'-in-stack' if stack else ''}")
    for case_id, kind, path, value, message in TABLE
    for stack in (False, True)
]


@pytest.mark.parametrize(("kind", "path", "value", "message", "stack"), ROWS)
def test_types_and_ranges_are_strict(
    tmp_path: Path, kind: str, path: str, value: Any, message: str, stack: bool
) -> None:
    outcome = assert_refused(field_case(kind, path, value, message, stack=stack), tmp_path)
    where = expected_line(kind, path, message)
    assert any(where in line and message in line for line in outcome.stderr.splitlines()), (where, outcome.stderr)


OTHERS = {
    "node-count-over-max": field_case(
        "InferenceCluster",
        "spec.nodePools.0",
        {"name": "l4", "className": "l4-1x", "nodeCount": 5, "maxNodeCount": 3},
        f"{CLUSTER}: spec.nodePools[0]: nodeCount 5 must not exceed maxNodeCount 3",
    ),
    "min-over-max": field_case(
        "InferenceCluster",
        "spec.nodePools.0",
        {"name": "l4", "className": "l4-1x", "nodeCount": 1, "minNodeCount": 4, "maxNodeCount": 3},
        "minNodeCount must not exceed maxNodeCount",
    ),
    "max-node-count-zero": field_case(
        "InferenceCluster",
        "spec.nodePools.0",
        {"name": "l4", "className": "l4-1x", "maxNodeCount": 0},
        "maxNodeCount: Input should be greater than or equal to 1",
    ),
    "gpu-packing-yes-string": plan_stack(
        stack_text(edited("ModelDeployment", "spec.replicas", 1), {"modelplane:scheduling": {"gpuPacking": "yes"}}),
        "stacks/Pulumi.dev.yaml:modelplane:scheduling: gpuPacking: Input should be a valid boolean (got 'yes')",
    ),
    "gpu-packing-one": plan_stack(
        stack_text(edited("ModelDeployment", "spec.replicas", 1), {"modelplane:scheduling": {"gpuPacking": 1}}),
        "gpuPacking: Input should be a valid boolean",
    ),
    "gpu-packing-true-string": plan_stack(
        stack_text(edited("ModelDeployment", "spec.replicas", 1), {"modelplane:scheduling": {"gpuPacking": "true"}}),
        "gpuPacking: Input should be a valid boolean",
    ),
}


@pytest.mark.parametrize("case", OTHERS.values(), ids=OTHERS.keys())
def test_other_types_and_ranges_are_strict(case: Case, tmp_path: Path) -> None:
    assert_refused(case, tmp_path)
