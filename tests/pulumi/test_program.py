"""The program's behaviour across runs: scaling, sticky placement, secrets, unsupported sources, bad input."""

from __future__ import annotations

import json

import pytest

from modelplane.components.cluster import UnsupportedSourceError
from modelplane.components.mockview import MockRun
from modelplane.components.program import ProgramError
from modelplane.components.secrets import MissingSecretsError
from tests.pulumi.helpers import SECRETS, replica_component, resources, run, set_replicas, stack_config

SELF = "organization/modelplane/prod"  # the stack's own reference (self-managed backends' organization)


@pytest.fixture(scope="module")
def prod() -> MockRun:
    result = run(stack_config("prod"))
    assert result.error is None, result.error
    return result


def replica_resources(result: MockRun, component: str) -> set[tuple[str, str]]:
    """A replica's component, its objects, and its backend (ModelEndpoint) on the gateway cluster."""
    replica = component.rsplit("/", 1)[-1]
    owned = {item.urn for item in result.registrations if item.name == component}
    return {
        (item.type, item.name)
        for item in result.registrations
        if item.urn in owned or item.parent in owned or replica in item.name.rsplit("/", 1)[-1]
    }


def test_raising_replicas_adds_exactly_the_new_replicas_resources(prod: MockRun) -> None:
    record = prod.outputs["placement"]
    scaled = run(set_replicas(stack_config("prod"), "qwen", 3, record))
    assert scaled.error is None, scaled.error
    added, removed = resources(scaled) - resources(prod), resources(prod) - resources(scaled)
    assert not removed
    qwen = next(item for item in scaled.outputs["placement"]["deployments"] if item["name"] == "qwen")
    new = [replica for replica in qwen["replicas"] if replica not in _qwen(record)["replicas"]]
    assert len(new) == 1
    component = replica_component(record, qwen, new[0])
    assert added == replica_resources(scaled, component)
    assert len(added) == 8  # ModelReplica + 4 objects, ModelEndpoint + Service + EndpointSlice


def test_lowering_replicas_removes_exactly_one_replicas_resources(prod: MockRun) -> None:
    record = prod.outputs["placement"]
    scaled = run(set_replicas(stack_config("prod"), "qwen", 1, record))
    assert scaled.error is None, scaled.error
    added, removed = resources(scaled) - resources(prod), resources(prod) - resources(scaled)
    assert not added
    kept = _qwen(scaled.outputs["placement"])["replicas"]
    (gone,) = [replica for replica in _qwen(record)["replicas"] if replica not in kept]
    assert removed == replica_resources(prod, replica_component(record, _qwen(record), gone))
    assert len(removed) == 8


def _qwen(record: dict) -> dict:
    return next(item for item in record["deployments"] if item["name"] == "qwen")


def test_a_missing_config_record_is_recovered_from_the_stacks_last_outputs(prod: MockRun) -> None:
    record = json.loads(json.dumps(prod.outputs["placement"]))
    # A placement the scheduler would not choose afresh: qwen's replicas at indices 3 and 7.
    for index, replica in zip((3, 7), _qwen(record)["replicas"], strict=True):
        replica["index"] = float(index)  # stack outputs hand numbers over as floats
    recovered = run(stack_config("prod"), stack_outputs={SELF: ({"placement": record}, [])})
    assert recovered.error is None, recovered.error
    assert [replica["index"] for replica in _qwen(recovered.outputs["placement"])["replicas"]] == [3, 7]
    assert "recovered placement of ml-team/qwen from the stack's last outputs: 2 replicas" in recovered.messages("info")


def test_the_config_record_wins_over_the_last_outputs(prod: MockRun) -> None:
    config = stack_config("prod")
    config["modelplane:placement"] = json.dumps(prod.outputs["placement"])
    stale = json.loads(json.dumps(prod.outputs["placement"]))
    for replica in _qwen(stale)["replicas"]:
        replica["index"] += 10
    result = run(config, stack_outputs={SELF: ({"placement": stale}, [])})
    assert _qwen(result.outputs["placement"]) == _qwen(prod.outputs["placement"])
    assert not [line for line in result.messages("info") if line.startswith("recovered")]


