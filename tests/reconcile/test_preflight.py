"""`modelplane reconcile` refuses to start without a usable Pulumi CLI, backend and stacks: exit 2 before serving,
the fix in one line, no traceback. The backend cases run the real CLI when the sandbox toolchain is built."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from modelplane.reconcile import preflight
from modelplane.reconcile.preflight import Preflight, PreflightError, check_toolchain
from modelplane.sandbox.toolchain import Toolchain, load_pins

from .conftest import write_project

MODELPLANE = str(Path(sys.executable).with_name("modelplane"))
PINNED = load_pins()["pulumi"]["version"]
TOKEN = "pul-preflightSecretToken0123456789"

# A stand-in CLI: `version` prints $FAKE_VERSION, `whoami`/`stack ls` print their $FAKE_* JSON or fail with it.
FAKE_PULUMI = """#!/bin/sh
case "$1" in
  version) echo "${FAKE_VERSION:-v3.274.1}" ;;
  whoami) [ -n "$FAKE_WHOAMI_SLEEP" ] && exec /bin/sleep "$FAKE_WHOAMI_SLEEP"
          [ -n "$FAKE_WHOAMI_ERROR" ] && { echo "error: $FAKE_WHOAMI_ERROR" >&2; exit 1; }
          if [ -n "$FAKE_WHOAMI" ]; then echo "$FAKE_WHOAMI"; else echo '{"user": "me", "url": "file:///tmp"}'; fi ;;
  stack) if [ -n "$FAKE_STACKS" ]; then echo "$FAKE_STACKS"; else echo '[{"name": "dev"}]'; fi ;;
