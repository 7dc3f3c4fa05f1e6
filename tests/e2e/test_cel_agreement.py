"""Agreement with Kubernetes' own CEL: for every case of `tests/scheduling/cel_agreement_cases.py`, the pool the
plan chooses (or "unplaced") is what kube-scheduler does with the claim the program renders.

Method. A stack in a project directory of the test's own: one cluster whose pools carry the table's devices
(`POOLS`, devices in published order), one ModelDeployment per case (one replica, one Standalone member, the
case's requests as `nodeSelector.devices`). It is planned in-process as `modelplane plan --stack` plans it, and the
program's composition (`compose_fleet`) renders each placed replica's ResourceClaimTemplate and Deployment, pinned
to the planned pool by `nodeSelector: modelplane.ai/pool` as the program pins it.

A placement says "this pool, and no pool before it": the first pool (declared order) that matches and has room
wins, and every pool has a free node for each case placed on it, so capacity never decides. So each case is
rendered once per pool up to the chosen one, and once per pool when it is unplaced:
- on the chosen pool, the program's own objects: kube-scheduler must allocate the claim on a node of that pool,
  every device of the DeviceClass the plan put in the claim and matching every selector by our evaluator too;
- on every earlier pool (every pool, when unplaced), the same member composed by `compose_replica` pinned to that
  pool, once per choice of a DeviceClass for each request among the pool's classes (the plan chose none): each
  pod must stay Pending, PodScheduled=False with Unschedulable ("cannot allocate all claims") or SchedulerError
  (a CEL runtime error, which fails the claim's whole allocation).
Every render is its own pod with its own claim, so a runtime error concerns one render only, and pinning each to
one pool keeps the pools apart: kube-scheduler may pick any node whose devices match, and an unpinned render
would let a match on one pool hide behind a runtime error on another.

Busy nodes. kube-scheduler's allocator walks a node's devices in order, skips those taken, and fails the pod on
the first runtime error it meets on any node it filters; so whether a selector that fails on some device of its
DeviceClass gets the pod scheduled depends on what other pods hold, and on a busy production node it sooner or
later fails. To make that deterministic, each pool also has, for each of its class devices after the first, a
node where a pod of the test holds every device declared before it (`busy_nodes`): there the allocator meets that
device first, as it would on a busy node. That pod also requests the node's CPU and memory, so kube-scheduler's
scoring keeps the renders on free nodes and the busy nodes stay as set. The planner refuses a selector that fails
on any device of a DeviceClass for that DeviceClass outright.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelplane.api import names
from modelplane.api.fleet import Fleet
from modelplane.api.inference_class import Device
from modelplane.api.model_deployment import Member
from modelplane.api.pools import LABEL_POOL
from modelplane.compose.common import LABEL_WORKLOAD, Manifest
from modelplane.compose.fleet import compose_fleet
from modelplane.compose.replica import compose_replica
from modelplane.planning import plan
from modelplane.sandbox.shape import GPU_NODE_CAPACITY, node_name
from modelplane.scheduling.cel import SelectorEvaluator
from modelplane.scheduling.matching import DeviceMatcher, device_data
from modelplane.scheduling.placement import DeviceClaim, EnginePlacement, MemberPlacement, ReplicaPlacement
from modelplane.scheduling.validation import load_inputs
from tests.e2e.conftest import ROOT, Kubectl, eventually, running
from tests.scheduling.cel_agreement_cases import CASES, POOLS

STACK = "cel-agreement"
CLUSTER = "cel-lab"
NAMESPACE = "cel"
BUSY_NAMESPACE = "cel-busy"
ENGINE = "engine"
SETTLE_SECONDS = 180
ALLOCATION_KINDS = ("ResourceClaimTemplate", "Deployment")


@dataclass(frozen=True)
class Render:
    """One case's member composed onto one pool, and what the plan says of it there."""

    case: str
    pool: str
    claims: tuple[DeviceClaim, ...]
    planned: bool  # the plan's own replica, rendered by compose_fleet
    allocatable: bool  # the planner's verdict on this pool
    manifests: tuple[Manifest, ...]

    @property
    def workload(self) -> str:
        return next(item["metadata"]["name"] for item in self.manifests if item["kind"] == "Deployment")


