"""Per-member DRA device matching against one node of a pool's InferenceClass (reference §2.4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from modelplane.api.inference_class import Device, InferenceClass
from modelplane.api.model_deployment import DeviceRequest, Member
from modelplane.scheduling.cel import AttributeValue, DeviceData, SelectorEvaluator
from modelplane.scheduling.placement import DeviceClaim


@dataclass(frozen=True)
class MemberMatch:
    """How a member's pods fit one node of a class: DRA claims, devices taken per class device, or why not."""

    ok: bool
    claims: tuple[DeviceClaim, ...] = ()
    demand: tuple[int, ...] = ()
    reason: str = ""


def device_data(device: Device) -> DeviceData:
    """The CEL view of a class device (attribute/capacity keys without a domain belong to the device's driver)."""
    attributes = {name: AttributeValue(value.kind, value.value) for name, value in device.attributes.items()}
    capacity = {name: value.value for name, value in device.capacity.items()}
    return DeviceData.build(device.driver, attributes, capacity)


class DeviceMatcher:
    """Matches members to classes; each (member, class) pair is resolved once per plan."""

    def __init__(self, classes: Mapping[str, InferenceClass], evaluator: SelectorEvaluator) -> None:
        self._classes = classes
        self._evaluator = evaluator
        self._devices = {name: [device_data(device) for device in cls.spec.devices] for name, cls in classes.items()}
        self._cache: dict[tuple[int, str], MemberMatch] = {}
        self._members: dict[int, Member] = {}

    def match(self, member: Member, class_name: str) -> MemberMatch:
        key = (id(member), class_name)
        found = self._cache.get(key)
        if found is None:
            self._members[id(member)] = member  # keeps the id stable for the plan's lifetime
            found = self._cache[key] = self._resolve(member, class_name)
        return found

    def _resolve(self, member: Member, class_name: str) -> MemberMatch:
        devices = self._classes[class_name].spec.devices
        remaining = [device.count for device in devices]
        if member.node_selector is None:
            return MemberMatch(ok=True, demand=tuple(0 for _ in devices))
        claims: list[DeviceClaim] = []
        for request in member.node_selector.devices:
            index, why = self._first_fit(request, class_name, remaining)
            if index is None:
                return MemberMatch(ok=False, reason=f"request {request.name}: {why}")
            remaining[index] -= request.count
            device = devices[index]
            if device.claim == "DRA":
                selectors = tuple(selector.cel for selector in request.selectors)
                claims.append(DeviceClaim(request.name, device.device_class_name or "", request.count, selectors))
        demand = tuple(device.count - left for device, left in zip(devices, remaining, strict=True))
        return MemberMatch(ok=True, claims=tuple(claims), demand=demand)

    def _first_fit(self, request: DeviceRequest, class_name: str, remaining: list[int]) -> tuple[int | None, str]:
        """Greedy, in device order, no backtracking: it can only false-reject, never overcommit (as Modelplane)."""
        misses: list[str] = []
        for index, device in enumerate(self._classes[class_name].spec.devices):
            if remaining[index] < request.count:
                misses.append(f"device {device.name} has {remaining[index]} left, needs {request.count}")
                continue
            miss = self._selector_miss(request, self._devices[class_name][index])
            if miss is None:
                return index, ""
            misses.append(f"device {device.name}: {miss}")
        return None, "; ".join(misses) or "class has no devices"

    def _selector_miss(self, request: DeviceRequest, data: DeviceData) -> str | None:
        for number, selector in enumerate(request.selectors, start=1):
            verdict = self._evaluator.evaluate(selector.cel, data)
            if not verdict.matched:
                return f"selector #{number} {'error: ' + verdict.error if verdict.error else 'false'}"
        return None
