"""The lab fleet (three clusters of three GPU classes, every topology) through the real CLI: up, then the edits a
platform team makes with `pulumi config set --path` + `pulumi up`, then destroy. Tests run in file order on one
sandbox; each edit is checked against the plan the program makes from the stack's previous placement output.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import SandboxRun, eventually, running
from tests.e2e.expect import (
    ObjectId,
    assert_cluster_holds_exactly,
    composed_backends,
    live_objects,
    planned,
    route_backends,
    serving_pods_settled,
    workload_uids,
)
from tests.e2e.pulumi_cli import PulumiCli

STACK = "lab-sandbox"
CLUSTERS = ("a100-lab", "h100-east", "l4-west")
A100_LAB = {
    "metadata": {"labels": {"region": "eu-west", "cloud": "on-prem"}},
    "cluster": {
        "source": "Existing",
        "existing": {
            "secretRef": {"name": "sandbox-a100-lab", "key": "kubeconfig"},
            "cache": {"storageClassName": "nfs-rwx"},
        },
    },
    "nodePools": [{"name": "gpu-a100", "className": "a100-4x", "nodeCount": 4}],
}
CHAT_IMAGE = "modelplane:deployments.chat.template.spec.engines[0].members[0].template.spec.containers[0].image"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, bin_dir: Path) -> Iterator[SandboxRun]:
    with running(tmp_path_factory.mktemp("pulumi-lab"), bin_dir, "lab") as run:
        yield run


@pytest.fixture(scope="module")
def pulumi(lab: SandboxRun) -> PulumiCli:
    return PulumiCli(lab, STACK)


def converged(lab: SandboxRun, pulumi: PulumiCli, previous: dict[str, Any] | None) -> dict[str, Any]:
    """The stack's outputs and every cluster match the plan made from `previous`; every serving pod runs."""
    outputs = pulumi.outputs()
    record, composition = planned(STACK, outputs["gatewayAddresses"], previous)
    assert outputs["placement"]["deployments"] == record["deployments"]
    for cluster in CLUSTERS:
        kubectl = lab.kubectl(cluster)
        assert_cluster_holds_exactly(kubectl, composition, cluster)
        eventually(lambda k=kubectl: serving_pods_settled(k, "ml-team"), 120, message=f"pods settle on {cluster}")
    assert composed_backends(composition, "l4-west", "ml-team", "chat") == route_backends(
        lab.kubectl("l4-west"), "ml-team", "chat"
    )
    return record


def uids(lab: SandboxRun) -> dict[tuple[str, ObjectId], str]:
    return {(cluster, key): uid for cluster in CLUSTERS for key, uid in workload_uids(lab.kubectl(cluster)).items()}


def placements(record: dict[str, Any]) -> dict[str, list[Any]]:
    """Where each deployment's replicas are (a record's `reasons` describe the last change, not the placement)."""
    return {deployment["name"]: deployment["replicas"] for deployment in record["deployments"]}


def chat_replicas(record: dict[str, Any]) -> list[tuple[str, int]]:
    (chat,) = [d for d in record["deployments"] if d["name"] == "chat"]
    return sorted((replica["cluster"], replica["index"]) for replica in chat["replicas"])


def test_up_converges_to_the_plan(lab: SandboxRun, pulumi: PulumiCli) -> None:
    pulumi.up()
    record = converged(lab, pulumi, None)
    assert len(chat_replicas(record)) == 3


def test_every_claim_is_allocated_on_the_planned_pool(lab: SandboxRun, pulumi: PulumiCli) -> None:
    record = pulumi.outputs()["placement"]
    pools = {
        (replica["cluster"], engine["pool"])
        for deployment in record["deployments"]
        for replica in deployment["replicas"]
        for engine in replica["engines"]
    }
    seen = set()
    for cluster in CLUSTERS:
        kubectl = lab.kubectl(cluster)
        nodes = {node["metadata"]["name"]: node for node in kubectl.json("get", "nodes")["items"]}
        for claim in kubectl.json("get", "resourceclaims", "-n", "ml-team")["items"]:
            for result in claim["status"]["allocation"]["devices"]["results"]:
                seen.add((cluster, nodes[result["pool"]]["metadata"]["labels"]["modelplane.ai/pool"]))
    assert seen == pools


