"""DRA: one ResourceClaimTemplate per claiming member, and the pod's reference to it (reference §3.4)."""

from __future__ import annotations

from collections.abc import Mapping

from modelplane.compose.common import Manifest, manifest, metadata
from modelplane.scheduling.placement import DeviceClaim

# The pod-level claim name; the engine container references the whole claim by it (one entry, not one per request).
POD_CLAIM = "devices"


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


def pod_claims(template: str) -> list[Manifest]:
    return [{"name": POD_CLAIM, "resourceClaimTemplateName": template}]


def container_claims() -> Manifest:
    """The engine's `resources`: the whole pod claim, no device-plugin limits (GPUs bind only through DRA)."""
    return {"claims": [{"name": POD_CLAIM}]}
