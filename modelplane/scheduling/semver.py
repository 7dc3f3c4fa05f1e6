"""Semantic versions with blang/semver v4 semantics, as Kubernetes' CEL ``semver()`` uses them.

Strict parsing (``Semver.parse(s)``) is ``semver.Parse``: exactly
``MAJOR.MINOR.PATCH`` of unsigned 64-bit numbers without leading zeros or a
``v``, then an optional ``-prerelease`` and ``+build``. ``normalize=True`` is
k8s.io/apiserver/pkg/cel/library/semverlib.go's ``normalizeAndParse``: drop one
leading ``v``, strip leading zeros from each of the three dot-separated parts
(the third still carries any prerelease and build) and pad a missing minor or
patch with ``0``, then parse strictly.

Ordering follows semver 2.0: a prerelease sorts below its release, prerelease
identifiers compare left to right (numeric ones by value and below alphanumeric
ones, alphanumeric ones in ASCII order, a shorter list first when one is a
prefix of the other), and build metadata is ignored, by equality too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

UINT64_MAX = 2**64 - 1

_NUMBERS = frozenset("0123456789")
_ALPHANUMERIC = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-") | _NUMBERS


class SemverError(ValueError):
    """A string that is not a semantic version."""


@functools.total_ordering
@dataclass(frozen=True, slots=True, eq=False)
class Semver:
    """A parsed version. Equality, hashing and ordering ignore ``build``."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...] = ()
    build: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str, *, normalize: bool = False) -> Semver:
        """Parse ``text`` strictly, or leniently with ``normalize=True`` (see the module docstring)."""
        if not isinstance(text, str):
            raise SemverError(f"a version must be a string, not {type(text).__name__}")
        return _parse(_normalize(text) if normalize else text)

    def compare_to(self, other: Semver) -> int:
        """-1, 0 or 1 as this version has lower, equal or higher precedence than ``other``."""
        if not isinstance(other, Semver):
            raise TypeError(f"cannot compare a Semver with {type(other).__name__}")
        mine, theirs = (self.major, self.minor, self.patch), (other.major, other.minor, other.patch)
        if mine != theirs:
            return 1 if mine > theirs else -1
        if not self.prerelease or not other.prerelease:
            # A release outranks any prerelease of the same version.
            return (not self.prerelease) - (not other.prerelease)
        for left, right in zip(self.prerelease, other.prerelease, strict=False):
            order = _compare_identifiers(left, right)
            if order:
                return order
        return (len(self.prerelease) > len(other.prerelease)) - (len(self.prerelease) < len(other.prerelease))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Semver):
            return NotImplemented
        return self.compare_to(other) == 0

    def __lt__(self, other: Semver) -> bool:
        if not isinstance(other, Semver):
            return NotImplemented
        return self.compare_to(other) < 0

    def __hash__(self) -> int:
        return hash((self.major, self.minor, self.patch, self.prerelease))

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(str(part) for part in self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text


def _compare_identifiers(left: int | str, right: int | str) -> int:
    """Compare two prerelease identifiers: numbers by value, below any alphanumeric one."""
    if isinstance(left, int) and isinstance(right, int):
        return (left > right) - (left < right)
    if isinstance(left, str) and isinstance(right, str):
        return (left > right) - (left < right)  # Identifiers are ASCII, so this is Go's byte order.
    return -1 if isinstance(left, int) else 1


def _normalize(text: str) -> str:
    """Port of semverlib.go's ``normalizeAndParse`` rewriting step."""
    parts = text.removeprefix("v").split(".", 2)
    for index, part in enumerate(parts):
        if len(part) > 1:
            part = part.lstrip("0")
            parts[index] = part if part[:1] in _NUMBERS else "0" + part
    if len(parts) < 3:
        if "+" in parts[-1] or "-" in parts[-1]:
            raise SemverError(f"invalid version {text!r}: short version cannot contain PreRelease/Build meta data")
        parts += ["0"] * (3 - len(parts))
    return ".".join(parts)


def _parse(text: str) -> Semver:
    """Port of blang/semver v4 ``Parse``."""
    if not text:
        raise SemverError("invalid version '': version string empty")
    parts = text.split(".", 2)
    if len(parts) != 3:
        raise SemverError(f"invalid version {text!r}: no Major.Minor.Patch elements found")
    major = _number(text, parts[0], "major number")
    minor = _number(text, parts[1], "minor number")
    rest, _, build = parts[2].partition("+")
    patch, _, prerelease = rest.partition("-")
    return Semver(
        major,
        minor,
        _number(text, patch, "patch number"),
        tuple(_prerelease_identifier(text, part) for part in prerelease.split(".")) if "-" in rest else (),
        tuple(_build_identifier(text, part) for part in build.split(".")) if "+" in parts[2] else (),
    )


def _number(text: str, part: str, what: str) -> int:
    """A version number: ASCII digits, no leading zero, at most uint64."""
    if not part:
        raise SemverError(f"invalid version {text!r}: empty {what}")
    if not _NUMBERS.issuperset(part):
        raise SemverError(f"invalid version {text!r}: invalid character(s) found in {what} {part!r}")
    if len(part) > 1 and part[0] == "0":
        raise SemverError(f"invalid version {text!r}: {what} must not contain leading zeroes {part!r}")
    # The length check keeps int() away from a huge digit string.
    if len(part) > 20 or int(part) > UINT64_MAX:
        raise SemverError(f"invalid version {text!r}: {what} {part!r} is out of range")
    return int(part)


def _prerelease_identifier(text: str, part: str) -> int | str:
    """A prerelease identifier: a number (kept as int) or alphanumerics and hyphens."""
    if not part:
        raise SemverError(f"invalid version {text!r}: prerelease is empty")
    if _NUMBERS.issuperset(part):
        return _number(text, part, "numeric prerelease version")
    if not _ALPHANUMERIC.issuperset(part):
        raise SemverError(f"invalid version {text!r}: invalid character(s) found in prerelease {part!r}")
    return part


def _build_identifier(text: str, part: str) -> str:
    """A build identifier: non-empty alphanumerics and hyphens."""
    if not part:
        raise SemverError(f"invalid version {text!r}: build meta data is empty")
    if not _ALPHANUMERIC.issuperset(part):
        raise SemverError(f"invalid version {text!r}: invalid character(s) found in build meta data {part!r}")
    return part
