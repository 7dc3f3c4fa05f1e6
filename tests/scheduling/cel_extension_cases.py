"""DRA selectors that use the Kubernetes CEL extension libraries, with the devices they run on.

Plain data, importable without the project, so the same table can be rendered into
ResourceClaimTemplates and ResourceSlices and checked against kube-scheduler.

``DEVICES`` maps a key to ``(driver, device)``, where ``device`` is a
``resource.k8s.io/v1`` ResourceSlice ``spec.devices[]`` entry. The NVIDIA devices are
copied from the reference ResourceSlices (``/work/shared/reference/resourceslices``,
file named in ``DEVICE_SOURCES``); the dra.net NIC uses DraNet's attribute names
(``pkg/apis/attributes.go``: ``ifName``, ``ipv4`` as comma-joined CIDRs, ``mac``,
``pciVendor``, ``rdma``, ``numaNode``) with synthetic values.

Each case in ``SELECTOR_CASES`` names a selector, a device and the ``outcome``:

* ``"match"`` / ``"no-match"``: the selector evaluates to true / false.
* ``"runtime-error"``: evaluation fails on that device (a missing attribute, an
  out-of-range index). This evaluator treats it as a non-match and says why in
  ``--explain``; kube-scheduler's allocator (k8s.io/dynamic-resource-allocation
  v0.34.4, ``structured/internal/stable/allocator_stable.go``) instead fails the
  claim's allocation with "CEL runtime error", so render such a case alone.

Every selector compiles in Kubernetes 1.34's ``NewExpressions`` environment within the
API server's cost limit, and gives the outcome listed (checked with
``tests/scheduling/k8s_oracle``). ``REFUSED_SELECTORS`` are ones the API server refuses
as too complex, for a test that it (and the planner) does.
"""

from __future__ import annotations

