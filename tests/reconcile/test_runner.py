"""The reconcile core against the fake driver, with an injected clock: no real sleeping."""

from __future__ import annotations

import threading
from pathlib import Path

from modelplane.reconcile.driver import ConcurrentUpdateError, DriverError
from modelplane.reconcile.fake import FakeStackDriver
from modelplane.reconcile.metrics import ReconcileMetrics
from modelplane.reconcile.runner import Phase, Result, Trigger
from modelplane.reconcile.settings import BackoffSettings
from modelplane.reconcile.stackfiles import PLACEMENT_KEY, dump_placement

from .conftest import RECORD, FakeClock, RunnerFactory, edit_replicas, sample


def test_config_edit_causes_exactly_one_up(
    project: Path, driver: FakeStackDriver, clock: FakeClock, make_runner: RunnerFactory
) -> None:
    runner = make_runner()
    edit_replicas(project, 2)
    for _ in range(3):  # a burst of events from one save
        runner.note_file_event()
        clock.advance(0.1)
        assert runner.run_once() is None  # still inside the debounce window
    clock.advance(0.5)
    outcome = runner.run_once()
    assert outcome is not None and outcome.result is Result.SUCCESS and outcome.ups == 1
    clock.advance(5)
    runner.note_file_event()  # e.g. the placement write-back touching the file
    clock.advance(1)
    assert runner.run_once() is None
    assert driver.ops("up") == 1
    assert driver.up_refresh == [False]


def test_file_event_without_a_change_runs_nothing(
    driver: FakeStackDriver, clock: FakeClock, make_runner: RunnerFactory
) -> None:
    runner = make_runner()
    runner.note_file_event()
    clock.advance(2)
    assert runner.run_once() is None
    assert driver.calls == []


def test_manifest_edit_is_an_edit(
    project: Path, driver: FakeStackDriver, clock: FakeClock, make_runner: RunnerFactory
) -> None:
    runner = make_runner()
    (project / "manifests" / "extra.yaml").write_text("kind: ModelCache\nmetadata: {name: w2}\n")
    runner.note_file_event()
    clock.advance(1)
    assert runner.run_once() is not None
    assert driver.ops("up") == 1


def test_input_poll_catches_edits_without_events(
    project: Path, driver: FakeStackDriver, clock: FakeClock, make_runner: RunnerFactory
) -> None:
    runner = make_runner(input_poll_seconds=30)
    edit_replicas(project, 3)
    clock.advance(29)
    assert runner.run_once() is None
    clock.advance(1)
    assert runner.run_once() is not None
    assert driver.ops("up") == 1


def test_edits_during_a_running_up_cause_exactly_one_more(
    project: Path, driver: FakeStackDriver, clock: FakeClock, make_runner: RunnerFactory
) -> None:
    runner = make_runner()
    gate = driver.block_up()
    runner.request(Trigger.EDIT)
    assert runner.poll()
    worker = threading.Thread(target=runner.execute)
    worker.start()
    assert driver.up_started.wait(5)
    for replicas in (2, 3, 4):
        edit_replicas(project, replicas)
        runner.note_file_event()
        clock.advance(1)
        assert runner.poll() is False  # a run is in flight: this becomes the follow-up
        runner.request(Trigger.MANUAL)
    assert runner.status()["followUp"] == ["edit", "manual"]
    gate.set()
    worker.join(5)
    assert runner.run_once() is not None
    assert runner.run_once() is None
    clock.advance(10)
    assert runner.run_once() is None
    assert driver.ops("up") == 2


def test_triggers_while_queued_merge_into_the_queued_run(driver: FakeStackDriver, make_runner: RunnerFactory) -> None:
    runner = make_runner()
    runner.request(Trigger.STARTUP)
    assert runner.poll()
    runner.request(Trigger.EDIT)  # arrives before the executor picks the run up
    outcome = runner.execute()
    assert outcome is not None and outcome.pending.reasons == {Trigger.STARTUP, Trigger.EDIT}
    assert runner.run_once() is None
    assert driver.ops("up") == 1 and driver.ops("refresh_preview") == 0


