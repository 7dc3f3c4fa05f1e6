"""Crash safety: the journal, whose stale lock is whose (real processes, real /proc), the restart's recovery run,
and an accepted edit applied after a restart even with autoRemediate off."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelplane.reconcile.driver import ConcurrentUpdateError
from modelplane.reconcile.fake import FakeStackDriver
from modelplane.reconcile.journal import StackJournal, StateDir, StateDirBusyError
from modelplane.reconcile.locks import Verdict, classify, file_backend_root, stack_locks
from modelplane.reconcile.metrics import ReconcileMetrics
from modelplane.reconcile.procs import ChildWatch, boot_id, process_start
from modelplane.reconcile.runner import Result, StackRunner, Trigger
from modelplane.reconcile.settings import RunnerSettings
from modelplane.reconcile.stackfiles import StackInputs

from .conftest import FakeClock, edit_replicas


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


def dead_pid() -> tuple[int, int | None]:
    """The pid and start time of a process that has exited (and been reaped)."""
    process = subprocess.Popen(["sleep", "60"])
    start = process_start(process.pid)
    process.kill()
    process.wait()
    return process.pid, start


def in_flight(pid: int, start: int | None, **overrides: Any) -> dict[str, Any]:
    record = {
        "operation": "up",
        "hostname": socket.gethostname(),
        "bootId": boot_id(),
        "pulumiProcesses": [{"pid": pid, "start": start}],
    }
    return {**record, **overrides}


def write_lock(backend: Path, stack: str, pid: int, hostname: str | None = None) -> Path:
    """A lock file as the file backend writes it (pkg/backend/diy/lock.go: lockContent)."""
    directory = backend / ".pulumi" / "locks" / "organization" / "modelplane" / stack
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "0b9d0c6e-5f0e-4a43-9a51-1c2d3e4f5a6b.json"
    content = {"pid": pid, "username": "root", "hostname": hostname or socket.gethostname(), "timestamp": "now"}
    path.write_text(json.dumps(content))
    (directory / (path.name + ".attrs")).write_text("{}")
    return path


# --- whose lock ------------------------------------------------------------------------------------


def test_a_lock_of_our_journalled_dead_process_is_ours_and_dead(tmp_path: Path) -> None:
    pid, start = dead_pid()
    (lock,) = stack_locks(tmp_path, "modelplane", "dev") if write_lock(tmp_path, "dev", pid) else []
    assert classify(lock, in_flight(pid, start)) is Verdict.OURS_DEAD
    assert classify(lock, in_flight(pid, start, bootId="another-boot")) is Verdict.OURS_DEAD


def test_a_lock_of_our_process_still_running_is_waited_for(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    write_lock(tmp_path, "dev", sleeper.pid)
    (lock,) = stack_locks(tmp_path, "modelplane", "dev")
    assert classify(lock, in_flight(sleeper.pid, process_start(sleeper.pid))) is Verdict.OURS_RUNNING
    # The same pid with another start time: the pid was reused, our process is gone.
    assert classify(lock, in_flight(sleeper.pid, (process_start(sleeper.pid) or 0) + 1)) is Verdict.OURS_DEAD


def test_anything_not_provably_ours_is_foreign(tmp_path: Path) -> None:
    pid, start = dead_pid()
    write_lock(tmp_path, "dev", pid)
    (lock,) = stack_locks(tmp_path, "modelplane", "dev")
    assert classify(lock, None) is Verdict.FOREIGN  # no operation of ours was in flight
    assert classify(lock, in_flight(pid + 1, start)) is Verdict.FOREIGN  # not a pid we started
    assert classify(lock, in_flight(pid, start, hostname="elsewhere")) is Verdict.FOREIGN
    write_lock(tmp_path, "prod", pid, hostname="other-host")
    (other,) = stack_locks(tmp_path, "modelplane", "prod")
    assert classify(other, in_flight(pid, start)) is Verdict.FOREIGN


def test_locks_are_found_per_project_and_stack() -> None:
    assert file_backend_root("file:///var/state/backend") == Path("/var/state/backend")
    assert file_backend_root("file://~/b") == Path("~/b").expanduser()
    assert file_backend_root("s3://bucket/prefix") is None
    assert file_backend_root("https://api.pulumi.com") is None


def test_the_child_watch_reports_our_pulumi_processes_by_their_stack_argument() -> None:
    seen: list[tuple[int, int | None]] = []
    with ChildWatch(("--stack", "dev"), lambda pid, start: seen.append((pid, start)), interval=0.02):
        nap = [sys.executable, "-c", "import time; time.sleep(0.5)"]
        child = subprocess.Popen([*nap, "--stack", "dev"])
        other = subprocess.Popen([*nap, "--stack", "prod"])
        child.wait()
        other.wait()
    assert [pid for pid, _ in seen] == [child.pid]


# --- the journal -------------------------------------------------------------------------------------


def test_the_journal_records_operations_and_the_applied_inputs(tmp_path: Path) -> None:
    journal = StateDir(tmp_path).journal("dev")
    assert journal.in_flight is None and journal.applied_fingerprint is None
    journal.record_applied("abc")
    journal.begin("up")
    journal.add_process(1234, 99)
    record = journal.in_flight
    assert record is not None and record["pulumiProcesses"] == [{"pid": 1234, "start": 99}]
    assert record["servicePid"] == os.getpid() and record["hostname"] == socket.gethostname()
    assert StackJournal(journal.path).applied_fingerprint == "abc"  # durable: a new reader sees it
    journal.end()
    assert journal.in_flight is None and journal.applied_fingerprint == "abc"


def test_one_service_per_state_dir(tmp_path: Path) -> None:
    first, second = StateDir(tmp_path), StateDir(tmp_path)
    first.acquire()
    with pytest.raises(StateDirBusyError, match="in use by another reconcile service"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()


# --- the runner after a crash ------------------------------------------------------------------------


@pytest.fixture
def backend(tmp_path: Path, driver: FakeStackDriver) -> Path:
    root = tmp_path / "backend"
    driver.backend = f"file://{root}"
    return root


def runner_with_journal(
    project: Path, driver: FakeStackDriver, clock: FakeClock, state: Path, **settings: Any
) -> StackRunner:
    return StackRunner(
        StackInputs(project, "dev"),
        driver,
        RunnerSettings.model_validate(settings),
        clock=clock,
        metrics=ReconcileMetrics(),
        redactor=driver.redactor,
        journal=StateDir(state).journal("dev"),
    )


def test_restart_clears_only_its_own_dead_lock_refreshes_and_applies(
    project: Path, driver: FakeStackDriver, clock: FakeClock, backend: Path, tmp_path: Path
) -> None:
    pid, start = dead_pid()
    journal = StateDir(tmp_path / "state").journal("dev")
    journal.begin("up")
    journal.add_process(pid, start)
    lock = write_lock(backend, "dev", pid)
    driver.pending_ops["dev"] = ["creating urn:pulumi:dev::modelplane::kubernetes:apps/v1:Deployment::local/qwen"]
    runner = runner_with_journal(project, driver, clock, tmp_path / "state", autoRemediate=False)
    assert runner.request_startup() is Trigger.RECOVERY
    outcome = runner.run_once()
    assert outcome is not None and outcome.result is Result.SUCCESS and outcome.ups == 1
    assert not lock.exists() and not lock.with_name(lock.name + ".attrs").exists()
    assert driver.refreshes == [("dev", True)] and driver.pending_ops["dev"] == []
    assert driver.up_refresh == [False]  # just refreshed
    ops = [op for op, _ in driver.calls]
    assert ops.index("refresh") < ops.index("up")
    assert journal.in_flight is None and journal.applied_fingerprint == runner.inputs.fingerprint()


def test_restart_leaves_a_lock_it_cannot_prove_its_own_and_waits(
    project: Path, driver: FakeStackDriver, clock: FakeClock, backend: Path, tmp_path: Path
) -> None:
    pid, start = dead_pid()
    journal = StateDir(tmp_path / "state").journal("dev")
    journal.begin("up")
    journal.add_process(pid + 100000, start)  # our CLI had another pid: this lock is someone else's
    lock = write_lock(backend, "dev", pid)
    driver.fail("refresh", "dev", ConcurrentUpdateError("error: the stack is currently locked by 1 lock(s)"))
    runner = runner_with_journal(project, driver, clock, tmp_path / "state", concurrentUpdateRetrySeconds=5)
    runner.request_startup()
    outcome = runner.run_once()
    assert outcome is not None and outcome.result is Result.CONFLICT and lock.exists()
    assert "currently locked" in (runner.status()["lastError"] or "")
    assert runner.status()["pending"] == ["recovery"]
    clock.advance(5)
    assert (outcome := runner.run_once()) is not None and outcome.result is Result.SUCCESS
    assert driver.ops("up") == 1


def test_restart_waits_while_its_previous_pulumi_process_still_runs(
    project: Path,
    driver: FakeStackDriver,
    clock: FakeClock,
    backend: Path,
    tmp_path: Path,
    sleeper: subprocess.Popen[bytes],
) -> None:
    journal = StateDir(tmp_path / "state").journal("dev")
    journal.begin("up")
    journal.add_process(sleeper.pid, process_start(sleeper.pid))
    lock = write_lock(backend, "dev", sleeper.pid)
    runner = runner_with_journal(project, driver, clock, tmp_path / "state")
    runner.request_startup()
    outcome = runner.run_once()
    assert outcome is not None and outcome.result is Result.CONFLICT
    assert "previous Pulumi process still runs" in (outcome.error or "")
    assert lock.exists() and journal.in_flight is not None and driver.ops("up") == 0


def test_an_accepted_edit_is_applied_after_a_restart_even_without_auto_remediation(
    project: Path, driver: FakeStackDriver, clock: FakeClock, tmp_path: Path
) -> None:
    first = runner_with_journal(project, driver, clock, tmp_path / "state", autoRemediate=False)
    first.request(Trigger.EDIT)
    assert first.run_once() is not None and driver.ops("up") == 1
    edit_replicas(project, 2)  # accepted (written), then the service stops before applying it
    restarted = runner_with_journal(project, driver, clock, tmp_path / "state", autoRemediate=False)
    assert restarted.request_startup() is Trigger.EDIT
    assert restarted.run_once() is not None and driver.ops("up") == 2
    again = runner_with_journal(project, driver, clock, tmp_path / "state", autoRemediate=False)
    assert again.request_startup() is Trigger.STARTUP  # nothing left unapplied: only a check


def test_an_operation_in_flight_is_journalled_with_the_cli_processes(
    project: Path, driver: FakeStackDriver, clock: FakeClock, tmp_path: Path
) -> None:
    runner = runner_with_journal(project, driver, clock, tmp_path / "state")
    seen: list[dict[str, Any] | None] = []
    original_up = driver.up

    def up(stack: str, **kwargs: Any) -> Any:
        runner.note_process(4242, 7)  # what the Automation driver's ChildWatch reports
        seen.append(runner.journal.in_flight if runner.journal else None)
        return original_up(stack, **kwargs)

    driver.up = up  # type: ignore[method-assign]
    runner.request(Trigger.MANUAL)
    runner.run_once()
    assert seen[0] is not None and seen[0]["operation"] == "up"
    assert seen[0]["pulumiProcesses"] == [{"pid": 4242, "start": 7}]
    assert runner.journal is not None and runner.journal.in_flight is None
