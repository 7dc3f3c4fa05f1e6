"""Plan-time checks that need the scheduling layer: selectors compile and can match, quantities and versions parse.

`load_inputs` lives here rather than in `modelplane.api.loading` because it runs these checks, and `api` must not
import `scheduling` (the dependency direction is api → scheduling, never back).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from modelplane import collector
from modelplane.api.errors import InvalidInputError, Problem
from modelplane.api.fleet import Fleet
from modelplane.api.inference_class import Device, InferenceClass
from modelplane.api.loading import StackInputs, collect_inputs, format_path
from modelplane.api.model_deployment import ModelDeployment
from modelplane.scheduling.cel import CelCompileError, SelectorEvaluator, compile_selector
from modelplane.scheduling.matching import device_data
from modelplane.scheduling.quantity import Quantity, QuantityError
from modelplane.scheduling.semver import Semver, SemverError

# No Kubernetes quantity may be larger in magnitude (resource.Quantity); a capacity beyond it is meaningless.
_MAX_QUANTITY = Quantity.parse(str(2**63 - 1))


def load_inputs(paths: Sequence[Path], stack: str | None, project_dir: Path) -> StackInputs:
    """Manifest paths and/or a stack (paths merged into its fleet), semantically checked; what plan and render read.

    Reading builds big acyclic data (a 9,000-replica manifest is 250,000 nodes): the collector is paused meanwhile,
    as for planning (about half the load time otherwise)."""
    with collector.paused():
        inputs, problems = collect_inputs(paths, stack, project_dir)
        problems.extend(semantic_problems(inputs.fleet))
    if problems:
        raise InvalidInputError(problems)
    return inputs


def semantic_problems(fleet: Fleet) -> list[Problem]:
    """Every CEL selector compiles and can match some device without an error, every capacity is a Kubernetes
    quantity, every `version` attribute is semver."""
    everywhere = _ErrorEverywhere(fleet)
    problems = [
        fleet.problem(deployment, path, message)
        for deployment in fleet.deployments.values()
        for path, message in _selector_errors(deployment, everywhere)
    ]
    problems.extend(
        fleet.problem(inference_class, path, message)
        for inference_class in fleet.classes.values()
        for path, message in _device_errors(inference_class)
    )
    return problems


def _selector_errors(deployment: ModelDeployment, everywhere: _ErrorEverywhere) -> Iterator[tuple[str, str]]:
    for e, engine in enumerate(deployment.engines):
        for m, member in enumerate(engine.members):
            requests = member.node_selector.devices if member.node_selector else []
            for d, request in enumerate(requests):
                for s, selector in enumerate(request.selectors):
                    try:
                        compile_selector(selector.cel)
                    except CelCompileError as error:
                        # The compiler's report has a caret diagram below its first line; a problem is one line.
                        message: str | None = f"CEL: {str(error).splitlines()[0]}"
                    else:
                        message = everywhere.message(selector.cel)
                    if message:
                        parts = ("engines", e, "members", m, "nodeSelector", "devices", d, "selectors", s, "cel")
                        yield format_path(("spec", "template", "spec", *parts)), message


class _ErrorEverywhere:
    """A selector that fails with a runtime error on every device of every InferenceClass can match nothing
    anywhere (kube-scheduler fails the claim): a mistake (a misspelt name, a bad quantity, a non-bool result)."""

    def __init__(self, fleet: Fleet) -> None:
        # A device with a bad capacity or version is its class's problem (and an error for every selector).
        self._devices = [
            (f"{name}/{device.name}", device_data(device))
            for name, inference_class in sorted(fleet.classes.items())
            for index, device in enumerate(inference_class.spec.devices)
            if next(_one_device_errors(index, device), None) is None
        ]
        self._evaluator = SelectorEvaluator()
        self._messages: dict[str, str | None] = {}

    def message(self, expression: str) -> str | None:
        if expression not in self._messages:
            self._messages[expression] = self._judge(expression)
        return self._messages[expression]

    def _judge(self, expression: str) -> str | None:
        first = ""
        for where, data in self._devices:
            error = self._evaluator.evaluate(expression, data).error
            if error is None:
                return None
            first = first or f"{where}: {error}"
        if not first:
            return None  # no device at all: nothing to judge by
        return (
            f"CEL: the selector fails with an error on every device of every InferenceClass "
            f"({len(self._devices)} device(s)), so it matches nothing; {first}"
        )


def _device_errors(inference_class: InferenceClass) -> Iterator[tuple[str, str]]:
    for index, device in enumerate(inference_class.spec.devices):
        yield from _one_device_errors(index, device)


def _one_device_errors(index: int, device: Device) -> Iterator[tuple[str, str]]:
    for name, capacity in sorted(device.capacity.items()):
        path = format_path(("spec", "devices", index, "capacity", name, "value"))
        try:
            quantity = Quantity.parse(capacity.value)
        except QuantityError as error:
            yield path, str(error)
            continue
        if quantity.sign() < 0:
            yield path, f"capacity {capacity.value!r} must not be negative"
        elif quantity.compare_to(_MAX_QUANTITY) > 0:
            yield path, f"capacity {capacity.value!r} is larger than any Kubernetes quantity (2^63-1)"
    for name, attribute in sorted(device.attributes.items()):
        if attribute.version is None:
            continue
        try:
            Semver.parse(attribute.version)
        except SemverError as error:
            yield format_path(("spec", "devices", index, "attributes", name, "version")), str(error)
