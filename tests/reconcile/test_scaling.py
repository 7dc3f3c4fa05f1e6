"""`scale`: validate the new plan first, then edit the stack file; refuse and change nothing otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelplane.reconcile.scaling import (
    PlanRejectedError,
    UnknownDeploymentError,
    read_replicas,
    scale_deployment,
)
from modelplane.reconcile.stackfiles import PLACEMENT_KEY, dump_placement, stack_file

from .conftest import RECORD, FakePlanner


def test_scale_edits_the_replicas_after_planning(project: Path) -> None:
    path = stack_file(project, "dev")
    path.write_text(path.read_text() + f"  {PLACEMENT_KEY}: '{dump_placement(RECORD)}'\n")
    planner = FakePlanner()
    result = scale_deployment(project, "dev", "qwen", 3, planner=planner)
    assert (result.previous, result.replicas, result.changed) == (1, 3, True)
    text = path.read_text()
    assert "replicas: 3  # keep small in dev" in text and text.startswith("# Dev stack")
    assert read_replicas(project, "dev", "qwen") == 3
    config, previous = planner.calls[0]
    assert config["modelplane:deployments"]["qwen"]["replicas"] == 3
    assert previous == RECORD


def test_invalid_plan_changes_nothing(project: Path) -> None:
    before = stack_file(project, "dev").read_bytes()
    with pytest.raises(PlanRejectedError) as error:
        scale_deployment(project, "dev", "qwen", 11, planner=FakePlanner())
    assert error.value.problems == [
        f"{stack_file(project, 'dev')} ModelDeployment ml-team/qwen: replicas: must be <= 10"
    ]
    assert stack_file(project, "dev").read_bytes() == before


def test_a_plan_that_cannot_place_every_replica_is_refused_unless_allowed(project: Path) -> None:
    before = stack_file(project, "dev").read_bytes()
    with pytest.raises(PlanRejectedError) as error:
        scale_deployment(project, "dev", "qwen", 5, planner=FakePlanner(capacity=3))
    assert error.value.problems[0] == "qwen: 2 of 5 replicas cannot be placed"
    assert "pool h100 has 0 free nodes" in error.value.problems[1]
    assert stack_file(project, "dev").read_bytes() == before
    scale_deployment(project, "dev", "qwen", 5, planner=FakePlanner(capacity=3), allow_unplaced=True)
    assert read_replicas(project, "dev", "qwen") == 5


def test_unknown_deployment_names_the_known_ones(project: Path) -> None:
    with pytest.raises(UnknownDeploymentError, match=r"no deployment 'kimi' .*\(known: qwen\)"):
        scale_deployment(project, "dev", "kimi", 2, planner=FakePlanner())


def test_same_replicas_writes_nothing(project: Path) -> None:
    path = stack_file(project, "dev")
    before = path.stat().st_mtime_ns, path.stat().st_ino
    result = scale_deployment(project, "dev", "qwen", 1, planner=FakePlanner())
    assert not result.changed
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == before


def test_negative_replicas_are_rejected(project: Path) -> None:
    with pytest.raises(PlanRejectedError, match=">= 0"):
        scale_deployment(project, "dev", "qwen", -1, planner=FakePlanner())


FLEET_STACK = """\
config:
  modelplane:classes:
    h100-8x:
      provisioning:
        provider: EKS
        eks:
          instanceType: p5.48xlarge
          accelerator: {type: nvidia-h100-80gb, count: 8}
      devices:
        - name: gpu
          driver: gpu.nvidia.com
          deviceClassName: gpu.nvidia.com
          count: 8
          attributes:
            productName: {string: NVIDIA H100 80GB HBM3}
  modelplane:clusters:
    a:
      cluster:
        source: EKS
        eks: {region: us-east-1}
      nodePools:
        - {name: h100, className: h100-8x, nodeCount: 2}
  modelplane:deployments:
    qwen:
      replicas: 1
      template:
        spec:
          engines:
            - name: qwen
              members:
                - role: Standalone
                  nodeSelector:
                    devices:
                      - name: gpu
                        count: 8
                        selectors:
                          - cel: device.attributes["gpu.nvidia.com"].productName == "NVIDIA H100 80GB HBM3"
                  template:
                    spec:
                      containers:
                        - {name: engine, image: vllm/vllm-openai:v0.23.0}
"""


def test_scale_with_the_real_planning_facade(project: Path) -> None:
    pytest.importorskip("modelplane.planning", exc_type=ImportError)  # the lead removes this once planning lands
    stack_file(project, "dev").write_text(FLEET_STACK)
    scale_deployment(project, "dev", "qwen", 2)
    assert read_replicas(project, "dev", "qwen") == 2
    before = stack_file(project, "dev").read_bytes()
    with pytest.raises(PlanRejectedError):  # two 8-GPU nodes hold two replicas, not three
        scale_deployment(project, "dev", "qwen", 3)
    assert stack_file(project, "dev").read_bytes() == before
