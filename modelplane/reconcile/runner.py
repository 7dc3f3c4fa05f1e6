"""The deterministic reconcile core: one ``StackRunner`` per stack, driven by an injected clock.

States: IDLE -> (claimed by ``poll``) QUEUED -> (``execute``) RUNNING -> IDLE, or STOPPED after ``stop()``.
A trigger while QUEUED merges into the queued run; a trigger while RUNNING becomes exactly one follow-up run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, TypeVar

from modelplane.reconcile.driver import ChangeSummary, ConcurrentUpdateError, DriverError, StackDriver
from modelplane.reconcile.journal import StackJournal
from modelplane.reconcile.locks import Verdict, classify, file_backend_root, stack_locks
from modelplane.reconcile.logs import Redactor
from modelplane.reconcile.metrics import ReconcileMetrics
from modelplane.reconcile.settings import RunnerSettings
from modelplane.reconcile.stackfiles import PLACEMENT_KEY, StackInputs, dump_placement, parse_placement
from modelplane.reconcile.triggers import Debouncer

Clock = Callable[[], float]
T = TypeVar("T")
log = logging.getLogger("modelplane.reconcile")


class Work(IntEnum):
    """What a run does; when requests merge, the larger value wins (an ``up`` subsumes a check)."""

    CHECK = 1
    UP = 2


class Trigger(StrEnum):
    STARTUP = "startup"
    EDIT = "edit"
    DRIFT = "drift"
    MANUAL = "manual"
    SCALE = "scale"
    RECOVERY = "recovery"  # this service stopped in the middle of an update of the stack
    UPSTREAM = "upstream"  # a stack this one reads (StackReference) has new outputs


_WORK = {
    Trigger.STARTUP: Work.CHECK,
    Trigger.DRIFT: Work.CHECK,
    Trigger.EDIT: Work.UP,
    Trigger.MANUAL: Work.UP,
    Trigger.SCALE: Work.UP,
    Trigger.RECOVERY: Work.UP,
    Trigger.UPSTREAM: Work.UP,
}
# Triggers whose ``up`` reads the real resources first: drift, and a person asking to converge for real.
_REFRESHES = frozenset({Trigger.DRIFT, Trigger.MANUAL})
# A person asking explicitly should not wait out a backoff; automatic triggers must (that is what it is for).
_BYPASSES_BACKOFF = frozenset({Trigger.MANUAL})


class Phase(StrEnum):
    IDLE = "idle"
    QUEUED = "queued"
    RUNNING = "running"
    STOPPED = "stopped"


class Result(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class Pending:
    """A run waiting to happen: its work and every trigger folded into it."""

    work: Work
    reasons: frozenset[Trigger]

    def merged(self, other: Pending | None) -> Pending:
        if other is None:
            return self
        return Pending(max(self.work, other.work), self.reasons | other.reasons)


@dataclass(frozen=True)
class RunOutcome:
    """What one run did; returned to the caller and logged."""

    stack: str
    pending: Pending
    result: Result
    ups: int = 0
    drift: ChangeSummary | None = None
    error: str | None = None


@dataclass
class _State:
    phase: Phase = Phase.IDLE
    pending: Pending | None = None
    follow_up: Pending | None = None
    failures: int = 0
    not_before: float = 0.0
    conflict_since: float | None = None
    stopping: bool = False
    first_run_done: bool = False
    converged: bool = False  # a run has succeeded since start (the stack matched its inputs then)
    last_success_at: float | None = None
    last_result: Result | None = None
    last_error: str | None = None
    last_drift: dict[str, int] = field(default_factory=dict)


class StackRunner:
    """Decides when a stack runs and runs it through the driver; never two runs of one stack at once."""

    def __init__(
        self,
        inputs: StackInputs,
        driver: StackDriver,
        settings: RunnerSettings,
        *,
        clock: Clock,
        metrics: ReconcileMetrics,
        redactor: Redactor,
        journal: StackJournal | None = None,
    ) -> None:
        self.stack = inputs.stack
        self.journal = journal
        # Set by the service for split stacks: may this stack run now, and who to tell about new outputs.
        self.gate: Callable[[], bool] = lambda: True
        self.on_outputs: Callable[[dict[str, Any] | None, dict[str, Any]], None] = lambda before, after: None
        self._outputs: dict[str, Any] | None = None
        self.inputs = inputs
        self.driver = driver
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.redactor = redactor
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._state = _State()
        self._debounce = Debouncer(settings.debounce_seconds, settings.debounce_max_seconds)
        self._seen_fingerprint = inputs.fingerprint()
        self._unsynced_record: dict[str, Any] | None = None
        now = clock()
        self._next_drift_at = now + settings.drift_interval_seconds
        self._next_poll_at = now + settings.input_poll_seconds

    # --- triggers -------------------------------------------------------------------------------

    def request(self, trigger: Trigger) -> bool:
        """Ask for a run; False once stopped. Coalesces with whatever is already pending."""
        wanted = Pending(_WORK[trigger], frozenset({trigger}))
        with self._lock:
            state = self._state
            if state.stopping:
                return False
            if state.phase is Phase.RUNNING:
                state.follow_up = wanted.merged(state.follow_up)
            else:
                state.pending = wanted.merged(state.pending)
            if trigger in _BYPASSES_BACKOFF:
                state.not_before = min(state.not_before, self.clock())
        return True

    def request_startup(self) -> Trigger:
        """The first run's trigger, from the journal: finish a crashed update, apply an edit never applied, or check.

        An edit accepted before a stop is in the stack file but not in the applied fingerprint, so it is
        applied now even with ``autoRemediate`` off (a check would only report it).
        """
        journal = self.journal
        trigger = Trigger.STARTUP
        if journal is not None:
            applied = journal.applied_fingerprint
            if journal.in_flight is not None:
                trigger = Trigger.RECOVERY
            elif applied is not None and applied != self.inputs.fingerprint():
                trigger = Trigger.EDIT
        self.request(trigger)
        return trigger

    def note_process(self, pid: int, start: int | None) -> None:
        """A Pulumi CLI process started for this stack's operation in flight (journalled as this service's)."""
        if self.journal is not None:
            self.journal.add_process(pid, start)

    def note_file_event(self) -> None:
        """A file this stack depends on changed on disk (debounced; acted on by ``poll``)."""
        with self._lock:
            self._debounce.note(self.clock())

    def check_inputs(self) -> bool:
        """Request an ``up`` if the stack's inputs differ from those last seen; True if so."""
        fingerprint = self.inputs.fingerprint()
        with self._lock:
            if fingerprint == self._seen_fingerprint:
                return False
            self._seen_fingerprint = fingerprint
        return self.request(Trigger.EDIT)

    # --- the loop -------------------------------------------------------------------------------

    def poll(self) -> bool:
        """Advance timers (debounce, input poll, drift) and claim a due run: True means call ``execute``."""
        now = self.clock()
        allowed = self.gate()  # outside our lock: the gate reads other runners' state
        with self._lock:
            inputs_due = self._debounce.due(now) or now >= self._next_poll_at
            if inputs_due:
                self._next_poll_at = now + self.settings.input_poll_seconds
        if inputs_due:
            self.check_inputs()
        if now >= self._next_drift_at and self.phase is Phase.IDLE:
            self._next_drift_at = now + self.settings.drift_interval_seconds
            self.request(Trigger.DRIFT)
        with self._lock:
            state = self._state
            if state.phase is not Phase.IDLE or state.pending is None or now < state.not_before or not allowed:
                return False
            state.phase = Phase.QUEUED
            self._idle.clear()
            return True

    def execute(self) -> RunOutcome | None:
        """Run the claimed work (blocking; Pulumi runs here). None if nothing was claimed or we stopped."""
        with self._lock:
            state = self._state
            if state.phase is not Phase.QUEUED or state.pending is None:
                return None
            state.phase, pending, state.pending = Phase.RUNNING, state.pending, None
        fingerprint = self.inputs.fingerprint()
        if pending.work is Work.UP or self.settings.auto_remediate:
            # This run applies the inputs as they are now; edits from here on cause the follow-up. A
            # report-only check applies nothing, so an edit it saw must still come back as an edit.
            with self._lock:
                self._seen_fingerprint = fingerprint
        started = self.clock()
        self.metrics.in_progress.labels(self.stack).set(1)
        log.info(
            "run started",
            extra={"stack": self.stack, "work": pending.work.name.lower(), "reasons": sorted(pending.reasons)},
        )
        try:
            outcome = self._perform(pending, started, fingerprint)
        finally:
            self.metrics.in_progress.labels(self.stack).set(0)
        self._finish(outcome)
        return outcome

    def run_once(self) -> RunOutcome | None:
        """``poll`` then ``execute``: the whole loop, synchronously (tests, one-shot use)."""
        return self.execute() if self.poll() else None

    def stop(self) -> None:
        """Refuse new triggers and drop queued work; a run in flight finishes (see ``wait_idle``)."""
        with self._lock:
            state = self._state
            state.stopping = True
            state.pending = state.follow_up = None
            if state.phase is not Phase.RUNNING:
                state.phase = Phase.STOPPED
                self._idle.set()

    def wait_idle(self, timeout: float | None) -> bool:
        """Wait until no run is queued or in flight; False on timeout."""
        return self._idle.wait(timeout)

    # --- status ---------------------------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        with self._lock:
            return self._state.phase

    @property
    def first_run_done(self) -> bool:
        with self._lock:
            return self._state.first_run_done

    @property
    def converged(self) -> bool:
        """A run has succeeded since start."""
        with self._lock:
            return self._state.converged

    @property
    def last_result(self) -> Result | None:
        """How the last finished run ended; None before the first."""
        with self._lock:
            return self._state.last_result

    @property
    def settled(self) -> bool:
        """Idle with nothing pending: no run queued, running or waiting out a backoff."""
        with self._lock:
            return self._state.phase is Phase.IDLE and self._state.pending is None

    @property
    def active(self) -> bool:
        """Queued or running."""
        with self._lock:
            return self._state.phase in (Phase.QUEUED, Phase.RUNNING)

    @property
    def due(self) -> bool:
        """Active, or with a run pending whose backoff is over."""
        with self._lock:
            state = self._state
            pending_due = state.pending is not None and self.clock() >= state.not_before
            return state.phase in (Phase.QUEUED, Phase.RUNNING) or pending_due

    def status(self) -> dict[str, Any]:
        """A JSON-ready snapshot for ``/readyz`` and ``/stacks``."""
        with self._lock:
            s = self._state
            return {
                "phase": s.phase.value,
                "pending": sorted(s.pending.reasons) if s.pending else [],
                "followUp": sorted(s.follow_up.reasons) if s.follow_up else [],
                "failures": s.failures,
                "notBefore": s.not_before,
                "firstRunDone": s.first_run_done,
                "converged": s.converged,
                "lastSuccessAt": s.last_success_at,
                "lastResult": s.last_result.value if s.last_result else None,
                "lastError": s.last_error,
                "lastDrift": s.last_drift,
            }

    # --- one run --------------------------------------------------------------------------------

    def _perform(self, pending: Pending, started: float, fingerprint: str) -> RunOutcome:
        try:
            return self._reconcile(pending, fingerprint)
        except ConcurrentUpdateError as exc:
            self._maybe_cancel(started)
            return RunOutcome(self.stack, pending, Result.CONFLICT, error=self._short(exc))
        except Exception as exc:
            log.debug("run failed", exc_info=True, extra={"stack": self.stack})
            return RunOutcome(self.stack, pending, Result.FAILURE, error=self._short(exc))

    def _reconcile(self, pending: Pending, fingerprint: str) -> RunOutcome:
        refreshed = Trigger.RECOVERY in pending.reasons and self._recover()
        self._sync_placement_before()
        drift: ChangeSummary | None = None
        if pending.work is Work.CHECK:
            drift = self._timed("check", lambda: self.driver.refresh_preview(self.stack, on_output=self._engine_line))
            self._record_drift(drift)
            if not drift.has_changes:
                self._record_applied(fingerprint)
            if not drift.has_changes or not self.settings.auto_remediate:
                return RunOutcome(self.stack, pending, Result.SUCCESS, drift=drift)
        # Drift means the real resources moved: refresh first so the update puts them back.
        refresh = not refreshed and (drift is not None or bool(pending.reasons & _REFRESHES))
        before = self._known_outputs()
        result = self._timed(
            "up",
            lambda: self._journalled(
                "up", lambda: self.driver.up(self.stack, refresh=refresh, on_output=self._engine_line)
            ),
        )
        self._record_applied(fingerprint)
        self._write_placement(parse_placement(result.outputs.get("placement")))
        self._outputs = result.outputs
        # Called before this run ends, so readiness never sees a gap between this run and the one it causes.
        self.on_outputs(before, result.outputs)
        return RunOutcome(self.stack, pending, Result.SUCCESS, ups=1, drift=drift)

    # --- crash recovery -------------------------------------------------------------------------

    def _recover(self) -> bool:
        """After this service died mid-update: clear the lock its own dead CLI left, drop pending creates,
        refresh. True once refreshed. A lock that is not provably ours is left alone (the refresh then
        fails with a concurrent-update error, which is reported and retried)."""
        in_flight = self.journal.in_flight if self.journal is not None else None
        if in_flight is not None:
            self._clear_own_stale_locks(in_flight)
        pending_ops = self.driver.pending_operations(self.stack)
        if pending_ops:
            log.warning(
                "a killed update left %d pending operation(s); refreshing and clearing pending creates",
                len(pending_ops),
                extra={"stack": self.stack, "pendingOperations": pending_ops},
            )
        self._timed(
            "refresh",
            lambda: self._journalled(
                "refresh",
                lambda: self.driver.refresh(
                    self.stack, clear_pending_creates=bool(pending_ops), on_output=self._engine_line
                ),
            ),
        )
        if self.journal is not None and self.journal.in_flight is not None:
            self.journal.end()
        return True

    def _clear_own_stale_locks(self, in_flight: dict[str, Any]) -> None:
        root = file_backend_root(self.driver.backend_url(self.stack))
        if root is None:
            log.warning(
                "stopped mid-update on a backend that is not file://: a stale lock there is not cleared here",
                extra={"stack": self.stack},
            )
            return
        for lock in stack_locks(root, self.driver.project_name(self.stack), self.stack):
            verdict = classify(lock, in_flight)
            extra = {"stack": self.stack, "lock": str(lock.path), "verdict": verdict.value}
            if verdict is Verdict.OURS_RUNNING:
                raise ConcurrentUpdateError(f"this service's previous Pulumi process still runs: {lock.describe()}")
            if verdict is Verdict.OURS_DEAD:
                lock.remove()
                log.warning(
                    "cleared the stale lock %s: its pid was a Pulumi process this service started (journalled), "
                    "on this host and boot, and it no longer runs",
                    lock.describe(),
                    extra=extra,
                )
            else:
                log.warning("left the lock %s: not provably this service's", lock.describe(), extra=extra)

    def _journalled(self, operation: str, call: Callable[[], T]) -> T:
        """An operation that takes the stack's lock, noted in the journal while it runs (see ``_recover``)."""
        if self.journal is None:
            return call()
        self.journal.begin(operation)
        try:
            return call()
        finally:
            self.journal.end()

    def _record_applied(self, fingerprint: str) -> None:
        if self.journal is not None:
            self.journal.record_applied(fingerprint)

    def _known_outputs(self) -> dict[str, Any] | None:
        """The stack outputs before this run's ``up`` (asked once; afterwards kept from each ``up``)."""
        if self._outputs is None:
            try:
                self._outputs = self.driver.outputs(self.stack)
            except DriverError:
                return None  # unknown: every output counts as new after this `up`
        return self._outputs

    def _timed(self, kind: str, operation: Callable[[], T]) -> T:
        start = self.clock()
        result = Result.FAILURE
        try:
            value = operation()
            result = Result.SUCCESS
            return value
        except ConcurrentUpdateError:
            result = Result.CONFLICT
            raise
        finally:
            self.metrics.duration.labels(self.stack, kind).observe(max(0.0, self.clock() - start))
            self.metrics.runs.labels(self.stack, kind, result.value).inc()

    def _record_drift(self, drift: ChangeSummary) -> None:
        changes = drift.changes
        self.metrics.pending_changes.labels(self.stack).set(sum(changes.values()))
        with self._lock:
            self._state.last_drift = changes
        if changes:
            self.metrics.drift.labels(self.stack).inc()
            action = "remediating" if self.settings.auto_remediate else "report only (autoRemediate is off)"
            log.warning("drift detected: %s", action, extra={"stack": self.stack, "changes": changes})

    # --- sticky placement -----------------------------------------------------------------------

    def _sync_placement_before(self) -> None:
        """Finish a write-back that failed last time, or restore a record lost from config (fresh checkout).

        A record present in config is never overwritten here: only a successful ``up`` replaces it.
        """
        if self._unsynced_record is not None:
            self._write_placement(self._unsynced_record)
        elif self.driver.get_config(self.stack, PLACEMENT_KEY) is None:
            self._write_placement(parse_placement(self.driver.outputs(self.stack).get("placement")))

    def _write_placement(self, record: dict[str, Any] | None) -> None:
        if record is None:
            log.warning("stack has no 'placement' output; placement record not updated", extra={"stack": self.stack})
            return
        self._unsynced_record = record
        with self.inputs.lock():
            if parse_placement(self.driver.get_config(self.stack, PLACEMENT_KEY)) != record:
                self.driver.set_config(self.stack, PLACEMENT_KEY, dump_placement(record))
        self._unsynced_record = None

    # --- bookkeeping ----------------------------------------------------------------------------

    def _finish(self, outcome: RunOutcome) -> None:
        now = self.clock()
        with self._lock:
            state = self._state
            state.first_run_done = True
            state.last_result = outcome.result
            if outcome.result is Result.SUCCESS:
                state.converged = True
                state.failures, state.conflict_since, state.last_error = 0, None, None
                state.last_success_at = now
                state.pending = state.follow_up
            else:
                retry = outcome.pending.merged(state.follow_up)
                state.pending, state.last_error = retry, outcome.error
                if outcome.result is Result.CONFLICT:
                    state.conflict_since = state.conflict_since or now
                    state.not_before = now + self.settings.concurrent_update_retry_seconds
                else:
                    state.failures += 1
                    state.not_before = now + self.settings.backoff.delay(state.failures)
            state.follow_up = None
            if state.stopping:
                state.pending, state.phase = None, Phase.STOPPED
            else:
                state.phase = Phase.IDLE
            failures = state.failures
        self._idle.set()
        self._report(outcome, now, failures)

    def _report(self, outcome: RunOutcome, now: float, failures: int) -> None:
        self.metrics.consecutive_failures.labels(self.stack).set(failures)
        if outcome.result is Result.SUCCESS:
            self.metrics.last_success.labels(self.stack).set(now)
        elif outcome.result is Result.FAILURE:
            self.metrics.failures.labels(self.stack).inc()
        extra = {
            "stack": self.stack,
            "result": outcome.result.value,
            "work": outcome.pending.work.name.lower(),
            "reasons": sorted(outcome.pending.reasons),
            "ups": outcome.ups,
        }
        if outcome.error:
            log.error("run %s: %s", outcome.result.value, outcome.error, extra=extra)
        else:
            log.info("run %s", outcome.result.value, extra=extra)

    def _maybe_cancel(self, started: float) -> None:
        """Cancel another update only when explicitly enabled and the conflict has lasted long enough."""
        limit = self.settings.cancel_stale_update_after_seconds
        with self._lock:
            since = self._state.conflict_since or started
        if limit is not None and self.clock() - since >= limit:
            log.warning("cancelling an update that held the stack for %.0fs", limit, extra={"stack": self.stack})
            self.driver.cancel(self.stack)
            with self._lock:
                self._state.conflict_since = None

    def _engine_line(self, line: str) -> None:
        text = line.rstrip()
        if text:
            log.info(self.redactor.redact(text), extra={"stack": self.stack, "stream": "engine"})

    def _short(self, exc: BaseException) -> str:
        """A one-paragraph, redacted error for logs and status."""
        return self.redactor.redact(f"{type(exc).__name__}: {exc}".strip())[-2000:]
