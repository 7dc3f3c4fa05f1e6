"""Stale update locks on a self-managed (file) backend, and the proof that one was this service's own.

The file backend (Pulumi's ``diy`` backend) locks a stack by writing
``.pulumi/locks/<org>/<project>/<stack>/<uuid>.json`` = ``{"pid", "username", "hostname", "timestamp"}`` of the
CLI process, and deletes it when the update ends. A killed CLI leaves it behind, and every later update of the
stack fails with "the stack is currently locked". ``pulumi cancel`` would delete *every* lock of the stack,
a live one too; this module deletes only a lock whose pid is a Pulumi process the service journalled as its own
(same host, same boot) and which no longer runs.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from modelplane.reconcile.procs import boot_id, is_same_process


@dataclass(frozen=True)
class StackLock:
    path: Path
    pid: int | None
    hostname: str
    timestamp: str

    def remove(self) -> None:
        """Delete the lock and the attributes file the backend's blob store keeps beside it."""
        self.path.unlink(missing_ok=True)
        self.path.with_name(self.path.name + ".attrs").unlink(missing_ok=True)

    def describe(self) -> str:
        return f"{self.path.name} (pid {self.pid} on {self.hostname} since {self.timestamp})"


class Verdict(StrEnum):
    OURS_DEAD = "ours-dead"  # safe to delete
    OURS_RUNNING = "ours-running"  # our orphaned CLI still runs: wait for it
    FOREIGN = "foreign"  # not provably ours: never touched


def file_backend_root(url: str | None) -> Path | None:
    """The directory of a ``file://`` backend URL; None for any other backend."""
    if not url or not url.startswith("file://"):
        return None
    parts = urlsplit(url)
    path = unquote(parts.netloc + parts.path)
    return Path(path).expanduser()


def stack_locks(root: Path, project: str, stack: str) -> list[StackLock]:
    """The lock files of one stack (project-scoped layout, and the legacy one without the project)."""
    locks_dir = root / ".pulumi" / "locks"
    if not locks_dir.is_dir():
        return []
    found = []
    for path in sorted(locks_dir.rglob("*.json")):
        parent = path.parent
        if parent.name != stack or not (parent.parent.name == project or parent.parent == locks_dir):
            continue
        found.append(_read_lock(path))
    return found


def _read_lock(path: Path) -> StackLock:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    data = data if isinstance(data, dict) else {}
    pid = data.get("pid")
    return StackLock(
        path,
        pid if isinstance(pid, int) else None,
        str(data.get("hostname", "")),
        str(data.get("timestamp", "")),
    )


def classify(lock: StackLock, in_flight: dict[str, Any] | None) -> Verdict:
    """Whose lock this is, by the journal of the operation that was in flight when the service stopped."""
    if not in_flight or lock.pid is None:
        return Verdict.FOREIGN
    here = socket.gethostname()
    if lock.hostname != here or in_flight.get("hostname") != here:
        return Verdict.FOREIGN
    ours = [p for p in in_flight.get("pulumiProcesses", []) if isinstance(p, dict) and p.get("pid") == lock.pid]
    if not ours:
        return Verdict.FOREIGN
    if in_flight.get("bootId") != boot_id():
        return Verdict.OURS_DEAD  # the machine restarted since: nothing of that boot runs
    if any(is_same_process(lock.pid, p.get("start")) for p in ours):
        return Verdict.OURS_RUNNING
    return Verdict.OURS_DEAD
