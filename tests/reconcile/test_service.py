"""The service: HTTP API, real scheduler and watcher with the fake driver, parallelism bound, shutdown, signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelplane.reconcile.auth import Auth
from modelplane.reconcile.fake import FakeStackDriver
from modelplane.reconcile.http import ControlServer, build_app
from modelplane.reconcile.logs import Redactor
from modelplane.reconcile.scaling import nudge
from modelplane.reconcile.service import Service, install_signal_handlers
from modelplane.reconcile.settings import ServiceSettings
from modelplane.reconcile.stackfiles import stack_file

from .conftest import FakePlanner, edit_replicas, write_project

TOKEN = "test-token-123"


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll a condition the service's own threads make true (short sleeps: only here, never in the core tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def call(port: int, method: str, path: str, body: Any = None, token: str | None = TOKEN) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    return status, (raw.decode() if path == "/metrics" else json.loads(raw))


def make_service(root: Path, driver: FakeStackDriver, stacks: tuple[str, ...] = ("dev", "prod"), **top: Any) -> Service:
    settings = ServiceSettings.model_validate(
        {
            "stacks": list(stacks),
            "tickSeconds": 0.01,
            "http": {"host": "127.0.0.1", "port": 0},
            "runner": {"debounceSeconds": 0.05, "debounceMaxSeconds": 0.2},
            **top,
        }
    )
    return Service(settings, root, driver, redactor=driver.redactor, planner=FakePlanner(), auth=Auth(TOKEN, "test"))


@pytest.fixture
def fleet_project(tmp_path: Path) -> Path:
    return write_project(tmp_path, ("dev", "prod"))


@pytest.fixture
def api(fleet_project: Path) -> Iterator[tuple[Service, FakeStackDriver, int]]:
    """An unstarted service behind a live HTTP port: the API without the loop."""
    driver = FakeStackDriver()
    service = make_service(fleet_project, driver)
    server = ControlServer(build_app(service, driver.redactor, TOKEN), "127.0.0.1", 0, service.settings.http)
    server.start()
    yield service, driver, server.port
    server.stop()


def test_health_readiness_and_metrics(api: tuple[Service, FakeStackDriver, int]) -> None:
    _, _, port = api
    assert call(port, "GET", "/healthz") == (200, {"status": "ok"})
    status, body = call(port, "GET", "/readyz")
    assert status == 503 and body["ready"] is False and body["stacks"]["dev"]["phase"] == "idle"
    status, text = call(port, "GET", "/metrics")
    assert status == 200 and "modelplane_reconcile_runs_total{" not in text  # no run yet, so no series
    assert "# HELP modelplane_reconcile_runs_total" in text
    assert call(port, "GET", "/nope")[0] == 404


def test_manual_trigger(api: tuple[Service, FakeStackDriver, int]) -> None:
    service, _, port = api
    assert call(port, "POST", "/stacks/dev/reconcile") == (202, {"stack": "dev", "accepted": True})
    assert service.runners["dev"].status()["pending"] == ["manual"]
    assert call(port, "POST", "/stacks/staging/reconcile")[0] == 404
    assert call(port, "POST", "/stacks/dev/reconcile", token=None)[0] == 401
    assert call(port, "POST", "/stacks/dev/reconcile", token="wrong")[0] == 401


def test_replicas_endpoint_runs_the_validated_scale_path(
    api: tuple[Service, FakeStackDriver, int], fleet_project: Path
) -> None:
    service, _, port = api
    status, body = call(port, "PUT", "/stacks/dev/deployments/qwen/replicas", {"replicas": 3})
    assert (status, body) == (200, {"stack": "dev", "deployment": "qwen", "previous": 1, "replicas": 3})
    assert "replicas: 3" in stack_file(fleet_project, "dev").read_text()
    assert service.runners["dev"].status()["pending"] == ["scale"]
    before = stack_file(fleet_project, "dev").read_bytes()
    status, body = call(port, "PUT", "/stacks/dev/deployments/qwen/replicas", {"replicas": 50})
    assert status == 422 and body["problems"][0].endswith("replicas: must be <= 10")
    assert call(port, "PUT", "/stacks/dev/deployments/kimi/replicas", {"replicas": 2})[0] == 404
    assert call(port, "PUT", "/stacks/dev/deployments/qwen/replicas", {"replicas": "3"})[0] == 400
    assert call(port, "PUT", "/stacks/dev/deployments/qwen/replicas", {"replicas": 2}, token=None)[0] == 401
    assert stack_file(fleet_project, "dev").read_bytes() == before


def test_nudge(api: tuple[Service, FakeStackDriver, int]) -> None:
    service, _, port = api
    assert nudge(f"http://127.0.0.1:{port}", "prod", token=TOKEN) is None
    assert service.runners["prod"].status()["pending"] == ["manual"]
    assert nudge(f"http://127.0.0.1:{port}", "prod", token="wrong") == (
        f"http://127.0.0.1:{port}/stacks/prod/reconcile: HTTP 401"
    )
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    assert "reconcile:" in (nudge(f"http://127.0.0.1:{closed_port}", "prod") or "")


def test_running_service_picks_up_an_edit_within_two_seconds(fleet_project: Path) -> None:
    driver = FakeStackDriver()
    service = make_service(fleet_project, driver)
    service.start()
    try:
        port = service.http_port
        assert port is not None
        assert wait_for(lambda: call(port, "GET", "/readyz")[0] == 200)
        assert driver.ops("refresh_preview") == 2 and driver.ops("up") == 0
        edit_replicas(fleet_project, 2, "dev")
        started = time.monotonic()
        assert wait_for(lambda: driver.ops("up", "dev") == 1, timeout=2.0)
        assert time.monotonic() - started < 2.0
        assert call(port, "POST", "/stacks/prod/reconcile")[0] == 202
        assert wait_for(lambda: driver.ops("up", "prod") == 1)
        text = call(port, "GET", "/metrics")[1]
        assert 'modelplane_reconcile_runs_total{kind="up",result="success",stack="prod"} 1.0' in text
    finally:
        assert service.shutdown(grace=5)
    assert driver.ops("up") == 2


@pytest.mark.parametrize("parallelism", [1, 2])
def test_parallelism_bounds_concurrent_updates(fleet_project: Path, parallelism: int) -> None:
    driver = FakeStackDriver()
    gate = driver.block_up()
    service = make_service(fleet_project, driver, parallelism=parallelism)
    service.start(watch=False, http=False)
    try:
        assert wait_for(lambda: all(r.first_run_done for r in service.runners.values()))
        service.trigger_manual("dev")
        service.trigger_manual("prod")
        assert wait_for(lambda: driver.active_ups == parallelism)
        time.sleep(0.1)  # give a wrongly unbounded executor the chance to start the other one
        assert driver.max_active_ups == parallelism
        gate.set()
        assert wait_for(lambda: driver.ops("up") == 2)
    finally:
        gate.set()
        assert service.shutdown(grace=5)


def test_shutdown_waits_for_the_run_in_flight_and_refuses_triggers(fleet_project: Path) -> None:
    driver = FakeStackDriver()
    gate = driver.block_up()
    service = make_service(fleet_project, driver, stacks=("dev",))
    service.start(watch=False)
    port = service.http_port
    assert port is not None
    assert wait_for(lambda: service.runners["dev"].first_run_done)
    service.trigger_manual("dev")
    assert driver.up_started.wait(5)
    result: list[bool] = []
    stopper = threading.Thread(target=lambda: result.append(service.shutdown(grace=10)))
    stopper.start()
    assert wait_for(lambda: call(port, "GET", "/readyz")[0] == 503)
    assert call(port, "POST", "/stacks/dev/reconcile")[0] == 503
    assert stopper.is_alive()  # still waiting for the up
    gate.set()
    stopper.join(5)
    assert result == [True]
    assert driver.ops("up") == 1


def test_shutdown_gives_up_after_the_grace_period(fleet_project: Path) -> None:
    driver = FakeStackDriver()
    gate = driver.block_up()
    service = make_service(fleet_project, driver, stacks=("dev",))
    service.start(watch=False, http=False)
    try:
        assert wait_for(lambda: service.runners["dev"].first_run_done)
        service.trigger_manual("dev")
        assert driver.up_started.wait(5)
        assert service.shutdown(grace=0.05) is False
    finally:
        gate.set()


def test_sigterm_sets_the_stop_event() -> None:
    stop = threading.Event()
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        install_signal_handlers(stop)
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(2)
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


def test_service_needs_stacks(fleet_project: Path) -> None:
    with pytest.raises(ValueError, match="no stacks"):
        Service(ServiceSettings(), fleet_project, FakeStackDriver(), redactor=Redactor())
