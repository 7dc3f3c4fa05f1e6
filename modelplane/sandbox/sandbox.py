"""`modelplane sandbox up / down / status / env`: a local fleet of real control planes, one per InferenceCluster,
and a Pulumi stack `S-sandbox` on a file backend of the sandbox's own that deploys S's fleet onto it."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modelplane.api.errors import Problem
from modelplane.api.fleet import Fleet
from modelplane.api.loading import stack_source
from modelplane.sandbox import processes
from modelplane.sandbox.cluster import (
    MAX_CLUSTERS,
    PORT_NAMES,
    Addressing,
    ClusterLayout,
    ClusterRun,
    SandboxError,
    kubeconfig,
    write_private,
)
from modelplane.sandbox.crds import sandbox_crds
from modelplane.sandbox.shape import ClusterShape, fleet_shapes
from modelplane.sandbox.stack import (
    SecretSetting,
    cluster_stack_config,
    project_name,
    sandbox_config,
    sandbox_stack_name,
    secret_settings,
)
from modelplane.sandbox.state import SandboxState, locked, sandbox_root

STACK_FILE_MARKER = "# Written by `modelplane sandbox up`"
Progress = Callable[[str], None]


class ShapeProblemsError(SandboxError):
    """Classes whose devices a ResourceSlice cannot carry: nothing was started."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} device(s) cannot be expressed as a ResourceSlice")
        self.problems = problems


@dataclass(frozen=True)
class SplitStack:
    """A cluster stack of a split fleet, as read by the CLI."""

    name: str
    config: Mapping[str, Any]  # public config (no secrets)
    declared_secrets: Mapping[str, Any] | None


@dataclass(frozen=True)
class UpRequest:
    """Everything `up` needs, read and validated by the CLI."""

    stack: str
    fleet: Fleet
    config: Mapping[str, Any]  # S's public config (no secrets)
    declared_secrets: Mapping[str, Any] | None  # names and keys under S's modelplane:secrets (values unused)
    project_dir: Path
    bin_dir: Path
    crds: list[dict[str, Any]]
    # For a split fleet (role fleet): each cluster's own stack, twinned as `<its name>-sandbox`.
    cluster_stacks: Mapping[str, SplitStack] = field(default_factory=dict)
    ceiling: bool = True
    port_base: int | None = None
    timeout: float = 180.0


def pulumi_env(state: SandboxState) -> dict[str, str]:
    """What a shell (or a test) needs to run the real CLI against this sandbox."""
    return {
        "PATH": f"{state.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PULUMI_BACKEND_URL": f"file://{state.backend}",
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(state.passphrase_file),
        "PULUMI_HOME": str(state.pulumi_home),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "KUBECONFIG": str(state.kubeconfig),
        # The language host built here predates runtime options over RPC, so it cannot see Pulumi.yaml's
        # `virtualenv`: it runs this interpreter (the one `sandbox up` ran in, which has the program's packages).
        "PULUMI_PYTHON_CMD": str(state.python),
    }


