"""Every recipe goes up on the sandbox: its objects are the planned ones and its engine pods run (gangs exist as
LeaderWorkerSets; no LWS controller runs here to make their pods).

Each recipe gets a sandbox and a project of its own; three run at a time (a recipe's up is mostly waiting on the
provider's awaits), which keeps this under a third of the time the eight would take one after another.
"""

from __future__ import annotations

import shutil
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from modelplane.api.loading import load_stack
from tests.e2e.conftest import ROOT, eventually, running
from tests.e2e.expect import assert_cluster_holds_exactly, composed_objects, planned, serving_pods_settled
from tests.e2e.pulumi_cli import PulumiCli

RECIPES = sorted(path.name for path in (ROOT / "recipes").iterdir() if path.is_dir())
AT_ONCE = 3


def recipe_project(directory: Path, recipe: str) -> Path:
    """A project holding just the recipe and a stack that lists its manifests."""
    shutil.copytree(ROOT / "recipes" / recipe, directory / "recipes" / recipe)
    shutil.copy(ROOT / "__main__.py", directory / "__main__.py")
    (directory / "Pulumi.yaml").write_text("name: modelplane\nruntime: python\nstackConfigDir: stacks\n")
    (directory / "stacks").mkdir()
    config = {"modelplane:manifests": [f"recipes/{recipe}"]}
    (directory / "stacks" / "Pulumi.recipe.yaml").write_text(yaml.safe_dump({"config": config}))
    return directory


def recipe_goes_up(directory: Path, bin_dir: Path, recipe: str) -> None:
    project = recipe_project(directory / "project", recipe)
    with running(directory / "sandbox", bin_dir, "recipe", project_dir=project) as run:
        pulumi = PulumiCli(run, "recipe-sandbox")
        pulumi.up()
        outputs = pulumi.outputs()
        record, composition = planned("recipe-sandbox", outputs["gatewayAddresses"], project_dir=project)
        assert outputs["placement"]["deployments"] == record["deployments"]
        assert all(deployment["unplaced"] == 0 for deployment in record["deployments"]), record["deployments"]
        for cluster in load_stack(project, "recipe-sandbox").fleet.clusters:
            kubectl = run.kubectl(cluster)
            assert_cluster_holds_exactly(kubectl, composition, cluster)
            namespaces = {namespace for _, namespace, _ in composed_objects(composition, cluster) if namespace}
            for namespace in namespaces:
                eventually(lambda k=kubectl, n=namespace: serving_pods_settled(k, n), 180, message=namespace)


def test_every_recipe_goes_up_and_its_engines_run(tmp_path: Path, bin_dir: Path) -> None:
    def attempt(recipe: str) -> str | None:
        try:
            recipe_goes_up(tmp_path / recipe, bin_dir, recipe)
        except BaseException:  # noqa: BLE001 - every recipe's failure is collected and reported together
            return f"recipe {recipe}:\n{traceback.format_exc()[-3000:]}"
        return None

    assert len(RECIPES) >= 8
    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        failures = [failure for failure in pool.map(attempt, RECIPES) if failure]
    assert not failures, "\n\n".join(failures)
