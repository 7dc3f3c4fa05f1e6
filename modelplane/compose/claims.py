"""DRA: a claiming member's ResourceClaimTemplate(s), and the pod's references to them (reference §3.4).

One template per member, as Modelplane composes it, unless its requests add up to more devices than one claim may
hold: Kubernetes allocates at most 32 devices per claim (resource.k8s.io/v1 AllocationResultsMaxSize), so an
8-GPU + 32-EFA node's worth is two claims, the requests packed in order into as few as fit.
"""

from __future__ import annotations

from collections.abc import Mapping

from modelplane.compose.common import Manifest, manifest, metadata
from modelplane.scheduling.placement import DeviceClaim

# The pod-level claim name; the engine container references each whole claim by name (not one entry per request).
POD_CLAIM = "devices"
MAX_DEVICES_PER_CLAIM = 32


def claim_groups(devices: tuple[DeviceClaim, ...]) -> list[tuple[DeviceClaim, ...]]:
    """The member's requests split into claims of at most 32 devices, first fit in request order."""
    groups: list[list[DeviceClaim]] = []
    for claim in devices:
        group = next((g for g in groups if sum(c.count for c in g) + claim.count <= MAX_DEVICES_PER_CLAIM), None)
        if group is None:
            groups.append(group := [])
        group.append(claim)
    return [tuple(group) for group in groups]


def pod_claim_name(index: int) -> str:
    return POD_CLAIM if index == 0 else f"{POD_CLAIM}-{index + 1}"


def device_request(claim: DeviceClaim) -> Manifest:
    """`{name, exactly: {deviceClassName, count, selectors}}`; selectors left out when there are none."""
    exactly: Manifest = {"deviceClassName": claim.device_class_name, "count": claim.count}
    if claim.selectors:
        exactly["selectors"] = [{"cel": {"expression": expression}} for expression in claim.selectors]
    return {"name": claim.name, "exactly": exactly}


def claim_template(name: str, namespace: str, devices: tuple[DeviceClaim, ...], labels: Mapping[str, str]) -> Manifest:
    """A `resource.k8s.io/v1` ResourceClaimTemplate; each pod of the member gets its own claim from it."""
    spec = {"spec": {"devices": {"requests": [device_request(claim) for claim in devices]}}}
    return manifest("resource.k8s.io/v1", "ResourceClaimTemplate", metadata(name, namespace, labels), spec=spec)


def pod_claims(templates: list[str]) -> list[Manifest]:
    return [{"name": pod_claim_name(i), "resourceClaimTemplateName": name} for i, name in enumerate(templates)]


def container_claims(count: int) -> Manifest:
    """The engine's `resources`: every pod claim whole, no device-plugin limits (GPUs bind only through DRA)."""
    return {"claims": [{"name": pod_claim_name(index)} for index in range(count)]}
