"""A fleet of device pools and a table of DRA selector cases, for checking the planner against kube-scheduler.

Plain data, like ``cel_extension_cases`` (whose 31 cases are included here, one single-device request each).
``POOLS`` are the node pools of one cluster, in declared order, each with the devices one node carries, in the
order its driver publishes them (the order kube-scheduler's allocator walks them in). The devices come from the
reference ResourceSlices (``/work/shared/reference/resourceslices``) through ``cel_extension_cases``, plus:

* the A100's other MIG devices (``nvidia-a100-40gb-mig-mixed.yaml``); MIG devices carry the NVIDIA driver's
  ``mig.nvidia.com`` DeviceClass, whole GPUs ``gpu.nvidia.com``;
* an AMD MI300X node with one whole GPU (SPX) and one GPU split in two DPX partitions, all in the one
  DeviceClass ``gpu.amd.com`` (``amd-mi300x-spx-8x-and-dpx-partitions.yaml``; the reference has the two modes on
  two nodes, with driver 6.12.12 and 6.16.6: here both carry 6.16.6). Partitions have ``parentDeviceID`` and no
  ``pciAddr``, whole GPUs the reverse: a selector reading one of them fails on the other kind of device;
* DraNet's RDMA NIC beside the H100s (DeviceClass ``dranet``).

Each case in ``CASES`` is one Standalone member's ``nodeSelector.devices``: a list of requests
``{"name", "count", "selectors"}``. Nothing here says which pool a case lands on: the test asks the planner, and
kube-scheduler, and compares.
"""

from __future__ import annotations

from typing import Any

from tests.scheduling.cel_extension_cases import (
    A100,
    A100_MIG_1G,
    GB200_LEGACY,
    H100,
    H200,
    L4,
    RDMA_NIC,
    SELECTOR_CASES,
)

Device = dict[str, Any]
NVIDIA, AMD, DRANET = "gpu.nvidia.com", "gpu.amd.com", "dra.net"


def _mig(profile: str, uuid: str, memory: str, multiprocessors: str, slices: range) -> Device:
    attributes = {**A100_MIG_1G["attributes"], "profile": {"string": profile}, "uuid": {"string": uuid}}
    capacity = {**A100_MIG_1G["capacity"], "memory": {"value": memory}, "multiprocessors": {"value": multiprocessors}}
    for name in [key for key in capacity if key.startswith("memorySlice")]:
        del capacity[name]
    capacity.update({f"memorySlice{index}": {"value": "1"} for index in slices})
    return {"attributes": attributes, "capacity": capacity}


A100_MIG_3G = _mig("3g.20gb", "MIG-fe08f0f2-e188-589c-bd6f-43152278b717", "19968Mi", "42", range(4))
A100_MIG_2G = _mig("2g.10gb", "MIG-e46a55b5-4e86-570f-97b8-02b967e0b2b0", "9856Mi", "28", range(4, 6))
_AMD_COMMON = {
    "cardIndex": {"int": 32},
    "driverSrcVersion": {"string": "A27BF33B4586326D747C9FB"},
    "driverVersion": {"version": "6.16.6"},
    "family": {"string": "AI"},
    "productName": {"string": "AMD_Instinct_MI300X_OAM"},
    "renderIndex": {"int": 160},
    "resource.kubernetes.io/pcieRoot": {"string": "pci0003:00"},
}
MI300X = {
    "attributes": {
        **_AMD_COMMON,
        "deviceID": {"string": "994913940318892495"},
        "partitionProfile": {"string": "spx_nps1"},
        "pciAddr": {"string": "0000:00:02.0"},
        "type": {"string": "amdgpu"},
    },
    "capacity": {"computeUnits": {"value": "304"}, "memory": {"value": "196592Mi"}, "simdUnits": {"value": "1216"}},
}
MI300X_DPX = {
    "attributes": {
        **_AMD_COMMON,
        "parentDeviceID": {"string": "7066866330502360227"},
        "parentPciAddr": {"string": "0003:00:01.0"},
        "partitionProfile": {"string": "dpx_nps1"},
        "type": {"string": "amdgpu-partition"},
    },
    "capacity": {"computeUnits": {"value": "152"}, "memory": {"value": "98296Mi"}, "simdUnits": {"value": "608"}},
}


def _device(name: str, driver: str, device_class: str, count: int, source: Device) -> Device:
    """An InferenceClass device: `count` devices per node like `source` (a ResourceSlice device)."""
    return {
        "name": name,
        "driver": driver,
        "deviceClassName": device_class,
        "count": count,
        "attributes": source["attributes"],
        "capacity": source["capacity"],
    }