def test_recovery_can_be_turned_off() -> None:
    config = stack_config("dev")
    config["modelplane:recoverPlacement"] = False
    result = run(config, "dev")
    assert result.error is None and not result.of_type("pulumi:pulumi:StackReference")


def test_missing_secrets_stop_the_program_naming_each_with_its_command() -> None:
    result = run(stack_config("prod"), secrets={})
    assert isinstance(result.error, MissingSecretsError)
    (error,) = result.messages("error")
    assert "modelplane:secrets.hf-token.HF_TOKEN is not set" in error
    assert "pulumi config set --secret --path 'modelplane:secrets.hf-token.HF_TOKEN'" in error
    dev = run(stack_config("dev"), "dev", secrets=None)
    assert isinstance(dev.error, MissingSecretsError)
    assert "InferenceCluster local kubeconfig" in dev.messages("error")[0]


def test_an_unsupported_source_is_planned_but_stops_the_program_naming_the_cluster() -> None:
    config = stack_config("prod")
    config["modelplane:clusters"]["west-aks"] = {
        "cluster": {"source": "AKS", "aks": {"location": "westeurope"}},
        "nodePools": [{"name": "gpu-h100", "className": "h100-8x"}],
    }
    result = run(config)
    assert isinstance(result.error, UnsupportedSourceError) and "west-aks" in str(result.error)
    assert any("west-aks: source AKS is not supported by this project yet" in line for line in result.messages("error"))
    assert not result.of_type("modelplane:index:InferenceCluster")


def test_an_existing_clusters_identity_is_reported_as_unused_once() -> None:
    config = stack_config("dev")
    existing = config["modelplane:clusters"]["local"]["cluster"]["existing"]
    existing["identitySecretRef"] = {"name": "local-gcp", "type": "GoogleApplicationCredentials"}
    result = run(config, "dev")
    assert result.error is None, result.error
    (warning,) = [line for line in result.messages("warning") if "identitySecretRef" in line]
    assert warning.startswith("InferenceCluster local: existing.identitySecretRef (GoogleApplicationCredentials ")
    assert "is not used" in warning and "kubeconfig alone, so it must be self-contained" in warning
    assert result.of_type("pulumi:providers:kubernetes")  # the cluster is still provisioned with its kubeconfig
    assert not [line for line in run(stack_config("dev"), "dev").messages("warning") if "identitySecretRef" in line]


def test_invalid_config_reports_each_problem_and_registers_nothing() -> None:
    config = stack_config("dev")
    config["modelplane:deployments"]["qwen"]["replicaz"] = 2
    config["modelplane:clusters"]["local"]["nodePools"][0]["className"] = "missing"
    result = run(config, "dev")
    assert isinstance(result.error, ProgramError)
    errors = result.messages("error")
    assert len(errors) == 2 and any("replicaz" in line for line in errors)
    assert any("missing" in line for line in errors)
    assert all(item.type == "pulumi:pulumi:StackReference" for item in result.registrations)


def test_secrets_are_never_in_the_placement_or_fleet_outputs(prod: MockRun) -> None:
    text = json.dumps({key: value for key, value in prod.outputs.items() if key != "kubeconfigs"})
    assert all(value not in text for entry in SECRETS.values() for value in entry.values())


def test_a_config_record_that_is_not_json_stops_the_program_with_the_problem() -> None:
    config = stack_config("dev")
    config["modelplane:placement"] = "{not json"
    result = run(config, "dev")
    assert isinstance(result.error, ProgramError) and "not a placement record" in str(result.error)
    assert any("JSON syntax error at line 1, column 2" in line for line in result.messages("error"))


def test_every_kubernetes_object_forces_its_fields_back_from_other_managers() -> None:
    """`kubectl scale` takes `.spec.replicas` (scale subresource); without force, Pulumi's server-side apply then
    fails with a field conflict, so the reconcile service could never heal that drift (seen on the sandbox)."""
    result = run(stack_config("dev"), "dev")
    objects = [r for r in result.registrations if r.type.startswith("kubernetes:") and "metadata" in r.inputs]
    assert len(objects) > 10 and {"kubernetes:apps/v1:Deployment"} <= {r.type for r in objects}
    assert all(r.inputs["metadata"]["annotations"]["pulumi.com/patchForce"] == "true" for r in objects)
