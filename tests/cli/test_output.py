"""Readable output: tables sized to the terminal (fixed when piped), plan's services and caches, keyed preview JSON,
markdown grouped by cluster, and the app's -h / --version / shell completion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from modelplane.cli import app
from modelplane.reconcile.driver import ChangeSummary
from modelplane.reconcile.preview import StackPreview, placement_diff
from tests.reconcile.test_preview import AFTER, BEFORE, deployment, replica
from tests.scheduling.builders import cluster, gpu_class
from tests.scheduling.builders import deployment as model_deployment

ROOT = Path(__file__).resolve().parents[2]
MODELPLANE = Path(sys.executable).with_name("modelplane")
# Long names and --explain reasons: rows far wider than 80 columns unless the table wraps them.
WIDE_FLEET = [
    gpu_class("l4"),
    cluster("a-cluster-with-a-rather-long-name-in-us-east-1", {"pool-of-l4-gpus-number-one": ("l4", 2)}),
    cluster("b-cluster-with-a-rather-long-name-in-eu-west-4", {"pool-of-l4-gpus-number-two": ("l4", 0)}),
    model_deployment("a-model-deployment-with-a-long-name", 3),
]


def invoke(*args: str, columns: int | None = None) -> Any:
    env = {"COLUMNS": str(columns)} if columns else {}
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def wide_fleet(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump_all(WIDE_FLEET, sort_keys=False))
    return path


def widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def section(text: str, title: str) -> str:
    """The table titled `title` (titles are the lines that are not part of a table's box)."""
    tables: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if line[:1] not in "┏┃┡│└":
            current = tables.setdefault(line.strip(), [])
        current.append(line)
    return "\n".join(tables[title])


def rows(text: str, first: str) -> list[list[str]]:
    """The cells of every table row whose first cell is `first` (continuation rows have an empty first cell)."""
    found = []
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip()[1:-1].split("│")]
        if cells[0] == first:
            found.append(cells)
    return found


# --- width ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", [60, 80, 100])
def test_plan_table_fits_the_terminal(tmp_path: Path, columns: int) -> None:
    result = invoke("plan", str(wide_fleet(tmp_path)), "--explain", columns=columns)
    assert result.exit_code == 0, result.output
    assert widest(result.stdout) == columns  # the explained rows fill the width, and none runs past it
    first_column = "".join(line.split("│")[1].strip() for line in result.stdout.splitlines() if "│" in line)
    assert "ml-team/a-model-deployment-with-a-long-name" in first_column  # folded, not cut off


