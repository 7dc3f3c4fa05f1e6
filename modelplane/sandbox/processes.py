"""Processes the sandbox starts: detached (their own session, so they outlive `sandbox up`), logged to a file, and
identified by pid plus start time, so `down` never signals an unrelated process that reused a pid."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Started:
    """One process the sandbox started."""

    name: str
    pid: int
    start_time: int  # clock ticks after boot (/proc/<pid>/stat field 22)
    log: str

    def alive(self) -> bool:
        return start_time_of(self.pid) == self.start_time

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Started:
        return cls(str(data["name"]), int(data["pid"]), int(data["start_time"]), str(data["log"]))


def start_time_of(pid: int) -> int | None:
    """A process's start time, or None when there is no such process (or it is a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] == "Z" else int(fields[19])


def start(name: str, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> Started:
    """Start `argv` in its own session with stdout and stderr to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(env) if env is not None else None,
            close_fds=True,
        )
    started = start_time_of(process.pid)
    if started is None:
        raise OSError(f"{name} exited at once (see {log})")
    return Started(name, process.pid, started, str(log))


def stop(processes: Sequence[Started], grace: float = 10.0) -> list[str]:
    """SIGTERM each live process's session, SIGKILL what is left after `grace` seconds; returns what was stopped."""
    live = [process for process in processes if process.alive()]
    for process in live:
        _signal(process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(process.alive() for process in live):
        _reap()
        time.sleep(0.1)
    for process in live:
        if process.alive():
            _signal(process, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(process.alive() for process in live):
        _reap()
        time.sleep(0.05)
    return [process.name for process in live]


def _signal(process: Started, number: signal.Signals) -> None:
    try:
        os.killpg(process.pid, number)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, number)


def _reap() -> None:
    """Collect exited children of this process (a sandbox started and stopped by one `up` that failed)."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports free on `host` right now (the kernel's choice)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
