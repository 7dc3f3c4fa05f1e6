"""Prometheus metrics of the reconcile service, on a registry of its own (no process-global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)  # Pulumi runs take seconds to an hour


class ReconcileMetrics:
    """Runs, failures, drift, last success and durations per stack; autoscaler decisions per deployment."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "modelplane_reconcile_runs",
            "Pulumi operations run, by kind and result.",
            ["stack", "kind", "result"],
            registry=r,
        )
        self.failures = Counter("modelplane_reconcile_failures", "Failed reconcile runs.", ["stack"], registry=r)
        self.drift = Counter(
            "modelplane_reconcile_drift_detected", "Drift checks that found changes.", ["stack"], registry=r
        )
        self.last_success = Gauge(
            "modelplane_reconcile_last_success_timestamp_seconds",
            "End of the last successful run.",
            ["stack"],
            registry=r,
        )
        self.duration = Histogram(
            "modelplane_reconcile_run_duration_seconds",
            "Duration of Pulumi operations.",
            ["stack", "kind"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.pending_changes = Gauge(
            "modelplane_reconcile_pending_changes",
            "Non-same operations found by the last drift check.",
            ["stack"],
            registry=r,
        )
        self.consecutive_failures = Gauge(
            "modelplane_reconcile_consecutive_failures", "Failures since the last success.", ["stack"], registry=r
        )
        self.in_progress = Gauge(
            "modelplane_reconcile_in_progress", "1 while a run is in flight.", ["stack"], registry=r
        )
        self.desired_replicas = Gauge(
            "modelplane_autoscaler_desired_replicas",
            "Replicas the autoscaler last decided on.",
            ["stack", "deployment"],
            registry=r,
        )
        self.autoscaler_errors = Counter(
            "modelplane_autoscaler_errors",
            "Autoscaler steps that could not decide or apply.",
            ["stack", "deployment"],
            registry=r,
        )

    def exposition(self) -> bytes:
        """The text format for ``/metrics``."""
        return generate_latest(self.registry)
