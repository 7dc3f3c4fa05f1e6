"""Secret stack config (`modelplane:secrets.<name>.<key>`), read only as Pulumi secrets and checked up front."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi


@dataclass(frozen=True, order=True)
class SecretRef:
    """One secret value the program needs, and who needs it (for the error message)."""

    name: str
    key: str
    needed_by: str

    @property
    def set_command(self) -> str:
        path = f"modelplane:secrets.{self.name}.{self.key}"
        return f"pulumi config set --secret --path '{path}' <value>"


class MissingSecretsError(pulumi.RunError):
    """Raised (without a traceback: RunError) when secret config the fleet needs is not set."""


class SecretStore:
    """Every lookup derives from one checked Output, so the first use reports all missing secrets at once."""

    def __init__(self, raw: pulumi.Output[Any] | None, required: Iterable[SecretRef]) -> None:
        wanted = sorted(set(required))
        base = raw if raw is not None else pulumi.Output.from_input({})
        self._checked = pulumi.Output.secret(base).apply(lambda values: _check(values, wanted))

    def value(self, name: str, key: str) -> pulumi.Output[str]:
        return self._checked.apply(lambda values: str(values[name][key]))


def _check(values: Mapping[str, Any] | None, required: list[SecretRef]) -> Mapping[str, Any]:
    values = values or {}
    missing = [ref for ref in required if not _present(values, ref)]
    for ref in missing:
        pulumi.log.error(
            f"{ref.needed_by}: secret config modelplane:secrets.{ref.name}.{ref.key} is not set; run: {ref.set_command}"
        )
    if missing:
        raise MissingSecretsError(f"{len(missing)} secret config value(s) missing (see the errors above)")
    return values


def _present(values: Mapping[str, Any], ref: SecretRef) -> bool:
    entry = values.get(ref.name)
    return isinstance(entry, Mapping) and entry.get(ref.key) not in (None, "")