@dataclass(frozen=True)
class Outcome:
    """What kube-scheduler did with one render's pod."""

    node: str | None = None
    results: tuple[dict[str, Any], ...] = ()
    refusal: str = ""  # "<reason>: <message>" of PodScheduled=False


def stack_config(nodes: Mapping[str, int]) -> dict[str, Any]:
    classes = {name: {"description": f"devices of {pool}", "devices": devices} for pool, name, devices in POOLS}
    cluster = {
        "cluster": {
            "source": "Existing",
            "existing": {"secretRef": {"name": "cel-lab-kubeconfig", "key": "kubeconfig"}},
        },
        "nodePools": [{"name": pool, "className": name, "nodeCount": nodes[pool]} for pool, name, _ in POOLS],
    }
    deployments = {case["name"]: _deployment(case["requests"]) for case in CASES}
    return {
        "modelplane:classes": classes,
        "modelplane:clusters": {CLUSTER: cluster},
        "modelplane:deployments": deployments,
    }


def _deployment(requests: list[dict[str, Any]]) -> dict[str, Any]:
    devices = [{**request, "selectors": [{"cel": text} for text in request["selectors"]]} for request in requests]
    member = {
        "role": "Standalone",
        "nodeSelector": {"devices": devices},
        "template": {"spec": {"containers": [{"name": "engine", "image": "vllm/vllm-openai:v0.23.0"}]}},
    }
    return {
        "metadata": {"namespace": NAMESPACE},
        "replicas": 1,
        "template": {"spec": {"engines": [{"name": ENGINE, "members": [member]}]}},
    }


def write_project(directory: Path, nodes: Mapping[str, int]) -> None:
    shutil.copy(ROOT / "Pulumi.yaml", directory / "Pulumi.yaml")
    (directory / "stacks").mkdir(exist_ok=True)
    text = yaml.safe_dump({"config": stack_config(nodes)}, sort_keys=False, width=200)
    (directory / "stacks" / f"Pulumi.{STACK}.yaml").write_text(text)


def stack_fleet(directory: Path) -> Fleet:
    """The stack's fleet, read and checked as `modelplane plan --stack` reads it."""
    return load_inputs([], STACK, directory).fleet


def member(fleet: Fleet, case: str) -> Member:
    return fleet.deployments[f"{NAMESPACE}/{case}"].engines[0].members[0]


def pool_sizes(directory: Path) -> dict[str, int]:
    """A free node for each case the plan places on the pool, one spare (a render the planner refuses but kube-
    scheduler allocates must not take a planned render's node), and the pool's busy nodes (see `busy_nodes`)."""
    write_project(directory, {pool: len(CASES) for pool, _, _ in POOLS})
    placement = plan(stack_fleet(directory))
    chosen = [item.replicas[0].engines[0].pool for item in placement.deployments if item.replicas]
    return {pool: (chosen.count(pool) + 1) + (len(devices) - 1) for pool, _, devices in POOLS}


Busy = dict[str, tuple[str, list[int]]]  # node → its InferenceClass, and the indexes of the class devices taken


def busy_nodes(nodes: Mapping[str, int]) -> Busy:
    """For each device of a pool after the first, a node of the pool whose devices before it are all taken. The
    pool's last nodes serve."""
    busy: Busy = {}
    for pool, class_name, devices in POOLS:
        for taken in range(1, len(devices)):
            busy[node_name(pool, nodes[pool] - taken)] = (class_name, list(range(taken)))
    return busy


