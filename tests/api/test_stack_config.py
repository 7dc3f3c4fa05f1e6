"""Loading the fleet from a Pulumi stack's config: same objects as YAML, key checks, secrets, placement."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelplane.api.fleet import Fleet, FleetSettings
from modelplane.api.loading import (
    SECRETS_KEY,
    StackInputs,
    collect_inputs,
    fleet_from_stack_config,
    load_paths,
    load_stack,
    previous_from_config,
    stack_source,
)
from tests.api.helpers import FIXTURES, FLEET_YAML, fleet_documents, problems, write_yaml

SOURCE = "stacks/Pulumi.dev.yaml"
BUCKETS = ("classes", "clusters", "deployments", "caches", "services", "endpoints", "gateways")


def dev_config() -> dict[str, Any]:
    """The `config:` mapping of fixtures/stacks/Pulumi.dev.yaml."""
    return yaml.safe_load((FIXTURES / SOURCE).read_text())["config"]


def from_config(config: Mapping[str, Any], project_dir: Path = FIXTURES) -> Fleet:
    return fleet_from_stack_config(config, project_dir=project_dir, source=SOURCE)


def config_problems(config: Mapping[str, Any], project_dir: Path = FIXTURES) -> list[str]:
    return problems(lambda: from_config(config, project_dir))


def with_entry(key: str, name: str, value: Any) -> dict[str, Any]:
    config = dev_config()
    config.setdefault(key, {})[name] = value
    return config


def test_stack_config_gives_the_same_objects_as_the_equivalent_yaml() -> None:
    from_yaml, from_stack = load_paths([FLEET_YAML]), from_config(dev_config())
    for bucket in BUCKETS:
        assert getattr(from_stack, bucket) == getattr(from_yaml, bucket), bucket
    assert sum(len(getattr(from_stack, bucket)) for bucket in BUCKETS) == 9
    qwen = from_stack.deployments["ml-team/qwen"]
    assert str(from_stack.origin(qwen)) == f"{SOURCE}:modelplane:deployments.qwen"


def test_load_stack_reads_settings_placement_and_config_without_secrets() -> None:
    inputs = load_stack(FIXTURES, "dev")
    assert isinstance(inputs, StackInputs)
    assert inputs.fleet.settings == FleetSettings(gpu_packing=True)
    assert inputs.previous == {"deployments": [], "clusters": []}
    assert inputs.config["modelplane:role"] == "fleet" and inputs.config["aws:region"] == "us-east-1"
    assert SECRETS_KEY not in inputs.config
    assert "BBBB" not in repr(inputs)
    assert load_stack(FIXTURES, "acme/modelplane/dev") == inputs  # a fully qualified name uses the short name's file


def test_pulumi_config_set_path_scales_a_deployment() -> None:
    config = dev_config()
    config["modelplane:deployments"]["qwen"]["replicas"] = 3  # pulumi config set --path '...qwen.replicas' 3
    assert from_config(config).deployments["ml-team/qwen"].spec.replicas == 3


def test_json_text_config_values_as_the_pulumi_runtime_gives_them() -> None:
    config = {key: json.dumps(value) if key.startswith("modelplane:") else value for key, value in dev_config().items()}
    assert from_config(config).deployments == from_config(dev_config()).deployments


def test_manifests_are_loaded_relative_to_the_project_and_merged() -> None:
    fleet = load_stack(FIXTURES, "mixed").fleet
    assert (list(fleet.classes), list(fleet.clusters), list(fleet.deployments)) == (
        ["h100-8x"],
        ["us-east"],
        ["ml-team/qwen"],
    )
    assert str(fleet.origin(fleet.deployments["ml-team/qwen"])) == "manifests/team/qwen.yml:2"
    assert fleet.notices == ("manifests/team/qwen.yml:1: skipped Namespace ml-team (not a Modelplane fleet kind)",)


def test_namespaced_stack_objects_default_to_default() -> None:
    config = dev_config()
    del config["modelplane:endpoints"]["openai"]["metadata"]
    assert list(from_config(config).endpoints) == ["default/openai"]


def test_stack_object_problems_name_the_config_key_and_the_object_path() -> None:
    config = dev_config()
    config["modelplane:deployments"]["qwen"]["replicas"] = -1
    config["modelplane:deployments"]["qwen"]["template"]["spec"]["engines"][0]["members"][0]["rol"] = "Leader"
    config["modelplane:clusters"]["us-east"]["metadata"]["labels"] = {"bad key": "x"}
    member = "spec.template.spec.engines[0].members[0]"
    assert config_problems(config) == [
        f"{SOURCE}:modelplane:clusters.us-east InferenceCluster us-east: metadata.labels: "
        "key 'bad key': name must be 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric",
        f"{SOURCE}:modelplane:deployments.qwen ModelDeployment ml-team/qwen: spec.replicas: "
        "Input should be greater than or equal to 0 (got -1)",
        f"{SOURCE}:modelplane:deployments.qwen ModelDeployment ml-team/qwen: {member}.rol: "
        "unknown field; did you mean role?",
    ]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param(
            with_entry("modelplane:classes", "h100.large", {"devices": 3}),
            [
                f'{SOURCE}:modelplane:classes["h100.large"] InferenceClass h100.large: spec.devices: '
                "Input should be a valid list (got 3)"
            ],
            id="dotted-name",
        ),
        pytest.param(
            with_entry("modelplane:endpoints", "e", {"metadata": {"name": "x"}, "url": "https://e.example"}),
            [
                f"{SOURCE}:modelplane:endpoints.e ModelEndpoint default/e: metadata.name: "
                "not allowed: the name is the key of the entry"
            ],
            id="metadata-name",
        ),
        pytest.param(
            with_entry("modelplane:endpoints", "e", ["https://e.example"]),
            [f"{SOURCE}:modelplane:endpoints.e ModelEndpoint default/e: must be a mapping"],
            id="entry-not-mapping",
        ),
        pytest.param(
            with_entry("modelplane:endpoints", "e", {"metadata": "ml-team", "url": "https://e.example"}),
            [f"{SOURCE}:modelplane:endpoints.e ModelEndpoint default/e: metadata: must be a mapping"],
            id="metadata-not-mapping",
        ),
        pytest.param(
            {"modelplane:gateways": ["default"]},
            [f"{SOURCE}:modelplane:gateways: must map object names to their spec fields"],
            id="kind-not-mapping",
        ),
        pytest.param(
            {"modelplane:manifests": "recipes"},
            [f"{SOURCE}:modelplane:manifests: must be a list of paths relative to the project"],
            id="manifests-not-list",
        ),
        pytest.param(
            {"modelplane:manifests": ["missing.yaml"]},
            ["missing.yaml: no such file or directory"],
            id="manifest-missing",
        ),
        pytest.param(
            {"modelplane:scheduling": {"gpuPack": True}},
            [f"{SOURCE}:modelplane:scheduling: gpuPack: unknown field; did you mean gpuPacking?"],
            id="scheduling-typo",
        ),
        pytest.param(
            {"modelplane:deploymnets": {}},
            [f"{SOURCE}:modelplane:deploymnets: unknown config key; did you mean modelplane:deployments?"],
            id="unknown-key",
        ),
        pytest.param(
            {"deployments": {}},
            [f"{SOURCE}: config key 'deployments' must be written namespace:key"],
            id="key-without-namespace",
        ),
    ],
)
def test_stack_config_problems(config: dict[str, Any], expected: list[str]) -> None:
    assert config_problems(config) == expected


def test_program_keys_and_other_namespaces_are_accepted_and_ignored() -> None:
    config = {
        "modelplane:role": "cluster",
        "modelplane:cluster": "us-east",
        "modelplane:fleetStack": "acme/modelplane/fleet",
        "modelplane:recoverPlacement": True,
        "modelplane:chartVersions": {"lws": "0.8.0"},
        "modelplane:gatewayAddresses": {"us-east": "10.0.0.1"},
        "aws:region": "us-east-1",
        "gcp:project": "p",
        "kubernetes:context": "kind",
    }
    assert from_config(config) == Fleet()


class SecretsTripwire(Mapping[str, Any]):
    """A config whose `modelplane:secrets` value fails the test if anything reads it."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config

    def __getitem__(self, key: str) -> Any:
        if key == SECRETS_KEY:
            pytest.fail("the loader read modelplane:secrets")
        return self._config[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._config)

    def __len__(self) -> int:
        return len(self._config)


