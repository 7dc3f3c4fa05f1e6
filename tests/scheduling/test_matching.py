"""Device matching decides a member's claim as kube-scheduler's allocator does: devices of one DeviceClass pooled
across class devices, requests matched jointly, and a runtime error on a device of the DeviceClass fatal.

Each scenario here disagreed with kube-scheduler on the sandbox before (tests/e2e/test_cel_agreement.py)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from modelplane.api.inference_class import InferenceClass
from modelplane.api.model_deployment import Member
from modelplane.scheduling.cel import SelectorEvaluator
from modelplane.scheduling.matching import MAX_CLASS_CHOICES, RUNTIME_ERROR_NOTE, DeviceMatcher, MemberMatch, _allot

NV = 'device.attributes["gpu.nvidia.com"]'
AMD = 'device.attributes["gpu.amd.com"]'


def device(name: str, device_class: str | None, count: int, driver: str = "gpu.nvidia.com", **attributes: Any) -> dict:
    found: dict[str, Any] = {
        "name": name,
        "driver": driver,
        "count": count,
        "attributes": {
            key: {"int" if isinstance(value, int) else "string": value} for key, value in attributes.items()
        },
    }
    if device_class is None:
        found["claim"] = "Synthetic"
    else:
        found["deviceClassName"] = device_class
    return found


def match(devices: list[dict], *requests: tuple[str, int, list[str]]) -> MemberMatch:
    cls = InferenceClass.model_validate(
        {
            "apiVersion": "modelplane.ai/v1alpha1",
            "kind": "InferenceClass",
            "metadata": {"name": "c"},
            "spec": {"devices": devices},
        }
    )
    member = Member.model_validate(
        {
            "role": "Standalone",
            "nodeSelector": {
                "devices": [
                    {"name": name, "count": count, "selectors": [{"cel": text} for text in selectors]}
                    for name, count, selectors in requests
                ]
            },
            "template": {"spec": {"containers": [{"name": "engine", "image": "vllm/vllm-openai:v0.23.0"}]}},
        }
    )
    return DeviceMatcher({"c": cls}, SelectorEvaluator()).match(member, "c")


A100_MIG = [
    device("mig-3g", "mig.nvidia.com", 1, type="mig", profile="3g.20gb"),
    device("mig-2g", "mig.nvidia.com", 1, type="mig", profile="2g.10gb"),
    device("mig-1g", "mig.nvidia.com", 2, type="mig", profile="1g.5gb"),
    device("gpu", "gpu.nvidia.com", 1, type="gpu"),
]
MI300X = [
    device("gpu", "gpu.amd.com", 1, "gpu.amd.com", type="amdgpu", pciAddr="0000:00:02.0"),
    device("part", "gpu.amd.com", 2, "gpu.amd.com", type="amdgpu-partition", parentDeviceID="706"),
]


def test_a_request_takes_devices_of_several_class_devices_of_its_device_class() -> None:
    found = match(A100_MIG, ("gpu", 3, [f'{NV}.type == "mig"']))
    assert found.ok, found.reason
    assert [(claim.name, claim.device_class_name, claim.count) for claim in found.claims] == [
        ("gpu", "mig.nvidia.com", 3)
    ]
    assert sum(found.demand[:3]) == 3 and found.demand[3] == 0


def test_requests_are_matched_jointly_not_first_fit() -> None:
    small = ("small", 1, [f'{NV}.type == "mig"'])  # first fit would take the only 3g
    big = ("big", 1, [f'has({NV}.profile) && {NV}.profile == "3g.20gb"'])
    found = match(A100_MIG, small, big)
    assert found.ok, found.reason
    assert found.demand == (1, 1, 0, 0)
    assert [claim.device_class_name for claim in found.claims] == ["mig.nvidia.com", "mig.nvidia.com"]


def test_requests_that_cannot_share_the_node_do_not_match() -> None:
    found = match(A100_MIG, ("a", 3, [f'{NV}.type == "mig"']), ("b", 2, [f'{NV}.type == "mig"']))
    assert not found.ok
    assert "too few devices" in found.reason


def test_a_runtime_error_on_any_device_of_the_device_class_rules_the_class_out() -> None:
    found = match(MI300X, ("gpu", 1, [f'{AMD}.parentDeviceID == "706"']))  # the partitions match, the GPU errors
    assert not found.ok
    assert "DeviceClass gpu.amd.com" in found.reason and "parentDeviceID" in found.reason
    assert RUNTIME_ERROR_NOTE in found.reason


def test_an_error_after_the_devices_that_match_is_still_fatal() -> None:
    """On a busy node the allocator reaches the partitions once the whole GPU is taken."""
    assert not match(MI300X, ("gpu", 1, [f'{AMD}.pciAddr.startsWith("0000:")'])).ok


def test_has_guards_the_error_away() -> None:
    found = match(MI300X, ("gpu", 2, [f'has({AMD}.parentDeviceID) && {AMD}.parentDeviceID == "706"']))
    assert found.ok, found.reason
    assert found.demand == (0, 2)


def test_an_error_on_another_device_class_does_not_matter() -> None:
    """kube-scheduler never evaluates a claim's selectors on devices its DeviceClass does not select."""
    found = match(A100_MIG, ("gpu", 1, [f'{NV}.profile == "1g.5gb"']))  # the whole GPU has no profile
    assert found.ok, found.reason
    assert found.claims[0].device_class_name == "mig.nvidia.com"
    assert found.demand == (0, 0, 1, 0)


