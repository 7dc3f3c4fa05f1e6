"""Malformed text: every syntax problem is one line naming the file, the document and the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hostile.harness import (
    BASE,
    Case,
    assert_refused,
    base_documents,
    edited,
    plan_manifest,
    plan_stack,
    stack_text,
)

SERVICE_DOC = BASE.split("---\n")[3]

HUGE = "K" * 500_000
CASES = {
    "kind-misspelt": plan_manifest(
        BASE.replace("kind: ModelService", "kind: ModelServise"),
        "fleet.yaml:4 ModelServise ml-team/qwen: kind: unknown kind in modelplane.ai; did you mean ModelService?",
    ),
    "kind-huge-in-our-group": plan_manifest(
        f"apiVersion: modelplane.ai/v1alpha1\nkind: {HUGE}\nmetadata: {{name: x}}\n",
        f"fleet.yaml:1 {HUGE[:64]} x: kind: unknown kind in modelplane.ai; the kinds are InferenceClass",
    ),
    "field-name-huge": plan_manifest(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": edited("ModelDeployment", f"spec.{HUGE}", 1)}),
        ": unknown field\n",
        name="f.json",
    ),
    "field-misplaced": plan_manifest(
        BASE.replace("  replicas: 1\n", "  replicas: 1\n  tolerations: []\n"),
        "spec.tolerations: unknown field; did you mean spec.template.spec.tolerations?",
    ),
    "unclosed-flow-mapping": plan_manifest("a: {b: 1\nc: 2\n", "fleet.yaml:1: YAML syntax error at line 2"),
    "unclosed-flow-sequence": plan_manifest("a: [1, 2\n", "YAML syntax error at line 2"),
    "bad-indentation": plan_manifest("a:\n  b: 1\n c: 2\n", "YAML syntax error at line 3"),
    "tab-indentation": plan_manifest("a:\n\tb: 1\n", "YAML syntax error at line 2"),
    "unterminated-quote": plan_manifest('a: "open\n', "YAML syntax error"),
    "syntax-error-in-third-document": plan_manifest(BASE + "---\na: [\n", "fleet.yaml:5: YAML syntax error"),
    "duplicate-key-manifest": plan_manifest(
        BASE.replace("  replicas: 1\n", "  replicas: 1\n  replicas: 2\n"),
        "fleet.yaml:3: line 25, column 3: duplicate key 'replicas'",
    ),
    "duplicate-kind": plan_manifest("apiVersion: v1\nkind: A\nkind: B\n", "line 3, column 1: duplicate key 'kind'"),
    "duplicate-key-in-flow": plan_manifest("a: {b: 1, b: 2}\n", "duplicate key 'b'"),
    "duplicate-key-stack": plan_stack(
        "config:\n  modelplane:classes: {}\n  modelplane:classes: {}\n", "stacks/Pulumi.dev.yaml: line 3, column 3"
    ),
    "duplicate-key-json": plan_manifest(
        '{"apiVersion": "v1", "kind": "A", "kind": "B"}', "duplicate key 'kind'", name="d.json"
    ),
    "binary-tag": plan_manifest("a: !!binary aGVsbG8=\n", "unsupported tag tag:yaml.org,2002:binary"),
    "custom-tag": plan_manifest("a: !secret x\n", "unsupported tag !secret"),
    "python-tag": plan_manifest("a: !!python/object:os.system {}\n", "unsupported tag"),
    "set-tag": plan_manifest("a: !!set {b, c}\n", "unsupported tag tag:yaml.org,2002:set"),
    "omap-tag": plan_manifest("a: !!omap [{b: 1}]\n", "unsupported tag"),
    "complex-key": plan_manifest("? [a, b]\n: 1\n", "a mapping key must be a scalar"),
    "mapping-as-key": plan_manifest("{a: 1}: 2\n", "a mapping key must be a scalar"),
    "merge-of-a-scalar": plan_manifest("a: &x 1\nb: {<<: *x}\n", "a merge key (<<) must merge a mapping"),
    "not-utf8": plan_manifest(b"apiVersion: v1\nkind: \xff\xfe\n", "fleet.yaml: not UTF-8 text (byte 21)"),
    "nul-byte": plan_manifest("apiVersion: v1\nkind: A\x00\n", "YAML syntax error"),
    "control-character": plan_manifest("a: \x07\n", "YAML syntax error"),
    "json-trailing-comma": plan_manifest('{"a": 1,}', "JSON syntax error at line 1, column 9", name="t.json"),
    "json-two-values": plan_manifest(
        '{"a": 1}\n{"b": 2}', "JSON syntax error at line 2, column 1: Extra data", name="t.json"
    ),
    "json-top-level-array": plan_manifest("[1, 2]", "t.json:1: document is not a mapping", name="t.json"),
    "json-nan": plan_manifest(
        '{"apiVersion": "v1", "kind": NaN}', "apiVersion and kind are required strings", name="t.json"
    ),
    "json-empty": plan_manifest("", "JSON syntax error at line 1, column 1", name="t.json"),
    "document-a-scalar": plan_manifest("just text\n", "fleet.yaml:1: document is not a mapping"),
    "document-a-list": plan_manifest("- a\n- b\n", "document is not a mapping"),
    "kind-missing": plan_manifest("apiVersion: v1\nmetadata: {name: a}\n", "apiVersion and kind are required strings"),
    "kind-a-number": plan_manifest("apiVersion: v1\nkind: 7\n", "apiVersion and kind are required strings"),
    "api-version-unserved": plan_manifest(
        SERVICE_DOC.replace("modelplane.ai/v1alpha1", "modelplane.ai/v1"), "apiVersion: use modelplane.ai/v1alpha1"
    ),
    "unknown-field": plan_manifest(BASE.replace("  replicas: 1\n", "  replica: 1\n"), "spec.replica: unknown field"),
    "stack-unknown-key": plan_stack(
        stack_text(base_documents(), {"modelplane:deploymnets": {}}), "unknown config key; did you mean"
    ),
    "stack-key-without-namespace": plan_stack(
        stack_text(base_documents(), {"region": "x"}), "config key 'region' must be written namespace:key"
    ),
    "stack-objects-not-a-mapping": plan_stack(
        "config:\n  modelplane:clusters: [a, b]\n", "modelplane:clusters: must map object names"
    ),
    "stack-manifests-not-a-list": plan_stack(
        stack_text(base_documents(), {"modelplane:manifests": "recipes"}), "must be a list of paths"
    ),
    "stack-placement-not-json": plan_stack(
        stack_text(base_documents(), {"modelplane:placement": "{not json"}),
        "stacks/Pulumi.dev.yaml:modelplane:placement: not a placement record: JSON syntax error at line 1",
    ),
    "stack-placement-a-list": plan_stack(
        stack_text(base_documents(), {"modelplane:placement": "[1]"}), "must be a mapping (the record"
    ),
    "missing-file": Case({}, ["plan", "{dir}/nope.yaml"], "nope.yaml: no such file or directory"),
    "previous-not-json": Case(
        {"fleet.yaml": BASE, "p.json": "{"},
        ["plan", "{dir}/fleet.yaml", "--previous", "{dir}/p.json"],
        "p.json: cannot read the previous placement: JSON syntax error at line 1, column 2",
    ),
    "previous-missing": Case(
        {"fleet.yaml": BASE},
        ["plan", "{dir}/fleet.yaml", "--previous", "{dir}/p.json"],
        "cannot read the previous placement: No such file or directory",
    ),
    "previous-yaml-duplicate-key": Case(
        {"fleet.yaml": BASE, "p.yaml": "deployments: []\ndeployments: []\n"},
        ["plan", "{dir}/fleet.yaml", "--previous", "{dir}/p.yaml"],
        "duplicate key 'deployments'",
    ),
    "previous-json-in-a-string-record": Case(
        {"fleet.yaml": BASE, "p.json": json.dumps({"deployments": [{"namespace": "ml-team"}]})},
        ["plan", "{dir}/fleet.yaml", "--previous", "{dir}/p.json"],
        "deployments[0].name: Field required",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_malformed_text_is_one_line_per_problem(case: Case, tmp_path: Path) -> None:
    assert_refused(case, tmp_path)