esac
"""


def bin_dir(tmp_path: Path, pulumi: str | None = None) -> Path:
    """A PATH directory with only ``pulumi`` in it (a script, a link to a real CLI, or nothing)."""
    directory = tmp_path / "bin"
    directory.mkdir(exist_ok=True)
    if pulumi is not None and Path(pulumi).is_file():
        (directory / "pulumi").symlink_to(pulumi)
    elif pulumi is not None:
        (directory / "pulumi").write_text(pulumi)
        (directory / "pulumi").chmod(0o755)
    return directory


def reconcile(project: Path, tmp_path: Path, path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`modelplane reconcile` as a process; a generous timeout bounds a hang (the checks take about a second)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    full_env = {**base, "PATH": str(path), "PULUMI_HOME": str(tmp_path / "pulumi-home"), **env}
    argv = [MODELPLANE, "reconcile", "--stack", "dev", "--project-dir", str(project), "--port", "0"]
    argv += ["--state-dir", str(tmp_path / "state")]
    return subprocess.run(argv, env=full_env, capture_output=True, text=True, timeout=120, check=False)


def assert_refused(done: subprocess.CompletedProcess[str], tmp_path: Path, *fragments: str) -> None:
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    for fragment in fragments:
        assert fragment in done.stderr
    assert not (tmp_path / "state" / "api-token").exists()  # it never got as far as serving


@pytest.fixture
def real_pulumi() -> str:
    found = shutil.which("pulumi")
    built = Toolchain().installed_bin()
    if found is None and built is not None and (built / "pulumi").is_file():
        found = str(built / "pulumi")
    if found is None:
        pytest.skip("no Pulumi CLI: `modelplane sandbox tools` builds one")
    return found


def test_no_pulumi_on_path(project: Path, tmp_path: Path) -> None:
    done = reconcile(project, tmp_path, bin_dir(tmp_path))
    assert_refused(
        done,
        tmp_path,
        "no `pulumi` on PATH: build it with `modelplane sandbox tools`",
        'eval "$(modelplane sandbox env)"',
        f"install Pulumi {PINNED}",
    )


def test_a_cli_the_automation_api_rejects(project: Path, tmp_path: Path) -> None:
    done = reconcile(project, tmp_path, bin_dir(tmp_path, FAKE_PULUMI), FAKE_VERSION="v2.9.0")
    assert_refused(done, tmp_path, "your current CLI version is 2.9.0", f"install Pulumi {PINNED}")


def test_not_logged_in(project: Path, tmp_path: Path, real_pulumi: str) -> None:
    done = reconcile(project, tmp_path, bin_dir(tmp_path, real_pulumi))
    assert_refused(done, tmp_path, "not logged in to a backend", "`pulumi login file://", "PULUMI_BACKEND_URL")


@pytest.mark.parametrize("where", ["missing/backend", "a-file/backend"])
def test_a_backend_directory_that_cannot_be_used(project: Path, tmp_path: Path, real_pulumi: str, where: str) -> None:
    (tmp_path / "a-file").write_text("not a directory\n")
    url = f"file://{tmp_path / where}"
    done = reconcile(project, tmp_path, bin_dir(tmp_path, real_pulumi), PULUMI_BACKEND_URL=url)
    assert_refused(done, tmp_path, f"cannot use the backend {url}", "unable to open state directory", "fix PULUMI_")


def test_a_stack_missing_from_the_backend(project: Path, tmp_path: Path, real_pulumi: str) -> None:
    (tmp_path / "backend").mkdir()
    url = f"file://{tmp_path / 'backend'}"
    done = reconcile(project, tmp_path, bin_dir(tmp_path, real_pulumi), PULUMI_BACKEND_URL=url)
    assert_refused(done, tmp_path, f"stack dev not found in backend {url}", "`pulumi stack init dev`")


def test_the_cli_error_is_redacted(project: Path, tmp_path: Path) -> None:
    path = bin_dir(tmp_path, FAKE_PULUMI)
    done = reconcile(project, tmp_path, path, PULUMI_ACCESS_TOKEN=TOKEN, FAKE_WHOAMI_ERROR=f"token {TOKEN} refused")
    assert_refused(done, tmp_path, "cannot use the backend", "token")
    assert TOKEN not in done.stderr


# --- the checks themselves, with the stand-in CLI ------------------------------------------------


@pytest.fixture
def fake_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory, with the stand-in CLI alone on PATH."""
    monkeypatch.setenv("PATH", str(bin_dir(tmp_path, FAKE_PULUMI)))
    (tmp_path / "project").mkdir()
    return write_project(tmp_path / "project")


def test_a_backend_that_does_not_answer_is_bounded(fake_cli: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_WHOAMI_SLEEP", "5")
    monkeypatch.setenv("PULUMI_BACKEND_URL", "https://api.example.invalid")
    with pytest.raises(PreflightError, match=r"`pulumi whoami --json` did not answer in 0 s: is the backend "):
        check_toolchain(fake_cli, ["dev"], Preflight("install it", timeout_seconds=0.2))


def test_a_file_backend_this_user_cannot_write(fake_cli: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = tmp_path / "read-only"
    backend.mkdir(mode=stat.S_IRUSR | stat.S_IXUSR)
    monkeypatch.setenv("FAKE_WHOAMI", f'{{"url": "file://{backend}"}}')
    real_access = os.access  # root may write anywhere; the check is what matters here
    monkeypatch.setattr(preflight.os, "access", lambda p, mode: Path(p) != backend and real_access(p, mode))
    with pytest.raises(PreflightError, match=f"the file backend file://{backend} is not writable by this user"):
        check_toolchain(fake_cli, ["dev"], Preflight("install it"))


def test_stack_names_match_with_or_without_their_organisation(fake_cli: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_STACKS", '[{"name": "acme/modelplane/dev"}, {"name": "prod"}]')
    assert check_toolchain(fake_cli, ["dev", "acme/prod"], Preflight("install it")) == "file:///tmp"
    with pytest.raises(PreflightError, match="stack staging not found in backend file:///tmp"):
        check_toolchain(fake_cli, ["dev", "staging"], Preflight("install it"))
