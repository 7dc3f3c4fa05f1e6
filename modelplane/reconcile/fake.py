"""An in-memory ``StackDriver`` for tests: scriptable outcomes, recorded calls, no Pulumi."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from typing import Any

from modelplane.reconcile.driver import ChangeSummary, OnOutput, UpResult
from modelplane.reconcile.logs import Redactor

_GATE_TIMEOUT = 10.0  # a test that forgets to open the gate fails instead of hanging


class FakeStackDriver:
    """Behaves like a stack backend held in memory.

    Script it with ``fail`` (queued exceptions per operation), ``drift`` (what the next drift check
    finds), ``next_outputs`` (what an ``up`` exports), ``engine_lines`` (what operations print) and
    ``block_up`` (an ``up`` that waits until the returned event is set). Every call lands in ``calls``.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        self.redactor = redactor or Redactor()
        self.calls: list[tuple[str, str]] = []
        self.config: dict[str, dict[str, tuple[str, bool]]] = defaultdict(dict)
        self.stack_outputs: dict[str, dict[str, Any]] = defaultdict(dict)
        self.next_outputs: dict[str, dict[str, Any]] = {}
        self.drift: dict[str, dict[str, int]] = {}
        self.engine_lines: list[str] = []
        self.up_started = threading.Event()
        self.up_refresh: list[bool] = []
        self.pending_ops: dict[str, list[str]] = defaultdict(list)
        self.refreshes: list[tuple[str, bool]] = []
        self.backend = "file:///nonexistent-fake-backend"
        self.active_ups = 0
        self.max_active_ups = 0
        self._errors: dict[tuple[str, str], deque[Exception]] = defaultdict(deque)
        self._gate: threading.Event | None = None
        self._lock = threading.Lock()

    # --- scripting ------------------------------------------------------------------------------

    def fail(self, op: str, stack: str, *errors: Exception) -> None:
        """The next ``len(errors)`` calls of ``op`` on ``stack`` raise these, in order."""
        self._errors[(op, stack)].extend(errors)

    def block_up(self) -> threading.Event:
        """Make every ``up`` wait until the returned event is set (``up_started`` is set on entry)."""
        self._gate = threading.Event()
        return self._gate

    def ops(self, op: str, stack: str | None = None) -> int:
        """How many times ``op`` ran (on ``stack``, or on any)."""
        with self._lock:
            return sum(1 for o, s in self.calls if o == op and stack in (None, s))

    # --- StackDriver ----------------------------------------------------------------------------

    def refresh_preview(self, stack: str, *, on_output: OnOutput | None = None) -> ChangeSummary:
        self._enter("refresh_preview", stack, on_output)
        return ChangeSummary({"same": 3, **self.drift.get(stack, {})})

    def preview(self, stack: str, *, on_output: OnOutput | None = None) -> ChangeSummary:
        self._enter("preview", stack, on_output)
        return ChangeSummary({"same": 3, **self.drift.get(stack, {})})

    def up(self, stack: str, *, refresh: bool = False, on_output: OnOutput | None = None) -> UpResult:
        with self._lock:
            self.active_ups += 1
            self.max_active_ups = max(self.max_active_ups, self.active_ups)
        self.up_started.set()
        try:
            if self._gate is not None and not self._gate.wait(_GATE_TIMEOUT):
                raise TimeoutError("fake up gate never opened")
        finally:
            with self._lock:
                self.active_ups -= 1
        self.up_refresh.append(refresh)
        self._enter("up", stack, on_output)
        outputs = dict(self.next_outputs.get(stack, {}))
        changes = ChangeSummary({"same": 3, **self.drift.pop(stack, {"update": 1})})
        self.stack_outputs[stack] = outputs
        return UpResult(changes, outputs)

    def outputs(self, stack: str) -> dict[str, Any]:
        self._enter("outputs", stack, None)
        return dict(self.stack_outputs[stack])

    def get_config(self, stack: str, key: str) -> str | None:
        self._enter("get_config", stack, None)
        entry = self.config[stack].get(key)
        return None if entry is None else entry[0]

    def set_config(self, stack: str, key: str, value: str, *, secret: bool = False) -> None:
        self._enter("set_config", stack, None)
        if secret:
            self.redactor.register(value)
        self.config[stack][key] = (value, secret)

    def cancel(self, stack: str) -> None:
        self._enter("cancel", stack, None)

    def refresh(self, stack: str, *, clear_pending_creates: bool = False, on_output: OnOutput | None = None) -> None:
        self._enter("refresh", stack, on_output)
        self.refreshes.append((stack, clear_pending_creates))
        if clear_pending_creates:
            self.pending_ops[stack] = [op for op in self.pending_ops[stack] if not op.startswith("creating ")]

    def pending_operations(self, stack: str) -> list[str]:
        self._enter("pending_operations", stack, None)
        return list(self.pending_ops[stack])

    def backend_url(self, stack: str) -> str | None:
        self._enter("backend_url", stack, None)
        return self.backend

    def project_name(self, stack: str) -> str:
        return "modelplane"

    def _enter(self, op: str, stack: str, on_output: OnOutput | None) -> None:
        """Record the call, register secret config (as the real adapter does), then fail or print as scripted."""
        with self._lock:
            self.calls.append((op, stack))
            queued = self._errors[(op, stack)]
            error = queued.popleft() if queued else None
        for value, secret in self.config[stack].values():
            if secret:
                self.redactor.register(value)
        if error is not None:
            raise error
        if on_output is not None:
            for line in self.engine_lines:
                on_output(line)