# (pool, InferenceClass, devices per node in published order)
POOLS: list[tuple[str, str, list[Device]]] = [
    ("gpu-l4", "l4-1x", [_device("gpu", NVIDIA, "gpu.nvidia.com", 1, L4)]),
    (
        "gpu-a100",
        "a100-mig-mixed",
        [
            _device("mig-3g", NVIDIA, "mig.nvidia.com", 1, A100_MIG_3G),
            _device("mig-2g", NVIDIA, "mig.nvidia.com", 1, A100_MIG_2G),
            _device("mig-1g", NVIDIA, "mig.nvidia.com", 2, A100_MIG_1G),
            _device("gpu", NVIDIA, "gpu.nvidia.com", 1, A100),
        ],
    ),
    (
        "gpu-h100",
        "h100-8x-rdma",
        [_device("gpu", NVIDIA, "gpu.nvidia.com", 8, H100), _device("nic", DRANET, "dranet", 2, RDMA_NIC)],
    ),
    ("gpu-h200", "h200-8x", [_device("gpu", NVIDIA, "gpu.nvidia.com", 8, H200)]),
    ("gpu-gb200", "gb200-4x", [_device("gpu", NVIDIA, "gpu.nvidia.com", 4, GB200_LEGACY)]),
    (
        "gpu-mi300x",
        "mi300x-spx-dpx",
        [_device("gpu", AMD, "gpu.amd.com", 1, MI300X), _device("part", AMD, "gpu.amd.com", 2, MI300X_DPX)],
    ),
]

_MEMORY = 'device.capacity["gpu.nvidia.com"].memory'
_NV = 'device.attributes["gpu.nvidia.com"]'
_AMD_ATTR = 'device.attributes["gpu.amd.com"]'


def _one(selectors: list[str], count: int = 1) -> list[dict[str, Any]]:
    return [{"name": "gpu", "count": count, "selectors": selectors}]


