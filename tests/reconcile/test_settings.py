"""Service settings: camelCase file, CLI overrides deep-merged, validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from modelplane.reconcile.settings import load_settings

SETTINGS = """\
stacks: [dev, prod]
parallelism: 3
runner:
  driftIntervalSeconds: 120
  backoff: {initialSeconds: 5, maxSeconds: 60}
autoscalers:
  - stack: prod
    deployment: qwen
    maxReplicas: 6
    prometheusUrl: http://prometheus.monitoring:9090
    query: sum(vllm:num_requests_running{model_name="qwen"})
    targetPerReplica: 8
"""


def test_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "reconcile.yaml"
    path.write_text(SETTINGS)
    settings = load_settings(path, {"runner": {"autoRemediate": False}, "http": {"port": 9000}})
    assert settings.stacks == ("dev", "prod") and settings.parallelism == 3
    assert settings.runner.drift_interval_seconds == 120 and settings.runner.auto_remediate is False
    assert settings.runner.backoff.max_seconds == 60 and settings.http.port == 9000
    assert settings.autoscalers[0].min_replicas == 1 and settings.autoscalers[0].scale_down_stabilization_seconds == 300


def test_defaults_without_a_file() -> None:
    settings = load_settings(None, {"stacks": ["dev"]})
    assert settings.runner.cancel_stale_update_after_seconds is None  # never cancel by default
    assert settings.http.host == "127.0.0.1"


def test_autoscaler_for_an_unreconciled_stack_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "reconcile.yaml"
    path.write_text(SETTINGS)
    with pytest.raises(ValidationError, match="does not reconcile: prod"):
        load_settings(path, {"stacks": ["dev"]})


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ValidationError, match="driftInterval"):
        load_settings(None, {"stacks": ["dev"], "runner": {"driftInterval": 5}})
