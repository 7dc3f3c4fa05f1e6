"""Where a sandbox keeps its state, and the record of what it started (so `down` can stop it by pid)."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelplane.sandbox.cluster import ClusterLayout, write_private
from modelplane.sandbox.processes import Started

SANDBOX_DIR_ENV = "MODELPLANE_SANDBOX_DIR"
STATE_FILE = "state.json"


def sandbox_root() -> Path:
    configured = os.environ.get(SANDBOX_DIR_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".local" / "state" / "modelplane" / "sandbox"


@dataclass
class SandboxState:
    """What `up` started and wrote; saved after every process it starts, so a failed `up` can be undone."""

    root: Path
    stack: str
    sandbox_stack: str
    project_dir: Path
    bin_dir: Path
    python: Path  # the interpreter the Pulumi program runs in
    clusters: list[ClusterLayout] = field(default_factory=list)
    processes: dict[str, list[Started]] = field(default_factory=dict)  # cluster -> processes
    cluster_stacks: list[str] = field(default_factory=list)  # a split fleet's cluster stacks' sandbox twins
    stack_files: list[Path] = field(default_factory=list)  # the settings files `up` created (removed by `down`)
    ready: bool = False

    @property
    def backend(self) -> Path:
        return self.root / "backend"

    @property
    def pulumi_home(self) -> Path:
        return self.root / "pulumi-home"

    @property
    def passphrase_file(self) -> Path:
        return self.root / "passphrase"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    def all_processes(self) -> list[Started]:
        return [process for started in self.processes.values() for process in started]

    def save(self) -> None:
        data = {
            "stack": self.stack,
            "sandboxStack": self.sandbox_stack,
            "projectDir": str(self.project_dir),
            "binDir": str(self.bin_dir),
            "python": str(self.python),
            "clusters": [layout.to_json() for layout in self.clusters],
            "processes": {name: [p.to_json() for p in started] for name, started in self.processes.items()},
            "clusterStacks": self.cluster_stacks,
            "stackFiles": [str(path) for path in self.stack_files],
            "ready": self.ready,
        }
        write_private(self.root / STATE_FILE, json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, root: Path) -> SandboxState | None:
        path = root / STATE_FILE
        if not path.is_file():
            return None
        data: dict[str, Any] = json.loads(path.read_text())
        return cls(
            root=root,
            stack=data["stack"],
            sandbox_stack=data["sandboxStack"],
            project_dir=Path(data["projectDir"]),
            bin_dir=Path(data["binDir"]),
            python=Path(data["python"]),
            clusters=[ClusterLayout.from_json(item) for item in data["clusters"]],
            processes={name: [Started.from_json(p) for p in started] for name, started in data["processes"].items()},
            cluster_stacks=list(data.get("clusterStacks", [])),
            stack_files=[Path(path) for path in data.get("stackFiles", [])],
            ready=bool(data.get("ready")),
        )


@contextmanager
def locked(root: Path) -> Iterator[None]:
    """One `up`/`down` at a time per sandbox directory (a second one fails at once rather than waiting)."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(root) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class LockedError(Exception):
    def __init__(self, root: Path) -> None:
        super().__init__(f"another `modelplane sandbox` command is working on {root}; wait for it to finish")
