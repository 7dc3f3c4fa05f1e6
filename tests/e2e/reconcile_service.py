"""`modelplane reconcile` as a real process on a sandbox: start, read its JSON log, call its API, stop or kill it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.conftest import MODELPLANE

LogEntry = dict[str, Any]


class ReconcileService:
    """One service process in a session of its own, so a crash can be simulated by killing its whole group
    (the service, the Pulumi CLI it runs and the CLI's plugins), as an OOM kill of the container would."""

    def __init__(
        self,
        env: dict[str, str],
        project_dir: Path,
        stacks: list[str],
        state_dir: Path,
        settings: dict[str, Any] | None = None,
        *flags: str,
    ) -> None:
        self.env, self.project_dir, self.stacks, self.state_dir = env, project_dir, stacks, state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.config = state_dir.parent / f"{state_dir.name}-{len(list(state_dir.parent.glob('*.log')))}.yaml"
        self.config.write_text(yaml.safe_dump({"tickSeconds": 0.1, **(settings or {})}))
        self.log_path = self.config.with_suffix(".log")
        self.flags = flags
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.started: LogEntry = {}  # the start-up log line of the last start

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> ReconcileService:
        argv = [MODELPLANE, "reconcile", "--project-dir", str(self.project_dir), "--config", str(self.config)]
        argv += [arg for stack in self.stacks for arg in ("--stack", stack)]
        argv += ["--state-dir", str(self.state_dir), "--port", "0", *self.flags]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv, cwd=self.project_dir, env=self.env, stdout=log, stderr=log, start_new_session=True
            )
        self.started = self.wait_for(lambda e: e.get("msg") == "reconcile service started", timeout=timeout)
        self.port = int(self.started["port"])
        return self

    @property
    def token(self) -> str:
        return (self.state_dir / "api-token").read_text().strip()

    def terminate(self, timeout: float = 300) -> int:
        """SIGTERM to the service alone (as the kubelet's to the container's process), then its exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill_group(self) -> None:
        """SIGKILL to the service and every process it started: a crash in the middle of whatever it does."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        """Stop what is still running (fixtures' finally): SIGTERM, then SIGKILL to the group."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    # --- the log --------------------------------------------------------------------------------

    def log(self) -> list[LogEntry]:
        """Every line the service wrote; each must be one JSON object (no traceback, no stray text)."""
        lines = self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []
        entries = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                raise AssertionError(f"a log line of {self.log_path} is not JSON: {line[:300]!r}") from None
            assert isinstance(entry, dict), line
            entries.append(entry)
        return entries

    def wait_for(self, match: Callable[[LogEntry], bool], *, since: float = 0.0, timeout: float = 120) -> LogEntry:
        """The first log entry at or after ``since`` (a time.time()) that matches; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.log():
                if entry.get("ts", 0) >= since - 0.01 and match(entry):
                    return entry
            if self.process is not None and self.process.poll() is not None and not self._log_has(match, since):
                raise AssertionError(f"the service exited ({self.process.returncode}); log: {self.tail()}")
            time.sleep(0.1)
        raise AssertionError(f"no matching log entry in {timeout:.0f} s; log: {self.tail()}")

    def _log_has(self, match: Callable[[LogEntry], bool], since: float) -> bool:
        return any(e.get("ts", 0) >= since - 0.01 and match(e) for e in self.log())

    def tail(self, n: int = 15) -> str:
        entries = [e for e in self.log() if e.get("stream") != "engine"]
        return "\n".join(json.dumps(e)[:400] for e in entries[-n:])

    def runs(self, stack: str, message: str, work: str = "up") -> list[LogEntry]:
        """Log entries of ``message`` ("run started", "run success", ...) for ``stack``'s runs of ``work``."""
        return [e for e in self.log() if e.get("msg") == message and e.get("stack") == stack and e.get("work") == work]

    # --- the API --------------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None, *, token: bool = True) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        if token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        return status, (raw.decode() if path == "/metrics" else json.loads(raw))


def run_started(stack: str, work: str = "up") -> Callable[[LogEntry], bool]:
    return lambda e: e.get("msg") == "run started" and e.get("stack") == stack and e.get("work") == work


def run_ended(stack: str, result: str = "success", work: str = "up") -> Callable[[LogEntry], bool]:
    return lambda e: e.get("msg") == f"run {result}" and e.get("stack") == stack and e.get("work") == work


def lock_files(backend: Path, stack: str) -> list[Path]:
    """The file backend's lock files of ``stack`` (``.pulumi/locks/<org>/<project>/<stack>/<id>.json``)."""
    return sorted(p for p in (backend / ".pulumi" / "locks").rglob("*.json") if p.parent.name == stack)
