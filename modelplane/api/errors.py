"""Input problems: one line per problem, naming the file, the object and the field path."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Origin:
    """Where a document came from: a file (and document index in a multi-document file) or a stack config key."""

    file: str
    document: int | None = None

    def __str__(self) -> str:
        return self.file if self.document is None else f"{self.file}:{self.document}"


@dataclass(frozen=True, order=True)
class Problem:
    """One invalid input: `FILE[:DOC] KIND NAMESPACE/NAME: field.path: message`, the parts that do not apply left out
    (a problem of a whole file reads `FILE: message`)."""

    origin: Origin
    kind: str
    name: str
    path: str
    message: str
    namespace: str = ""

    def __str__(self) -> str:
        obj = f"{_cut(self.namespace)}/{_cut(self.name)}" if self.namespace and self.name else _cut(self.name)
        head = " ".join(part for part in (str(self.origin), self.kind, obj) if part)
        where = f"{self.path}: " if self.path else ""
        return f"{head}: {where}{self.message}"


def _cut(name: str) -> str:
    """A name as written may be as long as the input limits allow; no valid name is longer than 253."""
    return name if len(name) <= 253 else f"{name[:250]}..."


def problem_line(where: str, message: str, path: str = "") -> str:
    """The line of a problem not tied to an object: `WHERE: [field: ]message` (a file, `command line`, ...)."""
    return str(Problem(Origin(where), "", "", path, message))


class InvalidInputError(Exception):
    """Raised with every problem found; nothing is planned, rendered or changed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problem_list = sorted(problems)
        super().__init__("\n".join(self.problems))

    @property
    def problems(self) -> list[str]:
        return [str(problem) for problem in self.problem_list]
