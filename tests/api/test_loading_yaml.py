"""Loading YAML manifests: files, directories, skipped kinds, syntax errors, duplicates, references, problem lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from modelplane.api.errors import InvalidInputError
from modelplane.api.loading import format_path, load_paths
from tests.api.helpers import DELETE, FIXTURES, FLEET_YAML, edit, edited_fleet, fleet_documents, problems, write_yaml

DEPLOYMENT = {
    "apiVersion": "modelplane.ai/v1alpha1",
    "kind": "ModelDeployment",
    "metadata": {"name": "qwen", "namespace": "ml-team"},
}


def test_fixture_fleet_loads_every_kind_sorted() -> None:
    fleet = load_paths([FLEET_YAML])
    assert list(fleet.classes) == ["h100-8x"]
    assert list(fleet.clusters) == ["us-east"]
    assert list(fleet.deployments) == ["ml-team/kimi", "ml-team/qwen", "ml-team/split"]
    assert list(fleet.caches) == ["ml-team/qwen-weights"]
    assert (list(fleet.services), list(fleet.endpoints), list(fleet.gateways)) == (
        ["ml-team/qwen"],
        ["ml-team/openai"],
        ["default"],
    )
    assert fleet.notices == ()
    assert str(fleet.origin(fleet.deployments["ml-team/qwen"])) == f"{FLEET_YAML}:4"


def test_other_kinds_are_skipped_with_one_notice_each_and_empty_documents_ignored(tmp_path: Path) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(
        "---\n"
        "apiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {name: foo, namespace: ml-team}\n"
        "---\n"
        "---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: ml-team}\n"
        "---\n"
        "apiVersion: modelplane.ai/v1alpha1\nkind: ModelReplica\nmetadata: {name: r, namespace: ml-team}\nspec: {}\n"
        "---\n"
        "apiVersion: infrastructure.modelplane.ai/v1alpha1\nkind: EKSCluster\nmetadata: {name: c}\n"
        "---\n"
        "apiVersion: v1\nkind: Secret\n"
        "---\n"
        "apiVersion: modelplane.ai/v1alpha1\nkind: InferenceClass\nmetadata: {name: c}\n"
        "spec: {devices: [{name: gpu, driver: gpu.nvidia.com, deviceClassName: gpu.nvidia.com}]}\n"
    )
    fleet = load_paths([path])
    assert fleet.notices == (
        f"{path}:1: skipped PodMonitor ml-team/foo (not a Modelplane fleet kind)",
        f"{path}:3: skipped Namespace ml-team (not a Modelplane fleet kind)",
        f"{path}:4: skipped ModelReplica ml-team/r (not a Modelplane fleet kind)",
        f"{path}:5: skipped EKSCluster c (not a Modelplane fleet kind)",
        f"{path}:6: skipped Secret (not a Modelplane fleet kind)",
    )


def test_directories_load_recursively_sorted_yaml_and_yml_only() -> None:
    fleet = load_paths([FIXTURES / "manifests"])
    assert list(fleet.deployments) == ["ml-team/qwen"]
    assert str(fleet.origin(fleet.deployments["ml-team/qwen"])) == f"{FIXTURES / 'manifests' / 'team' / 'qwen.yml'}:2"
    assert len(fleet.notices) == 1  # the Namespace; README.md is not read


def test_directory_order_decides_which_duplicate_is_reported(tmp_path: Path) -> None:
    documents = fleet_documents()
    write_yaml(tmp_path / "b" / "one.yaml", documents[:1])
    write_yaml(tmp_path / "a.yml", documents[:1])
    assert problems(lambda: load_paths([tmp_path])) == [
        f"{tmp_path / 'b' / 'one.yaml'}:1 InferenceClass h100-8x: duplicate: first defined at {tmp_path / 'a.yml'}:1"
    ]


def test_duplicate_across_files_is_a_problem(tmp_path: Path) -> None:
    first = write_yaml(tmp_path / "first.yaml", fleet_documents())
    second = write_yaml(tmp_path / "second.yaml", fleet_documents()[3:4])
    assert problems(lambda: load_paths([first, second])) == [
        f"{second}:1 ModelDeployment ml-team/qwen: duplicate: first defined at {first}:4"
    ]


def test_same_name_in_another_namespace_is_not_a_duplicate(tmp_path: Path) -> None:
    other = fleet_documents()[3]
    other["metadata"]["namespace"] = "other"
    other["spec"]["template"]["spec"].pop("modelCacheRef")
    fleet = load_paths([FLEET_YAML, write_yaml(tmp_path / "other.yaml", [other])])
    assert "other/qwen" in fleet.deployments and "ml-team/qwen" in fleet.deployments


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            "kind: InferenceClass\nmetadata: {name: a\nspec: {}\n",
            "x.yaml:1: YAML syntax error at line 3, column 5: did not find expected ',' or '}' "
            "(while parsing a flow mapping)",
            id="flow-mapping",
        ),
        pytest.param(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: Namespace\n  name: b\n",
            "x.yaml:2: YAML syntax error at line 6, column 7: mapping values are not allowed in this context",
            id="second-document",
        ),
        pytest.param(
            "apiVersion: v1\nkind: Namespace\nkind: Secret\n",
            "x.yaml:1: line 3, column 1: duplicate key 'kind'",
            id="duplicate-key",
        ),
    ],
)
def test_yaml_syntax_error_is_a_problem_with_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, problem: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("x.yaml").write_text(text)
    assert problems(lambda: load_paths([Path("x.yaml")])) == [problem]


def test_syntax_error_does_not_hide_problems_of_other_files(tmp_path: Path) -> None:
    broken = tmp_path / "a.yaml"
    broken.write_text("a: [\n")
    documents, number = edited_fleet("ModelDeployment", "qwen", {"spec.replicas": -1})
    fleet = write_yaml(tmp_path / "b.yaml", documents)
    found = problems(lambda: load_paths([broken, fleet]))
    assert len(found) == 2
    assert found[0].startswith(f"{broken}:1: YAML syntax error at line 2")
    assert found[1].startswith(f"{fleet}:{number} ModelDeployment ml-team/qwen: spec.replicas: ")


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        pytest.param(["a", "b"], "x.yaml:1: document is not a mapping (a Kubernetes object)", id="list"),
        pytest.param({"metadata": {"name": "a"}}, "x.yaml:1: apiVersion and kind are required strings", id="no-kind"),
        pytest.param(
            {**DEPLOYMENT, "apiVersion": "modelplane.ai/v1beta1"},
            "x.yaml:1 ModelDeployment ml-team/qwen: apiVersion: use modelplane.ai/v1alpha1",
            id="unserved-version",
        ),
    ],
)
def test_documents_that_are_not_fleet_objects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: object, problem: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write_yaml(Path("x.yaml"), [document])
    assert problems(lambda: load_paths([Path("x.yaml")])) == [problem]


def test_missing_path_is_a_problem() -> None:
    assert problems(lambda: load_paths([Path("no/such.yaml")])) == ["no/such.yaml: no such file or directory"]


def test_problem_line_format_is_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    worker = "spec.template.spec.engines[0].members[1].worker"
    documents, _ = edited_fleet("ModelDeployment", "kimi", {worker: {"node": 2}})
    write_yaml(Path("examples/fleet.yaml"), documents)
    assert problems(lambda: load_paths([Path("examples")])) == [
        f"examples/fleet.yaml:5 ModelDeployment ml-team/kimi: {worker}.node: unknown field; did you mean nodes?",
        f"examples/fleet.yaml:5 ModelDeployment ml-team/kimi: {worker}.nodes: required",
    ]


def test_every_problem_is_reported_together_sorted(tmp_path: Path) -> None:
    documents = fleet_documents()
    edit(documents[0], "spec.devices[0].count", 0)  # InferenceClass
    edit(documents[1], "spec.nodePools[0].className", "missing")  # InferenceCluster: dangling reference
    edit(documents[3], "spec.replicas", -1)  # ModelDeployment qwen
    edit(documents[3], "spec.template.spec.engines[0].copies", 0)
    edit(documents[8], "spec.backend", "Nginx")  # InferenceGateway
    path = write_yaml(tmp_path / "fleet.yaml", documents)
    with pytest.raises(InvalidInputError) as raised:
        load_paths([path])
    assert [line.removeprefix(f"{path}:") for line in raised.value.problems] == [
        "1 InferenceClass h100-8x: spec.devices[0].count: Input should be greater than or equal to 1 (got 0)",
        "2 InferenceCluster us-east: spec.nodePools[0].className: InferenceClass 'missing' not found",
        "4 ModelDeployment ml-team/qwen: spec.replicas: Input should be greater than or equal to 0 (got -1)",
        "4 ModelDeployment ml-team/qwen: spec.template.spec.engines[0].copies: "
        "Input should be greater than or equal to 1 (got 0)",
        "9 InferenceGateway default: spec.backend: Input should be 'Traefik' (got 'Nginx')",
    ]
    assert str(raised.value) == "\n".join(raised.value.problems)


REFERENCES = [
    pytest.param(
        "InferenceCluster",
        "us-east",
        {"spec.nodePools[0].className": "a100"},
        "2 InferenceCluster us-east: spec.nodePools[0].className: InferenceClass 'a100' not found",
        id="class",
    ),
    pytest.param(
        "ModelCache",
        "qwen-weights",
        {"metadata.namespace": "other"},
        "4 ModelDeployment ml-team/qwen: spec.template.spec.modelCacheRef.name: "
        "ModelCache 'qwen-weights' not found in namespace 'ml-team'",
        id="cache-in-another-namespace",
    ),
    pytest.param(
        "InferenceGateway",
        "default",
        {"spec.cluster": "eu-west"},
        "9 InferenceGateway default: spec.cluster: InferenceCluster 'eu-west' not found",
        id="gateway-cluster",
    ),
    pytest.param(
        "ModelService",
        "qwen",
        {"spec.gatewayRef": {"name": "edge"}},
        "8 ModelService ml-team/qwen: spec.gatewayRef.name: InferenceGateway 'edge' not found",
        id="service-gateway",
    ),
]


@pytest.mark.parametrize(("kind", "name", "edits", "problem"), REFERENCES)
def test_dangling_references(tmp_path: Path, kind: str, name: str, edits: dict[str, object], problem: str) -> None:
    documents, _ = edited_fleet(kind, name, edits)
    path = write_yaml(tmp_path / "fleet.yaml", documents)
    assert problems(lambda: load_paths([path])) == [f"{path}:{problem}"]


def test_reference_to_an_invalid_object_is_not_also_reported_as_missing(tmp_path: Path) -> None:
    for kind, name, field in [("InferenceClass", "h100-8x", "spec.devices"), ("ModelCache", "qwen-weights", "spec")]:
        documents, number = edited_fleet(kind, name, {field: DELETE})
        path = write_yaml(tmp_path / "fleet.yaml", documents)
        found = problems(lambda path=path: load_paths([path]))
        assert len(found) == 1 and found[0].startswith(f"{path}:{number} {kind} "), found


def test_cluster_scoped_kinds_ignore_a_namespace_as_the_api_server_does(tmp_path: Path) -> None:
    documents, _ = edited_fleet("InferenceClass", "h100-8x", {"metadata.namespace": "ml-team"})
    fleet = load_paths([write_yaml(tmp_path / "fleet.yaml", documents)])
    assert list(fleet.classes) == ["h100-8x"] and fleet.classes["h100-8x"].namespace == ""


def test_namespaced_kinds_default_to_default(tmp_path: Path) -> None:
    documents, _ = edited_fleet("ModelEndpoint", "openai", {"metadata.namespace": DELETE})
    fleet = load_paths([write_yaml(tmp_path / "fleet.yaml", documents)])
    assert list(fleet.endpoints) == ["default/openai"]


@pytest.mark.parametrize(
    ("parts", "text"),
    [
        (
            ("spec", "template", "spec", "engines", 0, "members", 1, "worker"),
            "spec.template.spec.engines[0].members[1].worker",
        ),
        (("metadata", "labels", "modelplane.ai/x"), "metadata.labels[modelplane.ai/x]"),
        (("spec", "devices", 0, "capacity", "memory", "value"), "spec.devices[0].capacity.memory.value"),
        (("metadata", "labels", 1, "[key]"), "metadata.labels[1][key]"),
        ((), ""),
    ],
)
def test_format_path(parts: tuple[str | int, ...], text: str) -> None:
    assert format_path(parts) == text


def test_api_imports_nothing_else_of_ours() -> None:
    """The dependency direction: `api` is the bottom layer."""
    api = Path(__file__).resolve().parents[2] / "modelplane" / "api"
    for module in sorted(api.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            ours = [name for name in names if name.split(".")[0] == "modelplane"]
            assert all(name.startswith("modelplane.api") for name in ours), (module.name, ours)
