"""The e2e tier: real control planes, the real Pulumi CLI and provider. Runs only where the toolchain is built
(`modelplane sandbox tools`); every test stops what it started, also when it fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from modelplane.sandbox.toolchain import Toolchain

ROOT = Path(__file__).resolve().parents[2]
SHARED_CRDS = ROOT.parent / "shared" / "reference" / "crds"
MODELPLANE = str(Path(sys.executable).with_name("modelplane"))


def eventually(check, timeout: float = 60.0, interval: float = 0.5, message: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll `check` until it returns something truthy; fail with `message` and the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{message}: not reached in {timeout:.0f} s (last: {last!r})")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if Toolchain().installed_bin() is not None:
        return
    skip = pytest.mark.skip(reason="the e2e tier needs the toolchain: build it with `modelplane sandbox tools`")
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def bin_dir() -> Path:
    found = Toolchain().installed_bin()
    assert found is not None
    return found


class Kubectl:
    def __init__(self, bin_dir: Path, kubeconfig: Path, context: str) -> None:
        self.argv = [str(bin_dir / "kubectl"), f"--kubeconfig={kubeconfig}", f"--context={context}"]

    def run(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*self.argv, *args], capture_output=True, text=True, input=stdin, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    def json(self, *args: str) -> dict:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def apply(self, manifest: str) -> None:
        self.run("apply", "-f", "-", stdin=manifest)


class SandboxRun:
    """`modelplane sandbox` through its CLI in a state directory of the test's own."""

    def __init__(self, root: Path, bin_dir: Path, project_dir: Path = ROOT) -> None:
        self.root, self.bin_dir, self.project_dir = root, bin_dir, project_dir
        self.env = {**os.environ, "MODELPLANE_SANDBOX_DIR": str(root)}

    def cli(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        argv = [MODELPLANE, "sandbox", *args]
        if args and args[0] == "up":
            argv += ["--project-dir", str(self.project_dir)]
        result = subprocess.run(
            argv, cwd=self.project_dir, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"modelplane sandbox {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def up(self, stack: str, *extra: str) -> None:
        crds = ["--crds", str(SHARED_CRDS)] if SHARED_CRDS.is_dir() else []
        self.cli("up", "--stack", stack, *crds, *extra)

    def shell_env(self) -> dict[str, str]:
        lines = self.cli("env").stdout.splitlines()
        env = dict(self.env)
        for line in lines:
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = subprocess.run(["sh", "-c", f"printf %s {value}"], capture_output=True, text=True).stdout
        return env

    def kubectl(self, context: str) -> Kubectl:
        return Kubectl(self.bin_dir, self.root / "kubeconfig", context)


@contextmanager
def running(root: Path, bin_dir: Path, stack: str | None = None, project_dir: Path = ROOT) -> Iterator[SandboxRun]:
    """A sandbox in `root` (of `stack`, when given), stopped on the way out whatever happened."""
    run = SandboxRun(root, bin_dir, project_dir)
    try:
        if stack:
            run.up(stack)
        yield run
    finally:
        run.cli("down", check=False)
