"""Trigger sources: a clock-driven debouncer and the filesystem watcher that feeds it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

log = logging.getLogger("modelplane.reconcile.triggers")

# Opened/closed-without-write events fire when anyone reads a file, the fingerprint included; reacting to
# them would make every check schedule the next one.
_CHANGE_EVENTS = frozenset({"created", "modified", "moved", "deleted", "closed"})


class Debouncer:
    """Fires once a burst of events has been quiet for ``quiet`` seconds, or ``max_wait`` after its first event.

    Not thread-safe on its own: the runner calls it under its lock.
    """

    def __init__(self, quiet: float, max_wait: float) -> None:
        self.quiet = quiet
        self.max_wait = max(quiet, max_wait)
        self._first: float | None = None
        self._last = 0.0

    def note(self, now: float) -> None:
        if self._first is None:
            self._first = now
        self._last = now

    def due(self, now: float) -> bool:
        """True (once per burst) when the burst should be acted on."""
        if self._first is None or (now - self._last < self.quiet and now - self._first < self.max_wait):
            return False
        self._first = None
        return True


class _Handler(FileSystemEventHandler):
    def __init__(self, on_path: Callable[[Path], None]) -> None:
        self._on_path = on_path

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in _CHANGE_EVENTS:
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if raw:
                self._on_path(Path(str(raw)))


class FileWatcher:
    """Watches every stack's input directories and notes events on the runners they concern.

    ``sync()`` re-reads the targets (the manifest list is itself config, and a checkout may be swapped
    under a symlink), so the service calls it on the input-poll cadence.
    """

    def __init__(
        self,
        targets: Mapping[str, Callable[[], dict[Path, bool]]],
        on_event: Callable[[str], None],
        observer: BaseObserver | None = None,
    ) -> None:
        self._targets = targets
        self._on_event = on_event
        self._observer = observer or Observer()
        self._lock = threading.Lock()
        self._by_stack: dict[str, dict[Path, bool]] = {}
        self._watches: dict[tuple[Path, bool], ObservedWatch] = {}

    def start(self) -> None:
        self.sync()
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)

    def sync(self) -> None:
        """Schedule watches for the current targets and drop the stale ones."""
        by_stack = {stack: targets() for stack, targets in self._targets.items()}
        wanted = {(path, rec) for targets in by_stack.values() for path, rec in targets.items() if path.is_dir()}
        with self._lock:
            self._by_stack = by_stack
            for key in set(self._watches) - wanted:
                self._observer.unschedule(self._watches.pop(key))
            for path, recursive in sorted(wanted - set(self._watches)):
                self._watches[(path, recursive)] = self._observer.schedule(
                    _Handler(self._dispatch), str(path), recursive=recursive
                )

    def _dispatch(self, path: Path) -> None:
        with self._lock:
            by_stack = self._by_stack
        for stack, targets in by_stack.items():
            if any(_covers(directory, recursive, path) for directory, recursive in targets.items()):
                self._on_event(stack)


def _covers(directory: Path, recursive: bool, path: Path) -> bool:
    return path.parent == directory or (recursive and directory in path.parents)
