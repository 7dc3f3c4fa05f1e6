"""The Automation-API adapter, as far as it runs without a Pulumi CLI: lazy construction, error mapping."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pulumi.automation import OpType
from pulumi.automation._cmd import CommandResult
from pulumi.automation.errors import CommandError, ConcurrentUpdateError

from modelplane.reconcile.driver import (
    AutomationStackDriver,
    CliMissingError,
    DriverError,
    op_counts,
)
from modelplane.reconcile.driver import (
    ConcurrentUpdateError as OurConcurrentUpdateError,
)
from modelplane.reconcile.logs import Redactor


def test_op_counts_normalises_enum_keys() -> None:
    summary = op_counts({OpType.SAME: 4, OpType.UPDATE: 1, "delete": 0})
    assert summary.ops == {"same": 4, "update": 1, "delete": 0}
    assert summary.changes == {"update": 1} and summary.has_changes
    assert not op_counts(None).has_changes


def test_reads_are_not_changes() -> None:
    # The program reads its own last outputs and gateway Services on every run: drift is never "3 to read".
    summary = op_counts({OpType.SAME: 24, OpType.READ: 3})
    assert summary.changes == {} and not summary.has_changes
    assert op_counts({OpType.READ: 3, OpType.CREATE: 2}).changes == {"create": 2}


def test_construction_needs_no_cli(project: Path) -> None:
    AutomationStackDriver(project, Redactor())


@pytest.mark.skipif(shutil.which("pulumi") is not None, reason="a real CLI would really run")
def test_first_operation_without_a_cli_is_cli_missing(project: Path) -> None:
    with pytest.raises(CliMissingError):
        AutomationStackDriver(project, Redactor()).refresh_preview("dev")


def test_pulumi_errors_map_to_driver_errors(project: Path) -> None:
    driver = AutomationStackDriver(project, Redactor())
    result = CommandResult("", "error: [409] Conflict: Another update is currently in progress.", 255)

    def conflict() -> None:
        raise ConcurrentUpdateError(result)

    def failed() -> None:
        raise CommandError(CommandResult("x" * 10_000, "error: boom", 1))

    def no_summary() -> None:
        raise RuntimeError("summary event never found")

    with pytest.raises(DriverError, match="summary event never found"):
        driver._call(no_summary)
    with pytest.raises(OurConcurrentUpdateError, match="Another update"):
        driver._call(conflict)
    with pytest.raises(DriverError) as error:
        driver._call(failed)
    assert str(error.value).endswith("error: boom") and len(str(error.value)) <= 4000


def test_missing_virtualenv_is_linked_to_the_prebuilt_one(project: Path, tmp_path: Path) -> None:
    (project / "Pulumi.yaml").write_text("name: m\nruntime:\n  name: python\n  options:\n    virtualenv: .venv\n")
    prebuilt = tmp_path / "prebuilt-venv"
    prebuilt.mkdir()
    driver = AutomationStackDriver(project, Redactor(), env={"MODELPLANE_PULUMI_VENV": str(prebuilt)})
    driver._ensure_virtualenv()
    assert (project / ".venv").resolve() == prebuilt.resolve()
    driver._ensure_virtualenv()  # idempotent
