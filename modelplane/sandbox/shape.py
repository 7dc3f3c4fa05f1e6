"""What one sandbox cluster holds, generated from the declared fleet: kwok Nodes carrying what the real pools
carry, one DRA ResourceSlice per node and driver with the class's devices exactly as declared, a DeviceClass per
`deviceClassName`, and the cache StorageClass. Pure: plain dicts, deterministic order, problems collected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelplane.api import pools
from modelplane.api.errors import Problem
from modelplane.api.fleet import Fleet
from modelplane.api.inference_class import Device, InferenceClass
from modelplane.api.inference_cluster import InferenceCluster, NodePool

# Limits of resource.k8s.io/v1 (k8s.io/api/resource/v1 types.go, Kubernetes 1.34).
MAX_DEVICES_PER_SLICE = 128
MAX_ATTRIBUTES_AND_CAPACITIES = 32
MAX_ATTRIBUTE_STRING = 64
_C_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)

SANDBOX_PROVISIONER = "sandbox.modelplane.ai/rwx"
# Every sandbox cluster has system nodes besides its GPU pools, as the clusters this program provisions have a
# system node group: gateways, endpoint pickers and cache hydration Jobs run there.
SYSTEM_NODES = 2
GPU_NODE_CAPACITY = {"cpu": "192", "memory": "2Ti", "pods": "110", "ephemeral-storage": "4Ti"}
SYSTEM_NODE_CAPACITY = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "500Gi"}
Manifest = dict[str, Any]


@dataclass(frozen=True)
class ClusterShape:
    """The objects the sandbox applies to one cluster before anything of the program."""

    name: str
    nodes: list[Manifest] = field(default_factory=list)
    device_classes: list[Manifest] = field(default_factory=list)
    resource_slices: list[Manifest] = field(default_factory=list)
    storage_classes: list[Manifest] = field(default_factory=list)

    def objects(self) -> list[Manifest]:
        """In apply order: classes before the slices and nodes that use them."""
        return [*self.storage_classes, *self.device_classes, *self.nodes, *self.resource_slices]


def fleet_shapes(fleet: Fleet, *, ceiling: bool = True) -> tuple[list[ClusterShape], list[Problem]]:
    """Every cluster's shape, and every device that cannot be expressed as a ResourceSlice.

    `ceiling` creates each pool's autoscaling ceiling (`maxNodeCount`, what the scheduler plans against) rather than
    `nodeCount`: the sandbox has no autoscaler, so with `nodeCount` nodes a replica planned within the ceiling
    would stay Pending for a reason that has nothing to do with the program.
    """
    problems = [problem for cls in fleet.classes.values() for problem in class_problems(fleet, cls)]
    shapes = [cluster_shape(fleet, cluster, ceiling=ceiling) for cluster in fleet.clusters.values()]
    return shapes, problems


def cluster_shape(fleet: Fleet, cluster: InferenceCluster, *, ceiling: bool = True) -> ClusterShape:
    classes = {pool.class_name: fleet.classes[pool.class_name] for pool in cluster.spec.node_pools}
    shape = ClusterShape(cluster.name)
    shape.nodes.extend(system_node(index) for index in range(SYSTEM_NODES))
    for pool in cluster.spec.node_pools:
        count = pool.nodes if ceiling else pool.node_count
        for index in range(count):
            node = pool_node(cluster, pool, classes[pool.class_name], index)
            shape.nodes.append(node)
            shape.resource_slices.extend(resource_slices(node["metadata"]["name"], classes[pool.class_name]))
    shape.device_classes.extend(device_classes(classes.values()))
    if cluster.cache_storage_class:
        shape.storage_classes.append(storage_class(cluster.cache_storage_class))
    return shape


def node_name(pool: str, index: int) -> str:
    return f"{pool}-{index}"


def system_node(index: int) -> Manifest:
    name = node_name(pools.SYSTEM_POOL, index)
    return _node(name, {pools.LABEL_POOL: pools.SYSTEM_POOL}, [], SYSTEM_NODE_CAPACITY)


def pool_node(cluster: InferenceCluster, pool: NodePool, inference_class: InferenceClass, index: int) -> Manifest:
    """A GPU node: the labels and taint the program gives the pool's real nodes, plus its zone and machine type."""
    name = node_name(pool.name, index)
    labels = pools.pool_labels(cluster, pool, inference_class)
    if pool.zones:
        labels["topology.kubernetes.io/zone"] = pool.zones[index % len(pool.zones)]
    machine = pools.machine_type(inference_class)
    if machine:
        labels["node.kubernetes.io/instance-type"] = machine
    return _node(name, labels, [pools.gpu_taint()], GPU_NODE_CAPACITY)


def _node(name: str, labels: Mapping[str, str], taints: list[dict[str, str]], capacity: Mapping[str, str]) -> Manifest:
    base = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {**base, **labels}, "annotations": {"kwok.x-k8s.io/node": "fake"}},
        "spec": {"taints": taints} if taints else {},
        "status": {"capacity": dict(capacity), "allocatable": dict(capacity)},
    }


def resource_slices(node: str, inference_class: InferenceClass) -> list[Manifest]:
    """One slice per driver on the node (a slice has one driver); its pool is the node's, as kubelet plugins
    publish them. Synthetic devices are matched by the scheduler but never claimed, so they have no slice."""
    by_driver: dict[str, list[Manifest]] = {}
    for device in inference_class.spec.devices:
        if device.claim == "DRA":
            by_driver.setdefault(device.driver, []).extend(slice_devices(device))
    return [
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceSlice",
            "metadata": {"name": f"{node}-{_slug(driver)}"},
            "spec": {
                "driver": driver,
                "nodeName": node,
                "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
                "devices": devices,
            },
        }
        for driver, devices in sorted(by_driver.items())
    ]


