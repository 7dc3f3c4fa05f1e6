"""The autoscaler: HPA formula, tolerance, bounds, scale-down stabilisation, Prometheus parsing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from modelplane.reconcile.autoscale import Autoscaler, PrometheusSource, parse_query_result, recommend
from modelplane.reconcile.metrics import ReconcileMetrics
from modelplane.reconcile.settings import AutoscalerSettings

from .conftest import FakeClock, sample


def spec(**overrides: Any) -> AutoscalerSettings:
    fields = {
        "stack": "dev",
        "deployment": "qwen",
        "minReplicas": 1,
        "maxReplicas": 8,
        "prometheusUrl": "http://prometheus:9090",
        "query": "sum(rate(vllm:request_success_total[2m]))",
        "targetPerReplica": 5,
        "scaleDownStabilizationSeconds": 300,
    }
    return AutoscalerSettings.model_validate({**fields, **overrides})


@pytest.mark.parametrize(
    ("current", "load", "expected"),
    [
        (2, 10.0, 2),  # exactly on target
        (2, 10.9, 2),  # within 10 % tolerance
        (2, 11.5, 3),  # ceil(11.5 / 5)
        (4, 5.0, 1),
        (3, 0.0, 1),  # never below minReplicas
        (3, 1000.0, 8),  # never above maxReplicas
        (0, 0.4, 1),  # from zero, no ratio to compare
        (10, 55.0, 8),  # ceil(11) clamped
    ],
)
def test_recommendation(current: int, load: float, expected: int) -> None:
    assert recommend(current, load, spec()) == expected


def test_recommendation_ignores_float_noise() -> None:
    assert recommend(1, 1.1, spec(targetPerReplica=0.1, maxReplicas=100, tolerance=0)) == 11


def test_min_above_max_is_rejected() -> None:
    with pytest.raises(ValueError, match="minReplicas"):
        spec(minReplicas=5, maxReplicas=2)


class Harness:
    def __init__(self, **overrides: Any) -> None:
        self.clock = FakeClock()
        self.replicas = 4
        self.load: float | None = 20.0
        self.applied: list[int] = []
        self.metrics = ReconcileMetrics()
        self.autoscaler = Autoscaler(
            spec(**overrides),
            self,
            clock=self.clock,
            read_replicas=lambda: self.replicas,
            apply=self.apply,
            metrics=self.metrics,
        )

    def query(self, promql: str) -> float | None:
        return self.load

    def apply(self, replicas: int) -> None:
        self.applied.append(replicas)
        self.replicas = replicas


def test_scale_up_is_immediate_scale_down_waits_for_the_window() -> None:
    h = Harness()
    assert h.autoscaler.step().desired == 4
    h.load = 40.0
    h.clock.advance(30)
    assert h.autoscaler.step().desired == 8
    assert h.applied == [8]
    h.load = 10.0  # wants 2 now, but the last 300 s recommended 8
    for _ in range(9):
        h.clock.advance(30)
        assert h.autoscaler.step().desired == 8
    h.clock.advance(31)  # the 8 recommendation is now more than 300 s old
    decision = h.autoscaler.step()
    assert decision.recommendation == 2 and decision.desired == 2
    assert h.applied == [8, 2]
    assert sample(h.metrics, "modelplane_autoscaler_desired_replicas", stack="dev", deployment="qwen") == 2


def test_no_scale_down_right_after_start() -> None:
    h = Harness()
    h.load = 5.0
    assert h.autoscaler.step().desired == 4
    h.clock.advance(301)
    assert h.autoscaler.step().desired == 1
    assert h.applied == [1]


def test_missing_data_or_errors_hold_replicas() -> None:
    h = Harness()
    h.load = None
    assert h.autoscaler.step() is None

    def broken(promql: str) -> float | None:
        raise OSError("connection refused")

    h.query = broken  # type: ignore[method-assign]
    h.autoscaler.source = h
    assert h.autoscaler.step() is None
    assert h.applied == []
    assert sample(h.metrics, "modelplane_autoscaler_errors_total", stack="dev", deployment="qwen") == 1


def test_a_refused_plan_is_counted_and_retried_next_step() -> None:
    h = Harness()
    h.load = 40.0

    def refuse(replicas: int) -> None:
        raise ValueError("2 of 8 replicas cannot be placed")

    h.autoscaler.apply = refuse
    assert h.autoscaler.step().desired == 8
    assert sample(h.metrics, "modelplane_autoscaler_errors_total", stack="dev", deployment="qwen") == 1


def test_parse_query_results() -> None:
    vector = {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"value": [1, "2.5"]}, {"value": [1, "1"]}]},
    }
    assert parse_query_result(vector) == 3.5
    assert parse_query_result({"status": "success", "data": {"resultType": "vector", "result": []}}) is None
    assert parse_query_result({"status": "success", "data": {"resultType": "scalar", "result": [1, "NaN"]}}) is None
    with pytest.raises(ValueError, match="bad_data"):
        parse_query_result({"status": "error", "error": "bad_data"})


@pytest.fixture
def prometheus() -> Iterator[tuple[str, list[str]]]:
    queries: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            queries.append(parse_qs(url.query)["query"][0])
            body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [{"value": [0, "12"]}]}})
            self.send_response(200 if url.path == "/api/v1/query" else 404)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", queries
    server.shutdown()
    server.server_close()


def test_prometheus_source_uses_the_instant_query_api(prometheus: tuple[str, list[str]]) -> None:
    url, queries = prometheus
    assert PrometheusSource(url).query('sum(rate(x{model="qwen"}[2m]))') == 12.0
    assert queries == ['sum(rate(x{model="qwen"}[2m]))']
