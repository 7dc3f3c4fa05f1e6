"""Stack files: locating, the inputs fingerprint, watch targets, round-trip editing."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelplane.reconcile.stackfiles import (
    PLACEMENT_KEY,
    StackDocument,
    StackFileError,
    inputs_fingerprint,
    parse_placement,
    project_virtualenv,
    stack_file,
    watch_targets,
)

from .conftest import RECORD, edit_replicas


def test_stack_file_follows_stack_config_dir(project: Path) -> None:
    assert stack_file(project, "dev") == project / "stacks" / "Pulumi.dev.yaml"
    (project / "Pulumi.yaml").write_text("name: x\nruntime: python\n")
    assert stack_file(project, "dev") == project / "Pulumi.dev.yaml"


def test_project_virtualenv_comes_from_runtime_options(project: Path) -> None:
    assert project_virtualenv(project) is None
    (project / "Pulumi.yaml").write_text("name: x\nruntime:\n  name: python\n  options:\n    virtualenv: .venv\n")
    assert project_virtualenv(project) == project / ".venv"


def test_fingerprint_ignores_the_placement_record_but_not_config_or_manifests(project: Path) -> None:
    base = inputs_fingerprint(project, "dev")
    path = stack_file(project, "dev")
    path.write_text(path.read_text() + f"  {PLACEMENT_KEY}: '{{\"deployments\": []}}'\n")
    assert inputs_fingerprint(project, "dev") == base
    edit_replicas(project, 5)
    after_edit = inputs_fingerprint(project, "dev")
    assert after_edit != base
    (project / "manifests" / "more.yml").write_text("kind: ModelService\n")
    assert inputs_fingerprint(project, "dev") != after_edit


def test_fingerprint_of_a_broken_file_still_changes_when_fixed(project: Path) -> None:
    path = stack_file(project, "dev")
    path.write_text("config: [unclosed\n")
    broken = inputs_fingerprint(project, "dev")
    path.write_text("config: {}\n")
    assert inputs_fingerprint(project, "dev") != broken


def test_watch_targets_cover_stack_dir_and_manifests(project: Path) -> None:
    targets = watch_targets(project, "dev")
    assert targets == {(project / "stacks").resolve(): False, (project / "manifests").resolve(): True}


def test_an_edit_changes_only_the_edited_value(project: Path) -> None:
    path = stack_file(project, "dev")
    before = path.read_text()
    keys = ("modelplane:deployments", "qwen", "replicas")
    doc = StackDocument.load(path, edit=keys).with_value(keys, 4)
    doc.save()
    assert path.read_text() == before.replace("replicas: 1  # keep small", "replicas: 4  # keep small")
    assert doc.config["modelplane:deployments"]["qwen"]["replicas"] == 4
    assert type(doc.config["modelplane:deployments"]) is dict


def test_load_errors_are_stack_file_errors(project: Path) -> None:
    with pytest.raises(StackFileError, match="no such stack file"):
        StackDocument.load(stack_file(project, "prod"))
    stack_file(project, "dev").write_text("- a list\n")
    with pytest.raises(StackFileError, match="`config:` mapping"):
        StackDocument.load(stack_file(project, "dev"))


def test_placement_is_read_as_json_text_or_object() -> None:
    assert parse_placement(None) is None
    assert parse_placement('{"deployments": []}') == {"deployments": []}
    assert parse_placement(RECORD) == RECORD
    with pytest.raises(StackFileError):
        parse_placement("[1, 2]")


STRUCTURED = """\
# ops stack
config:
  aws:region: us-east-1  # kept
  modelplane:scheduling:
    cordoned: [a]
    draining:
      a: surge
  # the record follows
  modelplane:placement: '{"deployments":[]}'
"""


def test_structured_values_are_replaced_removed_and_added_as_one_entry(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.ops.yaml"
    path.write_text(STRUCTURED)
    doc = StackDocument.load(path)
    replaced = doc.with_value(("modelplane:scheduling",), {"cordoned": ["a", "b"]})
    assert replaced.text == STRUCTURED.replace(
        "modelplane:scheduling:\n    cordoned: [a]\n    draining:\n      a: surge\n",
        'modelplane:scheduling: {"cordoned": ["a", "b"]}\n',
    )
    assert replaced.config["modelplane:scheduling"] == {"cordoned": ["a", "b"]}
    removed = doc.with_value(("modelplane:scheduling",), None)
    assert removed.text == STRUCTURED.replace(
        "  modelplane:scheduling:\n    cordoned: [a]\n    draining:\n      a: surge\n", ""
    )
    added = removed.with_value(("modelplane:scheduling",), {"cordoned": ["c"]})
    assert added.text.splitlines()[2] == '  modelplane:scheduling: {"cordoned": ["c"]}'
    record = doc.with_value(("modelplane:placement",), '{"deployments":[{"name":"q"}]}')
    assert record.text.endswith("""  modelplane:placement: "{\\"deployments\\":[{\\"name\\":\\"q\\"}]}"\n""")
    assert "# the record follows" in record.text and "# kept" in record.text
