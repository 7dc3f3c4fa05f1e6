"""Where status and drain get a stack's facts: its last outputs (placement, kubeconfigs as secrets) through the
Automation API, or kubeconfig contexts named after the clusters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class AccessError(Exception):
    """The stack's outputs or a kubeconfig cannot be read; the message says what to do."""


@dataclass(frozen=True)
class StackFacts:
    record: dict[str, Any]  # the placement record of the last successful up
    kubeconfigs: dict[str, str]  # cluster -> kubeconfig text (secret: never printed)


def stack_facts(project_dir: Path, stack: str, env: Mapping[str, str] | None = None) -> StackFacts:
    """The stack's `placement` and `kubeconfigs` outputs, read with the Pulumi CLI's Automation API."""
    from pulumi import automation as auto

    try:
        workspace = auto.LocalWorkspaceOptions(env_vars=dict(env) if env else None)
        selected = auto.select_stack(stack_name=stack, work_dir=str(project_dir), opts=workspace)
        outputs = selected.outputs()
    except FileNotFoundError:
        raise AccessError('the Pulumi CLI is not on PATH (in a sandbox: eval "$(modelplane sandbox env)")') from None
    except Exception as error:  # noqa: BLE001 - the CLI's errors (no login, no stack) become one message
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise AccessError(
            f"stack {stack}: cannot read its outputs ({first[:200]}); has it been `pulumi up`-ed?"
        ) from None
    placement = outputs.get("placement")
    if placement is None:
        raise AccessError(f"stack {stack} has no placement output yet: run `pulumi up --stack {stack}` first")
    kubeconfigs = outputs.get("kubeconfigs")
    return StackFacts(dict(placement.value), dict(kubeconfigs.value) if kubeconfigs else {})


def kubeconfig_contexts(path: Path, clusters: list[str]) -> dict[str, str]:
    """One kubeconfig text per cluster from a file whose contexts are named after the clusters (as the sandbox's)."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise AccessError(f"{path}: cannot read the kubeconfig: {error}") from None
    contexts = {item.get("name") for item in (loaded or {}).get("contexts", []) if isinstance(item, dict)}
    return {name: yaml.safe_dump({**loaded, "current-context": name}) for name in clusters if name in contexts}