def test_modelplane_secrets_is_never_read() -> None:
    config = dev_config()
    config[SECRETS_KEY] = "anything at all, even not a mapping"
    assert from_config(SecretsTripwire(config)).deployments == from_config(dev_config()).deployments


def test_secure_values_inside_fleet_objects_are_rejected_without_echoing_them() -> None:
    config = dev_config()
    container = config["modelplane:deployments"]["qwen"]["template"]["spec"]["engines"][0]["members"][0]["template"]
    container["spec"]["containers"][0]["env"] = [{"name": "HF_TOKEN", "value": {"secure": "v1:CIPHERTEXT"}}]
    config["modelplane:clusters"]["us-east"]["metadata"]["annotations"] = {"token": {"secure": "v1:CIPHERTEXT"}}
    found = config_problems(config)
    assert found == [
        f"{SOURCE}:modelplane:clusters.us-east InferenceCluster us-east: metadata.annotations.token: "
        "secrets belong under modelplane:secrets",
        f"{SOURCE}:modelplane:deployments.qwen ModelDeployment ml-team/qwen: "
        "spec.template.spec.engines[0].members[0].template.spec.containers[0].env[0].value: "
        "secrets belong under modelplane:secrets",
    ]
    assert "CIPHERTEXT" not in "".join(found)


