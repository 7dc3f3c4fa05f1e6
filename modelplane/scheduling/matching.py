"""Per-member DRA device matching against one node of a pool's InferenceClass (reference §2.4), decided as
kube-scheduler's allocator decides a claim (k8s.io/dynamic-resource-allocation v0.34.4, `allocator_stable.go`).

A member's requests become one ResourceClaim, each request naming one DeviceClass. The allocator searches every
way of giving each request `count` devices of its DeviceClass whose selectors hold, from one node: so a request may
take devices of several class devices of that DeviceClass, and requests are matched jointly (the reference's greedy
first fit refuses both). A selector that fails with a runtime error on a device the allocator reaches fails the
whole claim, and on a busy node it reaches any device of the DeviceClass that is not taken; so a request may only
use a DeviceClass on none of whose devices its selectors fail (the reference counts the error as a non-match).
Synthetic devices are matched the same way but never claimed, so an error on one only rules that device out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from modelplane.api.inference_class import Device, InferenceClass
from modelplane.api.model_deployment import DeviceRequest, Member
from modelplane.scheduling.cel import AttributeValue, DeviceData, SelectorEvaluator
from modelplane.scheduling.placement import DeviceClaim

# Ways of choosing a DeviceClass per request tried before giving up (each is a small bipartite matching).
MAX_CLASS_CHOICES = 4096
RUNTIME_ERROR_NOTE = "kube-scheduler fails the whole claim on a CEL runtime error"


@dataclass(frozen=True)
class MemberMatch:
    """How a member's pods fit one node of a class: DRA claims, devices taken per class device, or why not."""

    ok: bool
    claims: tuple[DeviceClaim, ...] = ()
    demand: tuple[int, ...] = ()
    reason: str = ""
    summary: str = ""  # the reason in short, as a plan's summary line quotes it


@dataclass(frozen=True)
class _Option:
    """One DeviceClass (None: the synthetic devices) a request could draw from, and its matching devices."""

    device_class: str | None
    devices: tuple[int, ...]


def device_data(device: Device) -> DeviceData:
    """The CEL view of a class device (attribute/capacity keys without a domain belong to the device's driver)."""
    attributes = {name: AttributeValue(value.kind, value.value) for name, value in device.attributes.items()}
    capacity = {name: value.value for name, value in device.capacity.items()}
    return DeviceData.build(device.driver, attributes, capacity)


def _device_class(device: Device) -> str | None:
    return device.device_class_name or "" if device.claim == "DRA" else None


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
        if member.node_selector is None:
            return MemberMatch(ok=True, demand=tuple(0 for _ in devices))
        requests = member.node_selector.devices
        options: list[list[_Option]] = []
        for request in requests:
            found, why, short = self._options(request, class_name)
            if not found:
                return MemberMatch(ok=False, reason=f"request {request.name}: {why}", summary=f"request {short}")
            options.append(found)
        capacity = [device.count for device in devices]
        assigned = _assign([request.count for request in requests], options, capacity)
        if isinstance(assigned, str):
            return MemberMatch(ok=False, reason=assigned, summary=assigned)
        chosen, taken = assigned
        claims = tuple(
            DeviceClaim(request.name, option.device_class, request.count, tuple(s.cel for s in request.selectors))
            for request, option in zip(requests, chosen, strict=True)
            if option.device_class is not None
        )
        demand = tuple(sum(held.get(index, 0) for held in taken) for index in range(len(devices)))
        return MemberMatch(ok=True, claims=claims, demand=demand)

    def _options(self, request: DeviceRequest, class_name: str) -> tuple[list[_Option], str, str]:
        """The DeviceClasses (in the order their first device is declared) the request may use, or why none (in
        full and in short)."""
        devices = self._classes[class_name].spec.devices
        groups: dict[str | None, list[int]] = {}
        for index, device in enumerate(devices):
            groups.setdefault(_device_class(device), []).append(index)
        options: list[_Option] = []
        misses: list[str] = []
        selector_misses: list[tuple[int, str | None]] = []
        for device_class, members in groups.items():
            matching: list[int] = []
            errors: list[str] = []
            for index in members:
                found = self._selector_miss(request, self._devices[class_name][index])
                if found is None:
                    matching.append(index)
                    continue
                miss = f"device {devices[index].name}: {_miss_text(*found)}"
                claimed_error = found[1] is not None and device_class is not None
                (errors if claimed_error else misses).append(miss)
                # An error on a synthetic device only rules that device out: in short, it is false there.
                selector_misses.append(found if claimed_error else (found[0], None))
            available = sum(devices[index].count for index in matching)
            if errors:
                misses.append(f"DeviceClass {device_class}: {'; '.join(errors)} ({RUNTIME_ERROR_NOTE})")
            elif matching and available < request.count:
                misses.append(f"{_group_name(device_class)}: {available} matching device(s), needs {request.count}")
            elif matching:
                options.append(_Option(device_class, tuple(matching)))
        why = "; ".join(misses) or "class has no devices"
        return options, why, f"{request.name}: {_short(selector_misses, len(devices)) or why}"

    def _selector_miss(self, request: DeviceRequest, data: DeviceData) -> tuple[int, str | None] | None:
        """The first selector that fails on the device and its error (None: false); None when all hold."""
        for number, selector in enumerate(request.selectors, start=1):
            verdict = self._evaluator.evaluate(selector.cel, data)
            if not verdict.matched:
                return number, verdict.error
        return None