def test_drift_check_finding_changes_runs_up_with_refresh(
    driver: FakeStackDriver, clock: FakeClock, make_runner: RunnerFactory, metrics: ReconcileMetrics
) -> None:
    runner = make_runner(drift_interval_seconds=600)
    clock.advance(599)
    assert runner.run_once() is None
    driver.drift["dev"] = {"update": 2, "delete": 1}
    clock.advance(1)
    outcome = runner.run_once()
    assert outcome is not None and outcome.ups == 1 and outcome.drift is not None
    assert [op for op, _ in driver.calls if op in ("refresh_preview", "up")] == ["refresh_preview", "up"]
    assert driver.up_refresh == [True]
    assert sample(metrics, "modelplane_reconcile_drift_detected_total", stack="dev") == 1
    assert sample(metrics, "modelplane_reconcile_pending_changes", stack="dev") == 3


def test_drift_check_without_changes_does_nothing_more(
    driver: FakeStackDriver, clock: FakeClock, make_runner: RunnerFactory
) -> None:
    runner = make_runner()
    runner.request(Trigger.STARTUP)
    outcome = runner.run_once()
    assert outcome is not None and outcome.ups == 0
    assert driver.ops("up") == 0 and driver.ops("refresh_preview") == 1


def test_drift_is_only_reported_when_auto_remediation_is_off(
    driver: FakeStackDriver, clock: FakeClock, make_runner: RunnerFactory, metrics: ReconcileMetrics, json_logs
) -> None:
    runner = make_runner(auto_remediate=False)
    driver.drift["dev"] = {"update": 1}
    runner.request(Trigger.DRIFT)
    outcome = runner.run_once()
    assert outcome is not None and outcome.result is Result.SUCCESS and outcome.ups == 0
    assert driver.ops("up") == 0
    assert runner.status()["lastDrift"] == {"update": 1}
    assert sample(metrics, "modelplane_reconcile_pending_changes", stack="dev") == 1
    warning = next(e for e in json_logs() if e["msg"].startswith("drift detected"))
    assert warning["changes"] == {"update": 1} and warning["level"] == "warning"


def test_an_edit_seen_by_a_report_only_check_is_still_applied(
    project: Path, driver: FakeStackDriver, clock: FakeClock, make_runner: RunnerFactory
) -> None:
    runner = make_runner(auto_remediate=False)
    runner.request(Trigger.STARTUP)
    assert runner.poll()
    edit_replicas(project, 2)  # lands between claiming the check and running it
    assert runner.execute().ups == 0
    runner.note_file_event()
    clock.advance(1)
    assert runner.run_once().ups == 1


def test_failure_backs_off_exponentially_then_succeeds(
    driver: FakeStackDriver, clock: FakeClock, make_runner: RunnerFactory, metrics: ReconcileMetrics
) -> None:
    runner = make_runner(backoff={"initialSeconds": 10, "maxSeconds": 600})
    driver.fail("up", "dev", DriverError("boom 1"), DriverError("boom 2"))
    runner.request(Trigger.EDIT)
    assert runner.run_once().result is Result.FAILURE
    clock.advance(9.9)
    assert runner.run_once() is None
    runner.request(Trigger.EDIT)  # automatic triggers wait out the backoff too
    assert runner.run_once() is None
    clock.advance(0.1)
    assert runner.run_once().result is Result.FAILURE
    clock.advance(19.9)
    assert runner.run_once() is None
    clock.advance(0.1)
    assert runner.run_once().result is Result.SUCCESS
    assert runner.run_once() is None
    assert driver.ops("up") == 3
    assert sample(metrics, "modelplane_reconcile_failures_total", stack="dev") == 2
    assert sample(metrics, "modelplane_reconcile_consecutive_failures", stack="dev") == 0
    assert runner.status()["lastError"] is None


