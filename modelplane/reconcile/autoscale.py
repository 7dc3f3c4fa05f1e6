"""HPA-style autoscaling of deployments, applied as config edits through the validated scale path.

Kubernetes' HPA cannot do this job: replicas here are *placed across clusters* by the scheduler, so a
change must go through planning and Pulumi, not through a scale subresource on one cluster.
"""

from __future__ import annotations

import json
import logging
import math
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from modelplane.reconcile.metrics import ReconcileMetrics
from modelplane.reconcile.settings import AutoscalerSettings

log = logging.getLogger("modelplane.reconcile.autoscale")


class MetricSource(Protocol):
    """Evaluates a query to one number (None when there is no data)."""

    def query(self, promql: str) -> float | None: ...


class PrometheusSource:
    """The Prometheus HTTP API's instant query (``/api/v1/query``); a vector result is summed."""

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def query(self, promql: str) -> float | None:
        url = f"{self.base_url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(url, timeout=self.timeout) as response:
            body = json.load(response)
        return parse_query_result(body)


def parse_query_result(body: dict[str, Any]) -> float | None:
    """A number from a Prometheus query response: scalar as is, vector summed, empty/NaN as None."""
    if body.get("status") != "success":
        raise ValueError(f"prometheus query failed: {body.get('error', body.get('status'))}")
    data = body.get("data", {})
    result = data.get("result")
    if data.get("resultType") == "scalar":
        values = [float(result[1])]
    elif data.get("resultType") == "vector":
        values = [float(sample["value"][1]) for sample in result]
    else:
        raise ValueError(f"unsupported prometheus result type {data.get('resultType')!r}")
    total = sum(values)
    return None if not values or math.isnan(total) else total


def recommend(current: int, load: float, spec: AutoscalerSettings) -> int:
    """HPA's ``ceil(current * (load/current) / target)`` = ``ceil(load / target)``, with tolerance and bounds."""
    if current > 0 and abs(load / (current * spec.target_per_replica) - 1.0) <= spec.tolerance:
        desired = current
    else:
        # Rounding first keeps float noise (1.1 / 0.1 = 11.000000000000002) from adding a replica.
        desired = math.ceil(round(load / spec.target_per_replica, 9))
    return max(spec.min_replicas, min(spec.max_replicas, desired))


@dataclass(frozen=True)
class Decision:
    current: int
    load: float
    recommendation: int
    desired: int

    @property
    def changes(self) -> bool:
        return self.desired != self.current


class Autoscaler:
    """One deployment's loop: read replicas, query load, stabilise scale-down, apply through ``apply``.

    Stabilisation follows HPA: scale up at once; scale down only to the highest recommendation of the
    last ``scaleDownStabilizationSeconds`` (seeded with the replicas seen at start, so a restart does not
    forget the window and drop capacity).
    """

    def __init__(
        self,
        spec: AutoscalerSettings,
        source: MetricSource,
        *,
        clock: Callable[[], float],
        read_replicas: Callable[[], int],
        apply: Callable[[int], None],
        metrics: ReconcileMetrics,
    ) -> None:
        self.spec = spec
        self.source = source
        self.clock = clock
        self.read_replicas = read_replicas
        self.apply = apply
        self.metrics = metrics
        self._history: deque[tuple[float, int]] = deque()

    def decide(self, current: int, load: float, now: float) -> Decision:
        """The stabilised decision for this step (records the recommendation)."""
        if not self._history:
            self._history.append((now, current))
        raw = recommend(current, load, self.spec)
        self._history.append((now, raw))
        while self._history and self._history[0][0] < now - self.spec.scale_down_stabilization_seconds:
            self._history.popleft()
        ceiling = max(r for _, r in self._history)
        if raw > current:
            desired = raw
        elif ceiling < current:
            desired = ceiling
        else:
            desired = current
        return Decision(current, load, raw, desired)

    def step(self) -> Decision | None:
        """One autoscaling step; None when it could not decide (no data, errors are logged)."""
        labels = (self.spec.stack, self.spec.deployment)
        extra = {"stack": self.spec.stack, "deployment": self.spec.deployment}
        try:
            current = self.read_replicas()
            load = self.source.query(self.spec.query)
        except Exception as exc:  # noqa: BLE001 - a metrics outage must not stop the loop
            self.metrics.autoscaler_errors.labels(*labels).inc()
            log.warning("autoscaler could not read load: %s", exc, extra=extra)
            return None
        if load is None:
            log.info("autoscaler: query returned no data; holding", extra=extra)
            return None
        decision = self.decide(current, load, self.clock())
        self.metrics.desired_replicas.labels(*labels).set(decision.desired)
        if decision.changes:
            try:
                self.apply(decision.desired)
            except Exception as exc:  # noqa: BLE001 - a refused plan is logged; the next step tries again
                self.metrics.autoscaler_errors.labels(*labels).inc()
                log.warning("autoscaler could not scale to %d: %s", decision.desired, exc, extra=extra)
                return decision
            log.info("autoscaler scaled %d -> %d (load %.3g)", current, decision.desired, load, extra=extra)
        return decision
