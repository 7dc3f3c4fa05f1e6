"""PR preview: placement diff, free nodes, route weights, Pulumi's summary, markdown."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelplane.reconcile.driver import ChangeSummary, DriverError
from modelplane.reconcile.fake import FakeStackDriver
from modelplane.reconcile.preview import (
    StackPreview,
    placement_diff,
    preview_stack,
    render_markdown,
    render_rejected,
    to_json,
)
from modelplane.reconcile.stackfiles import PLACEMENT_KEY, dump_placement, stack_file


def replica(cluster: str, pool: str, index: int = 0) -> dict[str, Any]:
    return {"cluster": cluster, "index": index, "engines": [{"name": "e", "pool": pool, "members": []}]}


def deployment(
    name: str, replicas: list[dict[str, Any]], desired: int, reasons: list[str] | None = None
) -> dict[str, Any]:
    placed = len(replicas)
    return {
        "namespace": "ml",
        "name": name,
        "desired": desired,
        "scheduled": placed,
        "unplaced": desired - placed,
        "reasons": reasons or [],
        "replicas": replicas,
    }


BEFORE: dict[str, Any] = {
    "deployments": [
        deployment("qwen", [replica("a", "h100")], 1),
        deployment("llama", [replica("a", "h100")], 1),
        deployment("kimi", [replica("b", "l4")], 1),
        deployment("steady", [replica("b", "l4")], 1),
    ],
    "clusters": [
        {"name": "a", "pools": [{"name": "h100", "nodes": 4, "used": 2}]},
        {"name": "b", "pools": [{"name": "l4", "nodes": 4, "used": 2}, {"name": "cpu", "nodes": 2, "used": 0}]},
    ],
    "services": [{"namespace": "ml", "name": "chat", "backends": [{"name": "qwen", "weight": 100, "priority": 0}]}],
}

AFTER: dict[str, Any] = {
    "deployments": [
        deployment(
            "qwen",
            [replica("a", "h100"), replica("b", "l4", 1), replica("b", "l4", 2)],
            4,
            ["replica 3: not on a: pool h100 has 0 free nodes, needs 1"],
        ),
        deployment("llama", [replica("b", "l4")], 1, ["a: class h100-8x no longer matches | selector #1"]),
        deployment("steady", [replica("b", "l4")], 1),
    ],
    "clusters": [
        {"name": "a", "pools": [{"name": "h100", "nodes": 4, "used": 1}]},
        {"name": "b", "pools": [{"name": "l4", "nodes": 4, "used": 4}, {"name": "cpu", "nodes": 2, "used": 0}]},
    ],
    "services": [
        {
            "namespace": "ml",
            "name": "chat",
            "backends": [{"name": "qwen", "weight": 75, "priority": 0}, {"name": "llama", "weight": 25, "priority": 1}],
        }
    ],
}


def test_placement_diff() -> None:
    diff = placement_diff(BEFORE, AFTER)
    by_key = {d.key: d for d in diff.deployments}
    assert set(by_key) == {"ml/qwen", "ml/llama", "ml/kimi"}
    assert diff.unchanged_deployments == 1
    qwen = by_key["ml/qwen"]
    assert qwen.added == (("b", ("l4",)), ("b", ("l4",))) and not qwen.moved and not qwen.removed
    assert (qwen.counts_before, qwen.counts_after) == ((1, 1, 0), (4, 3, 1))
    assert by_key["ml/llama"].moved == ((("a", ("h100",)), ("b", ("l4",))),)
    kimi = by_key["ml/kimi"]
    assert kimi.removed == (("b", ("l4",)),) and kimi.counts_after is None
    assert [(p.cluster, p.pool, p.free_before, p.free_after) for p in diff.pools] == [
        ("a", "h100", 2, 3),
        ("b", "l4", 2, 0),
    ]
    assert diff.unchanged_pools == 1
    assert [(b.backend, b.before, b.after) for b in diff.backends] == [
        ("llama", None, (25, 1)),
        ("qwen", (100, 0), (75, 0)),
    ]


def test_no_current_record_means_everything_is_added() -> None:
    diff = placement_diff(None, AFTER)
    assert all(d.counts_before is None and not d.moved for d in diff.deployments)
    assert sum(len(d.added) for d in diff.deployments) == 5


def test_markdown() -> None:
    preview = StackPreview(
        "dev",
        placement_diff(BEFORE, AFTER),
        "config modelplane:placement",
        ChangeSummary({"same": 9, "update": 2, "create": 1}),
    )
    text = render_markdown(preview)
    assert text.startswith("<!-- modelplane-preview:dev -->\n### Modelplane preview — stack `dev`")
    assert "**`ml/qwen`** — desired / scheduled / unplaced: 1 / 1 / 0 → 4 / 3 / 1" in text
    assert "- `b`: 2 added (`l4`)" in text
    assert "- `a`: 1 moved (`h100`) to `b` (`l4`)" in text
    assert "- `b`: 1 removed (`l4`)\n- deployment removed" in text
    assert "- reason: replica 3: not on a: pool h100 has 0 free nodes, needs 1" in text
    assert "| `b` | `l4` | 2 | 0 |" in text
    assert "1 other pool(s) unchanged." in text and "1 deployment(s) unchanged." in text
    assert "| `ml/chat` | `qwen` | 100 → 75 | 0 → 0 |" in text
    assert "class h100-8x no longer matches \\| selector #1" in text
    assert "**Pulumi preview:** 1 to create, 2 to update (9 unchanged)." in text


def test_markdown_without_changes_or_cli() -> None:
    preview = StackPreview(
        "dev",
        placement_diff(AFTER, AFTER),
        "config modelplane:placement",
        None,
        "skipped: no Pulumi CLI on this runner",
    )
    text = render_markdown(preview)
    assert (
        "No placement changes." in text and "No change in free nodes." in text and "No route or weight changes." in text
    )
    assert "**Pulumi preview:** skipped: no Pulumi CLI on this runner" in text


def test_rejected_section_lists_problems() -> None:
    text = render_rejected("prod", ["stacks/Pulumi.prod.yaml ModelDeployment ml/qwen: replicas: must be >= 0"])
    assert "**The plan is invalid; `pulumi up` would fail:**" in text
    assert "- stacks/Pulumi.prod.yaml ModelDeployment ml/qwen: replicas: must be >= 0" in text


def planner_returning(record: dict[str, Any], seen: list[Mapping[str, Any] | None]) -> Any:
    def plan(
        config: Mapping[str, Any], *, project_dir: Path, source: str, previous: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        seen.append(previous)
        return copy.deepcopy(record)

    return plan


def test_preview_stack_uses_the_config_record_without_pulumi(project: Path) -> None:
    path = stack_file(project, "dev")
    path.write_text(path.read_text() + f"  {PLACEMENT_KEY}: '{dump_placement(BEFORE)}'\n")
    seen: list[Mapping[str, Any] | None] = []
    preview = preview_stack(project, "dev", planner=planner_returning(AFTER, seen))
    assert seen == [BEFORE]
    assert preview.record_source == f"config {PLACEMENT_KEY}"
    assert preview.pulumi is None and preview.pulumi_note == "skipped: no Pulumi CLI on this runner"
    assert to_json(preview)["diff"]["unchangedDeployments"] == 1


def test_preview_stack_prefers_the_stack_output_and_adds_pulumis_summary(project: Path) -> None:
    driver = FakeStackDriver()
    driver.stack_outputs["dev"] = {"placement": AFTER}
    driver.drift["dev"] = {"update": 1}
    seen: list[Mapping[str, Any] | None] = []
    preview = preview_stack(project, "dev", planner=planner_returning(AFTER, seen), driver=driver)
    assert seen == [AFTER] and preview.record_source == "stack output placement"
    assert preview.pulumi is not None and preview.pulumi.changes == {"update": 1}
    assert to_json(preview)["pulumi"] == {"same": 3, "update": 1}


def test_pulumi_errors_become_a_redacted_one_line_note(project: Path) -> None:
    driver = FakeStackDriver()
    driver.fail("preview", "dev", DriverError("code: 255\n stderr: error: token: abcdef123456 rejected\n"))
    preview = preview_stack(project, "dev", planner=planner_returning(AFTER, []), driver=driver)
    assert preview.pulumi is None
    assert preview.pulumi_note == "failed: stderr: error: token: [redacted] rejected"