def test_caches_are_bound_and_hydrated_where_their_deployments_run(lab: SandboxRun) -> None:
    for cluster, cache in (("h100-east", "kimi-weights"), ("l4-west", "qwen-weights")):
        kubectl = lab.kubectl(cluster)
        (claim,) = kubectl.json("get", "pvc", "-n", "ml-team", "-l", f"modelplane.ai/modelcache={cache}")["items"]
        assert claim["status"]["phase"] == "Bound"
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
        (job,) = kubectl.json("get", "jobs", "-n", "ml-team")["items"]
        assert any(c["type"] == "Complete" and c["status"] == "True" for c in job["status"]["conditions"])
    assert lab.kubectl("a100-lab").json("get", "pvc", "-n", "ml-team")["items"] == []


def test_gangs_exist_as_leader_worker_sets(lab: SandboxRun) -> None:
    (gang,) = lab.kubectl("h100-east").json("get", "leaderworkersets", "-n", "ml-team")["items"]
    assert gang["spec"]["leaderWorkerTemplate"]["size"] == 2
    assert gang["metadata"]["labels"]["modelplane.ai/deployment"] == "kimi"


def test_no_perpetual_diff(pulumi: PulumiCli) -> None:
    pulumi.run("preview", "--expect-no-changes")
    # What the reconcile service's drift check runs: the live objects must read back as what was applied.
    pulumi.run("preview", "--refresh", "--expect-no-changes")


def test_scale_up_adds_one_replica_on_the_planned_cluster_and_keeps_everything_else(
    lab: SandboxRun, pulumi: PulumiCli
) -> None:
    before, previous = uids(lab), pulumi.outputs()["placement"]
    pulumi.config_set("modelplane:deployments.chat.replicas", "4")
    pulumi.up()
    record = converged(lab, pulumi, previous)
    assert len(chat_replicas(record)) == 4
    assert set(chat_replicas(previous)) < set(chat_replicas(record))
    after = uids(lab)
    assert {key: after.get(key) for key in before} == before


def test_scale_down_removes_exactly_the_surplus(lab: SandboxRun, pulumi: PulumiCli) -> None:
    before, previous = uids(lab), pulumi.outputs()["placement"]
    pulumi.config_set("modelplane:deployments.chat.replicas", "2")
    pulumi.up()
    record = converged(lab, pulumi, previous)
    assert len(chat_replicas(record)) == 2
    assert set(chat_replicas(record)) < set(chat_replicas(previous))
    after = uids(lab)
    assert set(after) < set(before)
    assert {key: before[key] for key in after} == after


def test_an_image_change_updates_the_workloads_in_place_and_nothing_else(lab: SandboxRun, pulumi: PulumiCli) -> None:
    before, previous = uids(lab), pulumi.outputs()["placement"]
    generations = deployment_generations(lab, "chat")
    pulumi.config_set(CHAT_IMAGE, "vllm/vllm-openai:v0.23.1")
    preview = json.loads(pulumi.run("preview", "--json").stdout)
    # Reads (the stack's own last outputs, gateway Services) are not changes.
    steps = [step for step in preview["steps"] if step["op"] not in ("same", "read")]
    changed = {step["urn"].rsplit("::", 1)[-1]: step["op"] for step in steps}
    assert set(changed.values()) == {"update"}, changed
    assert all("/chat-" in name for name in changed), changed
    assert len(changed) == len(generations)
    pulumi.up()
    record = converged(lab, pulumi, previous)
    assert placements(record) == placements(previous)  # no replica moved
    assert uids(lab) == before
    after = deployment_generations(lab, "chat")
    assert {key: generation - 1 for key, generation in after.items()} == generations
    for cluster, namespace, name in after:
        deployment = lab.kubectl(cluster).json("get", "deployment", name, "-n", namespace)
        containers = deployment["spec"]["template"]["spec"]["containers"]
        assert [c["image"] for c in containers if c["name"] == "engine"] == ["vllm/vllm-openai:v0.23.1"]