def occupiers(fleet: Fleet, busy: Busy) -> list[Manifest]:
    """A claim and a pod per busy node, holding every instance of the class devices to take there, and the node's
    CPU and memory: kube-scheduler's scoring then puts every render on a free node when one fits, so no render
    takes the devices left free on a busy node (that would hide them from the renders after it)."""
    manifests: list[Manifest] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": BUSY_NAMESPACE}}]
    for node, (class_name, taken) in sorted(busy.items()):
        devices = fleet.classes[class_name].spec.devices
        requests = [
            {
                "name": f"d{index}",
                "exactly": {
                    "deviceClassName": devices[index].device_class_name,
                    "count": devices[index].count,
                    "selectors": [{"cel": {"expression": identity(devices[index])}}],
                },
            }
            for index in taken
        ]
        meta = {"name": node, "namespace": BUSY_NAMESPACE}
        claim = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": meta}
        manifests.append({**claim, "spec": {"devices": {"requests": requests}}})
        pod = {
            "nodeSelector": {"kubernetes.io/hostname": node},
            "tolerations": [{"operator": "Exists"}],
            "resourceClaims": [{"name": "busy", "resourceClaimName": node}],
            "containers": [
                {
                    "name": "busy",
                    "image": "busybox",
                    "resources": {
                        "claims": [{"name": "busy"}],
                        "requests": {"cpu": GPU_NODE_CAPACITY["cpu"], "memory": GPU_NODE_CAPACITY["memory"]},
                    },
                }
            ],
        }
        manifests.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod})
    return manifests


def identity(device: Device) -> str:
    """A selector true exactly on the class device's instances (guarded: it is evaluated on its neighbours)."""
    terms = []
    for name, value in sorted(device.attributes.items()):
        domain, _, ident = name.rpartition("/")
        ref = f'device.attributes["{domain or device.driver}"].{ident}'
        if value.kind == "version":
            equal = f'{ref}.compareTo(semver("{value.value}")) == 0'
        elif value.kind == "string":
            equal = f"{ref} == {json.dumps(value.value)}"
        else:
            equal = f"{ref} == {str(value.value).lower()}"
        terms.append(f"has({ref}) && {equal}")
    return " && ".join(terms) or "true"


def renders(fleet: Fleet) -> list[Render]:
    placement = plan(fleet)
    composition = compose_fleet(fleet, placement)
    matcher = DeviceMatcher(fleet.classes, SelectorEvaluator())
    found: list[Render] = []
    for case in CASES:
        placed = placement.deployment(f"{NAMESPACE}/{case['name']}")
        assert placed is not None
        chosen = placed.replicas[0].engines[0].pool if placed.replicas else None
        index = itertools.count(1)
        for pool, class_name, _ in POOLS:
            match = matcher.match(member(fleet, case["name"]), class_name)
            if pool == chosen:
                replica = names.replica_name(case["name"], CLUSTER, placed.replicas[0].index)
                bundle = next(b for b in composition.for_cluster(CLUSTER) if b.owner == f"{NAMESPACE}/{replica}")
                manifests = tuple(item for item in bundle.manifests if item["kind"] in ALLOCATION_KINDS)
                claims = placed.replicas[0].engines[0].members[0].devices
                found.append(Render(case["name"], pool, claims, True, match.ok, manifests))
                break
            for claims in _claim_choices(fleet, case["name"], class_name, match.claims if match.ok else None):
                manifests = _compose_on(fleet, case["name"], pool, claims, next(index))
                found.append(Render(case["name"], pool, claims, False, match.ok, manifests))
    return found


def _claim_choices(
    fleet: Fleet, case: str, class_name: str, planned: tuple[DeviceClaim, ...] | None
) -> list[tuple[DeviceClaim, ...]]:
    """The planner's claims where it matched; else every choice of a DeviceClass of the pool for each request."""
    if planned is not None:
        return [planned]
    device_classes = sorted({str(d.device_class_name) for d in fleet.classes[class_name].spec.devices})
    requests = member(fleet, case).node_selector.devices  # type: ignore[union-attr]
    return [
        tuple(
            DeviceClaim(request.name, chosen, request.count, tuple(s.cel for s in request.selectors))
            for request, chosen in zip(requests, choice, strict=True)
        )
        for choice in itertools.product(device_classes, repeat=len(requests))
    ]


