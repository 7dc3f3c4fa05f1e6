"""Nodes, ResourceSlices, DeviceClasses and StorageClasses generated from the declared fleet."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelplane.api.loading import load_paths, load_stack
from modelplane.sandbox.shape import (
    SYSTEM_NODES,
    cluster_shape,
    fleet_shapes,
)

ROOT = Path(__file__).resolve().parents[2]

FLEET = """
apiVersion: modelplane.ai/v1alpha1
kind: InferenceClass
metadata: {name: h100}
spec:
  provisioning:
    provider: EKS
    eks: {instanceType: p5.48xlarge, accelerator: {type: nvidia-h100-80gb, count: 8}}
  devices:
  - name: gpu
    driver: gpu.nvidia.com
    deviceClassName: gpu.nvidia.com
    count: 8
    attributes:
      productName: {string: NVIDIA H100 80GB HBM3}
      cudaComputeCapability: {version: 9.0.0}
      gpu.nvidia.com/index: {int: 0}
      mig: {bool: false}
    capacity: {memory: {value: 81559Mi}}
  - name: nic
    driver: efa.networking.k8s.aws
    deviceClassName: efa.networking.k8s.aws
    count: 4
  - {name: cpu, claim: Synthetic, driver: cpu.example.com}
---
apiVersion: modelplane.ai/v1alpha1
kind: InferenceClass
metadata: {name: l4}
spec:
  provisioning:
    provider: GKE
    gke: {machineType: g2-standard-8, accelerator: {type: nvidia-l4, count: 1}}
  devices:
  - {name: gpu, driver: gpu.nvidia.com, deviceClassName: gpu.nvidia.com, capacity: {memory: {value: 23034Mi}}}
---
apiVersion: modelplane.ai/v1alpha1
kind: InferenceCluster
metadata: {name: east}
spec:
  cluster: {source: EKS, eks: {region: us-east-1}}
  nodePools:
  - {name: gpu-h100, className: h100, nodeCount: 1, maxNodeCount: 3, zones: [us-east-1a, us-east-1b]}
---
apiVersion: modelplane.ai/v1alpha1
kind: InferenceCluster
metadata: {name: west}
spec:
  cluster: {source: GKE, gke: {region: europe-west4}}
  nodePools:
  - {name: gpu-l4, className: l4, nodeCount: 2}