class Sandbox:
    """The sandbox under one state directory (default ~/.local/state/modelplane/sandbox)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or sandbox_root()).resolve()

    def state(self) -> SandboxState | None:
        return SandboxState.load(self.root)

    def up(self, request: UpRequest, progress: Progress) -> SandboxState:
        shapes, problems = fleet_shapes(request.fleet, ceiling=request.ceiling)
        if problems:
            raise ShapeProblemsError(problems)
        if not shapes:
            raise SandboxError(f"stack {request.stack} declares no InferenceCluster: there is nothing to start")
        if len(shapes) > MAX_CLUSTERS:
            raise SandboxError(f"stack {request.stack} has {len(shapes)} clusters; a sandbox holds {MAX_CLUSTERS}")
        sandbox_config(request.config, request.fleet)  # refuses a fleet it cannot express, before anything starts
        project_name(request.project_dir)
        with locked(self.root):
            self._refuse_running()
            names = [sandbox_stack_name(request.stack)]
            names += [sandbox_stack_name(split.name) for split in request.cluster_stacks.values()]
            stack_files = [self._stack_file(request.project_dir, name) for name in names]
            layouts = self._layouts(shapes, request.port_base)
            state = SandboxState(
                self.root,
                request.stack,
                sandbox_stack_name(request.stack),
                request.project_dir,
                request.bin_dir,
                Path(sys.executable),
            )
            state.clusters = layouts
            state.cluster_stacks = names[1:]
            state.save()
            try:
                self._start(state, shapes, request, progress)
                self._write_access(state)
                self._create_stacks(state, request, stack_files, progress)
                state.ready = True
                state.save()
            except BaseException:
                progress("sandbox up failed: stopping what it started")
                self._teardown(state)
                raise
        return state

    def down(self, progress: Progress) -> list[str]:
        """Stop every process the sandbox started and remove its state (also after a failed `up`)."""
        with locked(self.root):
            state = self.state()
            if state is None:
                shutil.rmtree(self.root, ignore_errors=True)
                return []
            stopped = self._teardown(state)
        for name in stopped:
            progress(f"stopped {name}")
        return stopped

    def _teardown(self, state: SandboxState) -> list[str]:
        stopped = [
            f"{cluster}/{name}" for cluster, started in state.processes.items() for name in processes.stop(started)
        ]
        for path in state.stack_files:
            if _owner(path) == self.root:
                path.unlink(missing_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)
        return stopped

    def _refuse_running(self) -> None:
        state = self.state()
        if state is None:
            return
        if any(process.alive() for process in state.all_processes()):
            raise SandboxError(
                f"a sandbox of stack {state.stack} is running (state in {self.root}); "
                "stop it with `modelplane sandbox down` first"
            )
        self._teardown(state)  # a stopped sandbox's leftovers (e.g. after a reboot)
        self.root.mkdir(parents=True, exist_ok=True)

    def _stack_file(self, project_dir: Path, name: str) -> Path:
        """Where a sandbox stack's settings go; a leftover of a stopped sandbox is replaced, anything else kept."""
        path = project_dir / stack_source(project_dir, name)
        if not path.exists():
            return path
        owner = _owner(path)
        if owner is None:
            raise SandboxError(f"{path} exists and was not written by the sandbox: move it away first")
        other = SandboxState.load(owner) if owner != self.root else None
        if other and any(process.alive() for process in other.all_processes()):
            raise SandboxError(f"{path} belongs to the sandbox running in {owner}: stop that one first")
        path.unlink()  # its encryption salt belongs to a passphrase that is gone
        return path

    def _layouts(self, shapes: list[ClusterShape], port_base: int | None) -> list[ClusterLayout]:
        count = len(PORT_NAMES)
        if port_base is None:
            ports = processes.free_ports(count * len(shapes))
        else:
            ports = [port_base + 10 * index + offset for index in range(len(shapes)) for offset in range(count)]
            taken = [port for port in ports if processes.port_taken(port)]
            if taken:
                raise SandboxError(f"port(s) {', '.join(map(str, taken))} on 127.0.0.1 are in use: pick another base")
        return [
            ClusterLayout(
                shape.name,
                self.root / "clusters" / shape.name,
                dict(zip(PORT_NAMES, ports[index * count : (index + 1) * count], strict=True)),
                Addressing(index),
            )
            for index, shape in enumerate(shapes)
        ]

    def _start(self, state: SandboxState, shapes: list[ClusterShape], request: UpRequest, progress: Progress) -> None:
        crds = sandbox_crds(request.crds)
        guard = threading.Lock()

        def one(layout: ClusterLayout, shape: ClusterShape) -> None:
            run = ClusterRun(layout, request.bin_dir, progress)

            def record(started: list[processes.Started]) -> None:
                with guard:
                    state.processes[layout.name] = list(started)
                    state.save()

            run.on_start = record
            run.up(shape.objects(), crds, request.timeout)

        with ThreadPoolExecutor(max_workers=len(shapes)) as pool:
            futures = [pool.submit(one, layout, shape) for layout, shape in zip(state.clusters, shapes, strict=True)]
            errors = [future.exception() for future in futures]
        failures = [error for error in errors if error is not None]
        if failures:
            raise failures[0]

    def _write_access(self, state: SandboxState) -> None:
        write_private(state.kubeconfig, yaml.safe_dump(kubeconfig(state.clusters), sort_keys=False))
        write_private(state.passphrase_file, secrets.token_urlsafe(24) + "\n")
        state.backend.mkdir(parents=True, exist_ok=True)
        state.pulumi_home.mkdir(parents=True, exist_ok=True)

    def _create_stacks(
        self, state: SandboxState, request: UpRequest, stack_files: list[Path], progress: Progress
    ) -> None:
        """The sandbox stack (and a split fleet's cluster stacks), each with its config and secrets."""
        kubeconfigs = {layout.name: yaml.safe_dump(kubeconfig([layout]), sort_keys=False) for layout in state.clusters}
        twins = {cluster: sandbox_stack_name(split.name) for cluster, split in request.cluster_stacks.items()}
        main = sandbox_config(request.config, request.fleet, twins)
        secrets_of_main = secret_settings(request.fleet, kubeconfigs, request.declared_secrets)
        self._create_stack(state, request, stack_files[0], state.sandbox_stack, main, secrets_of_main)
        fleet_stack = f"organization/{project_name(request.project_dir)}/{state.sandbox_stack}"
        for (cluster, split), path in zip(request.cluster_stacks.items(), stack_files[1:], strict=True):
            config = cluster_stack_config(split.config, fleet_stack)
            secrets_of_cluster = secret_settings(request.fleet, {cluster: kubeconfigs[cluster]}, split.declared_secrets)
            self._create_stack(state, request, path, twins[cluster], config, secrets_of_cluster)
        progress(f"stack(s) {', '.join([state.sandbox_stack, *twins.values()])}: ready on {state.backend}")

    def _create_stack(
        self,
        state: SandboxState,
        request: UpRequest,
        stack_file: Path,
        name: str,
        config: Mapping[str, Any],
        secret_values: list[SecretSetting],
    ) -> None:
        """`pulumi stack init` on the sandbox's backend, the config written, secrets set through the CLI."""
        env = {**os.environ, **pulumi_env(state)}
        pulumi = str(state.bin_dir / "pulumi")
        _pulumi(pulumi, ["stack", "init", name, "--secrets-provider", "passphrase"], request.project_dir, env)
        state.stack_files.append(stack_file)
        state.save()
        settings = (yaml.safe_load(stack_file.read_text()) if stack_file.is_file() else None) or {}
        settings["config"] = dict(config)
        header = f"{STACK_FILE_MARKER} in {self.root} for stack {request.stack}; `sandbox down` removes it.\n"
        stack_file.write_text(header + yaml.safe_dump(settings, sort_keys=False))
        for setting in secret_values:
            _set_secret(pulumi, setting, name, request.project_dir, env)


def _set_secret(pulumi: str, setting: SecretSetting, stack: str, cwd: Path, env: Mapping[str, str]) -> None:
    """The value goes through stdin: never on a command line, where other users could read it."""
    args = ["config", "set", "--secret", "--path", setting.path, "--stack", stack]
    _pulumi(pulumi, args, cwd, env, stdin=setting.value)


def _pulumi(pulumi: str, args: list[str], cwd: Path, env: Mapping[str, str], stdin: str | None = None) -> None:
    result = subprocess.run(
        [pulumi, *args, "--non-interactive"],
        cwd=cwd,
        env=dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise SandboxError(f"pulumi {' '.join(args[:2])} failed: {result.stderr.strip()[-800:]}")


def _owner(path: Path) -> Path | None:
    """The sandbox directory named in a stack file's first line, or None when the sandbox did not write it."""
    try:
        first = path.read_text(errors="replace").partition("\n")[0]
    except OSError:
        return None
    if not first.startswith(STACK_FILE_MARKER + " in "):
        return None
    return Path(first.removeprefix(STACK_FILE_MARKER + " in ").split(" for stack ", 1)[0])