def test_manual_trigger_skips_the_remaining_backoff(
    driver: FakeStackDriver, clock: FakeClock, make_runner: RunnerFactory
) -> None:
    runner = make_runner()
    driver.fail("up", "dev", DriverError("boom"))
    runner.request(Trigger.EDIT)
    runner.run_once()
    runner.request(Trigger.MANUAL)
    assert runner.run_once().result is Result.SUCCESS


def test_backoff_is_capped() -> None:
    backoff = BackoffSettings(initial_seconds=10, max_seconds=300)
    assert [backoff.delay(n) for n in (1, 2, 3, 5, 6, 50)] == [10, 20, 40, 160, 300, 300]


def test_concurrent_update_waits_and_retries_without_cancel(
    driver: FakeStackDriver, clock: FakeClock, make_runner: RunnerFactory, metrics: ReconcileMetrics
) -> None:
    runner = make_runner(concurrent_update_retry_seconds=30)
    driver.fail("up", "dev", ConcurrentUpdateError("[409] Conflict: Another update is currently in progress."))
    runner.request(Trigger.EDIT)
    assert runner.run_once().result is Result.CONFLICT
    clock.advance(29)
    assert runner.run_once() is None
    clock.advance(1)
    assert runner.run_once().result is Result.SUCCESS
    assert driver.ops("cancel") == 0 and driver.ops("up") == 2
    assert sample(metrics, "modelplane_reconcile_runs_total", stack="dev", kind="up", result="conflict") == 1
    assert sample(metrics, "modelplane_reconcile_failures_total", stack="dev") is None


def test_stale_update_is_cancelled_only_when_enabled_and_old_enough(
    driver: FakeStackDriver, clock: FakeClock, make_runner: RunnerFactory
) -> None:
    runner = make_runner(concurrent_update_retry_seconds=30, cancel_stale_update_after_seconds=60)
    driver.fail("up", "dev", *(ConcurrentUpdateError("locked") for _ in range(3)))
    runner.request(Trigger.EDIT)
    for _ in range(2):
        assert runner.run_once().result is Result.CONFLICT
        assert driver.ops("cancel") == 0
        clock.advance(30)
    assert runner.run_once().result is Result.CONFLICT
    assert driver.ops("cancel") == 1
    clock.advance(30)
    assert runner.run_once().result is Result.SUCCESS


def test_successful_up_writes_the_placement_record(driver: FakeStackDriver, make_runner: RunnerFactory) -> None:
    driver.next_outputs["dev"] = {"placement": RECORD}
    runner = make_runner()
    runner.request(Trigger.EDIT)
    runner.run_once()
    assert driver.config["dev"][PLACEMENT_KEY] == (dump_placement(RECORD), False)
    writes = driver.ops("set_config")
    runner.request(Trigger.EDIT)
    runner.run_once()
    assert driver.ops("set_config") == writes  # unchanged record: no write


def test_failed_up_never_touches_the_placement_record(driver: FakeStackDriver, make_runner: RunnerFactory) -> None:
    old = dump_placement({"deployments": [], "clusters": []})
    driver.config["dev"][PLACEMENT_KEY] = (old, False)
    driver.next_outputs["dev"] = {"placement": RECORD}
    driver.fail("up", "dev", DriverError("quota exceeded"))
    runner = make_runner()
    runner.request(Trigger.EDIT)
    assert runner.run_once().result is Result.FAILURE
    assert driver.config["dev"][PLACEMENT_KEY] == (old, False)
    assert driver.ops("set_config") == 0


def test_record_lost_from_config_is_restored_from_the_stack_output(
    driver: FakeStackDriver, make_runner: RunnerFactory
) -> None:
    driver.stack_outputs["dev"] = {"placement": RECORD}
    runner = make_runner()
    runner.request(Trigger.STARTUP)
    runner.run_once()
    ops = [op for op, _ in driver.calls]
    assert ops.index("set_config") < ops.index("refresh_preview")  # the check already plans with the record
    assert driver.config["dev"][PLACEMENT_KEY][0] == dump_placement(RECORD)


