"""Process identity from /proc: a pid with its start time, so a reused pid is never mistaken for the original."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

PROC = Path("/proc")


def boot_id() -> str | None:
    """This boot's id: pids from another boot name nothing that still runs."""
    try:
        return (PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return None


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces; the rest follows its last ')'.
    return text[text.rfind(")") + 2 :].split()


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat); None if none runs."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def is_same_process(pid: int, start: int | None) -> bool:
    """True if ``pid`` still names the process that had ``start`` (a zombie counts as gone)."""
    fields = _stat_fields(pid)
    if not fields or fields[0] == "Z":
        return False
    return start is None or int(fields[19]) == start


def children_with_args(*args: str) -> Iterator[tuple[int, int | None]]:
    """This process's children whose command line holds ``args`` in a row, with their start times."""
    me = str(os.getpid())
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if not fields or fields[1] != me:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any(argv[i : i + len(args)] == list(args) for i in range(len(argv))):
            yield int(entry.name), int(fields[19])


class ChildWatch:
    """While an operation runs, reports (once each) this process's children whose argv holds ``args``.

    The Automation API starts the CLI itself and does not hand out its pid, so the watch finds it in /proc.
    """

    def __init__(self, args: tuple[str, ...], on_child: Callable[[int, int | None], None], interval: float = 0.2):
        self.args, self.on_child, self.interval = args, on_child, interval
        self._seen: set[int] = set()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="modelplane-childwatch", daemon=True)

    def __enter__(self) -> ChildWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            for pid, start in children_with_args(*self.args):
                if pid not in self._seen:
                    self._seen.add(pid)
                    self.on_child(pid, start)
            if self._done.wait(self.interval):
                return