"""


@pytest.fixture
def fleet(tmp_path: Path):
    (tmp_path / "fleet.yaml").write_text(FLEET)
    return load_paths([tmp_path / "fleet.yaml"])


def by_name(items: list[dict]) -> dict[str, dict]:
    return {item["metadata"]["name"]: item for item in items}


def test_pool_nodes_carry_the_labels_taint_zone_and_type_of_real_pool_nodes(fleet) -> None:
    shape = cluster_shape(fleet, fleet.clusters["east"])
    nodes = by_name(shape.nodes)
    assert sorted(nodes) == ["gpu-h100-0", "gpu-h100-1", "gpu-h100-2", "system-0", "system-1"]
    node = nodes["gpu-h100-1"]
    labels = node["metadata"]["labels"]
    assert labels["modelplane.ai/pool"] == "gpu-h100"
    assert labels["modelplane.ai/gpu"] == "nvidia-h100-80gb"
    assert labels["topology.kubernetes.io/zone"] == "us-east-1b"
    assert labels["node.kubernetes.io/instance-type"] == "p5.48xlarge"
    assert node["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]
    assert node["status"]["allocatable"] == node["status"]["capacity"]
    assert int(node["status"]["capacity"]["pods"]) > 0
    system = nodes["system-0"]
    assert system["metadata"]["labels"]["modelplane.ai/pool"] == "system"
    assert "taints" not in system["spec"]


def test_gke_pools_carry_the_managed_dra_driver_label(fleet) -> None:
    nodes = by_name(cluster_shape(fleet, fleet.clusters["west"]).nodes)
    assert nodes["gpu-l4-0"]["metadata"]["labels"]["cloud.google.com/gke-nvidia-gpu-dra-driver"] == "true"
    assert (
        "cloud.google.com/gke-nvidia-gpu-dra-driver"
        not in by_name(cluster_shape(fleet, fleet.clusters["east"]).nodes)["gpu-h100-0"]["metadata"]["labels"]
    )


def test_initial_nodes_follow_node_count_instead_of_the_ceiling(fleet) -> None:
    shape = cluster_shape(fleet, fleet.clusters["east"], ceiling=False)
    assert len(shape.nodes) == SYSTEM_NODES + 1


def test_one_slice_per_node_and_driver_with_devices_exactly_as_declared(fleet) -> None:
    shape = cluster_shape(fleet, fleet.clusters["east"])
    slices = by_name(shape.resource_slices)
    assert sorted(slices) == [
        f"gpu-h100-{i}-{driver}" for i in range(3) for driver in ("efa-networking-k8s-aws", "gpu-nvidia-com")
    ]
    gpu = slices["gpu-h100-2-gpu-nvidia-com"]["spec"]
    assert gpu["driver"] == "gpu.nvidia.com"
    assert gpu["nodeName"] == "gpu-h100-2"
    assert gpu["pool"] == {"name": "gpu-h100-2", "generation": 1, "resourceSliceCount": 1}
    assert [device["name"] for device in gpu["devices"]] == [f"gpu-{i}" for i in range(8)]
    assert gpu["devices"][0]["attributes"] == {
        "productName": {"string": "NVIDIA H100 80GB HBM3"},
        "cudaComputeCapability": {"version": "9.0.0"},
        "gpu.nvidia.com/index": {"int": 0},
        "mig": {"bool": False},
    }
    assert gpu["devices"][0]["capacity"] == {"memory": {"value": "81559Mi"}}
    nic = slices["gpu-h100-0-efa-networking-k8s-aws"]["spec"]
    assert [device["name"] for device in nic["devices"]] == ["nic-0", "nic-1", "nic-2", "nic-3"]
    # Synthetic devices are never claimed: no slice carries them.
    assert all(d["name"] != "cpu-0" for s in shape.resource_slices for d in s["spec"]["devices"])


def test_a_device_class_per_class_name_selecting_its_driver(fleet) -> None:
    classes = by_name(cluster_shape(fleet, fleet.clusters["east"]).device_classes)
    assert sorted(classes) == ["efa.networking.k8s.aws", "gpu.nvidia.com"]
    assert classes["gpu.nvidia.com"]["spec"]["selectors"] == [
        {"cel": {"expression": 'device.driver == "gpu.nvidia.com"'}}
    ]


def test_shared_driver_with_two_class_names_is_told_apart_by_attributes(tmp_path: Path) -> None:
    manifest = """
apiVersion: modelplane.ai/v1alpha1
kind: InferenceClass
metadata: {name: mixed}
spec:
  devices:
  - {name: gpu, driver: gpu.nvidia.com, deviceClassName: gpu.nvidia.com, attributes: {type: {string: gpu}}}
  - {name: mig, driver: gpu.nvidia.com, deviceClassName: mig.nvidia.com, count: 7,
     attributes: {type: {string: mig}, driverVersion: {version: 1.2.3}}}
---
apiVersion: modelplane.ai/v1alpha1
kind: InferenceCluster
metadata: {name: c}
spec:
  cluster: {source: Existing, existing: {secretRef: {name: k}}}
  nodePools: [{name: p, className: mixed}]
