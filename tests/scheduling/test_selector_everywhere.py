"""Semantic validation: a selector that fails with a runtime error on every device of every class is a problem."""

from __future__ import annotations

from modelplane.scheduling.validation import semantic_problems
from tests.scheduling.builders import API, cluster, deployment, fleet, gpu_class, member
from tests.scheduling.cel_agreement_cases import CASES, POOLS

TYPO = 'device.capacity["gpu.nvidia.com"].memroy.compareTo(quantity("1Gi")) >= 0'


def selecting(name: str, cel: str) -> dict:
    return deployment(name, engines=[{"name": "e", "members": [member(cel=cel)]}])


def test_each_use_of_the_selector_is_a_problem_naming_the_first_device() -> None:
    docs = (gpu_class("l4"), gpu_class("h100", memory="81559Mi", nic=True), selecting("a", TYPO), selecting("b", TYPO))
    found = [str(problem) for problem in semantic_problems(fleet(*docs))]
    assert [line.split(" ModelDeployment ")[1].split(":")[0] for line in found] == ["ml-team/a", "ml-team/b"]
    assert all("(3 device(s))" in line and "h100/gpu: no capacity 'memroy'" in line for line in found), found


def test_an_error_on_synthetic_devices_only_is_no_problem() -> None:
    # The NIC has no gpu.nvidia.com capacity (an error there); the GPUs answer false: the selector is sound.
    cel = 'device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("200Gi")) >= 0'
    docs = (gpu_class("h100", memory="81559Mi", nic=True), cluster("c", {"p": ("h100", 1)}), selecting("a", cel))
    assert semantic_problems(fleet(*docs)) == []


def test_without_devices_there_is_nothing_to_judge_by() -> None:
    assert semantic_problems(fleet(selecting("a", TYPO))) == []


def test_a_device_with_bad_data_is_its_class_problem_only() -> None:
    bad = gpu_class("bad")
    bad["spec"]["devices"][0]["capacity"]["memory"]["value"] = "lots"
    found = [str(problem) for problem in semantic_problems(fleet(bad, selecting("a", "true")))]
    assert len(found) == 1 and "InferenceClass bad" in found[0], found


def test_the_cel_agreement_fleet_is_valid_input() -> None:
    """tests/e2e/test_cel_agreement.py plans these cases through `load_inputs`: none may be refused."""
    classes = [
        {"apiVersion": API, "kind": "InferenceClass", "metadata": {"name": name}, "spec": {"devices": devices}}
        for _, name, devices in POOLS
    ]
    pools = cluster("lab", {pool: (name, 1) for pool, name, _ in POOLS})
    docs = [deployment(case["name"], engines=[{"name": "e", "members": [_member(case)]}]) for case in CASES]
    assert [str(problem) for problem in semantic_problems(fleet(*classes, pools, *docs))] == []


def _member(case: dict) -> dict:
    requests = [{**one, "selectors": [{"cel": cel} for cel in one["selectors"]]} for one in case["requests"]]
    return {**member(cel=None), "nodeSelector": {"devices": requests}}
