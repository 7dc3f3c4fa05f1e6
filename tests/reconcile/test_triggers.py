"""The debouncer (clock-driven) and the filesystem watcher (real watchdog, tiny real waits)."""

from __future__ import annotations

import threading
from pathlib import Path

from modelplane.reconcile.stackfiles import StackInputs
from modelplane.reconcile.triggers import Debouncer, FileWatcher

from .conftest import edit_replicas


def test_debouncer_fires_once_after_quiet() -> None:
    debouncer = Debouncer(quiet=0.5, max_wait=1.0)
    assert not debouncer.due(0.0)
    debouncer.note(10.0)
    debouncer.note(10.2)
    assert not debouncer.due(10.6)
    assert debouncer.due(10.7)
    assert not debouncer.due(11.5)


def test_debouncer_fires_within_max_wait_under_constant_events() -> None:
    debouncer = Debouncer(quiet=0.5, max_wait=1.0)
    fired = []
    for step in range(30):
        now = step * 0.1
        debouncer.note(now)
        if debouncer.due(now):
            fired.append(round(now, 1))
    assert fired == [1.0, 2.1]


def test_watcher_notes_stack_and_manifest_edits(project: Path) -> None:
    seen: list[str] = []
    event = threading.Event()

    def on_event(stack: str) -> None:
        seen.append(stack)
        event.set()

    watcher = FileWatcher({"dev": StackInputs(project, "dev").watch_targets}, on_event)
    watcher.start()
    try:
        edit_replicas(project, 7)
        assert event.wait(2), "stack file edit not seen within 2 s"
        event.clear()
        (project / "manifests" / "nested").mkdir()
        (project / "manifests" / "nested" / "svc.yaml").write_text("kind: ModelService\n")
        assert event.wait(2), "manifest edit not seen within 2 s"
    finally:
        watcher.stop()
    assert set(seen) == {"dev"}


def test_watcher_notifies_only_the_stacks_an_edit_concerns(project: Path) -> None:
    prod = project / "stacks" / "Pulumi.prod.yaml"
    prod.write_text("config:\n  modelplane:manifests: [manifests-prod]\n")
    (project / "manifests-prod").mkdir()
    seen: list[str] = []
    prod_seen = threading.Event()

    def on_event(stack: str) -> None:
        seen.append(stack)
        if stack == "prod":
            prod_seen.set()

    targets = {name: StackInputs(project, name).watch_targets for name in ("dev", "prod")}
    watcher = FileWatcher(targets, on_event)
    watcher.start()
    try:
        (project / "manifests-prod" / "svc.yaml").write_text("kind: ModelService\n")
        assert prod_seen.wait(2)
    finally:
        watcher.stop()
    assert "dev" not in seen  # one event is dispatched to every stack at once, so dev had its chance