def _miss_text(number: int, error: str | None) -> str:
    return f"selector #{number} error: {error}" if error else f"selector #{number} false"


def _short(misses: Sequence[tuple[int, str | None]], devices: int) -> str:
    """One selector failing on every device of a class, said once; "" when the misses are not that simple."""
    numbers = {number for number, _ in misses}
    if not devices or len(misses) < devices or len(numbers) != 1:
        return ""
    error = next((error for _, error in misses if error), None)
    return _miss_text(misses[0][0], error) if error else f"{_miss_text(misses[0][0], None)} for every device"


def _group_name(device_class: str | None) -> str:
    return "synthetic devices" if device_class is None else f"DeviceClass {device_class}"


Allotment = list[dict[int, int]]  # per request: devices taken per class device


def _assign(
    counts: Sequence[int], options: Sequence[Sequence[_Option]], capacity: Sequence[int]
) -> tuple[tuple[_Option, ...], Allotment] | str:
    """The first choice of a DeviceClass per request (requests in order, each request's options in order) whose
    devices can all be given from one node, with the devices each request takes; or why there is none."""
    relaxed = [tuple(sorted({index for option in found for index in option.devices})) for found in options]
    if _allot(counts, relaxed, capacity) is None:
        return f"a node has too few devices for requests of {sum(counts)} device(s) together"
    chosen: list[_Option] = []
    budget = [MAX_CLASS_CHOICES]

    def search(request: int) -> Allotment | None:
        if request == len(counts):
            return _allot(counts, [option.devices for option in chosen], capacity)
        for option in options[request]:
            budget[0] -= 1
            if budget[0] < 0:
                return None
            chosen.append(option)
            sharing = [index for index, other in enumerate(chosen) if other.device_class == option.device_class]
            if _allot([counts[i] for i in sharing], [chosen[i].devices for i in sharing], capacity) is not None:
                found = search(request + 1)
                if found is not None:
                    return found
            chosen.pop()
        return None

    taken = search(0)
    if taken is not None:
        return tuple(chosen), taken
    if budget[0] < 0:
        return f"no fit found in {MAX_CLASS_CHOICES} choices of a DeviceClass per request"
    return "the requests do not fit one node together, each in one DeviceClass"


def _allot(counts: Sequence[int], allowed: Sequence[Sequence[int]], capacity: Sequence[int]) -> Allotment | None:
    """Give each request `count` devices among its allowed class devices within their counts, or None: a
    bipartite matching, augmented one device at a time, so it finds an allotment whenever one exists."""
    free = list(capacity)
    taken: Allotment = [{} for _ in counts]
    for request, count in enumerate(counts):
        for _ in range(count):
            if not _augment(request, allowed, free, taken, set()):
                return None
    return taken


def _augment(request: int, allowed: Sequence[Sequence[int]], free: list[int], taken: Allotment, seen: set[int]) -> bool:
    """One more device for `request`, moving another request's device elsewhere if that frees one it may use."""
    for index in allowed[request]:
        if index in seen:
            continue
        seen.add(index)
        if free[index] > 0:
            free[index] -= 1
            taken[request][index] = taken[request].get(index, 0) + 1
            return True
        for other, held in enumerate(taken):
            if held.get(index) and _augment(other, allowed, free, taken, seen):
                held[index] -= 1
                taken[request][index] = taken[request].get(index, 0) + 1
                return True
    return False
