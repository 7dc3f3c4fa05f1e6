"""Schemathesis against the service's own OpenAPI document, on loopback, with a fixed number of examples per
operation: no 5xx, answers as documented, and the token required wherever the document says so."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from modelplane.reconcile.http import ControlServer, build_app
from modelplane.reconcile.logs import Redactor, json_handler
from modelplane.reconcile.service import Service
from modelplane.reconcile.settings import ServiceSettings
from modelplane.reconcile.stackfiles import stack_file

from .conftest import FakePlanner, write_project
from .test_scaling import FLEET_STACK

TOKEN = "fuzz-token-0123456789"
EXAMPLES = 40

_fake_api = Service(ServiceSettings(stacks=("dev",)), Path("/nonexistent"), driver=None, redactor=Redactor())  # type: ignore[arg-type]
schema = schemathesis.openapi.from_dict(build_app(_fake_api, Redactor(), TOKEN).openapi())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, io.StringIO]]:
    """The real Service (fake driver, fake planner) behind a live loopback port, its logs captured as JSON."""
    from modelplane.reconcile.fake import FakeStackDriver

    project = write_project(tmp_path_factory.mktemp("fuzz"))
    stack_file(project, "dev").write_text(FLEET_STACK)
    driver = FakeStackDriver()
    service = Service(
        ServiceSettings(stacks=("dev",)), project, driver, redactor=driver.redactor, planner=FakePlanner(limit=5)
    )
    stream = io.StringIO()
    handler = json_handler(driver.redactor, stream)
    loggers = [logging.getLogger(name) for name in ("modelplane", "uvicorn")]
    for logger in loggers:
        logger.addHandler(handler)
    server = ControlServer(build_app(service, driver.redactor, TOKEN), "127.0.0.1", 0, service.settings.http)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}", stream
    finally:
        server.stop()
        for logger in loggers:
            logger.removeHandler(handler)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_api_holds_to_its_document(case: schemathesis.Case, served: tuple[str, io.StringIO]) -> None:
    base_url, logs = served
    checks = [status_code_conformance, content_type_conformance, response_schema_conformance, ignored_auth]
    if case.path != "/readyz":  # not ready is a documented 503 (nothing has run here)
        checks.append(schemathesis.checks.not_a_server_error)
    case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}, checks=checks)
    for line in logs.getvalue().splitlines():
        assert isinstance(json.loads(line), dict)
    assert "Traceback" not in logs.getvalue()
