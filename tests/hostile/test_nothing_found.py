"""Nothing found is an error, not an empty success; JSON manifests and v1 Lists are read as Kubernetes reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.hostile.harness import (
    BASE,
    PROJECT_FILE,
    Case,
    assert_refused,
    base_documents,
    invoke,
    plan_manifest,
    plan_stack,
    stack_text,
    write_project,
)

NOTHING = "no Modelplane objects found (InferenceClass, InferenceCluster, ModelDeployment"
NO_FILES = "no manifest files (*.yaml, *.yml, *.json) in this directory"
OTHER_KINDS = "apiVersion: v1\nkind: Namespace\nmetadata: {name: ml-team}\n---\napiVersion: v1\nkind: Secret\n"


def plan_dir(files: dict[str, str], expect: str) -> Case:
    return Case({f"manifests/{name}": text for name, text in files.items()}, ["plan", "{dir}/manifests"], expect)


def render_dir(files: dict[str, str], expect: str) -> Case:
    return Case(
        {**{f"manifests/{name}": text for name, text in files.items()}, "out/lab/keep.txt": "a previous render"},
        ["render", "{dir}/manifests", "--out", "{dir}/out"],
        expect,
    )


def empty_dir(root: Path) -> None:
    (root / "manifests").mkdir()


CASES = {
    "empty-directory": Case({}, ["plan", "{dir}/manifests"], f"{{dir}}/manifests: {NO_FILES}", setup=empty_dir),
    "empty-directory-render": Case(
        {"out/lab/keep.txt": "a previous render"},
        ["render", "{dir}/manifests", "--out", "{dir}/out"],
        NO_FILES,
        setup=empty_dir,
    ),
    "directory-of-text-files": plan_dir({"notes.txt": BASE, "fleet.yml.bak": BASE}, NO_FILES),
    "directory-of-other-kinds": plan_dir({"ns.yaml": OTHER_KINDS}, f"{NOTHING}, ModelCache"),
    "other-kinds-counted": plan_dir({"ns.yaml": OTHER_KINDS}, "; 2 object(s) of other kinds skipped"),
    "empty-file": plan_manifest("", NOTHING),
    "only-separators": plan_manifest("---\n---\n...\n", NOTHING),
    "only-comments": plan_manifest("# nothing here\n", NOTHING),
    "empty-json-list": plan_manifest(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": []}), NOTHING, name="l.json"
    ),
    "render-of-nothing-keeps-the-previous-output": render_dir({"ns.yaml": OTHER_KINDS}, NOTHING),
    "stack-without-config-wrapper": plan_stack(
        yaml.safe_dump(yaml.safe_load(stack_text(base_documents()))["config"], sort_keys=False),
        "stacks/Pulumi.dev.yaml: not a Pulumi stack settings file: config keys (modelplane:classes, "
        "modelplane:clusters, modelplane:deployments) must be under `config:`",
    ),
    "stack-file-empty": plan_stack("", f"stacks/Pulumi.dev.yaml: {NOTHING}"),
    "stack-file-only-salt": plan_stack("encryptionsalt: v1:abc\n", f"stacks/Pulumi.dev.yaml: {NOTHING}"),
    "stack-file-config-empty": plan_stack("config: {}\n", f"stacks/Pulumi.dev.yaml: {NOTHING}"),
    "stack-file-other-namespaces-only": plan_stack("config:\n  aws:region: us-east-1\n", NOTHING),
    "stack-file-a-list": plan_stack("- config\n", "not a Pulumi stack settings file: expected a mapping"),
    "stack-file-config-a-list": plan_stack("config: [a]\n", "`config` must be a mapping"),
    "stack-file-two-documents": plan_stack("config: {}\n---\nconfig: {}\n", "holds 2 YAML documents"),
    "stack-file-missing": Case(
        {"Pulumi.yaml": PROJECT_FILE}, ["plan", "--stack", "nope", "--project-dir", "{dir}"], "no such stack file"
    ),
    "stack-manifests-empty-directory": plan_stack(
        "config:\n  modelplane:manifests: [manifests]\n", f"manifests: {NO_FILES}", setup=empty_dir
    ),
    "cluster-stack": plan_stack(
        "config:\n  modelplane:role: cluster\n  modelplane:cluster: lab\n"
        "  modelplane:fleetStack: org/modelplane/fleet\n",
        "stacks/Pulumi.dev.yaml: a cluster stack of fleet stack org/modelplane/fleet: its objects and its share of the "
        "placement come from that stack; plan or render the fleet with --stack fleet",
    ),
    "list-items-not-a-list": plan_manifest(
        "apiVersion: v1\nkind: List\nitems: {a: 1}\n", "List: items: must be a list"
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_nothing_found_is_an_error(case: Case, tmp_path: Path) -> None:
    assert_refused(case, tmp_path)


def test_a_folder_of_json_manifests_is_read(tmp_path: Path) -> None:
    documents = base_documents()
    write_project(tmp_path, {f"m/{index}.json": json.dumps(item) for index, item in enumerate(documents)})
    outcome = invoke(["plan", str(tmp_path / "m"), "-o", "json"])
    assert outcome.exit_code == 0, outcome.stderr
    record = json.loads(outcome.stdout)
    assert [(item["name"], item["scheduled"]) for item in record["deployments"]] == [("qwen", 1)]


def test_a_v1_list_in_json_or_yaml_is_read_item_by_item(tmp_path: Path) -> None:
    listed = {"apiVersion": "v1", "kind": "List", "items": base_documents()}
    write_project(tmp_path, {"list.json": json.dumps(listed), "list.yaml": json.dumps(listed)})
    plans = [invoke(["plan", str(tmp_path / name), "-o", "json"]) for name in ("list.json", "list.yaml")]
    assert [outcome.exit_code for outcome in plans] == [0, 0], [outcome.stderr for outcome in plans]
    assert plans[0].stdout == plans[1].stdout
    assert json.loads(plans[0].stdout)["deployments"][0]["scheduled"] == 1


def test_json_and_yaml_of_one_fleet_plan_the_same(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        {"fleet.yaml": BASE, "fleet.json": json.dumps({"apiVersion": "v1", "kind": "List", "items": base_documents()})},
    )
    yaml_plan = invoke(["plan", str(tmp_path / "fleet.yaml"), "-o", "json"])
    json_plan = invoke(["plan", str(tmp_path / "fleet.json"), "-o", "json"])
    assert yaml_plan.exit_code == json_plan.exit_code == 0
    assert yaml_plan.stdout == json_plan.stdout
