"""Secrets cannot slip through: a `secure:` value inside fleet config is refused by `plan`, `render` and the
Pulumi program alike, with the same lines, and never reaches a resource, an export or a log in plain text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelplane.api.loading import collect_inputs
from modelplane.components import mockview
from modelplane.components.fleet import main
from tests.hostile.harness import PROJECT_FILE, Case, assert_refused, base_documents, stack_text, write_project

PLAINTEXT = "hf_plaintext_token_value"
SECURE = {"secure": "v1:c2VjcmV0LWNpcGhlcnRleHQ="}
MEMBER = ["template", "spec", "engines", 0, "members", 0, "template", "spec", "containers", 0]
CLUSTER_SOURCE = ["cluster", "existing", "secretRef"]


def stack_with_secure(key: str, name: str, path: list[str | int], value: Any = SECURE, **extra: Any) -> str:
    """The base stack with `value` placed at `path` inside object `name` of config key `key`."""
    config = yaml.safe_load(stack_text(base_documents(), extra))["config"]
    target = config[key][name]
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return yaml.safe_dump({"config": config}, sort_keys=False)


ENV = (*MEMBER, "env")
PLACES: dict[str, tuple[str, str, list[str | int], Any, str]] = {
    "deployment-env": (
        "modelplane:deployments",
        "qwen",
        [*ENV],
        [{"name": "HF_TOKEN", "value": SECURE}],
        "stacks/Pulumi.dev.yaml:modelplane:deployments.qwen ModelDeployment ml-team/qwen: "
        "spec.template.spec.engines[0].members[0].template.spec.containers[0].env[0].value: "
        "secrets belong under modelplane:secrets",
    ),
    "deployment-args": (
        "modelplane:deployments",
        "qwen",
        [*MEMBER, "args"],
        ["--token", SECURE],
        "containers[0].args[1]: secrets belong under modelplane:secrets",
    ),
    "deployment-image": (
        "modelplane:deployments",
        "qwen",
        [*MEMBER, "image"],
        SECURE,
        "containers[0].image: secrets belong under",
    ),
    "deployment-label": (
        "modelplane:deployments",
        "qwen",
        ["metadata", "labels"],
        {"team": SECURE},
        "metadata.labels.team: secrets",
    ),
    "cluster-secret-ref": (
        "modelplane:clusters",
        "lab",
        [*CLUSTER_SOURCE, "name"],
        SECURE,
        "InferenceCluster lab: spec.cluster.existing.secretRef.name: secrets belong under modelplane:secrets",
    ),
    "class-attribute": (
        "modelplane:classes",
        "l4-1x",
        ["devices", 0, "attributes", "productName"],
        SECURE,
        "InferenceClass l4-1x: spec.devices[0].attributes.productName: secrets belong under",
    ),
    "service-endpoint": (
        "modelplane:services",
        "qwen",
        ["endpoints", 0, "weight"],
        SECURE,
        "ModelService ml-team/qwen: spec.endpoints",
    ),
    "whole-object": ("modelplane:services", "qwen", ["endpoints"], SECURE, "spec.endpoints: secrets belong under"),
}


def plan_stack_case(text: str, expect: str, command: str = "plan") -> Case:
    args = [command, "--stack", "dev", "--project-dir", "{dir}"] + (
        ["--out", "{dir}/out"] if command == "render" else []
    )
    return Case({"Pulumi.yaml": PROJECT_FILE, "stacks/Pulumi.dev.yaml": text}, args, expect)


CASES = {
    **{name: plan_stack_case(stack_with_secure(k, n, p, v), e) for name, (k, n, p, v, e) in PLACES.items()},
    **{
        f"{name}-render": plan_stack_case(stack_with_secure(k, n, p, v), e, "render")
        for name, (k, n, p, v, e) in PLACES.items()
    },
    "scheduling": plan_stack_case(
        stack_text(base_documents(), {"modelplane:scheduling": {"gpuPacking": SECURE}}),
        "stacks/Pulumi.dev.yaml:modelplane:scheduling: gpuPacking: Input should be a valid boolean",
    ),
    "scale-refuses-too": Case(
        {"Pulumi.yaml": PROJECT_FILE, "stacks/Pulumi.dev.yaml": stack_with_secure(*PLACES["deployment-env"][:4])},
        ["scale", "qwen", "2", "--stack", "dev", "--project-dir", "{dir}", "--no-nudge"],
        "env[0].value: secrets belong under modelplane:secrets",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_plan_render_and_scale_refuse_a_secret_inside_fleet_objects(case: Case, tmp_path: Path) -> None:
    outcome = assert_refused(case, tmp_path)
    assert "v1:c2VjcmV0" not in outcome.stderr  # the ciphertext is never echoed


def decrypted(config: Any) -> tuple[Any, bool]:
    """What the engine hands the program: `secure:` values decrypted, and whether there were any."""
    if isinstance(config, dict):
        if set(config) == {"secure"}:
            return PLAINTEXT, True
        items = {key: decrypted(value) for key, value in config.items()}
        return {key: value for key, (value, _) in items.items()}, any(found for _, found in items.values())
    if isinstance(config, list):
        items = [decrypted(value) for value in config]
        return [value for value, _ in items], any(found for _, found in items)
    return config, False


def program_run(root: Path, text: str, role: str) -> mockview.MockRun:
    """The program on the stack file `text`, as `pulumi up` runs it: decrypted values, their keys marked secret."""
    write_project(root, {"Pulumi.yaml": PROJECT_FILE, "stacks/Pulumi.dev.yaml": text})
    values: dict[str, str] = {"modelplane:role": role, "modelplane:recoverPlacement": "false"}
    secret_keys = []
    for key, value in yaml.safe_load(text)["config"].items():
        plain, secret = decrypted(value)
        values[key] = plain if isinstance(plain, str) else json.dumps(plain)
        if secret:
            secret_keys.append(key)
    values["modelplane:secrets"] = json.dumps({"lab-kubeconfig": {"kubeconfig": "apiVersion: v1\nkind: Config\n"}})
    secret_keys.append("modelplane:secrets")
    return mockview.run_program(main, values, stack="dev", secret_keys=secret_keys, project_dir=root)


@pytest.mark.parametrize("role", ["all", "fleet"])
@pytest.mark.parametrize("place", PLACES, ids=PLACES)
def test_the_program_refuses_it_with_plans_own_lines(tmp_path: Path, role: str, place: str) -> None:
    key, name, path, value, _ = PLACES[place]
    text = stack_with_secure(key, name, path, value)
    run = program_run(tmp_path, text, role)
    _, plan_problems = collect_inputs((), "dev", tmp_path)
    expected = sorted(str(problem) for problem in plan_problems)
    assert expected and all("secrets belong under modelplane:secrets" in line for line in expected)
    assert run.error is not None and "problem(s) in the stack config" in str(run.error)
    assert sorted(run.messages("error")) == expected
    assert not [item for item in run.registrations if not item.read], "nothing is created"
    assert "fleetConfig" not in run.outputs and "placement" not in run.outputs
    everything = json.dumps([item.inputs for item in run.registrations], default=str) + json.dumps(run.outputs)
    assert PLAINTEXT not in everything and all(PLAINTEXT not in message for _, message in run.logs)


def test_without_the_stack_file_the_program_names_the_secret_key(tmp_path: Path) -> None:
    text = stack_with_secure(*PLACES["deployment-env"][:4])
    write_project(tmp_path, {"Pulumi.yaml": PROJECT_FILE})  # e.g. config from a Pulumi ESC environment
    values, _ = decrypted(yaml.safe_load(text)["config"])
    run = mockview.run_program(
        main,
        {key: value if isinstance(value, str) else json.dumps(value) for key, value in values.items()},
        stack="dev",
        secret_keys=["modelplane:deployments"],
        project_dir=tmp_path,
    )
    assert run.messages("error") == [
        "stack dev:modelplane:deployments: a secret value; secrets belong under modelplane:secrets"
    ]
    assert PLAINTEXT not in json.dumps([item.inputs for item in run.registrations], default=str)


def test_an_honest_secret_under_modelplane_secrets_still_runs(tmp_path: Path) -> None:
    run = program_run(tmp_path, stack_text(base_documents()), "fleet")
    assert run.error is None, run.error
    assert "fleetConfig" in run.outputs and "kind: Config" not in json.dumps(run.outputs["fleetConfig"])