H100 = {
    "name": "gpu-0",
    "attributes": {
        "architecture": {"string": "Hopper"},
        "brand": {"string": "Nvidia"},
        "cudaComputeCapability": {"version": "9.0.0"},
        "cudaDriverVersion": {"version": "12.8.0"},
        "driverVersion": {"version": "570.124.6"},
        "productName": {"string": "NVIDIA H100 80GB HBM3"},
        "resource.kubernetes.io/pciBusID": {"string": "0000:18:00.0"},
        "resource.kubernetes.io/pcieRoot": {"string": "pci0000:15"},
        "type": {"string": "gpu"},
        "uuid": {"string": "GPU-7bd56ce9-ac46-522e-82c5-0ca3eb77d6c1"},
    },
    "capacity": {"memory": {"value": "81559Mi"}},
}
H200 = {
    "name": "gpu-0",
    "attributes": {
        "architecture": {"string": "Hopper"},
        "brand": {"string": "Nvidia"},
        "cudaComputeCapability": {"version": "9.0.0"},
        "cudaDriverVersion": {"version": "13.0.0"},
        "driverVersion": {"version": "580.95.5"},
        "productName": {"string": "NVIDIA H200"},
        "resource.kubernetes.io/pciBusID": {"string": "0000:18:00.0"},
        "resource.kubernetes.io/pcieRoot": {"string": "pci0000:15"},
        "type": {"string": "gpu"},
        "uuid": {"string": "GPU-beeab587-d2e8-5054-931b-498dbef2b5ff"},
    },
    "capacity": {"memory": {"value": "143771Mi"}},
}
L4 = {
    "name": "gpu-0",
    "attributes": {
        "architecture": {"string": "Ada Lovelace"},
        "brand": {"string": "Nvidia"},
        "cudaComputeCapability": {"version": "8.9.0"},
        "cudaDriverVersion": {"version": "12.4.0"},
        "driverVersion": {"version": "550.163.1"},
        "productName": {"string": "NVIDIA L4"},
        "resource.kubernetes.io/pciBusID": {"string": "0000:00:03.0"},
        "resource.kubernetes.io/pcieRoot": {"string": "pci0000:00"},
        "type": {"string": "gpu"},
        "uuid": {"string": "GPU-2e6e072d-b285-51f0-9dfa-d5489cf69c26"},
    },
    "capacity": {"memory": {"value": "23034Mi"}},
}
A100 = {
    "name": "gpu-1",
    "attributes": {
        "architecture": {"string": "Ampere"},
        "brand": {"string": "Nvidia"},
        "cudaComputeCapability": {"version": "8.0.0"},
        "cudaDriverVersion": {"version": "13.0.0"},
        "driverVersion": {"version": "580.95.5"},
        "productName": {"string": "NVIDIA A100-SXM4-40GB"},
        "resource.kubernetes.io/pciBusID": {"string": "0000:0f:00.0"},
        "resource.kubernetes.io/pcieRoot": {"string": "pci0000:00"},
        "type": {"string": "gpu"},
        "uuid": {"string": "GPU-8ef5fa98-4ddb-57a5-81d9-075dc83303de"},
    },
    "capacity": {"memory": {"value": "40Gi"}},
}
A100_MIG_1G = {
    "name": "gpu-0-mig-1g5gb-19-6",
    "attributes": {
        "architecture": {"string": "Ampere"},
        "brand": {"string": "Nvidia"},
        "cudaComputeCapability": {"version": "8.0.0"},
        "cudaDriverVersion": {"version": "13.0.0"},
        "driverVersion": {"version": "580.95.5"},
        "parentUUID": {"string": "GPU-4f84f495-a4c9-56fc-8b00-7428d0efe99b"},
        "productName": {"string": "NVIDIA A100-SXM4-40GB"},
        "profile": {"string": "1g.5gb"},
        "resource.kubernetes.io/pciBusID": {"string": "0000:07:00.0"},
        "resource.kubernetes.io/pcieRoot": {"string": "pci0000:00"},
        "type": {"string": "mig"},
        "uuid": {"string": "MIG-6fc33d6f-591a-5240-bd87-7bf7653ae3ad"},
    },
    "capacity": {
        "copyEngines": {"value": "1"},
        "decoders": {"value": "0"},
        "encoders": {"value": "0"},
        "jpegEngines": {"value": "0"},
        "memory": {"value": "4864Mi"},
        "multiprocessors": {"value": "14"},
        "ofaEngines": {"value": "0"},
        "memorySlice6": {"value": "1"},
    },
}
GB200_LEGACY = {
    "name": "gpu-0",
    "attributes": {
        "architecture": {"string": "Blackwell"},
        "brand": {"string": "Nvidia"},
        "cudaComputeCapability": {"version": "10.0.0"},
        "cudaDriverVersion": {"version": "12.8.0"},
        "driverVersion": {"version": "570.124.6"},
        "index": {"int": 0},
        "minor": {"int": 0},
        "pcieBusID": {"string": "0008:00:00.0"},
        "productName": {"string": "NVIDIA GB200"},
        "resource.kubernetes.io/pcieRoot": {"string": "pci0008:00"},
        "type": {"string": "gpu"},
        "uuid": {"string": "GPU-ecaf2561-203d-5e2e-b5d6-9dc9481a09a5"},
    },
    "capacity": {"memory": {"value": "192Gi"}},
}
RDMA_NIC = {
    "name": "pci-0000-1a-00-0",
    "attributes": {
        "dra.net/ifName": {"string": "eth1"},
        "dra.net/ipv4": {"string": "10.0.1.17/24,192.168.7.4/22"},
        "dra.net/mac": {"string": "0c:42:a1:3b:9f:10"},
        "dra.net/pciVendor": {"string": "Mellanox Technologies"},
        "dra.net/rdma": {"bool": True},
        "dra.net/numaNode": {"int": 0},
    },
    "capacity": {},
}

DEVICES: dict[str, tuple[str, dict]] = {
    "h100": ("gpu.nvidia.com", H100),
    "h200": ("gpu.nvidia.com", H200),
    "l4": ("gpu.nvidia.com", L4),
    "a100": ("gpu.nvidia.com", A100),
    "a100-mig-1g.5gb": ("gpu.nvidia.com", A100_MIG_1G),
    "gb200-legacy": ("gpu.nvidia.com", GB200_LEGACY),
    "rdma-nic": ("dra.net", RDMA_NIC),
}
DEVICE_SOURCES = {
    "h100": "nvidia-h100-80gb-hbm3-8x.yaml",
    "h200": "nvidia-h200-8x.yaml",
    "l4": "nvidia-l4-1x.yaml",
    "a100": "nvidia-a100-40gb-mig-mixed.yaml",
    "a100-mig-1g.5gb": "nvidia-a100-40gb-mig-mixed.yaml",
    "gb200-legacy": "nvidia-gb200-legacy-v25.3.2.v1beta1.yaml",
}