# (name, requests)
_CASES: list[tuple[str, list[dict[str, Any]]]] = [
    # Quantity boundaries: an H100 has 81559Mi (less than 80Gi = 81920Mi), 4864Mi is over 5G but under 5Gi,
    # a GB200 has exactly 192Gi and an MI300X 196592Mi (just under it).
    ("memory-at-least-80gi", _one([f'{_MEMORY}.compareTo(quantity("80Gi")) >= 0'])),
    ("memory-at-least-81559mi", _one([f'{_MEMORY}.compareTo(quantity("81559Mi")) >= 0'])),
    ("memory-equals-its-bytes", _one([f'{_MEMORY} == quantity("85520809984")'])),
    ("memory-above-85-52g", _one([f'{_MEMORY}.isGreaterThan(quantity("85.52G"))'])),
    ("memory-minus-1gi-above-79gi", _one([f'{_MEMORY}.sub(quantity("1Gi")).isGreaterThan(quantity("79Gi"))'])),
    ("memory-bytes-above", _one([f"{_MEMORY}.asInteger() > 85520809983"])),
    ("mig-under-5gi", _one([f'{_MEMORY}.isLessThan(quantity("5Gi"))'])),
    ("mig-under-5g", _one([f'{_MEMORY}.isLessThan(quantity("5G"))'])),
    ("memory-at-least-192gi", _one([f'{_MEMORY}.compareTo(quantity("192Gi")) >= 0'])),
    ("amd-memory-under-192gi", _one(['device.capacity["gpu.amd.com"].memory.isLessThan(quantity("192Gi"))'])),
    # Semantic versions: numeric, not lexical; equality across normal forms.
    ("compute-capability-above-8-9", _one([f'{_NV}.cudaComputeCapability.isGreaterThan(semver("8.9.0"))'])),
    ("compute-capability-at-least-8-9", _one([f'{_NV}.cudaComputeCapability.compareTo(semver("8.9.0")) >= 0'])),
    ("driver-above-570-124-10", _one([f'{_NV}.driverVersion.isGreaterThan(semver("570.124.10"))'])),
    ("cuda-driver-major-13", _one([f"{_NV}.cudaDriverVersion.major() == 13"])),
    ("cuda-driver-normalized-12-8", _one([f'{_NV}.cudaDriverVersion.compareTo(semver("v12.8", true)) == 0'])),
    (
        "amd-driver-minor-16",
        _one([f'{_AMD_ATTR}.driverVersion.minor() == 16 && !isSemver("6.16") && isSemver("6.16", true)']),
    ),
    # Missing attributes and domains: an error without has()/in, none with them; `||` absorbs an error.
    ("profile-without-has", _one([f'{_NV}.profile == "1g.5gb"'])),
    ("profile-with-has", _one([f'has({_NV}.profile) && {_NV}.profile == "1g.5gb"'])),
    ("error-absorbed-by-or", _one([f'{_NV}.profile == "7g.40gb" || {_NV}.architecture == "Ada Lovelace"'])),
    ("no-profile-whole-gpu", _one([f'!has({_NV}.profile) && {_NV}.type == "gpu" && {_NV}.architecture == "Ampere"'])),
    ("rdma-domain-with-in", _one(['"dra.net" in device.attributes && device.attributes["dra.net"].rdma'])),
    ("amd-partition-without-has", _one([f'{_AMD_ATTR}.parentDeviceID == "7066866330502360227"'])),
    ("amd-partition-with-has", _one([f'has({_AMD_ATTR}.parentDeviceID) && {_AMD_ATTR}.parentDeviceID != ""'])),
    ("amd-whole-gpu-pci-address", _one([f'{_AMD_ATTR}.pciAddr.startsWith("0000:")'])),
    ("amd-whole-gpu-pci-address-two", _one([f'{_AMD_ATTR}.pciAddr.startsWith("0000:")'], count=2)),
    # Several selectors per request (all must hold; each is evaluated only while the earlier ones held).
    ("hopper-with-100gi", _one([f'{_NV}.architecture == "Hopper"', f'{_MEMORY}.compareTo(quantity("100Gi")) >= 0'])),
    ("nvidia-then-2g-profile", _one(['"gpu.nvidia.com" in device.attributes', f'{_NV}.profile == "2g.10gb"'])),
    ("mig-small-not-2g", _one([f'{_MEMORY}.isLessThan(quantity("15Gi"))', f'{_NV}.profile != "2g.10gb"'])),
    ("has-index-then-index", _one([f"has({_NV}.index)", f"{_NV}.index == 0"])),
    (
        "amd-has-parent-then-parent",
        _one([f"has({_AMD_ATTR}.parentDeviceID)", f'{_AMD_ATTR}.type == "amdgpu-partition"']),
    ),
    ("amd-parent-then-has-parent", _one([f'{_AMD_ATTR}.parentDeviceID != ""', f"has({_AMD_ATTR}.parentDeviceID)"])),
    # Several requests per member: one claim, every request from one node.
    (
        "eight-hoppers-and-an-rdma-nic",
        [
            {"name": "gpu", "count": 8, "selectors": [f'{_NV}.architecture == "Hopper"']},
            {"name": "nic", "count": 1, "selectors": ['device.attributes["dra.net"].rdma == true']},
        ],
    ),
    (
        "hopper-and-a-missing-nic",
        [
            {"name": "gpu", "count": 1, "selectors": [f'{_NV}.architecture == "Hopper"']},
            {"name": "nic", "count": 1, "selectors": ['device.attributes["dra.net"].ifName == "eth9"']},
        ],
    ),
    (
        "two-halves-of-eight",
        [
            {"name": "first", "count": 4, "selectors": [f'{_NV}.architecture == "Hopper"']},
            {"name": "second", "count": 4, "selectors": [f'{_NV}.architecture == "Hopper"']},
        ],
    ),
    (
        "two-fives-of-eight",
        [
            {"name": "first", "count": 5, "selectors": [f'{_NV}.architecture == "Hopper"']},
            {"name": "second", "count": 5, "selectors": [f'{_NV}.architecture == "Hopper"']},
        ],
    ),
    (
        "any-mig-then-the-3g",
        [
            {"name": "small", "count": 1, "selectors": [f'{_MEMORY}.compareTo(quantity("4Gi")) >= 0']},
            {"name": "big", "count": 1, "selectors": [f'has({_NV}.profile) && {_NV}.profile == "3g.20gb"']},
        ],
    ),
    # DeviceClass-level selection: the class of the matched device is the claim's, and its DeviceClass's own
    # selector decides which devices kube-scheduler may give.
    ("a100-name-first-class-wins", _one([f'{_NV}.productName == "NVIDIA A100-SXM4-40GB"'])),
    ("a100-30gi-whole-gpu-class", _one([f'{_MEMORY}.compareTo(quantity("30Gi")) >= 0 && {_NV}.type == "gpu"'])),
    ("three-migs", _one([f'{_NV}.type == "mig"'], count=3)),
    ("three-amd-devices", _one(['device.driver == "gpu.amd.com"'], count=3)),
    ("nic-by-driver", _one(['device.driver == "dra.net"'])),
]

# Selectors that fail on every device of these pools (no other device has DraNet's `ipv4`): the planner refuses
# them as input problems. Guarded by the driver they are false elsewhere and still fail on the NIC, where
# kube-scheduler meets the runtime error.
_NIC_ONLY = {"nic-address-past-the-end", "nic-not-an-ip"}


def _selector(case: dict[str, str]) -> str:
    return f'device.driver == "{DRANET}" && ({case["selector"]})' if case["name"] in _NIC_ONLY else case["selector"]


CASES: list[dict[str, Any]] = [{"name": name, "requests": requests} for name, requests in _CASES] + [
    {"name": case["name"], "requests": _one([_selector(case)]), "device": case["device"], "outcome": case["outcome"]}
    for case in SELECTOR_CASES
]