def test_same_object_in_manifest_and_stack_config_is_a_duplicate(tmp_path: Path) -> None:
    write_yaml(tmp_path / "team.yaml", fleet_documents()[3:4])
    config = {**dev_config(), "modelplane:manifests": ["team.yaml"]}
    assert config_problems(config, tmp_path) == [
        f"team.yaml:1 ModelDeployment ml-team/qwen: duplicate: first defined at {SOURCE}:modelplane:deployments.qwen"
    ]


def test_manifest_paths_merge_into_the_stack_fleet(tmp_path: Path) -> None:
    extra = copy.deepcopy(fleet_documents()[3])
    extra["metadata"]["name"] = "extra"
    inputs, found = collect_inputs([write_yaml(tmp_path / "extra.yaml", [extra])], "dev", FIXTURES)
    assert found == []
    assert list(inputs.fleet.deployments) == ["ml-team/extra", "ml-team/kimi", "ml-team/qwen", "ml-team/split"]
    assert inputs.fleet.settings.gpu_packing


@pytest.mark.parametrize(
    ("stack_file", "expected"),
    [
        pytest.param(None, ["stacks/Pulumi.dev.yaml: no such stack file"], id="missing"),
        pytest.param(
            "config:\n  a: [\n",
            [
                "stacks/Pulumi.dev.yaml: YAML syntax error at line 3, column 1: "
                "did not find expected node content (while parsing a flow node)"
            ],
            id="syntax",
        ),
        pytest.param(
            "config: [a]\n",
            ["stacks/Pulumi.dev.yaml: not a Pulumi stack settings file: `config` must be a mapping"],
            id="config-not-mapping",
        ),
    ],
)
def test_unreadable_stack_file(tmp_path: Path, stack_file: str | None, expected: list[str]) -> None:
    if stack_file is not None:
        (tmp_path / "stacks").mkdir()
        (tmp_path / SOURCE).write_text(stack_file)
    assert problems(lambda: load_stack(tmp_path, "dev")) == expected


NOTHING_FOUND = (
    "no Modelplane objects found (InferenceClass, InferenceCluster, ModelDeployment, ModelCache, ModelService, "
    "ModelEndpoint, InferenceGateway)"
)


def test_a_stack_file_without_fleet_objects_is_a_problem_not_an_empty_fleet(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / SOURCE).write_text("encryptionsalt: v1:abc\n")
    assert problems(lambda: load_stack(tmp_path, "dev")) == [f"{SOURCE}: {NOTHING_FOUND}"]


@pytest.mark.parametrize(
    ("value", "previous"),
    [
        (None, None),
        ("", None),
        ('{"deployments": []}', {"deployments": []}),
        ({"deployments": [{"name": "q"}]}, {"deployments": [{"name": "q"}]}),
    ],
)
def test_previous_placement(value: Any, previous: dict[str, Any] | None) -> None:
    assert previous_from_config({"modelplane:placement": value}) == previous


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (
            "{not json",
            "not a placement record: JSON syntax error at line 1, column 2: "
            "Expecting property name enclosed in double quotes",
        ),
        ("[1, 2]", "must be a mapping (the record `modelplane plan -o json` writes)"),
        (["a"], "must be a mapping (the record `modelplane plan -o json` writes)"),
    ],
)
def test_previous_placement_problems(value: Any, problem: str) -> None:
    found = problems(lambda: previous_from_config({"modelplane:placement": value}, source=SOURCE))
    assert found == [f"{SOURCE}:modelplane:placement: {problem}"]


def test_no_input_at_all_is_a_problem() -> None:
    _, found = collect_inputs([], None, FIXTURES)
    assert [str(problem) for problem in found] == ["<input>: no input: give manifest paths or a stack"]


@pytest.mark.parametrize(
    ("project_file", "stack", "expected"),
    [
        (None, "dev", "stacks/Pulumi.dev.yaml"),
        ("name: p\nruntime: python\nstackConfigDir: stacks\n", "org/proj/dev", "stacks/Pulumi.dev.yaml"),
        ("name: p\nruntime: python\nstackConfigDir: config/stacks\n", "dev", "config/stacks/Pulumi.dev.yaml"),
        ("name: p\nruntime: python\n", "dev", "Pulumi.dev.yaml"),
    ],
)
def test_the_stack_file_is_where_pulumi_keeps_it(
    tmp_path: Path, project_file: str | None, stack: str, expected: str
) -> None:
    if project_file is not None:
        (tmp_path / "Pulumi.yaml").write_text(project_file)
    assert stack_source(tmp_path, stack) == expected
    (tmp_path / expected).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / expected).write_text("encryptionsalt: v1:abc\n")
    assert problems(lambda: load_stack(tmp_path, stack)) == [f"{expected}: {NOTHING_FOUND}"]
