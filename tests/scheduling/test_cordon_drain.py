"""Cordon and make-before-break drain in the scheduler: no new replica on a closed cluster; a drain's surge keeps
the cluster's replicas while replacements are placed elsewhere, its remove phase lets them go."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from modelplane.api.loading import fleet_from_stack_config
from modelplane.planning import plan, plan_stack_config
from modelplane.scheduling.placement import to_record

ROOT = Path(__file__).resolve().parents[2]


def lab_config(**scheduling: Any) -> dict[str, Any]:
    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.lab.yaml").read_text())["config"]
    if scheduling:
        config["modelplane:scheduling"] = scheduling
    return config


def record(config: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    return plan_stack_config(config, project_dir=ROOT, source="lab", previous=previous)


def replicas(entry: dict[str, Any], name: str) -> list[tuple[str, int]]:
    (found,) = [d for d in entry["deployments"] if d["name"] == name]
    return sorted((replica["cluster"], replica["index"]) for replica in found["replicas"])


def deployment(entry: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [d for d in entry["deployments"] if d["name"] == name]
    return found


def test_a_cordoned_cluster_gets_no_new_replica_and_keeps_its_own() -> None:
    first = record(lab_config())
    assert "a100-lab" in {cluster for cluster, _ in replicas(first, "chat")}
    config = lab_config(cordoned=["a100-lab"])
    config["modelplane:deployments"]["chat"]["replicas"] = 5
    after = record(config, first)
    chat = replicas(after, "chat")
    assert set(replicas(first, "chat")) <= set(chat)
    assert [where for where in chat if where[0] == "a100-lab"] == [("a100-lab", 0)]
    fresh = record(lab_config(cordoned=["a100-lab"]))
    assert "a100-lab" not in {cluster for cluster, _ in replicas(fresh, "chat")}
    rejected = explained(lab_config(cordoned=["a100-lab"]), "chat")["rejected"]
    assert {"cluster": "a100-lab", "reason": "cluster a100-lab is cordoned"} in rejected


def explained(config: dict[str, Any], name: str) -> dict[str, Any]:
    fleet = fleet_from_stack_config(config, project_dir=ROOT, source="lab")
    return deployment(to_record(plan(fleet, None, explain=True), explain=True), name)


def test_a_drains_surge_keeps_the_replicas_and_places_their_replacements_elsewhere() -> None:
    first = record(lab_config())
    surge = record(lab_config(cordoned=["a100-lab"], draining={"a100-lab": "surge"}), first)
    chat = deployment(surge, "chat")
    assert set(replicas(first, "chat")) < set(replicas(surge, "chat"))
    assert (chat["desired"], chat["scheduled"], chat["draining"], chat["unplaced"]) == (3, 4, 1, 0)
    assert sum(1 for cluster, _ in replicas(surge, "chat") if cluster != "a100-lab") == 3
    assert "draining" not in deployment(surge, "qwen-cached")  # nothing of it on the drained cluster
    # PrefillDecode's only devices are on a100-lab: kept while draining, and said to be unplaced.
    pd = deployment(surge, "llama-pd")
    assert (pd["draining"], pd["unplaced"]) == (1, 1)


def test_the_remove_phase_lets_the_drained_replicas_go_and_keeps_the_replacements() -> None:
    first = record(lab_config())
    surge = record(lab_config(cordoned=["a100-lab"], draining={"a100-lab": "surge"}), first)
    removed = record(lab_config(cordoned=["a100-lab"], draining={"a100-lab": "remove"}), surge)
    chat = replicas(removed, "chat")
    assert chat == [where for where in replicas(surge, "chat") if where[0] != "a100-lab"]
    assert "draining" not in deployment(removed, "chat")
    assert any("cluster a100-lab is drained" in reason for reason in deployment(removed, "chat")["reasons"])
    done = record(lab_config(cordoned=["a100-lab"]), removed)
    assert replicas(done, "chat") == chat  # after the drain: just cordoned, nothing moves back


def test_plans_without_cordon_or_drain_are_unchanged_byte_for_byte() -> None:
    plain = record(lab_config())
    explicit = record(lab_config(cordoned=[], draining={}))
    assert json.dumps(plain, sort_keys=True) == json.dumps(explicit, sort_keys=True)
