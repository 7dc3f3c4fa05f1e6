"""The narrow port between the reconcile core and Pulumi, and its adapter over ``pulumi.automation``."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from modelplane.reconcile.logs import Redactor
from modelplane.reconcile.procs import ChildWatch
from modelplane.reconcile.stackfiles import project_virtualenv

if TYPE_CHECKING:
    from pulumi import automation as auto

OnOutput = Callable[[str], None]
# (stack, pid, start time) of a Pulumi CLI process started for an operation that takes the stack's lock.
OnProcess = Callable[[str, int, int | None], None]
T = TypeVar("T")

_ERROR_TAIL = 4000  # CLI errors embed the whole stdout/stderr; the tail carries the diagnosis


UNCHANGING_OPS = frozenset({"same", "read"})


@dataclass(frozen=True)
class ChangeSummary:
    """Resource operation counts of a preview or update, e.g. ``{"same": 10, "update": 1}``."""

    ops: Mapping[str, int] = field(default_factory=dict)

    @property
    def changes(self) -> dict[str, int]:
        """Every operation that changes something, with a non-zero count: not ``same``, and not ``read`` (a
        program that reads a resource, e.g. a StackReference or a Service's address, reads it on every run)."""
        return {op: n for op, n in sorted(self.ops.items()) if op not in UNCHANGING_OPS and n}

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)


@dataclass(frozen=True)
class UpResult:
    """What a successful ``up`` changed, and the stack outputs after it."""

    changes: ChangeSummary
    outputs: dict[str, Any]


class DriverError(Exception):
    """A Pulumi operation failed; the message may hold engine output and must be logged redacted."""


class ConcurrentUpdateError(DriverError):
    """Another update of the stack is in progress (or a stale lock is held)."""


class CliMissingError(DriverError):
    """No Pulumi CLI on this machine."""


class StackDriver(Protocol):
    """Everything the reconcile core needs from Pulumi, one stack at a time."""

    def refresh_preview(self, stack: str, *, on_output: OnOutput | None = None) -> ChangeSummary:
        """Preview with refresh: changes needed to bring the real resources back to the program's state."""
        ...

    def preview(self, stack: str, *, on_output: OnOutput | None = None) -> ChangeSummary:
        """Plain preview against the recorded state."""
        ...

    def up(self, stack: str, *, refresh: bool = False, on_output: OnOutput | None = None) -> UpResult:
        """Apply the program; ``refresh`` reads the real resources first (drift remediation)."""
        ...

    def outputs(self, stack: str) -> dict[str, Any]:
        """The stack outputs of the last successful update."""
        ...

    def get_config(self, stack: str, key: str) -> str | None:
        """A config value as the CLI stores it (objects as JSON text); ``None`` when absent."""
        ...

    def set_config(self, stack: str, key: str, value: str, *, secret: bool = False) -> None:
        """Set a config value (written to the stack file, like ``pulumi config set``)."""
        ...

    def cancel(self, stack: str) -> None:
        """Cancel the stack's running update. Dangerous; only used when explicitly enabled."""
        ...

    def refresh(self, stack: str, *, clear_pending_creates: bool = False, on_output: OnOutput | None = None) -> None:
        """``pulumi refresh``; ``clear_pending_creates`` drops creates a killed update left unfinished."""
        ...

    def pending_operations(self, stack: str) -> list[str]:
        """The checkpoint's pending operations (``"creating <urn>"``), left by an update that never finished."""
        ...

    def backend_url(self, stack: str) -> str | None:
        """The URL of the stack's backend (``file:///...`` for a file backend)."""
        ...

    def project_name(self, stack: str) -> str:
        """The Pulumi project's name (part of a lock file's path)."""
        ...


def op_counts(op_map: Mapping[Any, int] | None) -> ChangeSummary:
    """Normalise the SDK's ``OpMap`` (enum or str keys) to plain strings."""
    return ChangeSummary({(k.value if isinstance(k, Enum) else str(k)): int(v) for k, v in (op_map or {}).items()})


