"""Shared fixtures: a small project on disk, an injected clock, the fake driver and a runner factory."""

from __future__ import annotations

import copy
import io
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from modelplane.reconcile.fake import FakeStackDriver
from modelplane.reconcile.logs import Redactor, json_handler
from modelplane.reconcile.metrics import ReconcileMetrics
from modelplane.reconcile.runner import StackRunner
from modelplane.reconcile.scaling import PlanRejectedError
from modelplane.reconcile.settings import RunnerSettings
from modelplane.reconcile.stackfiles import StackInputs

STACK_YAML = """\
# Dev stack: edited by hand and by `modelplane scale`.
config:
  aws:region: us-east-1
  modelplane:manifests:
    - manifests
  modelplane:deployments:
    qwen:
      metadata: {namespace: ml-team}
      replicas: 1  # keep small in dev
      template:
        spec:
          engines:
            - name: qwen
"""

RECORD: dict[str, Any] = {
    "deployments": [
        {
            "namespace": "ml-team",
            "name": "qwen",
            "desired": 1,
            "scheduled": 1,
            "unplaced": 0,
            "reasons": [],
            "replicas": [{"cluster": "a", "index": 0, "engines": [{"name": "qwen", "pool": "h100", "members": []}]}],
        }
    ],
    "clusters": [{"name": "a", "pools": [{"name": "h100", "nodes": 2, "used": 1}]}],
}


class FakePlanner:
    """Places up to ``capacity`` replicas; rejects more than ``limit`` as invalid input."""

    def __init__(self, capacity: int = 3, limit: int = 10) -> None:
        self.capacity = capacity
        self.limit = limit
        self.calls: list[tuple[dict[str, Any], Mapping[str, Any] | None]] = []

    def __call__(
        self, config: Mapping[str, Any], *, project_dir: Path, source: str, previous: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        self.calls.append((dict(config), previous))
        desired = config["modelplane:deployments"]["qwen"]["replicas"]
        if desired > self.limit:
            raise PlanRejectedError([f"{source} ModelDeployment ml-team/qwen: replicas: must be <= {self.limit}"])
        record = copy.deepcopy(RECORD)
        entry = record["deployments"][0]
        entry.update(desired=desired, scheduled=min(desired, self.capacity), unplaced=max(0, desired - self.capacity))
        if entry["unplaced"]:
            entry["reasons"] = ["not on a: pool h100 has 0 free nodes, needs 1"]
        return record


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def write_project(root: Path, stacks: tuple[str, ...] = ("dev",)) -> Path:
    (root / "Pulumi.yaml").write_text("name: modelplane\nruntime:\n  name: python\nstackConfigDir: stacks\n")
    (root / "stacks").mkdir()
    for stack in stacks:
        (root / "stacks" / f"Pulumi.{stack}.yaml").write_text(STACK_YAML)
    (root / "manifests").mkdir()
    (root / "manifests" / "extra.yaml").write_text("kind: ModelCache\nmetadata: {name: w}\n")
    return root


def edit_replicas(project: Path, replicas: int, stack: str = "dev") -> None:
    path = project / "stacks" / f"Pulumi.{stack}.yaml"
    path.write_text(re.sub(r"replicas: \d+", f"replicas: {replicas}", path.read_text(), count=1))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()


@pytest.fixture
def driver(redactor: Redactor) -> FakeStackDriver:
    return FakeStackDriver(redactor)


@pytest.fixture
def metrics() -> ReconcileMetrics:
    return ReconcileMetrics()


RunnerFactory = Callable[..., StackRunner]


@pytest.fixture
def make_runner(
    project: Path, driver: FakeStackDriver, clock: FakeClock, metrics: ReconcileMetrics, redactor: Redactor
) -> RunnerFactory:
    def make(stack: str = "dev", **settings: Any) -> StackRunner:
        return StackRunner(
            StackInputs(project, stack),
            driver,
            RunnerSettings.model_validate(settings),
            clock=clock,
            metrics=metrics,
            redactor=redactor,
        )

    return make


@pytest.fixture
def json_logs(redactor: Redactor) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Capture the service's logs through the production handler (JSON + redaction)."""
    stream = io.StringIO()
    handler = json_handler(redactor, stream)
    logger = logging.getLogger("modelplane")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(previous)


def sample(metrics: ReconcileMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)