def _compose_on(
    fleet: Fleet, case: str, pool: str, claims: tuple[DeviceClaim, ...], index: int
) -> tuple[Manifest, ...]:
    deployment = fleet.deployments[f"{NAMESPACE}/{case}"]
    engine = EnginePlacement(ENGINE, pool, (MemberPlacement("Standalone", pool, claims),))
    manifests = compose_replica(deployment, ReplicaPlacement(CLUSTER, index, (engine,)), None)
    return tuple(item for item in manifests if item["kind"] in ALLOCATION_KINDS)


def observe(kubectl: Kubectl, workloads: set[str]) -> dict[str, Outcome] | None:
    """Every render's outcome once each pod is bound with its claim allocated, or refused by the scheduler."""
    pods = kubectl.json("get", "pods", "-n", NAMESPACE)["items"]
    claims = {
        item["metadata"]["name"]: item for item in kubectl.json("get", "resourceclaims", "-n", NAMESPACE)["items"]
    }
    outcomes: dict[str, Outcome] = {}
    for pod in pods:
        workload = pod["metadata"]["labels"].get(LABEL_WORKLOAD)
        outcome = _pod_outcome(pod, claims)
        if workload in workloads and outcome is not None:
            outcomes[workload] = outcome
    return outcomes if set(outcomes) == workloads else None


def _pod_outcome(pod: dict[str, Any], claims: Mapping[str, dict[str, Any]]) -> Outcome | None:
    statuses = pod["status"].get("resourceClaimStatuses", [])
    claim = claims.get(statuses[0].get("resourceClaimName", "")) if statuses else None
    allocation = (claim or {}).get("status", {}).get("allocation")
    if pod["spec"].get("nodeName") and allocation:
        return Outcome(node=pod["spec"]["nodeName"], results=tuple(allocation["devices"]["results"]))
    for condition in pod["status"].get("conditions", []):
        refused = condition["type"] == "PodScheduled" and condition["status"] == "False"
        message = condition.get("message", "")
        if refused and ("cannot allocate all claims" in message or "CEL runtime error" in message):
            return Outcome(refusal=f"{condition.get('reason')}: {message}")
    return None


@dataclass(frozen=True)
class Agreement:
    fleet: Fleet
    renders: list[Render]
    outcomes: dict[str, Outcome]  # by workload
    node_pools: dict[str, str]  # node -> pool
    busy: Busy

    def of(self, case: str) -> list[tuple[Render, Outcome]]:
        return [(render, self.outcomes[render.workload]) for render in self.renders if render.case == case]


@pytest.fixture(scope="module")
def agreement(tmp_path_factory: pytest.TempPathFactory, bin_dir: Path) -> Iterator[Agreement]:
    project = tmp_path_factory.mktemp("cel-project")
    sizes = pool_sizes(project)
    write_project(project, sizes)
    fleet = stack_fleet(project)
    table = renders(fleet)
    busy = busy_nodes(sizes)
    with running(tmp_path_factory.mktemp("sandbox-cel"), bin_dir, STACK, project) as run:
        kubectl = run.kubectl(CLUSTER)
        create(kubectl, occupiers(fleet, busy))
        eventually(lambda: occupied(kubectl, busy), 90, 1.0, "the busy nodes' devices are taken")
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        # Claim templates before the Deployments whose pods need them.
        ordered = sorted(
            (item for render in table for item in render.manifests), key=lambda item: item["kind"] == "Deployment"
        )
        create(kubectl, [namespace, *ordered])
        workloads = {render.workload for render in table}
        outcomes = eventually(lambda: observe(kubectl, workloads), SETTLE_SECONDS, 2.0, "every render settles")
        nodes = kubectl.json("get", "nodes")["items"]
        node_pools = {item["metadata"]["name"]: item["metadata"]["labels"].get(LABEL_POOL, "") for item in nodes}
        yield Agreement(fleet, table, outcomes, node_pools, busy)


def create(kubectl: Kubectl, manifests: list[Manifest]) -> None:
    kubectl.run("create", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}))


def occupied(kubectl: Kubectl, busy: Busy) -> bool:
    """Every busy node's claim is allocated there."""
    claims = kubectl.json("get", "resourceclaims", "-n", BUSY_NAMESPACE)["items"]
    pools = {
        claim["metadata"]["name"]: {r["pool"] for r in claim["status"]["allocation"]["devices"]["results"]}
        for claim in claims
        if claim.get("status", {}).get("allocation")
    }
    return pools == {node: {node} for node in busy}


