"""The service's own durable record per stack: the inputs last applied, and the Pulumi operation in flight.

It is what lets a restarted service tell its own crashed update from anyone else's (the Pulumi processes it
started, by pid and start time), and an accepted edit that was never applied from one that was.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from modelplane.reconcile.procs import boot_id, process_start


class StateDirBusyError(Exception):
    """Another service process holds this state directory."""


class StateDir:
    """``<stateDir>``: one journal file per stack, held by one service process at a time (an flock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_file: TextIO | None = None

    def acquire(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = (self.path / "service.lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StateDirBusyError(
                f"state directory {self.path} is in use by another reconcile service; give each its own --state-dir"
            ) from None
        self._lock_file = handle

    def release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def journal(self, stack: str) -> StackJournal:
        return StackJournal(self.path / "stacks" / f"{stack}.json")


class StackJournal:
    """``{"appliedFingerprint": ..., "inFlight": {...} | null}`` for one stack, rewritten atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def applied_fingerprint(self) -> str | None:
        value = self.read().get("appliedFingerprint")
        return value if isinstance(value, str) else None

    @property
    def in_flight(self) -> dict[str, Any] | None:
        value = self.read().get("inFlight")
        return value if isinstance(value, dict) else None

    def record_applied(self, fingerprint: str) -> None:
        self._update(appliedFingerprint=fingerprint)

    def begin(self, operation: str) -> None:
        """Note an operation that takes the stack's lock, before the Pulumi process starts."""
        me = os.getpid()
        record = {
            "operation": operation,
            "startedAt": time.time(),
            "hostname": socket.gethostname(),
            "bootId": boot_id(),
            "servicePid": me,
            "serviceStart": process_start(me),
            "pulumiProcesses": [],
        }
        self._update(inFlight=record)

    def add_process(self, pid: int, start: int | None) -> None:
        """A Pulumi CLI process this service started for the operation in flight."""
        data = self.read()
        record = data.get("inFlight")
        if isinstance(record, dict):
            record.setdefault("pulumiProcesses", []).append({"pid": pid, "start": start})
            self._write(data)

    def end(self) -> None:
        self._update(inFlight=None)

    def _update(self, **fields: Any) -> None:
        data = self.read()
        data.update(fields)
        self._write(data)

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(self.path)