_PRODUCT = 'device.attributes["gpu.nvidia.com"].productName'
_PROFILE = 'device.attributes["gpu.nvidia.com"].profile'
_IPV4 = 'device.attributes["dra.net"].ipv4'

# (name, selector, device key, outcome)
_CASES: list[tuple[str, str, str, str]] = [
    # The NVIDIA DRA driver's own example (reference-docs/nvidia-dra-allocating-gpus.md) and the issue's.
    (
        "nvidia-docs-a100-regex",
        "device.attributes['gpu.nvidia.com'].productName.lowerAscii().matches('^.*a100.*$')\n",
        "a100",
        "match",
    ),
    (
        "nvidia-docs-a100-regex-on-h100",
        "device.attributes['gpu.nvidia.com'].productName.lowerAscii().matches('^.*a100.*$')",
        "h100",
        "no-match",
    ),
    ("issue-h100-lowerascii", f'{_PRODUCT}.lowerAscii().contains("h100")', "h100", "match"),
    ("issue-h100-lowerascii-on-h200", f'{_PRODUCT}.lowerAscii().contains("h100")', "h200", "no-match"),
    (
        "upper-ascii-architecture",
        'device.attributes["gpu.nvidia.com"].architecture.upperAscii() == "ADA LOVELACE"',
        "l4",
        "match",
    ),
    # Strings: split, indexOf, lastIndexOf, substring, replace, trim, charAt.
    ("product-word-in-list", f'{_PRODUCT}.split(" ").exists(w, w in ["H100", "H200"])', "h200", "match"),
    ("product-word-in-list-on-l4", f'{_PRODUCT}.split(" ").exists(w, w in ["H100", "H200"])', "l4", "no-match"),
    (
        "mig-profile-memory-at-least-5gb",
        f'cel.bind(p, {_PROFILE}, int(p.substring(p.indexOf(".") + 1, p.lastIndexOf("gb"))) >= 5)',
        "a100-mig-1g.5gb",
        "match",
    ),
    (
        "mig-profile-two-compute-slices",
        f'cel.bind(p, {_PROFILE}, int(p.substring(0, p.indexOf("g"))) >= 2)',
        "a100-mig-1g.5gb",
        "no-match",
    ),
    ("mig-profile-on-full-gpu", f'{_PROFILE}.startsWith("1g")', "a100", "runtime-error"),
    ("pci-bus-number", 'device.attributes["resource.kubernetes.io"].pciBusID.split(":")[1] == "18"', "h100", "match"),
    (
        "pcie-root-suffix",
        'device.attributes["resource.kubernetes.io"].pcieRoot.substring(3).trim() == "0000:00"',
        "l4",
        "match",
    ),
    (
        "mig-uuid-prefix",
        'device.attributes["gpu.nvidia.com"].uuid.replace("-", "").charAt(0) == "M"',
        "a100-mig-1g.5gb",
        "match",
    ),
    # Kubernetes regex and lists libraries (the lists functions on numbers: see REFUSED_SELECTORS).
    ("memory-in-product-name", f'{_PRODUCT}.find("[0-9]+GB") == "80GB"', "h100", "match"),
    ("numbers-in-product-name", f'{_PRODUCT}.findAll("[0-9]+").size() >= 2', "l4", "no-match"),
    (
        "compute-capability-in-order",
        "cel.bind(cc, device.attributes['gpu.nvidia.com'].cudaComputeCapability, [8, cc.major(), 12].isSorted())",
        "h200",
        "match",
    ),
    (
        "compute-capability-major-position",
        "[8, 9, 10].indexOf(device.attributes['gpu.nvidia.com'].cudaComputeCapability.major()) >= 1",
        "a100",
        "no-match",
    ),
    (
        "memory-above-80gi",
        '[device.capacity["gpu.nvidia.com"].memory.asInteger(), 85899345920].max() > 85899345920',
        "h200",
        "match",
    ),
    (
        "legacy-index-in-first-pair",
        '[0, 1].indexOf(device.attributes["gpu.nvidia.com"].index) >= 0',
        "gb200-legacy",
        "match",
    ),
    (
        "legacy-index-on-current-driver",
        '[0, 1].indexOf(device.attributes["gpu.nvidia.com"].index) >= 0',
        "h100",
        "runtime-error",
    ),
    # cel-go sets.
    (
        "product-words-intersect",
        f'sets.intersects({_PRODUCT}.split(" "), ["H100", "H200", "GB200"])',
        "gb200-legacy",
        "match",
    ),
    (
        "product-words-intersect-on-l4",
        f'sets.intersects({_PRODUCT}.split(" "), ["H100", "H200", "GB200"])',
        "l4",
        "no-match",
    ),
    (
        "hopper-or-newer",
        'sets.contains(["Hopper", "Blackwell"], [device.attributes["gpu.nvidia.com"].architecture])',
        "gb200-legacy",
        "match",
    ),
    (
        "type-in-set",
        'sets.contains(["gpu", "mig"], [device.attributes["gpu.nvidia.com"].type])',
        "a100-mig-1g.5gb",
        "match",
    ),
    # Kubernetes IP and CIDR libraries, on DraNet's comma-joined CIDR list.
    (
        "nic-first-address-in-pod-network",
        f'cel.bind(v4, {_IPV4}, cidr("10.0.0.0/16").containsIP(cidr(v4.substring(0, v4.indexOf(","))).ip()))',
        "rdma-nic",
        "match",
    ),
    (
        "nic-first-network-in-private-range",
        f'cel.bind(v4, {_IPV4}, cidr("172.16.0.0/12").containsCIDR(v4.substring(0, v4.indexOf(","))))',
        "rdma-nic",
        "no-match",
    ),
    (
        "nic-second-address-global-unicast",
        f'cel.bind(v4, {_IPV4}, cidr(v4.substring(v4.indexOf(",") + 1)).ip().isGlobalUnicast())',
        "rdma-nic",
        "match",
    ),
    (
        "nic-rdma-and-masked-network",
        f'device.attributes["dra.net"].rdma && cel.bind(v4, {_IPV4}, '
        'string(cidr(v4.substring(v4.indexOf(",") + 1)).masked()) == "192.168.4.0/22")',
        "rdma-nic",
        "match",
    ),
    (
        "nic-address-past-the-end",
        f'cel.bind(v4, {_IPV4}, cidr(v4.substring(v4.indexOf(",") + 1, 64)).prefixLength() == 22)',
        "rdma-nic",
        "runtime-error",
    ),
    ("nic-not-an-ip", f"ip({_IPV4}).family() == 4", "rdma-nic", "runtime-error"),
    # URL library.
    (
        "url-from-attributes",
        'url("https://" + device.attributes["dra.net"].ifName + ".nic.example:8443/").getPort() == "8443"',
        "rdma-nic",
        "match",
    ),
]

SELECTOR_CASES: list[dict[str, str]] = [
    {"name": name, "selector": selector, "device": device, "outcome": outcome}
    for name, selector, device, outcome in _CASES
]

# Selectors that Kubernetes' API server refuses ("too complex, exceeds cost limit"): its cost
# estimate cannot bound what they walk. The planner refuses them at plan time for the same reason.
REFUSED_SELECTORS: list[str] = [
    f'{_PRODUCT}.split(" ").exists(w, w.lowerAscii() == "h100")',  # split() parts have no size bound
    f'{_IPV4}.split(",").exists(a, cidr("10.0.0.0/8").containsCIDR(a))',
    '["Ampere", "Hopper"].indexOf(device.attributes["gpu.nvidia.com"].architecture) >= 0',  # string list elements
    f'{_PRODUCT}.split(" ").join("-") == "NVIDIA-H100-80GB-HBM3"',
    f'quantity(string({_PROFILE}.size()) + "Gi").isLessThan(quantity("1Ti"))',  # string() has no size bound
    f'{_PRODUCT}.findAll("[0-9]+")[0].contains("1")',
]
