"""Running the real Pulumi CLI against a sandbox stack, with the sandbox's environment."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.e2e.conftest import SandboxRun


class PulumiCli:
    def __init__(self, sandbox: SandboxRun, stack: str) -> None:
        self.env = sandbox.shell_env()
        self.stack = stack
        self.cwd = sandbox.project_dir

    def run(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        argv = ["pulumi", *args, "--stack", self.stack, "--non-interactive"]
        result = subprocess.run(argv, cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-4000:]}"
                f"\n{result.stderr[-2000:]}"
            )
        return result

    def up(self) -> subprocess.CompletedProcess[str]:
        return self.run("up", "--yes", "--skip-preview")

    def outputs(self, *, secrets: bool = False) -> dict[str, Any]:
        flags = ["--show-secrets"] if secrets else []
        return json.loads(self.run("stack", "output", "--json", *flags).stdout)

    def config_set(self, path: str, value: str) -> None:
        self.run("config", "set", "--path", path, value)

    def export(self) -> str:
        return self.run("stack", "export").stdout