def slice_devices(device: Device) -> list[Manifest]:
    attributes = {name: {value.kind: value.value} for name, value in device.attributes.items()}
    capacity = {name: {"value": value.value} for name, value in device.capacity.items()}
    return [
        {"name": f"{device.name}-{index}", "attributes": attributes, "capacity": capacity}
        for index in range(device.count)
    ]


def device_classes(classes: Iterable[InferenceClass]) -> list[Manifest]:
    """A DeviceClass per `deviceClassName`, selecting the devices declared with it: by driver, and also by every
    declared attribute where one driver's devices carry different class names (CEL sees no device names)."""
    declared = [
        device
        for inference_class in classes
        for device in inference_class.spec.devices
        if device.claim == "DRA" and device.device_class_name
    ]
    names_of: dict[str, set[str]] = {}
    for device in declared:
        names_of.setdefault(device.driver, set()).add(str(device.device_class_name))
    terms: dict[str, list[str]] = {}
    for device in sorted(declared, key=lambda d: (str(d.device_class_name), d.driver, _attributes_key(d))):
        term = f"device.driver == {_cel_string(device.driver)}"
        if len(names_of[device.driver]) > 1:
            term = " && ".join([term, *_attribute_terms(device)])
        found = terms.setdefault(str(device.device_class_name), [])
        if term not in found:
            found.append(term)
    return [device_class(name, found) for name, found in sorted(terms.items())]


def device_class(name: str, terms: list[str]) -> Manifest:
    expression = terms[0] if len(terms) == 1 else " || ".join(f"({term})" for term in terms)
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": {"name": name},
        "spec": {"selectors": [{"cel": {"expression": expression}}]},
    }


def storage_class(name: str) -> Manifest:
    """The cache's ReadWriteMany class; kwok's sandbox stage provisions and binds its claims."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name},
        "provisioner": SANDBOX_PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def class_problems(fleet: Fleet, inference_class: InferenceClass) -> Iterator[Problem]:
    """Devices a real ResourceSlice could not carry (the API server would refuse the slice)."""
    per_driver: dict[str, int] = {}
    for index, device in enumerate(inference_class.spec.devices):
        path = f"spec.devices[{index}]"
        if device.claim != "DRA":
            continue
        per_driver[device.driver] = per_driver.get(device.driver, 0) + device.count
        for where, message in device_problems(device):
            yield fleet.problem(inference_class, f"{path}.{where}" if where else path, message)
    for driver, count in sorted(per_driver.items()):
        if count > MAX_DEVICES_PER_SLICE:
            yield fleet.problem(
                inference_class,
                "spec.devices",
                f"driver {driver} has {count} devices per node; a ResourceSlice holds at most {MAX_DEVICES_PER_SLICE}",
            )


def device_problems(device: Device) -> Iterator[tuple[str, str]]:
    if not _DNS_SUBDOMAIN.match(device.driver) or len(device.driver) > 63:
        yield "driver", f"{device.driver!r} is not a DNS subdomain of at most 63 characters (a DRA driver name)"
    last = f"{device.name}-{device.count - 1}"
    if not _DNS_LABEL.match(last) or len(last) > 63:
        yield "name", f"device names {device.name}-0 … {last} must be DNS labels of at most 63 characters"
    if len(device.attributes) + len(device.capacity) > MAX_ATTRIBUTES_AND_CAPACITIES:
        yield "", f"more than {MAX_ATTRIBUTES_AND_CAPACITIES} attributes and capacities together"
    for section, names in (("attributes", device.attributes), ("capacity", device.capacity)):
        for name in names:
            message = _qualified_name_problem(name)
            if message:
                yield f"{section}[{name}]", message
    for name, value in device.attributes.items():
        if value.kind == "string" and len(str(value.value)) > MAX_ATTRIBUTE_STRING:
            yield f"attributes[{name}].string", f"longer than {MAX_ATTRIBUTE_STRING} characters"
        if value.kind == "version" and not _SEMVER.match(str(value.value)):
            yield f"attributes[{name}].version", f"{value.value!r} is not a semantic version (semver 2.0.0)"


def _qualified_name_problem(name: str) -> str | None:
    domain, _, identifier = name.rpartition("/")
    if domain and (not _DNS_SUBDOMAIN.match(domain) or len(domain) > 63):
        return f"domain {domain!r} is not a DNS subdomain of at most 63 characters"
    if not _C_IDENTIFIER.match(identifier) or len(identifier) > 32:
        return f"{identifier!r} is not a C identifier of at most 32 characters"
    return None


def _attributes_key(device: Device) -> tuple[tuple[str, str, str], ...]:
    return tuple(sorted((name, value.kind, str(value.value)) for name, value in device.attributes.items()))


def _attribute_terms(device: Device) -> list[str]:
    terms = []
    for name, value in sorted(device.attributes.items()):
        domain, _, identifier = name.rpartition("/")
        ref = f"device.attributes[{_cel_string(domain or device.driver)}].{identifier}"
        if value.kind == "string":
            terms.append(f"{ref} == {_cel_string(str(value.value))}")
        elif value.kind == "version":
            terms.append(f"{ref}.compareTo(semver({_cel_string(str(value.value))})) == 0")
        else:
            terms.append(f"{ref} == {str(value.value).lower() if value.kind == 'bool' else value.value}")
    return terms


def _cel_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _slug(driver: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", driver.lower()).strip("-")