class AutomationStackDriver:
    """``StackDriver`` over ``pulumi.automation`` with a LocalWorkspace on the project directory.

    Stacks are selected lazily, so constructing the driver needs no CLI; the first operation does.
    """

    def __init__(
        self,
        project_dir: Path,
        redactor: Redactor,
        *,
        env: Mapping[str, str] | None = None,
        on_process: OnProcess | None = None,
    ) -> None:
        self.project_dir = project_dir
        self.redactor = redactor
        self.env = dict(env or {})
        self.on_process = on_process
        self._stacks: dict[str, auto.Stack] = {}
        self._lock = threading.Lock()

    def refresh_preview(self, stack: str, *, on_output: OnOutput | None = None) -> ChangeSummary:
        s = self._engine_stack(stack)
        result = self._call(lambda: s.preview(refresh=True, color="never", on_output=on_output, on_error=on_output))
        return op_counts(result.change_summary)

    def preview(self, stack: str, *, on_output: OnOutput | None = None) -> ChangeSummary:
        s = self._engine_stack(stack)
        result = self._call(lambda: s.preview(color="never", on_output=on_output, on_error=on_output))
        return op_counts(result.change_summary)

    def up(self, stack: str, *, refresh: bool = False, on_output: OnOutput | None = None) -> UpResult:
        s = self._engine_stack(stack)
        # show_secrets=False keeps plaintext secrets out of the returned summary's config.
        result = self._locking(
            stack,
            lambda: s.up(refresh=refresh, color="never", show_secrets=False, on_output=on_output, on_error=on_output),
        )
        return UpResult(op_counts(result.summary.resource_changes), self._plain_outputs(result.outputs))

    def refresh(self, stack: str, *, clear_pending_creates: bool = False, on_output: OnOutput | None = None) -> None:
        s = self._engine_stack(stack)
        self._locking(
            stack,
            lambda: s.refresh(
                clear_pending_creates=clear_pending_creates or None,
                color="never",
                on_output=on_output,
                on_error=on_output,
            ),
        )

    def pending_operations(self, stack: str) -> list[str]:
        deployment = self._call(self._select(stack).export_stack).deployment or {}
        pending = deployment.get("pending_operations") or []
        return [f"{op.get('type', '?')} {op.get('resource', {}).get('urn', '?')}" for op in pending]

    def backend_url(self, stack: str) -> str | None:
        return self._call(self._select(stack).workspace.who_am_i).url

    def project_name(self, stack: str) -> str:
        return self._call(self._select(stack).workspace.project_settings).name

    def outputs(self, stack: str) -> dict[str, Any]:
        s = self._select(stack)
        return self._plain_outputs(self._call(s.outputs))

    def get_config(self, stack: str, key: str) -> str | None:
        entry = self._all_config(self._select(stack)).get(key)
        return None if entry is None else entry.value

    def set_config(self, stack: str, key: str, value: str, *, secret: bool = False) -> None:
        from pulumi import automation as auto

        if secret:
            self.redactor.register(value)
        s = self._select(stack)
        self._call(lambda: s.set_config(key, auto.ConfigValue(value=value, secret=secret)))

    def cancel(self, stack: str) -> None:
        self._call(self._select(stack).cancel)

    def _select(self, stack: str) -> auto.Stack:
        """The cached Stack (selecting runs the CLI, so it happens on first use, not at construction)."""
        from pulumi import automation as auto

        self._ensure_virtualenv()
        with self._lock:
            if stack not in self._stacks:
                opts = auto.LocalWorkspaceOptions(env_vars=self.env or None)
                self._stacks[stack] = self._call(
                    lambda: auto.select_stack(stack_name=stack, work_dir=str(self.project_dir), opts=opts)
                )
            return self._stacks[stack]

    def _engine_stack(self, stack: str) -> auto.Stack:
        """The Stack, with its current secret config registered before the engine prints anything."""
        selected = self._select(stack)
        self._all_config(selected)
        return selected

    def _all_config(self, s: auto.Stack) -> dict[str, auto.ConfigValue]:
        config = self._call(s.get_all_config)
        for entry in config.values():
            if entry.secret:
                self.redactor.register(entry.value)
        return dict(config)

    def _plain_outputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        plain: dict[str, Any] = {}
        for name, output in outputs.items():
            if output.secret:
                self.redactor.register(output.value)
            plain[name] = output.value
        return plain

    def _ensure_virtualenv(self) -> None:
        """Link the project's ``.venv`` to a prebuilt one (``MODELPLANE_PULUMI_VENV``) when the checkout lacks it.

        Pulumi.yaml names a project-relative virtualenv; a fresh checkout (git-sync) has none, and the
        container image carries the program's dependencies in a venv of its own.
        """
        prebuilt = self.env.get("MODELPLANE_PULUMI_VENV") or os.environ.get("MODELPLANE_PULUMI_VENV")
        link = project_virtualenv(self.project_dir)
        if prebuilt and link is not None and not link.exists():
            link.symlink_to(prebuilt, target_is_directory=True)

    def _locking(self, stack: str, fn: Callable[[], T]) -> T:
        """An operation that takes the stack's lock: the CLI processes it starts are reported to ``on_process``."""
        if self.on_process is None:
            return self._call(fn)
        on_process = self.on_process
        with ChildWatch(("--stack", stack), lambda pid, start: on_process(stack, pid, start)):
            return self._call(fn)

    def _call(self, fn: Callable[[], T]) -> T:
        """Run an automation call, mapping its errors onto the driver's own."""
        from pulumi.automation import errors

        try:
            return fn()
        except FileNotFoundError as exc:
            raise CliMissingError(f"pulumi CLI not found: {exc}") from exc
        except errors.ConcurrentUpdateError as exc:
            raise ConcurrentUpdateError(str(exc)[-_ERROR_TAIL:]) from exc
        except errors.CommandError as exc:
            raise DriverError(str(exc)[-_ERROR_TAIL:]) from exc
        except (errors.InvalidVersionError, RuntimeError) as exc:  # e.g. "summary event never found"
            raise DriverError(f"{type(exc).__name__}: {exc}"[-_ERROR_TAIL:]) from exc
