"""`/readyz` through the HTTP API: not ready while the last run of any stack failed, ready again after a success,
and the answer names the stack but carries no error text (it needs no token)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelplane.reconcile.auth import Auth
from modelplane.reconcile.driver import CliMissingError, ConcurrentUpdateError, DriverError
from modelplane.reconcile.fake import FakeStackDriver
from modelplane.reconcile.http import ControlServer, build_app
from modelplane.reconcile.service import Service
from modelplane.reconcile.settings import ServiceSettings

from .conftest import FakeClock, FakePlanner, write_project
from .test_service import TOKEN, call

SECRET = "hf_readinessSecretValue0123456789"


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Service, FakeStackDriver, int]]:
    """A started service whose ticks never fire (runs are driven by the test), behind the real HTTP port."""
    driver = FakeStackDriver()
    driver.redactor.register(SECRET)
    settings = ServiceSettings.model_validate({"stacks": ["dev", "prod"], "tickSeconds": 3600})
    project = write_project(tmp_path, ("dev", "prod"))
    service = Service(
        settings,
        project,
        driver,
        redactor=driver.redactor,
        clock=FakeClock(),
        planner=FakePlanner(),
        auth=Auth(TOKEN, "test"),
    )
    service.start(watch=False, http=False)
    server = ControlServer(build_app(service, driver.redactor, TOKEN), "127.0.0.1", 0, settings.http)
    server.start()
    yield service, driver, server.port
    server.stop()
    service.shutdown(grace=5)


def readyz(port: int) -> tuple[int, dict[str, Any], str]:
    status, body = call(port, "GET", "/readyz", token=None)
    return status, body, json.dumps(body)


def run(service: Service, stack: str, *, manual: bool = False) -> None:
    if manual:
        service.trigger_manual(stack)
    assert service.runners[stack].run_once() is not None


def test_a_failed_first_run_is_not_ready_until_a_run_succeeds(
    setup: tuple[Service, FakeStackDriver, int],
) -> None:
    service, driver, port = setup
    status, body, _ = readyz(port)
    assert status == 503 and body["ready"] is False
    assert body["reason"] == (
        "stack 'dev': not converged since start (idle); stack 'prod': not converged since start (idle)"
    )
    driver.fail("refresh_preview", "dev", CliMissingError(f"pulumi CLI not found; token {SECRET}"))
    run(service, "dev")
    run(service, "prod")
    status, body, text = readyz(port)
    assert status == 503
    assert body["reason"] == "stack 'dev': last run failed (1 in a row; see GET /stacks)"
    assert body["stacks"]["dev"] == {"phase": "idle", "converged": False, "lastResult": "failure", "failures": 1}
    assert body["stacks"]["prod"]["lastResult"] == "success"
    assert "CliMissingError" not in text and SECRET not in text and "REDACTED" not in text
    assert "CliMissingError" in call(port, "GET", "/stacks")[1]["dev"]["lastError"]
    run(service, "dev", manual=True)  # a manual trigger skips the backoff
    status, body, _ = readyz(port)
    assert (status, body["ready"], body["reason"]) == (200, True, None)
    assert body["stacks"]["dev"] == {"phase": "idle", "converged": True, "lastResult": "success", "failures": 0}


def test_a_later_failure_makes_it_unready_and_a_success_ready_again(
    setup: tuple[Service, FakeStackDriver, int],
) -> None:
    service, driver, port = setup
    run(service, "dev")
    run(service, "prod")
    assert readyz(port)[0] == 200
    driver.fail("up", "prod", DriverError(f"error: {SECRET} unauthorized"))
    run(service, "prod", manual=True)
    status, body, text = readyz(port)
    assert (status, body["ready"]) == (503, False)
    assert body["reason"] == "stack 'prod': last run failed (1 in a row; see GET /stacks)"
    assert SECRET not in text and "unauthorized" not in text
    driver.fail("up", "prod", DriverError("still failing"))
    run(service, "prod", manual=True)
    assert readyz(port)[1]["reason"] == "stack 'prod': last run failed (2 in a row; see GET /stacks)"
    run(service, "prod", manual=True)
    status, body, _ = readyz(port)
    assert (status, body["reason"], body["stacks"]["prod"]["failures"]) == (200, None, 0)


def test_a_conflict_is_not_ready_and_names_the_lock(setup: tuple[Service, FakeStackDriver, int]) -> None:
    service, driver, port = setup
    run(service, "dev")
    run(service, "prod")
    driver.fail("up", "dev", ConcurrentUpdateError("the stack is currently locked by 1 lock(s)"))
    run(service, "dev", manual=True)
    status, body, _ = readyz(port)
    assert status == 503 and body["reason"] == "stack 'dev': another update holds the stack's lock (see GET /stacks)"
    run(service, "dev", manual=True)
    assert readyz(port)[0] == 200


def test_shutting_down_is_not_ready(setup: tuple[Service, FakeStackDriver, int]) -> None:
    service, _, port = setup
    run(service, "dev")
    run(service, "prod")
    assert readyz(port)[0] == 200
    service.shutdown(grace=1)
    status, body, _ = readyz(port)
    assert (status, body["reason"]) == (503, "shutting down")
