"""The reconcile service: APScheduler as the outer loop around the per-stack runners, plus HTTP and watcher.

Threads: one interval *tick* job per stack (cheap: timers, debounce, claiming a due run) on a small
executor; each claimed run is a one-off job on the ``runs`` executor whose size is the parallelism bound.
The runner's own state machine, not APScheduler, guarantees one run per stack at a time.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from modelplane.reconcile.auth import Auth, AuthSetupError, resolve_auth
from modelplane.reconcile.autoscale import Autoscaler, MetricSource, PrometheusSource
from modelplane.reconcile.driver import AutomationStackDriver, StackDriver
from modelplane.reconcile.http import ControlServer, ServiceStoppingError, UnknownStackError, build_app, metrics_app
from modelplane.reconcile.journal import StateDir, StateDirBusyError
from modelplane.reconcile.logs import Redactor, configure_logging
from modelplane.reconcile.metrics import ReconcileMetrics
from modelplane.reconcile.runner import Result, StackRunner, Trigger
from modelplane.reconcile.scaling import Planner, ScaleResult, facade_planner, read_replicas, scale_deployment
from modelplane.reconcile.settings import AutoscalerSettings, ServiceSettings
from modelplane.reconcile.stackfiles import StackInputs
from modelplane.reconcile.topology import CLUSTER_OUTPUTS, FLEET_OUTPUTS, Topology, outputs_changed, split_topology
from modelplane.reconcile.triggers import FileWatcher

log = logging.getLogger("modelplane.reconcile.service")

EXIT_GRACE_EXCEEDED = 3


class Service:
    """Wires runners, scheduler, file watcher, HTTP port and autoscalers for a set of stacks."""

    def __init__(
        self,
        settings: ServiceSettings,
        project_dir: Path,
        driver: StackDriver,
        *,
        redactor: Redactor,
        clock: Callable[[], float] = time.time,
        planner: Planner = facade_planner,
        metric_source: Callable[[str], MetricSource] = PrometheusSource,
        auth: Auth | None = None,
        state: StateDir | None = None,
    ) -> None:
        if not settings.stacks:
            raise ValueError("no stacks to reconcile")
        self.settings = settings
        self.project_dir = project_dir
        self.planner = planner
        self.redactor = redactor
        self.auth = auth or Auth(None, "none")
        self.state = state
        self.metrics = ReconcileMetrics()
        self.runners = {
            stack: StackRunner(
                StackInputs(project_dir, stack),
                driver,
                settings.runner,
                clock=clock,
                metrics=self.metrics,
                redactor=redactor,
                journal=state.journal(stack) if state else None,
            )
            for stack in settings.stacks
        }
        self.topology = split_topology(project_dir, settings.stacks)
        self._order_split_stacks(self.topology)
        self.autoscalers = [
            self._autoscaler(spec, metric_source(spec.prometheus_url), clock) for spec in settings.autoscalers
        ]
        self._scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(4),
                "runs": ThreadPoolExecutor(settings.parallelism),
                "autoscale": ThreadPoolExecutor(2),
            },
            # A late tick is still worth running once; "missed" warnings would only be noise.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )
        self._watcher = FileWatcher(
            {stack: runner.inputs.watch_targets for stack, runner in self.runners.items()},
            lambda stack: self.runners[stack].note_file_event(),
        )
        self._servers: list[ControlServer] = []
        self._watching = False
        self._started = threading.Event()
        self._stopping = threading.Event()
        self._ready_latch = threading.Event()

    def _order_split_stacks(self, topology: Topology) -> None:
        """Fleet before its clusters, clusters (in parallel) before the fleet's next pass; see ``topology``."""
        for fleet_name, cluster_names in topology.clusters.items():
            fleet = self.runners[fleet_name]
            clusters = [self.runners[name] for name in cluster_names]
            fleet.gate = lambda clusters=clusters: not any(c.active for c in clusters)
            fleet.on_outputs = lambda before, after, clusters=clusters: _tell(clusters, before, after, FLEET_OUTPUTS)
            for cluster in clusters:
                cluster.gate = lambda fleet=fleet: not fleet.due
                cluster.on_outputs = lambda before, after, fleet=fleet: _tell([fleet], before, after, CLUSTER_OUTPUTS)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self, *, watch: bool = True, http: bool = True) -> None:
        """Queue each stack's startup check, then start ticks, the watcher and the HTTP port."""
        logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every tick at INFO
        for stack, runner in self.runners.items():
            trigger = runner.request_startup()
            log.info("first run: %s", trigger.value, extra={"stack": stack})
            self._scheduler.add_job(
                self.tick, "interval", args=[stack], seconds=self.settings.tick_seconds, id=f"tick:{stack}"
            )
        for i, autoscaler in enumerate(self.autoscalers):
            self._scheduler.add_job(
                autoscaler.step,
                "interval",
                seconds=autoscaler.spec.interval_seconds,
                executor="autoscale",
                id=f"autoscale:{i}",
            )
        if watch:
            self._scheduler.add_job(self._watcher.sync, "interval", seconds=self.settings.runner.input_poll_seconds)
            self._watcher.start()
            self._watching = True
        if http:
            self._start_http()
        self._scheduler.start()
        self._started.set()
        log.info(
            "reconcile service started",
            extra={
                "stacks": list(self.runners),
                "port": self.http_port,
                "metricsPort": self.metrics_port,
                "auth": self.auth.source,
                "splitStacks": {fleet: list(c) for fleet, c in self.topology.clusters.items()},
            },
        )

    def _start_http(self) -> None:
        http = self.settings.http
        separate_metrics = http.metrics_port is not None
        app = build_app(self, self.redactor, self.auth.token, with_metrics=not separate_metrics)
        self._servers.append(ControlServer(app, http.host, http.port, http))
        if http.metrics_port is not None:
            host = http.metrics_host or http.host
            self._servers.append(ControlServer(metrics_app(self), host, http.metrics_port, http, name="metrics"))
        for server in self._servers:
            server.start()

    @property
    def http_port(self) -> int | None:
        return self._servers[0].port if self._servers else None

    @property
    def metrics_port(self) -> int | None:
        return self._servers[1].port if len(self._servers) > 1 else self.http_port

    def tick(self, stack: str) -> None:
        """Advance one stack's timers; hand a claimed run to the bounded ``runs`` executor."""
        runner = self.runners[stack]
        if runner.poll():
            self._scheduler.add_job(runner.execute, executor="runs", id=f"run:{stack}")

    def shutdown(self, grace: float | None = None) -> bool:
        """Stop taking triggers, let runs in flight finish within ``grace`` seconds; True if all finished.

        Queued runs are dropped. An ``up`` is never interrupted: stopping Pulumi mid-update leaves the
        stack locked with pending operations, which is worse than waiting.
        """
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        self._stopping.set()
        for runner in self.runners.values():
            runner.stop()
        if self._watching:
            self._watcher.stop()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        deadline = time.monotonic() + grace
        clean = all(runner.wait_idle(max(0.0, deadline - time.monotonic())) for runner in self.runners.values())
        for server in self._servers:
            server.stop()
        if self.state is not None:
            self.state.release()
        log.info("reconcile service stopped", extra={"clean": clean})
        return clean

    # --- ControlApi (HTTP) ----------------------------------------------------------------------

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """Ready once every stack converged since start (each had a successful run and none has work left;
        split stacks: after fleet, clusters and fleet again), and then while no stack's last run failed.

        A failed run makes the service unready until that stack's next run succeeds: the answer says which
        stack, never its error (``/readyz`` needs no token; the error is in ``GET /stacks``).
        """
        statuses = self.statuses()  # one snapshot per stack: the latch and the reasons agree
        if self._started.is_set() and all(_settled(status) for status in statuses.values()):
            self._ready_latch.set()
        reasons = self._not_ready_reasons(statuses)
        stacks = {stack: _readiness(status) for stack, status in statuses.items()}
        return not reasons, {"reason": "; ".join(reasons) or None, "stacks": stacks}

    def _not_ready_reasons(self, statuses: dict[str, dict[str, Any]]) -> list[str]:
        if self._stopping.is_set():
            return ["shutting down"]
        if not self._started.is_set():
            return ["not started"]
        reasons = []
        for stack, status in statuses.items():
            if status["lastResult"] == Result.FAILURE:
                reasons.append(f"stack '{stack}': last run failed ({status['failures']} in a row; see GET /stacks)")
            elif status["lastResult"] == Result.CONFLICT:
                reasons.append(f"stack '{stack}': another update holds the stack's lock (see GET /stacks)")
            elif not self._ready_latch.is_set() and not _settled(status):
                state = "converging" if status["converged"] else "not converged since start"
                reasons.append(f"stack '{stack}': {state} ({status['phase']})")
        return reasons

    def statuses(self) -> dict[str, Any]:
        return {stack: runner.status() for stack, runner in self.runners.items()}

    def metrics_text(self) -> bytes:
        return self.metrics.exposition()

    def trigger_manual(self, stack: str) -> None:
        if not self._runner(stack).request(Trigger.MANUAL):
            raise ServiceStoppingError("shutting down")

    def set_replicas(self, stack: str, deployment: str, replicas: int) -> dict[str, Any]:
        result = self.scale(stack, deployment, replicas)
        return {"stack": stack, "deployment": deployment, "previous": result.previous, "replicas": result.replicas}

    # --- scaling --------------------------------------------------------------------------------

    def scale(self, stack: str, deployment: str, replicas: int) -> ScaleResult:
        """The validated config edit, then a run (HTTP replicas endpoint and autoscalers use this)."""
        runner = self._runner(stack)
        if self._stopping.is_set():
            raise ServiceStoppingError("shutting down")
        result = scale_deployment(self.project_dir, stack, deployment, replicas, planner=self.planner)
        if result.changed:
            runner.request(Trigger.SCALE)
        return result

    def _autoscaler(self, spec: AutoscalerSettings, source: MetricSource, clock: Callable[[], float]) -> Autoscaler:
        return Autoscaler(
            spec,
            source,
            clock=clock,
            read_replicas=lambda: read_replicas(self.project_dir, spec.stack, spec.deployment),
            apply=lambda n: self.scale(spec.stack, spec.deployment, n),
            metrics=self.metrics,
        )

    def _runner(self, stack: str) -> StackRunner:
        try:
            return self.runners[stack]
        except KeyError:
            raise UnknownStackError(f"this service does not reconcile stack '{stack}'") from None


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGTERM/SIGINT set ``stop``; the main thread then runs the graceful shutdown."""

    def handler(signum: int, _frame: object) -> None:
        log.info("received %s; shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


class StartupError(Exception):
    """The service refuses to start (authentication setup, state directory); the message says why."""


def build_service(settings: ServiceSettings, project_dir: Path, redactor: Redactor) -> Service:
    """The production wiring: state dir (held), token, Automation API driver that journals its processes."""
    redactor.register_environment(os.environ)
    for autoscaler in settings.autoscalers:
        redactor.register_url_credentials(autoscaler.prometheus_url)
    state = StateDir(settings.state_dir)
    try:
        state.acquire()
        auth = resolve_auth(settings.http, settings.state_dir)
    except (StateDirBusyError, AuthSetupError) as error:
        state.release()
        raise StartupError(str(error)) from error
    if auth.token:
        redactor.register(auth.token)
    runners: dict[str, StackRunner] = {}
    driver = AutomationStackDriver(
        project_dir, redactor, on_process=lambda stack, pid, start: runners[stack].note_process(pid, start)
    )
    service = Service(settings, project_dir, driver, redactor=redactor, auth=auth, state=state)
    runners.update(service.runners)
    return service


def serve(settings: ServiceSettings, project_dir: Path, *, log_level: str = "INFO") -> int:
    """Run the service until SIGTERM/SIGINT; returns the process exit code."""
    redactor = Redactor()
    configure_logging(redactor, log_level)
    try:
        service = build_service(settings, project_dir, redactor)
    except StartupError as error:
        log.error("not starting: %s", error)
        return 2
    stop = threading.Event()
    install_signal_handlers(stop)
    service.start()
    while not stop.wait(1.0):  # a bounded wait keeps the main thread responsive to signals
        pass
    if service.shutdown():
        return 0
    log.error("grace period over with a run in flight; exiting without waiting for it")
    logging.shutdown()
    # Worker threads are not daemons (concurrent.futures joins them at exit): leave now, as documented.
    os._exit(EXIT_GRACE_EXCEEDED)


def _settled(status: dict[str, Any]) -> bool:
    """Converged since start, idle, nothing pending."""
    return bool(status["converged"]) and status["phase"] == "idle" and not status["pending"]


def _readiness(status: dict[str, Any]) -> dict[str, Any]:
    """The part of a stack's status ``/readyz`` shows without a token: no error text, no inputs."""
    return {key: status[key] for key in ("phase", "converged", "lastResult", "failures")}


def _tell(
    readers: list[StackRunner], before: dict[str, Any] | None, after: dict[str, Any], keys: tuple[str, ...]
) -> None:
    """Ask the stacks that read these outputs to run, if the outputs they read changed."""
    if outputs_changed(before, after, keys):
        for reader in readers:
            reader.request(Trigger.UPSTREAM)
