"""Planted secrets in every sink: logs, `GET /stacks` lastError, HTTP answers, metrics and preview comments;
structured secrets leaf by leaf, the service's own environment, and passwords in URLs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelplane.reconcile.autoscale import Autoscaler
from modelplane.reconcile.driver import DriverError
from modelplane.reconcile.fake import FakeStackDriver
from modelplane.reconcile.logs import REDACTED, Redactor, json_handler
from modelplane.reconcile.metrics import ReconcileMetrics
from modelplane.reconcile.preview import preview_stack, render_markdown
from modelplane.reconcile.runner import Trigger
from modelplane.reconcile.service import Service
from modelplane.reconcile.settings import AutoscalerSettings, ServiceSettings

from .conftest import RECORD, FakeClock

HF = "hf_PlantedHuggingFaceToken0123456789"
KEY_LINE = "client-key-data-line-LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t"
PASSPHRASE = "correct horse battery staple planted"
AWS_SECRET = "wJalrXUtnFEMIplantedK7MDENGbPxRfiCY"
PROM_PASSWORD = "pr0m-Planted-Pass"
# What `pulumi config --json --show-secrets` returns for values set with
# `pulumi config set --secret --path 'modelplane:secrets.<name>.<key>'`: one secret entry, its value JSON text.
SECRETS_ENTRY = json.dumps({"hf-token": {"HF_TOKEN": HF}, "local-kubeconfig": {"kubeconfig": f"users:\n- {KEY_LINE}"}})
PLANTED = (HF, KEY_LINE, PASSPHRASE, AWS_SECRET, PROM_PASSWORD)


@pytest.fixture
def redactor(tmp_path: Path) -> Redactor:
    (tmp_path / "passphrase").write_text(PASSPHRASE + "\n")
    redactor = Redactor()
    redactor.register_environment(
        {
            "PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "passphrase"),
            "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
            "PATH": "/usr/bin",
            "HOME": "/root",
        }
    )
    redactor.register_url_credentials(f"http://admin:{PROM_PASSWORD}@prometheus:9090")
    return redactor


@pytest.fixture
def logs(redactor: Redactor) -> Iterator[Callable[[], str]]:
    stream = io.StringIO()
    handler = json_handler(redactor, stream)
    logger = logging.getLogger("modelplane")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield stream.getvalue
    logger.removeHandler(handler)
    logger.setLevel(previous)


def assert_clean(text: str) -> None:
    leaked = [value for value in PLANTED if value in text]
    assert not leaked, f"leaked {leaked} in: {text[:500]}"


def test_structured_secret_config_is_registered_leaf_by_leaf() -> None:
    redactor = Redactor()
    redactor.register(SECRETS_ENTRY)
    assert redactor.redact(f"downloading with {HF}") == f"downloading with {REDACTED}"
    assert KEY_LINE not in redactor.redact(f"  - {KEY_LINE}")
    assert redactor.redact(SECRETS_ENTRY) == REDACTED


def test_environment_credentials_and_url_passwords_are_redacted(redactor: Redactor) -> None:
    for value in (PASSPHRASE, AWS_SECRET, PROM_PASSWORD):
        assert redactor.redact(f"error: {value} rejected") == f"error: {REDACTED} rejected"
    assert redactor.redact("/usr/bin and /root") == "/usr/bin and /root"  # ordinary variables are not secrets
    unregistered = Redactor()
    text = unregistered.redact("GET https://scraper:s3cr3t-pw@prom.example:9090/api/v1/query failed")
    assert text == f"GET https://{REDACTED}@prom.example:9090/api/v1/query failed"
    assert unregistered.redact("see https://user@example.com/x") == "see https://user@example.com/x"


def test_secrets_never_reach_logs_status_metrics_or_http_answers(
    tmp_path: Path, redactor: Redactor, logs: Callable[[], str]
) -> None:
    from .conftest import write_project

    project = write_project(mkdir(tmp_path / "project"))
    driver = FakeStackDriver(redactor)
    driver.config["dev"]["modelplane:secrets"] = (SECRETS_ENTRY, True)
    driver.engine_lines = [f"  + kubernetes:core/v1:Secret ml-team/hf-token creating: HF_TOKEN={HF}", f"  {KEY_LINE}"]
    driver.fail("up", "dev", DriverError(f"error: {HF} unauthorized; kubeconfig {KEY_LINE}; {AWS_SECRET}"))
    driver.next_outputs["dev"] = {"placement": RECORD}
    service = Service(ServiceSettings(stacks=("dev",)), project, driver, redactor=redactor)
    runner = service.runners["dev"]
    runner.request(Trigger.MANUAL)
    assert runner.run_once() is not None
    status = service.statuses()["dev"]
    assert status["lastError"] and REDACTED in status["lastError"]
    assert_clean(json.dumps(service.statuses()))
    assert_clean(json.dumps(service.ready()[1]))
    runner.request(Trigger.MANUAL)
    runner.run_once()  # now succeeds: engine lines go to the log
    assert_clean(logs())
    assert "hf-token creating" in logs()  # the lines themselves are logged, minus the secrets
    assert_clean(service.metrics_text().decode())


def test_autoscaler_errors_with_a_password_in_the_url_are_redacted(redactor: Redactor, logs: Callable[[], str]) -> None:
    url = f"http://admin:{PROM_PASSWORD}@prometheus:9090"

    class Failing:
        def query(self, promql: str) -> float | None:
            raise OSError(f"<urlopen error [Errno 111] Connection refused: {url}/api/v1/query>")

    spec = AutoscalerSettings(
        stack="dev", deployment="qwen", max_replicas=4, prometheus_url=url, query="sum(x)", target_per_replica=1
    )
    metrics = ReconcileMetrics()
    scaler = Autoscaler(
        spec, Failing(), clock=FakeClock(), read_replicas=lambda: 1, apply=lambda n: None, metrics=metrics
    )
    assert scaler.step() is None
    assert "could not read load" in logs()
    assert_clean(logs())
    assert_clean(metrics.exposition().decode())


def test_preview_comments_never_carry_a_secret(tmp_path: Path, redactor: Redactor) -> None:
    from .conftest import FakePlanner, write_project

    project = write_project(mkdir(tmp_path / "project"))
    driver = FakeStackDriver(redactor)
    driver.config["dev"]["modelplane:secrets"] = (SECRETS_ENTRY, True)
    driver.fail("preview", "dev", DriverError(f"stderr: error: decrypting {HF} with {PASSPHRASE} failed"))

    def planner(config: dict[str, Any], **_: Any) -> dict[str, Any]:
        return FakePlanner()(config, project_dir=project, source="dev", previous=None)

    text = render_markdown(preview_stack(project, "dev", planner=planner, driver=driver, redactor=redactor))
    assert "failed" in text
    assert_clean(text)


def mkdir(path: Path) -> Path:
    path.mkdir()
    return path