def test_a_failed_write_back_is_finished_before_the_next_run(
    driver: FakeStackDriver, clock: FakeClock, make_runner: RunnerFactory
) -> None:
    driver.next_outputs["dev"] = {"placement": RECORD}
    driver.fail("set_config", "dev", DriverError("disk full"))
    runner = make_runner()
    runner.request(Trigger.EDIT)
    assert runner.run_once().result is Result.FAILURE
    driver.calls.clear()
    driver.next_outputs["dev"] = {}  # the retry's up exports nothing new; the record must still land
    clock.advance(10)
    assert runner.run_once().result is Result.SUCCESS
    ops = [op for op, _ in driver.calls]
    assert ops.index("set_config") < ops.index("up")
    assert driver.config["dev"][PLACEMENT_KEY][0] == dump_placement(RECORD)


def test_stop_lets_the_run_in_flight_finish_and_drops_the_rest(
    driver: FakeStackDriver, clock: FakeClock, make_runner: RunnerFactory
) -> None:
    runner = make_runner()
    gate = driver.block_up()
    runner.request(Trigger.EDIT)
    assert runner.poll()
    worker = threading.Thread(target=runner.execute)
    worker.start()
    assert driver.up_started.wait(5)
    runner.request(Trigger.MANUAL)  # a follow-up that shutdown must drop
    runner.stop()
    assert runner.request(Trigger.EDIT) is False
    assert runner.wait_idle(0.01) is False  # still in flight
    gate.set()
    assert runner.wait_idle(5)
    worker.join(5)
    assert runner.phase is Phase.STOPPED
    clock.advance(1000)
    assert runner.run_once() is None
    assert driver.ops("up") == 1


def test_stop_while_queued_runs_nothing(driver: FakeStackDriver, make_runner: RunnerFactory) -> None:
    runner = make_runner()
    runner.request(Trigger.EDIT)
    assert runner.poll()
    runner.stop()
    assert runner.execute() is None
    assert runner.wait_idle(0)
    assert driver.calls == []


def test_metrics_after_a_run(
    driver: FakeStackDriver, clock: FakeClock, make_runner: RunnerFactory, metrics: ReconcileMetrics
) -> None:
    runner = make_runner()
    runner.request(Trigger.EDIT)
    runner.run_once()
    assert sample(metrics, "modelplane_reconcile_runs_total", stack="dev", kind="up", result="success") == 1
    assert sample(metrics, "modelplane_reconcile_last_success_timestamp_seconds", stack="dev") == clock.now
    assert sample(metrics, "modelplane_reconcile_run_duration_seconds_count", stack="dev", kind="up") == 1
    assert sample(metrics, "modelplane_reconcile_in_progress", stack="dev") == 0


def test_secrets_never_reach_the_log(
    driver: FakeStackDriver, make_runner: RunnerFactory, clock: FakeClock, json_logs
) -> None:
    secret = "s3cr3t-Value-only-in-config"
    driver.set_config("dev", "modelplane:registryPassword", secret, secret=True)
    driver.calls.clear()
    driver.engine_lines = [
        f"  + creating secret registry-creds data={secret}",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
        "    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo=",
        "hf token hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345 used",
    ]
    driver.fail("up", "dev", DriverError(f"error: resource failed: password={secret}"))
    runner = make_runner()
    runner.request(Trigger.EDIT)
    runner.run_once()
    clock.advance(60)
    runner.run_once()
    entries = json_logs()
    text = "\n".join(str(e) for e in entries)
    assert driver.ops("up") == 2
    for leaked in (secret, "eyJhbGciOiJIUzI1NiJ9", "LS0tLS1CRUdJTiBSU0Eg", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345"):
        assert leaked not in text
    engine = [e for e in entries if e.get("stream") == "engine"]
    assert engine and all(e["stack"] == "dev" for e in engine)
    assert "[redacted]" in engine[0]["msg"]
    assert "creating secret registry-creds" in engine[0]["msg"]
