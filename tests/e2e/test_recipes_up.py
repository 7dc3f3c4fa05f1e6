"""Every recipe goes up on the sandbox: its objects are the planned ones and its engine pods run (gangs exist as
LeaderWorkerSets; no LWS controller runs here to make their pods)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from modelplane.api.loading import load_stack
from tests.e2e.conftest import ROOT, SandboxRun, eventually
from tests.e2e.expect import assert_cluster_holds_exactly, composed_objects, planned, serving_pods_settled
from tests.e2e.pulumi_cli import PulumiCli

RECIPES = sorted(path.name for path in (ROOT / "recipes").iterdir() if path.is_dir())


def recipe_project(directory: Path, recipe: str) -> Path:
    """A project holding just the recipe and a stack that lists its manifests."""
    shutil.copytree(ROOT / "recipes" / recipe, directory / "recipes" / recipe)
    shutil.copy(ROOT / "__main__.py", directory / "__main__.py")
    (directory / "Pulumi.yaml").write_text("name: modelplane\nruntime: python\nstackConfigDir: stacks\n")
    (directory / "stacks").mkdir()
    config = {"modelplane:manifests": [f"recipes/{recipe}"]}
    (directory / "stacks" / "Pulumi.recipe.yaml").write_text(yaml.safe_dump({"config": config}))
    return directory


@pytest.fixture
def recipe_sandbox(request: pytest.FixtureRequest, tmp_path: Path, bin_dir: Path) -> Iterator[SandboxRun]:
    run = SandboxRun(tmp_path / "sandbox", bin_dir, recipe_project(tmp_path / "project", request.param))
    try:
        yield run
    finally:
        run.cli("down", check=False)


@pytest.mark.parametrize("recipe_sandbox", RECIPES, indirect=True)
def test_the_recipe_goes_up_and_its_engines_run(recipe_sandbox: SandboxRun) -> None:
    recipe_sandbox.up("recipe")
    pulumi = PulumiCli(recipe_sandbox, "recipe-sandbox")
    pulumi.up()
    outputs = pulumi.outputs()
    record, composition = planned("recipe-sandbox", outputs["gatewayAddresses"], project_dir=recipe_sandbox.project_dir)
    assert outputs["placement"]["deployments"] == record["deployments"]
    assert all(deployment["unplaced"] == 0 for deployment in record["deployments"]), record["deployments"]
    for cluster in load_stack(recipe_sandbox.project_dir, "recipe-sandbox").fleet.clusters:
        kubectl = recipe_sandbox.kubectl(cluster)
        assert_cluster_holds_exactly(kubectl, composition, cluster)
        namespaces = {namespace for _, namespace, _ in composed_objects(composition, cluster) if namespace}
        for namespace in namespaces:
            eventually(lambda k=kubectl, n=namespace: serving_pods_settled(k, n), 120, message=f"{cluster}/{namespace}")