def disagreement(agreement: Agreement, render: Render, outcome: Outcome) -> str | None:
    """Why kube-scheduler's outcome is not the plan's, or None when they agree."""
    where = f"{render.case} on {render.pool} ({', '.join(c.device_class_name for c in render.claims)})"
    if not render.allocatable:
        if outcome.refusal:
            return None
        return f"{where}: the planner says it does not fit, kube-scheduler allocated {list(outcome.results)}"
    if outcome.node is None:
        return f"{where}: the plan places it here, kube-scheduler refused: {outcome.refusal}"
    if agreement.node_pools.get(outcome.node) != render.pool:
        return f"{where}: allocated on node {outcome.node} of pool {agreement.node_pools.get(outcome.node)}"
    return _device_disagreement(agreement, render, outcome)


def _device_disagreement(agreement: Agreement, render: Render, outcome: Outcome) -> str | None:
    """Each request got its count of devices, each of its DeviceClass and matching its selectors by our evaluator."""
    class_name = next(name for pool, name, _ in POOLS if pool == render.pool)
    devices = {device.name: device for device in agreement.fleet.classes[class_name].spec.devices}
    claims = {claim.name: claim for claim in render.claims}
    given = sorted(result["request"] for result in outcome.results)
    if given != sorted(claim.name for claim in render.claims for _ in range(claim.count)):
        return f"{render.case}: the plan's claims are {render.claims}, kube-scheduler gave {list(outcome.results)}"
    evaluator = SelectorEvaluator()
    for result in outcome.results:
        claim = claims[result["request"]]
        device = devices[result["device"].rpartition("-")[0]]
        if device.device_class_name != claim.device_class_name:
            asked = claim.device_class_name
            return f"{render.case}: {result['device']} is {device.device_class_name}, the claim asks {asked}"
        for number, selector in enumerate(claim.selectors, start=1):
            verdict = evaluator.evaluate(selector, device_data(device))
            if not verdict.matched:
                return f"{render.case}: kube-scheduler gave {result['device']}, our selector #{number} says {verdict}"
    return None


def test_the_table_has_what_the_issue_asks_for() -> None:
    requests = [case["requests"] for case in CASES]
    assert len(CASES) >= 25
    assert sum(len(reqs) > 1 for reqs in requests) >= 4
    assert sum(any(len(r["selectors"]) > 1 for r in reqs) for reqs in requests) >= 4
    assert {case.get("outcome") for case in CASES} >= {"match", "no-match", "runtime-error"}
    assert len({device["deviceClassName"] for _, _, devices in POOLS for device in devices}) >= 4


@pytest.mark.parametrize("case", [case["name"] for case in CASES])
def test_kube_scheduler_agrees_with_the_plan(agreement: Agreement, case: str) -> None:
    pairs = agreement.of(case)
    assert pairs, f"{case} was never rendered"
    assert all(render.planned or not render.allocatable for render, _ in pairs), "capacity decided a placement"
    found = [text for render, outcome in pairs if (text := disagreement(agreement, render, outcome))]
    assert not found, "\n".join(found)


def test_the_busy_nodes_stayed_as_the_test_set_them(agreement: Agreement) -> None:
    """A render on a busy node would take the devices it leaves for the allocator to meet."""
    on_busy = [
        render.case for render in agreement.renders if agreement.outcomes[render.workload].node in agreement.busy
    ]
    assert not on_busy


def test_every_runtime_error_case_meets_kube_schedulers_runtime_error(agreement: Agreement) -> None:
    """The table's runtime errors are kube-scheduler's too (on some pool), so the error path is exercised."""
    for case in (case for case in CASES if case.get("outcome") == "runtime-error"):
        refusals = [outcome.refusal for _, outcome in agreement.of(case["name"])]
        assert any("CEL runtime error" in refusal for refusal in refusals), (case["name"], refusals)
