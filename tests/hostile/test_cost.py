"""Cost is bounded before work is done: aliases, size, documents, depth, strings, node counts, record sizes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hostile.harness import (
    BASE,
    PROJECT_FILE,
    Case,
    assert_refused,
    base_documents,
    edited,
    manifest,
    plan_manifest,
    plan_stack,
    stack_text,
)


def laughs(levels: int = 9) -> str:
    """The "billion laughs": each level a list of nine aliases of the one before (9**levels strings)."""
    parts = ["&l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    parts += [f"&l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels)]
    return f"[{', '.join(parts)}]"


BOMB = laughs()
RATIO = "excessive aliasing"
MANIFEST_BOMB = BASE.replace("  replicas: 1\n", f"  replicas: {BOMB}\n")
LABEL_BOMB = BASE.replace("labels: {region: lab}", f"labels: {{region: {BOMB}}}")
STACK_BOMB = f"config:\n  modelplane:deployments:\n    qwen:\n      replicas: {BOMB}\n"
WIDE = "[" + ", ".join(["x"] * 2000) + "]"
NEST = 100_000


def deep_yaml(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_json(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def record(replicas: int, **replica: object) -> dict[str, object]:
    entry = {
        "cluster": "lab",
        "index": 0,
        "engines": [
            {
                "name": "engine",
                "pool": "l4",
                "members": [{"role": "Standalone", "pool": "l4", "devices": []}],
            }
        ],
        **replica,
    }
    items = [{**entry, "index": index} for index in range(replicas)] if "index" not in replica else [entry]
    return {"deployments": [{"namespace": "ml-team", "name": "qwen", "replicas": items}]}


def with_previous(data: object, expect: str, *, suffix: str = ".json", text: str | None = None, **kw: bool) -> Case:
    body = text if text is not None else json.dumps(data)
    return Case(
        {"fleet.yaml": BASE, f"previous{suffix}": body},
        ["plan", "{dir}/fleet.yaml", "--previous", f"{{dir}}/previous{suffix}"],
        expect,
        **kw,
    )


def stack_with_placement(value: str, expect: str) -> Case:
    return plan_stack(stack_text(base_documents(), {"modelplane:placement": value}), expect)


CASES = {
    # --- aliases ---
    "laughs-in-replicas": plan_manifest(MANIFEST_BOMB, "{dir}/fleet.yaml:3: line 24, column 182: " + RATIO),
    "laughs-message-names-the-rule": plan_manifest(MANIFEST_BOMB, RATIO),
    "laughs-in-a-label": plan_manifest(LABEL_BOMB, RATIO),
    "laughs-in-a-stack-file": plan_stack(STACK_BOMB, f"stacks/Pulumi.dev.yaml: line 4, column 181: {RATIO}"),
    "laughs-in-previous-yaml": with_previous(None, RATIO, suffix=".yaml", text=f"deployments: {BOMB}\n"),
    "laughs-as-a-document": plan_manifest(f"{BOMB}\n", RATIO),
    "laughs-seven-levels": plan_manifest(f"a: {laughs(7)}\n", RATIO),
    "laughs-in-json-placement-in-stack": plan_stack(
        f"config:\n  modelplane:placement: {BOMB}\n" + stack_text(base_documents()).removeprefix("config:\n"), RATIO
    ),
    "alias-of-its-own-anchor": plan_manifest("a: &x [1, *x]\n", "alias *x refers to its own anchor"),
    "alias-without-anchor": plan_manifest("a: *nowhere\n", "alias *nowhere has no anchor before it"),
    "merge-key-bomb": plan_manifest(
        "a: &a {"
        + ", ".join(f"k{i}: {i}" for i in range(300))
        + "}\n"
        + "".join(f"b{j}: &b{j} {{<<: [{', '.join(['*a'] * 20)}]}}\n" for j in range(1))
        + "c: ["
        + ", ".join(["*b0"] * 4000)
        + "]\n",
        RATIO,
    ),
    "aliases-over-the-node-limit": plan_manifest(
        f"a: &w {WIDE}\nb: [" + ", ".join(["*w"] * 300) + "]\n",
        "exceeds the limit of 10,000 nodes (raise it with MODELPLANE_MAX_NODES)",
        env={"MODELPLANE_MAX_NODES": "10000"},
    ),
    "aliases-too-deep-when-expanded": plan_manifest(
        "a: &d " + deep_yaml(40) + "\nb: " + "[" * 30 + "*d" + "]" * 30 + "\n",
        "the nesting (aliases expanded) exceeds the limit of 64 levels (raise it with MODELPLANE_MAX_DEPTH)",
    ),
    # --- size ---
    "manifest-over-16-MiB": plan_manifest(
        BASE + "#" * (16 * 2**20),
        "the file exceeds the limit of 16,777,216 bytes (raise it with MODELPLANE_MAX_FILE_BYTES)",
    ),
    "manifest-over-a-lowered-limit": plan_manifest(
        BASE, "fleet.yaml: the file exceeds the limit of 100 bytes", env={"MODELPLANE_MAX_FILE_BYTES": "100"}
    ),
    "json-manifest-over-the-limit": plan_manifest(
        json.dumps(base_documents()[0]),
        "exceeds the limit of 100 bytes",
        name="c.json",
        env={"MODELPLANE_MAX_FILE_BYTES": "100"},
    ),
    "stack-file-over-the-limit": plan_stack(
        stack_text(base_documents()),
        "stacks/Pulumi.dev.yaml: the file exceeds the limit of 200 bytes",
        env={"MODELPLANE_MAX_FILE_BYTES": "200"},
    ),
    "previous-over-the-limit": Case(
        {"fleet.yaml": BASE, "previous.json": json.dumps(record(1)) + " " * 3000},
        ["plan", "{dir}/fleet.yaml", "--previous", "{dir}/previous.json"],
        "previous.json: cannot read the previous placement: the file exceeds the limit of 3,000 bytes",
        env={"MODELPLANE_MAX_FILE_BYTES": "3000"},
    ),
    "too-many-documents": plan_manifest("---\n" * 20_001, "the number of documents exceeds the limit of 20,000"),
    "documents-over-a-lowered-limit": plan_manifest(
        BASE,
        "fleet.yaml:3: line 19, column 1: the number of documents exceeds the limit of 2 documents",
        env={"MODELPLANE_MAX_DOCUMENTS": "2"},
    ),
    # --- depth ---
    "flow-nesting-100k-yaml": plan_manifest(deep_yaml(NEST), "the nesting exceeds the limit of 64 levels"),
    "flow-nesting-65": plan_manifest(deep_yaml(65), "line 1, column 65: the nesting exceeds the limit of 64 levels"),
    "block-nesting": plan_manifest(
        "".join(f"{'  ' * level}k{level}:\n" for level in range(80)) + "  " * 80 + "v: 1\n", "exceeds the limit of 64"
    ),
    "json-nesting-100k": plan_manifest(deep_json(NEST), "the nesting exceeds the limit of 64 levels", name="d.json"),
    "json-nesting-65": plan_manifest(deep_json(65), "the nesting exceeds the limit of 64 levels", name="d.json"),
    "stack-nesting": plan_stack("config:\n  a:b: " + deep_yaml(NEST) + "\n", "the nesting exceeds the limit"),
    "previous-json-nesting": with_previous(None, "exceeds the limit of 64 levels", text=deep_json(NEST)),
    "placement-json-nesting-in-stack": stack_with_placement(deep_json(5000), "exceeds the limit of 64 levels"),
    "depth-over-a-lowered-limit": plan_manifest(
        BASE, "the nesting exceeds the limit of 5 levels", env={"MODELPLANE_MAX_DEPTH": "5"}
    ),
    # --- strings ---
    "label-value-of-2-MiB": plan_manifest(
        BASE.replace("region: lab", "region: " + "a" * (2 * 2**20)), "a string exceeds the limit of 1,048,576"
    ),
    "image-of-2-MiB": plan_manifest(BASE.replace("vllm/vllm-openai:v0.23.0", "v" * (2 * 2**20)), "a string exceeds"),
    "json-string-of-2-MiB": plan_manifest(
        json.dumps({"apiVersion": "v1", "kind": "x" * (2 * 2**20)}), "a string exceeds the limit", name="s.json"
    ),
    "stack-object-string-of-2-MiB": plan_stack(
        stack_text(edited("ModelService", "spec.endpoints", "e" * (2 * 2**20))), "a string exceeds the limit"
    ),
    "string-over-a-lowered-limit": plan_manifest(
        BASE,
        "a string exceeds the limit of 10 characters (raise it with MODELPLANE_MAX_STRING_LENGTH)",
        env={"MODELPLANE_MAX_STRING_LENGTH": "10"},
    ),
    "integer-of-5000-digits": plan_manifest(BASE.replace("replicas: 1", "replicas: " + "9" * 5000), "not a valid int"),
    "json-integer-of-5000-digits": plan_manifest(
        '{"apiVersion": "v1", "kind": "Secret", "x": ' + "9" * 5000 + "}", "digits", name="i.json"
    ),
    # --- nodes ---
    "a-million-nodes": plan_manifest(
        "a: [" + "1," * 1_000_001 + "]\n",
        "exceeds the limit of 1,000,000 nodes (raise it with MODELPLANE_MAX_NODES)",
        trace=False,
    ),
    "nodes-over-a-lowered-limit": plan_manifest(
        BASE, "exceeds the limit of 50 nodes", env={"MODELPLANE_MAX_NODES": "50"}
    ),
    # --- node counts (the ledger keeps a list per node when packing) ---
    "max-node-count-a-billion-packing": plan_stack(
        stack_text(
            edited("InferenceCluster", "spec.nodePools", [{"name": "l4", "className": "l4-1x", "maxNodeCount": 10**9}]),
            {"modelplane:scheduling": {"gpuPacking": True}},
        ),
        "spec.nodePools[0].maxNodeCount: Input should be less than or equal to 1000",
    ),
    "node-count-a-billion": plan_manifest(
        manifest(
            edited("InferenceCluster", "spec.nodePools", [{"name": "l4", "className": "l4-1x", "nodeCount": 10**9}])
        ),
        "InferenceCluster lab: spec.nodePools[0].nodeCount: Input should be less than or equal to 1000",
    ),
    "min-node-count-a-billion": plan_manifest(
        manifest(edited("InferenceCluster", "spec.nodePools.0.minNodeCount", 10**9)),
        "spec.nodePools[0].minNodeCount: Input should be less than or equal to 1000",
    ),
    # --- placement records ---
    # 60,000 replicas are a million JSON nodes: the node limit refuses the file before the record is read.
    "previous-60k-replicas-for-2": with_previous(
        record(60_000),
        "previous.json: cannot read the previous placement: the file exceeds the limit of 1,000,000 nodes",
        trace=False,
    ),
    "previous-12k-replicas-for-2": with_previous(
        record(12_000),
        "previous.json: deployments[0].replicas: 12,000 replicas of one deployment exceeds the limit of 10,000 "
        "replicas (raise it with MODELPLANE_MAX_RECORD_REPLICAS)",
    ),
    "previous-index-1e400": with_previous(
        None, "deployments[0].replicas[0].index", text=json.dumps(record(1)).replace('"index": 0', '"index": 1e400')
    ),
    "previous-index-a-string": with_previous(record(1, index="0"), "Input should be a valid integer"),
    "previous-index-negative": with_previous(record(1, index=-1), "greater than or equal to 0"),
    "previous-index-over-int32": with_previous(record(1, index=2**31), "less than or equal to 2147483647"),
    "previous-index-true": with_previous(record(1, index=True), "Input should be a valid integer"),
    "previous-index-10e40": with_previous(record(1, index=10**40), "less than or equal to 2147483647"),
    "previous-cluster-name-10k": with_previous(record(1, cluster="c" * 10_000), "at most 63 characters"),
    "previous-1000-engines": with_previous(record(1, engines=[{}] * 1000), "at most 8 items"),
    "previous-replicas-not-a-list": with_previous(
        {"deployments": [{"namespace": "ml-team", "name": "qwen", "replicas": {"a": 1}}]},
        "Input should be a valid list",
    ),
    "previous-deployments-not-a-list": with_previous(
        {"deployments": "all"}, "deployments: Input should be a valid list"
    ),
    "previous-device-count-huge": with_previous(
        record(
            1,
            engines=[
                {
                    "name": "engine",
                    "pool": "l4",
                    "members": [
                        {
                            "role": "Standalone",
                            "pool": "l4",
                            "devices": [{"name": "gpu", "deviceClassName": "g", "count": 10**9}],
                        }
                    ],
                }
            ],
        ),
        "less than or equal to 64",
    ),
    "previous-two-documents": with_previous(None, "not a placement record", suffix=".yaml", text="a: 1\n---\nb: 2\n"),
    "previous-a-list": with_previous([1, 2], "not a placement record (expected one JSON object)"),
    "stack-placement-20k-replicas": stack_with_placement(
        json.dumps(record(20_000)),
        "stacks/Pulumi.dev.yaml:modelplane:placement: deployments[0].replicas: 20,000 replicas of one deployment",
    ),
    "stack-placement-index-1e400": stack_with_placement(
        json.dumps(record(1)).replace('"index": 0', '"index": 1e400'), "Input should be a valid integer"
    ),
    # --- limits themselves ---
    "limit-variable-not-a-number": plan_manifest(
        BASE, "MODELPLANE_MAX_DEPTH='deep' must be a positive whole number", env={"MODELPLANE_MAX_DEPTH": "deep"}
    ),
    "limit-variable-zero": plan_manifest(
        BASE, "MODELPLANE_MAX_NODES='0' must be a positive whole number", env={"MODELPLANE_MAX_NODES": "0"}
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_hostile_cost_is_refused_within_bounds(case: Case, tmp_path: Path) -> None:
    assert_refused(case, tmp_path)


def test_a_raised_limit_admits_what_the_default_refuses(tmp_path: Path) -> None:
    """The message says how to raise a limit; raising it works (here: a document of 70 levels)."""
    deep = BASE + "---\napiVersion: v1\nkind: ConfigMap\ndata: " + "[" * 70 + "]" * 70 + "\n"
    case = plan_manifest(deep, "exceeds the limit of 64 levels")
    assert_refused(case, tmp_path / "default")
    from tests.hostile.harness import invoke, write_project

    write_project(tmp_path / "raised", {"fleet.yaml": deep, "Pulumi.yaml": PROJECT_FILE})
    outcome = invoke(["plan", str(tmp_path / "raised" / "fleet.yaml")], {"MODELPLANE_MAX_DEPTH": "100"})
    assert outcome.exit_code == 0, outcome.stderr