def test_piped_plan_is_120_columns_and_the_same_bytes_every_time(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    argv = [str(MODELPLANE), "plan", str(wide_fleet(tmp_path)), "--explain"]
    first, second = (subprocess.run(argv, capture_output=True, text=True, env=env, check=True) for _ in range(2))
    assert widest(first.stdout) == 120
    assert first.stdout == second.stdout


def test_status_tables_fit_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import modelplane.cli.status as status

    reason = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available " * 2
    report = {
        "stack": "prod",
        "clusters": {"eks-us-east-1-production": {"reachable": False, "error": "dial tcp 10.0.0.1:443: i/o " * 4}},
        "deployments": {
            "ml-team/qwen3-8b-instruct": {
                "desired": 1,
                "placed": 1,
                "ready": 0,
                "conditions": [],
                "replicas": {
                    "eks-us-east-1-production/0": {"pools": ["gpu-h100"], "pods": [], "ready": False, "reason": reason}
                },
            }
        },
        "services": {},
    }
    monkeypatch.setattr(status, "load_or_exit", lambda *_: SimpleNamespace(fleet=None))
    monkeypatch.setattr(status, "_report", lambda *_: report)
    result = invoke("status", "--stack", "prod", columns=80)
    assert result.exit_code == 0, result.output
    assert widest(result.stdout) <= 80
    last_column = "".join(line.split("│")[-2] for line in result.stdout.splitlines() if "│" in line)
    assert reason.replace(" ", "") in last_column.replace(" ", "")  # wrapped, not cut off


def test_sandbox_status_is_a_table_that_fits_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import modelplane.cli.sandbox as sandbox

    report = {
        "stack": "prod-fleet",
        "sandboxStack": "prod-fleet-sandbox",
        "root": "/home/someone/.local/state/modelplane/sandbox",
        "clusters": [
            {
                "name": "eu-west",
                "server": "https://127.0.0.1:40123",
                "processes": {"etcd": True, "kube-apiserver": True, "kube-scheduler": False},
                "nodes": 3,
                "nodesReady": 2,
                "devices": 24,
                "resourceSlices": 3,
            }
        ],
    }
    monkeypatch.setattr(sandbox, "Sandbox", lambda: SimpleNamespace(state=lambda: object()))
    monkeypatch.setattr(sandbox, "sandbox_status", lambda _: report)
    result = invoke("sandbox", "status", columns=80)
    assert result.exit_code == 0, result.output
    assert widest(result.stdout) <= 80
    wide = invoke("sandbox", "status", columns=200).stdout
    (row,) = rows(wide, "eu-west")
    assert row[1:] == ["https://127.0.0.1:40123", "etcd up", "2/3", "24", "3", "-"]
    assert "kube-scheduler DOWN" in wide


# --- plan: services and caches -------------------------------------------------------------------------------


def test_plan_table_lists_service_backends_with_weight_and_priority() -> None:
    result = invoke("plan", str(ROOT / "recipes" / "mixed-service"), columns=200)
    assert result.exit_code == 0, result.output
    services = section(result.stdout, "Services")
    (first,) = rows(services, "ml-team/llama")
    assert first[2:] == ["2", "0"]
    assert rows(services, "")[-1][1:] == ["fireworks", "0", "1"]  # the failover tier


def test_plan_table_lists_each_cache_on_the_clusters_that_stage_it() -> None:
    result = invoke("plan", str(ROOT / "recipes" / "llama-3.3-70b-tp8"), columns=200)
    assert result.exit_code == 0, result.output
    assert rows(section(result.stdout, "Caches"), "ml-team/llama-3-3-70b") == [
        [
            "ml-team/llama-3-3-70b",
            "meta-llama/Llama-3.3-70B-Instruct",
            "gke-h100",
            "modelplane-rwx",
        ]
    ]


def test_a_cache_no_cluster_can_stage_says_so(tmp_path: Path) -> None:
    cache = {
        "apiVersion": "modelplane.ai/v1alpha1",
        "kind": "ModelCache",
        "metadata": {"name": "weights", "namespace": "ml-team"},
        "spec": {"source": "HuggingFace", "huggingFace": {"repo": "org/model", "revision": "abc", "sizeGiB": 20}},
    }
    docs = [gpu_class("l4"), cluster("a", {"p": ("l4", 1)}, cache_class=None), cache]
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    result = invoke("plan", str(path), columns=200)
    assert result.exit_code == 0, result.output
    assert rows(section(result.stdout, "Caches"), "ml-team/weights") == [
        ["ml-team/weights", "org/model@abc", "- (no cluster matched)", "-"]
    ]


# --- preview -------------------------------------------------------------------------------------------------


def fake_preview(monkeypatch: pytest.MonkeyPatch, after: dict[str, Any]) -> None:
    import modelplane.cli.reconcile as reconcile

    summary = ChangeSummary({"same": 9, "create": 1})

    def preview_stack(project_dir: Path, name: str, **_: Any) -> StackPreview:
        return StackPreview(name, placement_diff(BEFORE, after), "config modelplane:placement", summary)

    monkeypatch.setattr(reconcile, "preview_stack", preview_stack)


def positional_lists(value: Any) -> list[Any]:
    """Every list anywhere in `value` that holds a number: keyed JSON has none."""
    if isinstance(value, dict):
        return [found for item in value.values() for found in positional_lists(item)]
    if isinstance(value, list):
        own = [value] if any(isinstance(item, int) for item in value) else []
        return own + [found for item in value for found in positional_lists(item)]
    return []


def test_preview_json_is_keyed_and_camel_case(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_preview(monkeypatch, AFTER)
    result = invoke("preview", "--stack", "dev", "--no-pulumi")
    assert result.exit_code == 0, result.output
    (data,) = json.loads(result.stdout)
    assert positional_lists(data) == []
    assert set(data) == {"stack", "recordSource", "diff", "pulumi", "pulumiNote"}
    diff = data["diff"]
    assert (diff["unchangedDeployments"], diff["unchangedPools"]) == (1, 1)
    qwen = next(d for d in diff["deployments"] if d["name"] == "qwen")
    assert qwen == {
        "namespace": "ml",
        "name": "qwen",
        "before": {"desired": 1, "scheduled": 1, "unplaced": 0},
        "after": {"desired": 4, "scheduled": 3, "unplaced": 1},
        "added": [{"cluster": "b", "pools": ["l4"]}, {"cluster": "b", "pools": ["l4"]}],
        "moved": [],
        "removed": [],
        "reasons": ["replica 3: not on a: pool h100 has 0 free nodes, needs 1"],
    }
    llama = next(d for d in diff["deployments"] if d["name"] == "llama")
    assert llama["moved"] == [{"from": {"cluster": "a", "pools": ["h100"]}, "to": {"cluster": "b", "pools": ["l4"]}}]
    assert next(d for d in diff["deployments"] if d["name"] == "kimi")["after"] is None
    assert diff["pools"][0] == {"cluster": "a", "pool": "h100", "freeBefore": 2, "freeAfter": 3}
    assert diff["backends"] == [
        {
            "namespace": "ml",
            "service": "chat",
            "backend": "llama",
            "before": None,
            "after": {"weight": 25, "priority": 1},
        },
        {
            "namespace": "ml",
            "service": "chat",
            "backend": "qwen",
            "before": {"weight": 100, "priority": 0},
            "after": {"weight": 75, "priority": 0},
        },
    ]
    assert data["pulumi"] == {"same": 9, "create": 1} and data["pulumiNote"] is None


def test_markdown_preview_groups_the_changes_by_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    five = [replica("b", "l4", index) for index in range(5)]
    after = {**AFTER, "deployments": [*AFTER["deployments"][1:], deployment("qwen", [replica("a", "h100"), *five], 6)]}
    fake_preview(monkeypatch, after)
    result = invoke("preview", "--stack", "dev", "--no-pulumi", "--markdown")
    assert result.exit_code == 0, result.output
    qwen = result.stdout.split("**`ml/qwen`**")[1].split("\n\n")[0]
    assert qwen.splitlines()[1:] == ["- `b`: 5 added (`l4`)"]
    llama = result.stdout.split("**`ml/llama`**")[1].split("\n\n")[0]
    assert "- `a`: 1 moved (`h100`) to `b` (`l4`)" in llama.splitlines()


# --- app options ---------------------------------------------------------------------------------------------


def test_version_prints_the_package_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"modelplane {version('modelplane')}\n"


def commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            found += commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


ALL_COMMANDS = commands(typer.main.get_group(app))


def test_every_command_is_listed() -> None:
    assert {("plan",), ("render",), ("preview",), ("status",), ("sandbox", "status")} <= set(ALL_COMMANDS)


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda path: " ".join(path) or "modelplane")
def test_dash_h_is_help_on_every_command(path: tuple[str, ...]) -> None:
    short, long = invoke(*path, "-h", columns=100), invoke(*path, "--help", columns=100)
    assert short.exit_code == 0, short.output
    assert f"Usage: root {' '.join(path)}".rstrip() in short.stdout and short.stdout == long.stdout


def test_shell_completion_completes_commands_and_options() -> None:
    assert "--install-completion" in invoke("--help", columns=200).stdout

    def complete(words: str) -> list[str]:
        env = {**os.environ, "_MODELPLANE_COMPLETE": "complete_bash", "COMP_WORDS": words}
        env["COMP_CWORD"] = str(len(words.split(" ")) - 1)
        done = subprocess.run([str(MODELPLANE)], capture_output=True, text=True, env=env, check=True)
        return done.stdout.split()

    assert complete("modelplane pl") == ["plan"]
    assert complete("modelplane sandbox st") == ["status"]
    assert "--explain" in complete("modelplane plan --")
