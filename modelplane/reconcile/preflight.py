"""Start-up checks of the Pulumi toolchain: a CLI the Automation API accepts, a backend, the stacks in it.

Without them every run would fail the same way, forever, behind a service that looks alive; so each is a
start-up error whose message says how to fix it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelplane.reconcile.locks import file_backend_root

_NOT_LOGGED_IN = ("requires logging in", "PULUMI_ACCESS_TOKEN must be set", "not logged in")


class PreflightError(Exception):
    """The toolchain cannot run this service's stacks; the message names the problem and the fix."""


@dataclass(frozen=True)
class Preflight:
    """How to run the checks: the fix to suggest when no usable CLI exists, and how long a CLI call may take."""

    install_hint: str
    timeout_seconds: float = 30.0
    redact: Callable[[str], str] = str


def check_toolchain(project_dir: Path, stacks: Sequence[str], preflight: Preflight) -> str:
    """Raise ``PreflightError`` unless the CLI, the backend and every stack are usable; returns the backend URL."""
    try:
        return _check(project_dir, stacks, preflight)
    except PreflightError as error:
        raise PreflightError(preflight.redact(str(error))) from None


def _check(project_dir: Path, stacks: Sequence[str], preflight: Preflight) -> str:
    command = _pulumi_command(preflight)
    whoami = _run(command, ["whoami", "--json"], project_dir, preflight)
    url = str(whoami.get("url") or "") if isinstance(whoami, dict) else ""
    root = file_backend_root(url)
    if root is not None and not os.access(root, os.W_OK):  # the CLI only finds out at the first lock it writes
        raise PreflightError(
            f"the file backend {url} is not writable by this user: fix its permissions, or set PULUMI_BACKEND_URL "
            "to a directory this user can write"
        )
    listed = _run(command, ["stack", "ls", "--json"], project_dir, preflight)
    names = {str(e.get("name", "")) for e in listed if isinstance(e, dict)} if isinstance(listed, list) else set()
    known = {_short_name(n) for n in names}  # `org/project/dev` or `dev`, depending on the backend
    missing = [s for s in stacks if _short_name(s) not in known]
    if missing:
        raise PreflightError(
            f"stack {', '.join(missing)} not found in backend {url or '(unknown)'}: create it with "
            f"`pulumi stack init {missing[0]}` (for a sandbox: `modelplane sandbox up --stack {missing[0]}`), "
            "or point PULUMI_BACKEND_URL at the backend that holds it"
        )
    return url


def _short_name(stack: str) -> str:
    return stack.rsplit("/", 1)[-1]


def _pulumi_command(preflight: Preflight) -> str:
    """The CLI on PATH, version-checked by the Automation API itself (what the service's driver will use)."""
    from pulumi.automation import PulumiCommand
    from pulumi.automation.errors import InvalidVersionError

    found = shutil.which("pulumi")
    if found is None:
        raise PreflightError(f"no `pulumi` on PATH: {preflight.install_hint}")
    try:
        return PulumiCommand().command
    except InvalidVersionError as error:
        raise PreflightError(f"{found}: {error}: {preflight.install_hint}") from None
    except (OSError, subprocess.CalledProcessError) as error:
        raise PreflightError(f"{found}: `pulumi version` failed ({error}): {preflight.install_hint}") from None


def _run(command: str, args: list[str], project_dir: Path, preflight: Preflight) -> object:
    """One CLI call in the project directory (so Pulumi.yaml's ``backend`` counts), bounded in time; its JSON."""
    shown = f"`pulumi {' '.join(args)}`"
    env = {**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"}
    try:
        done = subprocess.run(
            [command, *args, "--non-interactive"],
            cwd=project_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=preflight.timeout_seconds,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PreflightError(
            f"{shown} did not answer in {preflight.timeout_seconds:.0f} s: is the backend "
            f"{_backend_named(env)} reachable? Check PULUMI_BACKEND_URL or `pulumi login`"
        ) from None
    if done.returncode != 0:
        raise PreflightError(_backend_problem(shown, _first_error(done.stderr), env))
    try:
        return json.loads(done.stdout or "null")
    except ValueError:
        raise PreflightError(f"{shown} printed no JSON: {done.stdout[:200]}") from None


def _backend_problem(shown: str, message: str, env: Mapping[str, str]) -> str:
    if any(marker in message for marker in _NOT_LOGGED_IN):
        return (
            f"not logged in to a backend ({shown}: {message}): run `pulumi login file://<directory>` "
            "(or `pulumi login` for Pulumi Cloud), or set PULUMI_BACKEND_URL"
        )
    return (
        f"cannot use the backend {_backend_named(env)} ({shown}: {message}): fix PULUMI_BACKEND_URL or run "
        "`pulumi login <url>` (a file:// backend's directory must exist and be writable)"
    )


def _backend_named(env: Mapping[str, str]) -> str:
    url = env.get("PULUMI_BACKEND_URL")
    return url if url else "of `pulumi login` (or Pulumi.yaml's `backend.url`)"


def _first_error(stderr: str) -> str:
    """The CLI's diagnosis: its first ``error:`` line (the rest is usage text), else the last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("error:").strip() for line in lines if line.startswith("error:")]
    return (errors or lines[-1:] or ["(no output)"])[0][:500]
