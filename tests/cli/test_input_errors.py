"""Invalid input across commands: one line format, one wording for a missing stack, exit 2; misspelt kinds and fields
say what was meant; a cluster stack says which stack to plan; an ESC environment is not passed over silently."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelplane.cli import app
from tests.hostile.harness import BASE, PROJECT_FILE, base_documents, stack_text

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT = BASE.split("---\n")[2]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def manifest(tmp_path: Path, text: str) -> str:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    return str(path)


def test_a_misspelt_kind_of_our_group_is_an_error_with_the_kind_meant(tmp_path: Path) -> None:
    path = manifest(tmp_path, BASE.replace("kind: ModelDeployment", "kind: ModelDeplyment"))
    code, _, err = run("plan", path)
    assert code == 2
    assert err.splitlines()[0] == (
        f"{path}:3 ModelDeplyment ml-team/qwen: kind: unknown kind in modelplane.ai; did you mean ModelDeployment?"
    )


def test_a_kind_of_our_group_unlike_any_lists_the_kinds(tmp_path: Path) -> None:
    path = manifest(tmp_path, BASE + "---\napiVersion: modelplane.ai/v1alpha1\nkind: Zebra\nmetadata: {name: z}\n")
    code, _, err = run("plan", path)
    assert code == 2
    assert err.strip() == f"{path}:5 Zebra z: kind: unknown kind in modelplane.ai; the kinds are InferenceClass, " + (
        "InferenceCluster, ModelDeployment, ModelCache, ModelService, ModelEndpoint, InferenceGateway"
    )


@pytest.mark.parametrize(
    "extra",
    [
        "apiVersion: other.example/v1\nkind: ModelDeplyment\nmetadata: {name: x}\n",
        "apiVersion: infrastructure.modelplane.ai/v1alpha1\nkind: EKSCluster\nmetadata: {name: x, namespace: y}\n",
        "apiVersion: modelplane.ai/v1alpha1\nkind: ModelReplica\nmetadata: {name: x, namespace: y}\n",
    ],
    ids=["other-group", "infrastructure-group", "created-by-modelplane"],
)
def test_kinds_of_other_groups_and_created_kinds_stay_notices(tmp_path: Path, extra: str) -> None:
    code, _, err = run("plan", manifest(tmp_path, f"{BASE}---\n{extra}"), "-o", "json")
    assert code == 0, err
    assert "(not a Modelplane fleet kind)" in err


def test_a_misplaced_field_points_at_where_it_belongs(tmp_path: Path) -> None:
    text = BASE.replace("  replicas: 1\n", "  replicas: 1\n  clusterSelector: {matchLabels: {region: lab}}\n")
    path = manifest(tmp_path, text)
    code, _, err = run("plan", path)
    assert code == 2
    assert err.strip() == (
        f"{path}:3 ModelDeployment ml-team/qwen: spec.clusterSelector: unknown field; "
        "did you mean spec.template.spec.clusterSelector?"
    )


def test_a_misspelt_field_gets_its_sibling(tmp_path: Path) -> None:
    path = manifest(tmp_path, BASE.replace("      engines:\n", "      engnes:\n"))
    code, _, err = run("plan", path)
    assert code == 2
    assert (
        f"{path}:3 ModelDeployment ml-team/qwen: spec.template.spec.engnes: unknown field; did you mean engines?"
        in (err.splitlines())
    )


def test_a_misplaced_field_in_a_stack_config_entry_is_pointed_at_too(tmp_path: Path) -> None:
    documents = base_documents()
    documents[2]["spec"]["clusterSelector"] = {"matchLabels": {"region": "lab"}}
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text(PROJECT_FILE)
    (tmp_path / "stacks" / "Pulumi.dev.yaml").write_text(stack_text(documents))
    code, _, err = run("plan", "--stack", "dev", "--project-dir", str(tmp_path))
    assert code == 2
    assert err.strip() == (
        "stacks/Pulumi.dev.yaml:modelplane:deployments.qwen ModelDeployment ml-team/qwen: spec.clusterSelector: "
        "unknown field; did you mean spec.template.spec.clusterSelector?"
    )


@pytest.mark.parametrize("command", [["plan"], ["render", "--out", "{out}"]], ids=["plan", "render"])
def test_a_cluster_stack_names_its_fleet_stack_and_writes_nothing(tmp_path: Path, command: list[str]) -> None:
    out = tmp_path / "out"
    args = [part.replace("{out}", str(out)) for part in command]
    code, stdout, err = run(*args, "--stack", "prod-us-east", "--project-dir", str(REPO))
    assert code == 2
    assert stdout == ""
    assert err.strip() == (
        "stacks/Pulumi.prod-us-east.yaml: a cluster stack of fleet stack organization/modelplane/prod-fleet: its "
        "objects and its share of the placement come from that stack; plan or render the fleet with --stack "
        "prod-fleet (`pulumi up` of this stack applies its share)"
    )
    assert not out.exists()


def test_a_cluster_stack_without_its_fleet_stack_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text(PROJECT_FILE)
    (tmp_path / "stacks" / "Pulumi.c.yaml").write_text("config:\n  modelplane:role: cluster\n")
    code, _, err = run("plan", "--stack", "c", "--project-dir", str(tmp_path))
    assert code == 2
    assert err.strip() == (
        "stacks/Pulumi.c.yaml: a cluster stack (modelplane:role: cluster) needs modelplane:fleetStack, the fleet "
        "stack that plans it"
    )


MISSING = "stacks/Pulumi.prod-fleeet.yaml: no such stack file (did you mean prod-fleet? stacks here: dev, lab, ops, "
COMMANDS = {
    "plan": ["plan"],
    "render": ["render", "--out", "/nonexistent/out"],
    "synth": ["synth"],
    "scale": ["scale", "qwen", "2", "--no-nudge"],
    "status": ["status"],
    "cordon": ["cordon", "us-east"],
    "uncordon": ["uncordon", "us-east"],
    "drain": ["drain", "us-east"],
    "preview": ["preview", "--no-pulumi"],
    "reconcile": ["reconcile"],
}


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_missing_stack_reads_the_same_everywhere(command: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # relative paths, as a user types them
    code, _, err = run(*command, "--stack", "prod-fleeet")
    assert code == 2
    assert err.startswith(MISSING), err
    assert len(err.strip().splitlines()) == 1


def test_synth_refuses_invalid_input_as_plan_does(tmp_path: Path) -> None:
    documents = base_documents()
    documents[2]["spec"]["replicas"] = -1
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text(PROJECT_FILE)
    (tmp_path / "stacks" / "Pulumi.dev.yaml").write_text(stack_text(documents))
    plan = run("plan", "--stack", "dev", "--project-dir", str(tmp_path))
    synth = run("synth", "--stack", "dev", "--project-dir", str(tmp_path))
    assert plan[0] == synth[0] == 2
    assert (
        synth[2]
        == plan[2]
        == (
            "stacks/Pulumi.dev.yaml:modelplane:deployments.qwen ModelDeployment ml-team/qwen: spec.replicas: "
            "Input should be greater than or equal to 0 (got -1)\n"
        )
    )
    assert synth[1] == ""  # no tree of a program that would not run


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["plan"], "command line: give manifest PATHs or --stack NAME"),
        (["plan", "--stack", "dev", "-o", "xml"], "command line: --output: 'xml' is not one of table, json, yaml"),
        (["status", "--stack", "dev", "-o", "xml"], "command line: --output: 'xml' is not one of table, json"),
        (["reconcile"], "command line: no stack to reconcile: pass --stack NAME or list stacks in --config"),
    ],
)
def test_problems_of_the_command_line_name_it(args: list[str], line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    code, _, err = run(*args)
    assert (code, err.strip()) == (2, line)


def test_problems_of_a_file_or_of_an_object_without_a_name_leave_the_missing_parts_out(tmp_path: Path) -> None:
    path = manifest(tmp_path, "apiVersion: v1\nkind: List\nitems: {a: 1}\n---\n[1]\n")
    code, _, err = run("plan", path)
    assert code == 2
    assert err.splitlines() == [
        f"{path}:1 List: items: must be a list of objects",
        f"{path}:2: document is not a mapping (a Kubernetes object)",
    ]
    code, _, err = run("plan", manifest(tmp_path, "a: {b\n"))
    assert code == 2
    assert err.startswith(f"{path}:1: YAML syntax error at line 2, column 1: ")


ESC = "environment:\n  - myorg/aws-creds\n  - gpu-quota\n"


@pytest.mark.parametrize(
    "command", [["plan", "-o", "json"], ["scale", "qwen", "2", "--no-nudge"]], ids=["plan", "scale"]
)
def test_an_esc_environment_is_named_in_a_warning(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text(PROJECT_FILE)
    stack = tmp_path / "stacks" / "Pulumi.dev.yaml"
    stack.write_text(ESC + stack_text(base_documents()))
    code, _, err = run(*command, "--stack", "dev", "--project-dir", str(tmp_path))
    assert code == 0, err
    assert err.splitlines()[0] == (
        "warning: stacks/Pulumi.dev.yaml: environment: ESC environment(s) myorg/aws-creds, gpu-quota: the offline "
        "commands (plan, render, synth, scale, status, the plan of preview) do not read ESC environments, so config "
        "they set is not seen here; `pulumi preview` and `pulumi up` see it"
    )
    stack.write_text(stack_text(base_documents()))
    assert "warning" not in run(*command, "--stack", "dev", "--project-dir", str(tmp_path))[2]
