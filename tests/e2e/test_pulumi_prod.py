"""prod's sandbox twin (EKS + GKE as Existing clusters, H100 and L4) in one stack — up, `modelplane preview` for
real (the placement diff beside the real `pulumi preview` summary, for a scale edit and for an image change, run the
way the pull-request workflow runs it), destroy — and the same fleet split into a fleet stack and a stack per
cluster, through real StackReferences on the file backend. The twin's tests run in file order on one sandbox."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from modelplane.components.program import CLUSTER_KINDS
from tests.e2e.conftest import MODELPLANE, ROOT, SandboxRun, eventually, running
from tests.e2e.expect import assert_cluster_holds_exactly, live_objects, planned, serving_pods_settled
from tests.e2e.pulumi_cli import PulumiCli

CLUSTERS = ("eu-west", "us-east")
TWIN = "prod-sandbox"
WORKFLOW = ROOT / ".github" / "workflows" / "preview.yml"
QWEN_IMAGE = "modelplane:deployments.qwen.template.spec.engines[0].members[0].template.spec.containers[0].image"


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory, bin_dir: Path) -> Iterator[tuple[SandboxRun, PulumiCli]]:
    with running(tmp_path_factory.mktemp("prod-twin"), bin_dir, "prod") as run:
        yield run, PulumiCli(run, TWIN)


@pytest.fixture
def sandbox(tmp_path: Path, bin_dir: Path) -> Iterator[SandboxRun]:
    run = SandboxRun(tmp_path / "sandbox", bin_dir)
    try:
        yield run
    finally:
        run.cli("down", check=False)


def assert_fleet_holds_the_plan(sandbox: SandboxRun, stack: str, addresses: dict[str, str]) -> None:
    _, composition = planned(stack, addresses)
    for cluster in CLUSTERS:
        kubectl = sandbox.kubectl(cluster)
        assert_cluster_holds_exactly(kubectl, composition, cluster)
        eventually(lambda k=kubectl: serving_pods_settled(k, "ml-team"), 120, message=f"pods settle on {cluster}")


def test_prod_twin_goes_up_as_planned(twin: tuple[SandboxRun, PulumiCli]) -> None:
    run, pulumi = twin
    pulumi.up()
    outputs = pulumi.outputs()
    assert outputs["kubeconfigs"] == {"eu-west": "[secret]", "us-east": "[secret]"}
    assert_fleet_holds_the_plan(run, TWIN, outputs["gatewayAddresses"])
    pulumi.run("preview", "--expect-no-changes")


def workflow_command() -> list[str]:
    """The `modelplane preview ...` line of the workflow's preview step, its stack arguments left to fill in."""
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["preview"]["steps"]
    (script,) = [step["run"] for step in steps if step.get("id") == "preview"]
    (line,) = [line.strip() for line in script.splitlines() if line.strip().startswith("modelplane preview")]
    assert re.search(r'--stack "\$\{name%\.yaml\}"', script), "the workflow passes --stack per stack file"
    command = shlex.split(line.split(">", 1)[0])
    assert command[:2] == ["modelplane", "preview"] and command[2] == "${args[@]}"
    return command[3:]


def preview(pulumi: PulumiCli) -> str:
    argv = [MODELPLANE, "preview", "--stack", TWIN, *workflow_command()]
    result = subprocess.run(argv, cwd=ROOT, env=pulumi.env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_workflow_runs_modelplane_preview_with_markdown() -> None:
    assert workflow_command() == ["--markdown"]


def test_preview_of_a_scale_edit_shows_the_new_replica_and_what_pulumi_would_create(
    twin: tuple[SandboxRun, PulumiCli],
) -> None:
    _, pulumi = twin
    assert "**Pulumi preview:** no changes" in preview(pulumi)
    pulumi.config_set("modelplane:deployments.qwen.replicas", "3")
    text = preview(pulumi)
    assert "**`ml-team/qwen`** — desired / scheduled / unplaced: 2 / 2 / 0 → 3 / 3 / 0" in text
    assert "- `eu-west`: 1 added (`gpu-l4`)" in text
    summary = re.search(r"\*\*Pulumi preview:\*\* (.*)", text)
    assert summary and re.search(r"\d+ to create", summary.group(1)), text
    assert "to delete" not in summary.group(1) and "to read" not in summary.group(1)
    pulumi.config_set("modelplane:deployments.qwen.replicas", "2")


def test_preview_of_an_image_change_moves_nothing_and_pulumi_would_update_in_place(
    twin: tuple[SandboxRun, PulumiCli],
) -> None:
    _, pulumi = twin
    pulumi.config_set(QWEN_IMAGE, "vllm/vllm-openai:v0.23.1")
    text = preview(pulumi)
    assert "No placement changes." in text and "No route or weight changes." in text, text
    summary = re.search(r"\*\*Pulumi preview:\*\* (.*)", text)
    assert summary and summary.group(1).startswith("2 to update"), text


def test_prod_twin_destroys_cleanly(twin: tuple[SandboxRun, PulumiCli]) -> None:
    run, pulumi = twin
    pulumi.run("destroy", "--yes", "--skip-preview")
    for cluster in CLUSTERS:
        assert live_objects(run.kubectl(cluster)) == {}


def test_split_stacks_converge_in_the_documented_order_and_a_second_pass_changes_nothing(
    sandbox: SandboxRun,
) -> None:
    sandbox.up("prod-fleet")
    fleet = PulumiCli(sandbox, "prod-fleet-sandbox")
    clusters = {name: PulumiCli(sandbox, f"prod-{name}-sandbox") for name in CLUSTERS}
    fleet.up()  # placement and fleetConfig; no cluster stack has run, so its objects wait
    for name, stack in clusters.items():
        stack.up()
        resources = json.loads(stack.export())["deployment"]["resources"]
        kube = [r for r in resources if r["type"].startswith("kubernetes:") and "::providers:" not in r["urn"]]
        assert kube and all(r["urn"].rsplit("::", 1)[-1].startswith(f"{name}/") for r in kube), name
        owners = {r["type"].removeprefix("modelplane:index:") for r in resources if r["type"].startswith("modelplane:")}
        assert owners - {"InferenceCluster", "CacheStorage", "ServingStack"} <= CLUSTER_KINDS, owners
    fleet.up()  # now with every cluster's kubeconfig and gateway address: routes and gateways
    addresses = {name: stack.outputs()["gatewayAddresses"][name] for name, stack in clusters.items()}
    assert_fleet_holds_the_plan(sandbox, "prod-fleet-sandbox", addresses)
    assert fleet.outputs()["placement"]["deployments"] == planned("prod-fleet-sandbox")[0]["deployments"]
    for stack in (fleet, *clusters.values()):
        stack.run("preview", "--expect-no-changes")