def test_an_error_on_a_synthetic_device_only_rules_that_device_out() -> None:
    devices = [device("nic", None, 1, "nic.example.com"), device("gpu", "gpu.nvidia.com", 1, type="gpu")]
    found = match(devices, ("gpu", 1, [f'{NV}.type == "gpu"']))
    assert found.ok, found.reason
    assert found.demand == (0, 1)


def test_the_first_device_class_in_declared_order_that_fits_wins() -> None:
    found = match(A100_MIG, ("gpu", 1, [f"has({NV}.type)"]))
    assert found.claims[0].device_class_name == "mig.nvidia.com"
    found = match(A100_MIG, ("gpu", 5, [f"has({NV}.type)"]))
    assert not found.ok  # four MIG devices, one GPU: a request takes one DeviceClass only


def test_the_search_over_device_class_choices_is_bounded() -> None:
    """16 requests of 2 over 15 DeviceClasses of 3 devices: enough devices, but each class holds one request."""
    devices = [device(f"d{index}", f"class-{index}", 3, type="gpu") for index in range(15)]
    requests = [(f"r{index}", 2, [f'{NV}.type == "gpu"']) for index in range(16)]
    found = match(devices, *requests)
    assert not found.ok
    assert f"{MAX_CLASS_CHOICES} choices" in found.reason


def _brute_force(counts: list[int], allowed: list[list[int]], capacity: list[int]) -> bool:
    """Every way of giving each request its devices one at a time."""
    if not counts:
        return True
    first, *rest = counts
    if first == 0:
        return _brute_force(rest, allowed[1:], capacity)
    for index in allowed[0]:
        if capacity[index]:
            left = [count - (spot == index) for spot, count in enumerate(capacity)]
            if _brute_force([first - 1, *rest], allowed, left):
                return True
    return False


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.lists(st.integers(0, 3), min_size=1, max_size=4),
    requests=st.lists(st.tuples(st.integers(1, 3), st.sets(st.integers(0, 3), max_size=4)), min_size=1, max_size=3),
)
def test_allotment_exists_exactly_when_some_assignment_does(
    capacity: list[int], requests: list[tuple[int, set[int]]]
) -> None:
    counts = [count for count, _ in requests]
    allowed = [sorted(index for index in spots if index < len(capacity)) for _, spots in requests]
    found = _allot(counts, allowed, capacity)
    assert (found is not None) == _brute_force(counts, allowed, capacity)
    if found is not None:
        assert [sum(held.values()) for held in found] == counts
        assert all(index in allowed[r] for r, held in enumerate(found) for index, n in held.items() if n)
        assert all(sum(held.get(i, 0) for held in found) <= cap for i, cap in enumerate(capacity))
