"""Both stacks as `pulumi up` would register them: every resource's type, name, parent and provider."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelplane.components.mockview import MockRun
from tests.pulumi.helpers import K8S_PREFIX, SECRETS, replica_component, run, stack_config

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def dev() -> MockRun:
    result = run(stack_config("dev"), "dev")
    assert result.error is None, result.error
    return result


@pytest.fixture(scope="module")
def prod() -> MockRun:
    result = run(stack_config("prod"), "prod")
    assert result.error is None, result.error
    return result


def listing(result: MockRun) -> list[str]:
    """One line per resource: type, name, parent (by name) and provider (by name)."""
    return sorted(
        f"{item.type} {item.name} parent={item.parent_name or '-'} provider={item.provider_name or '-'}"
        for item in result.registrations
    )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_resource_matches_the_recorded_listing(stack: str, request: pytest.FixtureRequest) -> None:
    # Regenerate after an intended change: python -m tests.pulumi.regenerate
    expected = (DATA / f"{stack}_resources.txt").read_text().splitlines()
    assert listing(request.getfixturevalue(stack)) == expected


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_kubernetes_object_is_on_its_clusters_explicit_provider(
    stack: str, request: pytest.FixtureRequest
) -> None:
    result: MockRun = request.getfixturevalue(stack)
    kube = [item for item in result.registrations if item.type.startswith(K8S_PREFIX)]
    assert kube
    for item in kube:
        assert item.provider, f"{item.name} would use the ambient kubeconfig"
        assert item.name.split("/", 1)[0] == item.provider_name, item.name
    cloud = [item for item in result.registrations if item.type.startswith(("aws:", "gcp:"))]
    assert all(not item.provider for item in cloud)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_components_use_the_modelplane_type_tokens(stack: str, request: pytest.FixtureRequest) -> None:
    result: MockRun = request.getfixturevalue(stack)
    components = {
        item.type for item in result.registrations if not item.type.startswith(("aws:", "gcp:", K8S_PREFIX, "pulumi:"))
    }
    assert components and all(token.startswith("modelplane:index:") for token in components)
    assert {
        "modelplane:index:InferenceCluster",
        "modelplane:index:ServingStack",
        "modelplane:index:ModelReplica",
        "modelplane:index:ModelService",
        "modelplane:index:InferenceGateway",
    } <= components
    children = {item.parent_name for item in result.registrations if item.parent}
    assert all(item.name in children for item in result.registrations if item.type in components), "empty component"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_workload_is_on_the_provider_of_its_replicas_cluster(stack: str, request: pytest.FixtureRequest) -> None:
    result: MockRun = request.getfixturevalue(stack)
    record = result.outputs["placement"]
    placed = [(item, replica) for item in record["deployments"] for replica in item["replicas"]]
    assert placed
    for deployment, replica in placed:
        component = result.named("modelplane:index:ModelReplica", replica_component(record, deployment, replica))
        children = [item for item in result.registrations if item.parent == component.urn]
        assert {item.provider_name for item in children} == {replica["cluster"]}
        assert any(
            item.type in ("kubernetes:apps/v1:Deployment", "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet")
            for item in children
        )


def test_prod_places_the_gang_with_its_cache_on_the_h100_cluster(prod: MockRun) -> None:
    replicas = {
        item["name"]: [r["cluster"] for r in item["replicas"]] for item in prod.outputs["placement"]["deployments"]
    }
    assert replicas == {"kimi": ["us-east"], "llama-70b": ["us-east"], "qwen": ["eu-west", "eu-west"]}
    pvc = prod.of_type("kubernetes:core/v1:PersistentVolumeClaim")
    assert [item.provider_name for item in pvc] == ["us-east"]
    assert pvc[0].inputs["spec"]["storageClassName"] == "modelplane-rwx-efs"
    assert prod.of_type("kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet")


def test_outputs_are_the_record_the_endpoint_urls_and_secret_kubeconfigs(prod: MockRun) -> None:
    assert set(prod.outputs) == {"placement", "endpoints", "kubeconfigs", "gatewayAddresses"}
    traefik = prod.named("kubernetes:core/v1:Service", "us-east/traefik-service")
    address = traefik.inputs["status"]["loadBalancer"]["ingress"][0]["ip"]
    assert prod.outputs["endpoints"] == {
        f"ml-team/{name}": f"http://{address}/ml-team/{name}" for name in ("kimi", "llama-70b", "qwen")
    }
    assert prod.secret_outputs == {"kubeconfigs"}
    assert set(prod.outputs["kubeconfigs"]) == {"us-east", "eu-west"}


SECRET_SIGNATURE = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")  # Pulumi's secret marker


def is_secret(value: object) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIGNATURE[0]) == SECRET_SIGNATURE[1]


def test_kubeconfigs_and_cache_token_reach_resources_only_as_secrets(prod: MockRun, dev: MockRun) -> None:
    assert "kubeconfigs" in dev.secret_outputs
    for result in (dev, prod):
        providers = result.of_type("pulumi:providers:kubernetes")
        assert providers and all(is_secret(item.inputs["kubeconfig"]) for item in providers)
    dev_provider = dev.named("pulumi:providers:kubernetes", "local")
    assert dev_provider.inputs["kubeconfig"]["value"] == SECRETS["local-kubeconfig"]["kubeconfig"]
    (token,) = prod.of_type("kubernetes:core/v1:Secret")
    assert is_secret(token.inputs["stringData"])
    assert token.inputs["stringData"]["value"] == {"HF_TOKEN": SECRETS["hf-token"]["HF_TOKEN"]}
    assert SECRETS["hf-token"]["HF_TOKEN"] not in " ".join(message for _, message in prod.logs + dev.logs)


def test_main_py_runs_the_same_program_through_pulumi_run(dev: MockRun) -> None:
    import json
    import runpy

    from modelplane.components import mockview
    from tests.pulumi.helpers import ROOT

    async def entry() -> None:
        runpy.run_path(str(ROOT / "__main__.py"))  # registers `main` with pulumi.run, as the language host would

    values = {key: value if isinstance(value, str) else json.dumps(value) for key, value in stack_config("dev").items()}
    values["modelplane:secrets"] = json.dumps(SECRETS)
    result = mockview.run_program(entry, values, stack="dev", secret_keys=["modelplane:secrets"], project_dir=ROOT)
    assert result.error is None, result.error
    assert listing(result) == listing(dev) and result.outputs == dev.outputs
