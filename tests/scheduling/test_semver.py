"""Tests for modelplane.scheduling.semver: blang/semver v4 and k8s normalization."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelplane.scheduling.semver import UINT64_MAX, Semver, SemverError

# (input, major, minor, patch, prerelease, build)
STRICT_VALID = [
    ("0.0.0", 0, 0, 0, (), ()),
    ("1.2.3", 1, 2, 3, (), ()),
    ("10.20.30", 10, 20, 30, (), ()),
    ("1.0.0-alpha", 1, 0, 0, ("alpha",), ()),
    ("1.0.0-alpha.1", 1, 0, 0, ("alpha", 1), ()),
    ("1.0.0-0.3.7", 1, 0, 0, (0, 3, 7), ()),
    ("1.0.0-x.7.z.92", 1, 0, 0, ("x", 7, "z", 92), ()),
    ("1.0.0-x-y-z.--", 1, 0, 0, ("x-y-z", "--"), ()),
    ("1.0.0-0A", 1, 0, 0, ("0A",), ()),
    ("1.0.0+20130313144700", 1, 0, 0, (), ("20130313144700",)),
    ("1.0.0-beta+exp.sha.5114f85", 1, 0, 0, ("beta",), ("exp", "sha", "5114f85")),
    ("1.0.0+21AF26D3----117B344092BD", 1, 0, 0, (), ("21AF26D3----117B344092BD",)),
    ("1.0.0+build-1", 1, 0, 0, (), ("build-1",)),  # '-' after '+' is build, not prerelease.
    ("1.0.0+001", 1, 0, 0, (), ("001",)),  # Leading zeros are fine in build metadata.
    (f"{UINT64_MAX}.{UINT64_MAX}.{UINT64_MAX}", UINT64_MAX, UINT64_MAX, UINT64_MAX, (), ()),
    ("550.54.15", 550, 54, 15, (), ()),
]


@pytest.mark.parametrize(("text", "major", "minor", "patch", "prerelease", "build"), STRICT_VALID)
def test_parse_strict(text: str, major: int, minor: int, patch: int, prerelease: tuple, build: tuple) -> None:
    version = Semver.parse(text)
    assert (version.major, version.minor, version.patch) == (major, minor, patch)
    assert version.prerelease == prerelease
    assert version.build == build
    assert str(version) == text


# (input, words the error must contain)
STRICT_INVALID = [
    ("", "empty"),
    ("1", "no Major.Minor.Patch"),
    ("1.0", "no Major.Minor.Patch"),
    ("v1.0.0", "invalid character(s) found in major number"),
    (" 1.0.0", "invalid character(s) found in major number"),
    ("1.0.0 ", "invalid character(s) found in patch number"),
    ("01.0.0", "major number must not contain leading zeroes"),
    ("1.01.0", "minor number must not contain leading zeroes"),
    ("1.0.01", "patch number must not contain leading zeroes"),
    (".0.0", "empty major number"),
    ("1..0", "empty minor number"),
    ("1.0.", "empty patch number"),
    ("1.0.0.0", "invalid character(s) found in patch number"),
    ("a.b.c", "invalid character(s) found in major number"),
    ("1.0.0-", "prerelease is empty"),
    ("1.0.0-a..b", "prerelease is empty"),
    ("1.0.0-01", "numeric prerelease version must not contain leading zeroes"),
    ("1.0.0-a_b", "invalid character(s) found in prerelease"),
    ("1.0.0-é", "invalid character(s) found in prerelease"),
    ("1.0.0+", "build meta data is empty"),
    ("1.0.0+a..b", "build meta data is empty"),
    ("1.0.0+a_b", "invalid character(s) found in build meta data"),
    ("١.0.0", "invalid character(s) found in major number"),  # A non-ASCII digit.
    (f"{UINT64_MAX + 1}.0.0", "out of range"),
    ("1" * 30 + ".0.0", "out of range"),
    (f"1.0.0-{UINT64_MAX + 1}", "out of range"),
]


@pytest.mark.parametrize(("text", "reason"), STRICT_INVALID)
def test_parse_strict_rejects(text: str, reason: str) -> None:
    with pytest.raises(SemverError, match="invalid version") as caught:
        Semver.parse(text)
    assert reason in str(caught.value)


def test_parse_rejects_a_non_string() -> None:
    with pytest.raises(SemverError, match="must be a string"):
        Semver.parse(1)  # type: ignore[arg-type]


# (input, normalized version)
NORMALIZED = [
    ("v1.0.0", "1.0.0"),
    ("v1.0", "1.0.0"),
    ("1.0", "1.0.0"),
    ("1", "1.0.0"),
    ("v2", "2.0.0"),
    ("01.01.01", "1.1.1"),
    ("00.00.00", "0.0.0"),
    ("v1.2.3-alpha.1+build", "1.2.3-alpha.1+build"),
    ("1.2.03-beta", "1.2.3-beta"),
    ("1.2.3", "1.2.3"),
]


@pytest.mark.parametrize(("text", "expected"), NORMALIZED)
def test_parse_normalized(text: str, expected: str) -> None:
    assert str(Semver.parse(text, normalize=True)) == expected


NORMALIZE_INVALID = [
    ("1.0-alpha", "short version cannot contain PreRelease/Build meta data"),
    ("1+build", "short version cannot contain PreRelease/Build meta data"),
    ("vv1.0.0", "invalid character(s) found in major number"),
    ("", "empty major number"),
    ("v", "empty major number"),
    ("1.0.0-01", "leading zeroes"),  # Leading zeros go only from the numbers before any '-'.
    (" 1.0.0", "invalid character(s) found in major number"),  # No whitespace trimming.
]


@pytest.mark.parametrize(("text", "reason"), NORMALIZE_INVALID)
def test_parse_normalized_rejects(text: str, reason: str) -> None:
    with pytest.raises(SemverError) as caught:
        Semver.parse(text, normalize=True)
    assert reason in str(caught.value)


# In ascending precedence (semver.org section 11, plus releases).
ORDERED = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1-0",
    "1.0.1",
    "1.1.0",
    "2.0.0",
    "10.0.0",
]


@pytest.mark.parametrize(("lower", "higher"), list(itertools.combinations(ORDERED, 2)))
def test_precedence(lower: str, higher: str) -> None:
    a, b = Semver.parse(lower), Semver.parse(higher)
    assert a.compare_to(b) == -1
    assert b.compare_to(a) == 1
    assert a < b
    assert a != b


@pytest.mark.parametrize(
    ("left", "right"),
    [("1.0.0+a", "1.0.0+b"), ("1.0.0", "1.0.0+build"), ("1.0.0-rc.1+x", "1.0.0-rc.1+y.z")],
)
def test_build_metadata_is_ignored(left: str, right: str) -> None:
    a, b = Semver.parse(left), Semver.parse(right)
    assert a.compare_to(b) == 0
    assert a == b
    assert hash(a) == hash(b)


def test_uppercase_identifiers_sort_before_lowercase_in_ascii_order() -> None:
    assert Semver.parse("1.0.0-Beta") < Semver.parse("1.0.0-alpha")


def test_comparison_with_other_types() -> None:
    version = Semver.parse("1.0.0")
    with pytest.raises(TypeError):
        version.compare_to("1.0.0")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        assert version < "1.0.0"  # type: ignore[operator]
    assert version != "1.0.0"


def test_semver_is_immutable_and_sortable() -> None:
    version = Semver.parse("1.0.0")
    with pytest.raises(AttributeError):
        version.major = 2  # type: ignore[misc]
    shuffled = [Semver.parse(text) for text in reversed(ORDERED)]
    assert [str(v) for v in sorted(shuffled)] == ORDERED


# --- properties -------------------------------------------------------------

_NUMBER = st.integers(0, UINT64_MAX)
_ALPHANUMERIC = st.text("abcXYZ-019", min_size=1, max_size=6).filter(lambda s: not s.isdigit())
_IDENTIFIER = st.one_of(st.integers(0, 10**6), _ALPHANUMERIC)


@st.composite
def versions(draw: st.DrawFn) -> Semver:
    return Semver(
        draw(_NUMBER),
        draw(_NUMBER),
        draw(_NUMBER),
        tuple(draw(st.lists(_IDENTIFIER, max_size=3))),
        tuple(draw(st.lists(st.text("abc-019", min_size=1, max_size=5), max_size=2))),
    )


@given(versions())
def test_string_round_trips(version: Semver) -> None:
    again = Semver.parse(str(version))
    assert again == version
    assert (again.prerelease, again.build) == (version.prerelease, version.build)
    assert str(again) == str(version)


@given(versions(), versions())
def test_compare_is_antisymmetric(a: Semver, b: Semver) -> None:
    assert a.compare_to(b) == -b.compare_to(a)
    assert (a == b) is (a.compare_to(b) == 0)


@given(versions())
def test_normalize_accepts_every_strict_version(version: Semver) -> None:
    assert Semver.parse(str(version), normalize=True) == version
    assert Semver.parse(f"v{version}", normalize=True) == version