def deployment_generations(lab: SandboxRun, deployment: str) -> dict[tuple[str, str, str], int]:
    found = {}
    for cluster in CLUSTERS:
        selector = f"modelplane.ai/deployment={deployment}"
        for item in lab.kubectl(cluster).json("get", "deployments", "-A", "-l", selector)["items"]:
            key = (cluster, item["metadata"]["namespace"], item["metadata"]["name"])
            found[key] = item["metadata"]["generation"]
    return found


def test_scale_to_zero_and_back(lab: SandboxRun, pulumi: PulumiCli) -> None:
    previous = pulumi.outputs()["placement"]
    pulumi.config_set("modelplane:deployments.chat.replicas", "0")
    pulumi.up()
    record = converged(lab, pulumi, previous)
    assert chat_replicas(record) == []
    assert deployment_generations(lab, "chat") == {}
    pulumi.config_set("modelplane:deployments.chat.replicas", "3")
    pulumi.up()
    record = converged(lab, pulumi, record)
    assert len(chat_replicas(record)) == 3


def test_removing_a_cluster_replaces_its_replicas_elsewhere_and_deletes_its_objects(
    lab: SandboxRun, pulumi: PulumiCli
) -> None:
    previous = pulumi.outputs()["placement"]
    assert "a100-lab" in {cluster for cluster, _ in chat_replicas(previous)}
    pulumi.run("config", "rm", "--path", "modelplane:clusters.a100-lab")
    pulumi.up()
    record = converged(lab, pulumi, previous)
    assert live_objects(lab.kubectl("a100-lab")) == {}
    assert "a100-lab" not in {cluster for cluster, _ in chat_replicas(record)}
    assert len(chat_replicas(record)) == 3
    (pd,) = [d for d in record["deployments"] if d["name"] == "llama-pd"]
    assert pd["replicas"] == []  # A100s were its only devices: unplaced, and said so
    assert pulumi.outputs()["kubeconfigs"] == {"h100-east": "[secret]", "l4-west": "[secret]"}


def test_a_placement_recovered_from_the_last_outputs_keeps_replicas_where_they_are(
    lab: SandboxRun, pulumi: PulumiCli
) -> None:
    """The reconcile service writes the record into config after each up; with it deleted, the program recovers it
    from the stack's last outputs. Re-adding a100-lab would draw chat back there in a fresh plan; sticky, it stays."""
    previous = pulumi.outputs()["placement"]
    pulumi.run("config", "set", "modelplane:placement", json.dumps(previous))
    stack_file = lab.project_dir / "stacks" / f"Pulumi.{STACK}.yaml"  # re-added by hand, as a user edits it
    header, _, body = stack_file.read_text().partition("\n")  # the sandbox's ownership line stays first
    settings = yaml.safe_load(body)
    settings["config"]["modelplane:clusters"]["a100-lab"] = A100_LAB
    stack_file.write_text(f"{header}\n{yaml.safe_dump(settings, sort_keys=False)}")
    pulumi.run("config", "rm", "modelplane:placement")
    result = pulumi.up()
    assert "recovered placement of ml-team/chat from the stack's last outputs" in result.stdout
    record = converged(lab, pulumi, previous)
    assert chat_replicas(record) == chat_replicas(previous)
    fresh, _ = planned(STACK, previous={})
    assert "a100-lab" in {cluster for cluster, _ in chat_replicas(fresh)}, "a fresh plan would have moved chat"
    (pd,) = [d for d in record["deployments"] if d["name"] == "llama-pd"]
    assert [replica["cluster"] for replica in pd["replicas"]] == ["a100-lab"]  # unplaced ones do come back


def test_destroy_leaves_no_object_of_ours_on_any_cluster(lab: SandboxRun, pulumi: PulumiCli) -> None:
    pulumi.run("destroy", "--yes", "--skip-preview")
    for cluster in CLUSTERS:
        kubectl = lab.kubectl(cluster)
        eventually(lambda k=kubectl: not live_objects(k), 60, message=f"nothing of ours on {cluster}")
    assert json.loads(pulumi.export())["deployment"].get("resources", []) == []