"""
    (tmp_path / "f.yaml").write_text(manifest)
    fleet = load_paths([tmp_path / "f.yaml"])
    classes = by_name(cluster_shape(fleet, fleet.clusters["c"]).device_classes)
    mig = classes["mig.nvidia.com"]["spec"]["selectors"][0]["cel"]["expression"]
    assert mig == (
        'device.driver == "gpu.nvidia.com" && '
        'device.attributes["gpu.nvidia.com"].driverVersion.compareTo(semver("1.2.3")) == 0 && '
        'device.attributes["gpu.nvidia.com"].type == "mig"'
    )
    gpu = classes["gpu.nvidia.com"]["spec"]["selectors"][0]["cel"]["expression"]
    assert gpu == 'device.driver == "gpu.nvidia.com" && device.attributes["gpu.nvidia.com"].type == "gpu"'
    # One slice per node for the driver holds both kinds.
    (only,) = cluster_shape(fleet, fleet.clusters["c"]).resource_slices
    assert len(only["spec"]["devices"]) == 8


def test_cache_storage_class_of_the_source_is_created(fleet) -> None:
    east = cluster_shape(fleet, fleet.clusters["east"])
    assert [sc["metadata"]["name"] for sc in east.storage_classes] == ["modelplane-rwx-efs"]
    assert east.storage_classes[0]["provisioner"] == "sandbox.modelplane.ai/rwx"
    west = cluster_shape(fleet, fleet.clusters["west"])
    assert [sc["metadata"]["name"] for sc in west.storage_classes] == ["modelplane-rwx"]


def test_objects_are_deterministic_and_classes_come_first(fleet) -> None:
    first = [cluster_shape(fleet, c).objects() for c in fleet.clusters.values()]
    second = [cluster_shape(fleet, c).objects() for c in fleet.clusters.values()]
    assert yaml.safe_dump_all(first) == yaml.safe_dump_all(second)
    kinds = [item["kind"] for item in first[0]]
    assert kinds.index("DeviceClass") < kinds.index("Node") < kinds.index("ResourceSlice")


BAD_DEVICES = [
    ("{name: gpu, driver: Not_A_Domain, deviceClassName: x}", "spec.devices[0].driver", "DNS subdomain"),
    (
        "{name: gpu, driver: d.io, deviceClassName: x, attributes: {bad-name: {int: 1}}}",
        "attributes[bad-name]",
        "C identifier",
    ),
    (
        "{name: gpu, driver: d.io, deviceClassName: x, attributes: {aVeryLongAttributeNameThatIsTooLong1: {int: 1}}}",
        "attributes[aVeryLongAttributeNameThatIsTooLong1]",
        "at most 32",
    ),
    (
        "{name: gpu, driver: d.io, deviceClassName: x, attributes: {v: {version: '1.2'}}}",
        "attributes[v].version",
        "semantic version",
    ),
    (
        "{name: gpu, driver: d.io, deviceClassName: x, attributes: {s: {string: " + "x" * 65 + "}}}",
        "attributes[s].string",
        "longer than 64",
    ),
    ("{name: Gpu_0, driver: d.io, deviceClassName: x}", "spec.devices[0].name", "DNS labels"),
    (
        "{name: gpu, driver: d.io, deviceClassName: x, count: 64}\n  - {name: more, driver: d.io, deviceClassName: x, "
        "count: 64}\n  - {name: most, driver: d.io, deviceClassName: x, count: 1}",
        "spec.devices",
        "at most 128",
    ),
]


@pytest.mark.parametrize(("device", "path", "message"), BAD_DEVICES)
def test_devices_a_resource_slice_cannot_carry_are_problems(tmp_path: Path, device: str, path: str, message: str):
    manifest = f"""
apiVersion: modelplane.ai/v1alpha1
kind: InferenceClass
metadata: {{name: bad}}
spec:
  devices:
  - {device}
---
apiVersion: modelplane.ai/v1alpha1
kind: InferenceCluster
metadata: {{name: c}}
spec:
  cluster: {{source: Existing, existing: {{secretRef: {{name: k}}}}}}
  nodePools: [{{name: p, className: bad}}]
"""
    (tmp_path / "f.yaml").write_text(manifest)
    fleet = load_paths([tmp_path / "f.yaml"])
    _, problems = fleet_shapes(fleet)
    assert problems, "expected a problem"
    text = [str(problem) for problem in problems]
    assert any(path in line and message in line and "InferenceClass bad" in line for line in text), text


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_bundled_stacks_have_expressible_shapes(stack: str) -> None:
    inputs = load_stack(ROOT, stack)
    shapes, problems = fleet_shapes(inputs.fleet)
    assert problems == []
    assert [shape.name for shape in shapes] == sorted(inputs.fleet.clusters)
    for shape in shapes:
        pools = {node["metadata"]["labels"]["modelplane.ai/pool"] for node in shape.nodes}
        declared = {pool.name for pool in inputs.fleet.clusters[shape.name].spec.node_pools}
        assert pools == declared | {"system"}
        assert all(len(s["spec"]["devices"]) >= 1 for s in shape.resource_slices)


def test_generated_objects_validate_against_kubernetes_1_34(fleet) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for cluster in fleet.clusters.values():
        for obj in cluster_shape(fleet, cluster).objects():
            kubernetes_validate.validate(obj, "1.34.0", strict=True)
