"""Tests for modelplane.scheduling.quantity: resource.Quantity parity.

Most rows come from k8s.io/apimachinery's quantity_test.go (TestQuantityParse,
TestQuantityString, TestQuantityParseEmit) and the apiserver CEL quantity
library's tests; the hypothesis tests check parsing against an exact rational
oracle written independently with ``fractions.Fraction``.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from modelplane.scheduling.quantity import INT64_MAX, INT64_MIN, MAX_DIGITS, Quantity, QuantityError


def value(q: Quantity) -> Fraction:
    """The exact value of a quantity with a modest exponent."""
    return Fraction(q.unscaled) * Fraction(10) ** q.exponent


# (input, canonical string, exact value)
VALID = [
    ("0", "0", "0"),
    ("0n", "0", "0"),
    ("0Ki", "0", "0"),
    ("00", "0", "0"),
    ("-0", "0", "0"),
    ("+5", "5", "5"),
    ("1", "1", "1"),
    ("1Ki", "1Ki", "1024"),
    ("8Ki", "8Ki", "8192"),
    ("7Mi", "7Mi", str(7 * 2**20)),
    ("6Gi", "6Gi", str(6 * 2**30)),
    ("5Ti", "5Ti", str(5 * 2**40)),
    ("4Pi", "4Pi", str(4 * 2**50)),
    ("3Ei", "3Ei", str(3 * 2**60)),
    ("5n", "5n", "5/1000000000"),
    ("4u", "4u", "4/1000000"),
    ("3m", "3m", "3/1000"),
    ("-5m", "-5m", "-5/1000"),
    ("8k", "8k", "8000"),
    ("50k", "50k", "50000"),
    ("7M", "7M", "7000000"),
    ("6G", "6G", "6000000000"),
    ("40T", "40T", str(40 * 10**12)),
    ("2P", "2P", str(2 * 10**15)),
    ("1E", "1E", str(10**18)),
    ("12E", "12E", str(12 * 10**18)),
    ("1E-3", "1e-3", "1/1000"),
    ("1e3", "1e3", "1000"),
    ("1E6", "1e6", "1000000"),
    ("1.2e3", "1200", "1200"),
    ("1.3E+6", "1300e3", "1300000"),
    ("0.5e-1", "50e-3", "5/100"),
    ("2e-1", "200e-3", "2/10"),
    ("100.035k", "100035", "100035"),
    ("0.001", "1m", "1/1000"),
    ("0.0005k", "500m", "1/2"),
    ("9.01", "9010m", "901/100"),
    ("7.123456M", "7123456", "7123456"),
    ("5.444T", "5444G", str(5444 * 10**9)),
    ("1.01E", "1010P", str(101 * 10**16)),
    (".001", "1m", "1/1000"),
    (".0001k", "100m", "1/10"),
    ("1.", "1", "1"),
    ("1.G", "1G", "1000000000"),
    ("1.0", "1", "1"),
    # Rounding up, away from zero, to nano.
    ("3.001n", "4n", "4/1000000000"),
    ("1.1E-9", "2e-9", "2/1000000000"),
    ("0.0000000001", "1n", "1/1000000000"),
    ("0.9n", "1n", "1/1000000000"),
    ("0.1n", "1n", "1/1000000000"),
    ("-0.1n", "-1n", "-1/1000000000"),
    ("0.00000012345", "124n", "124/1000000000"),
    ("1e-2147483647", "1e-9", "1/1000000000"),
    # Binary suffixes: fractions, canonical re-suffixing, and int64 saturation.
    ("1.3Gi", "1395864371200m", "13958643712/10"),
    ("1.5Gi", "1536Mi", str(3 * 2**29)),
    ("0.5Mi", "512Ki", "524288"),
    ("100.035Ki", "102435840m", "10243584/100"),
    ("0.05Gi", "53687091200m", "536870912/10"),
    (".001Ki", "1024m", "1024/1000"),
    (".000001Ki", "1024u", "1024/1000000"),
    (".000000001Ki", "1024n", "1024/1000000000"),
    ("0.000000000001Ki", "2n", "2/1000000000"),
    ("1024Mi", "1Gi", str(2**30)),
    ("1000M", "1G", "1000000000"),
    ("9Ei", "9223372036854775807", str(INT64_MAX)),
    ("10Ei", "9223372036854775807", str(INT64_MAX)),
    ("9223372036854775807Ki", "9223372036854775807", str(INT64_MAX)),
    ("-10Ei", "-9223372036854775807", str(-INT64_MAX)),
    # Decimal values are not capped; past E the canonical form uses an exponent.
    ("256E", "256E", str(256 * 10**18)),
    ("1000E", "1e21", str(10**21)),
    ("1e21", "1e21", str(10**21)),
    ("99999999999999999999", "99999999999999999999", "99999999999999999999"),
]


@pytest.mark.parametrize(("text", "canonical", "exact"), VALID)
def test_parse_valid(text: str, canonical: str, exact: str) -> None:
    q = Quantity.parse(text)
    assert value(q) == Fraction(exact)
    assert str(q) == canonical
    assert Quantity.parse(canonical) == q


# (input, words the error must contain)
INVALID = [
    ("", "empty string"),
    (" 1", "regular expression"),
    ("1 ", "regular expression"),
    ("1K", "suffix 'K'"),
    ("200K", "suffix 'K'"),
    ("1.1.M", "regular expression"),
    ("1+1.0M", "regular expression"),
    ("0.1mi", "suffix 'mi'"),
    ("0.1am", "regular expression"),
    ("aoeu", "regular expression"),
    ("Three", "regular expression"),
    ("1,3G", "regular expression"),
    ("10Mo", "regular expression"),
    ("10Mm", "suffix 'Mm'"),
    (".5i", "suffix 'i'"),
    ("1i", "suffix 'i'"),
    ("-3.01i", "suffix 'i'"),
    ("-3.01e-", "suffix 'e-'"),
    ("1e", "suffix 'e'"),
    ("1e4294967297", "suffix"),
    ("1e2147483648", "suffix"),
    ("1e-2147483648", "suffix"),
    # Deliberate divergence: upstream reads most of these as 0 (see the module docstring).
    ("Mi", "no digits"),
    ("Pi", "no digits"),
    ("e5", "no digits"),
    ("-", "no digits"),
    (".", "no digits"),
    ("1" * (MAX_DIGITS + 1), f"more than {MAX_DIGITS} digits"),
]


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_parse_invalid(text: str, reason: str) -> None:
    with pytest.raises(QuantityError, match="invalid quantity") as caught:
        Quantity.parse(text)
    assert reason in str(caught.value)


def test_parse_rejects_a_non_string() -> None:
    with pytest.raises(QuantityError, match="must be a string"):
        Quantity.parse(5)  # type: ignore[arg-type]


def test_long_digit_strings_within_the_limit_parse() -> None:
    assert str(Quantity.parse("0." + "0" * 1000 + "1")) == "1n"
    assert str(Quantity.parse("0" * 5000 + "1.5e-20")) == "1e-9"  # Leading zeros do not count.


@pytest.mark.parametrize(
    ("text", "sign"),
    [("5", 1), ("-5m", -1), ("0", 0), ("-0", 0), ("0.0", 0), ("-0.1n", -1), ("9Ei", 1), ("-10Ei", -1)],
)
def test_sign(text: str, sign: int) -> None:
    assert Quantity.parse(text).sign() == sign


# (input, is_integer, as_integer); upstream's AsInt64 only converts its int64
# fast form with a scale >= 0, so some integral values are not integers.
INTEGERS = [
    ("0", True, 0),
    ("50", True, 50),
    ("50k", True, 50000),
    ("-1Ki", True, -1024),
    ("1Gi", True, 2**30),
    ("9E", True, 9 * 10**18),
    ("50000000G", True, 5 * 10**16),
    ("9999999999999999999999999999999999999G", False, None),
    ("12E", False, None),  # 1.2e19 overflows int64.
    ("1.0", False, None),  # Scale -1.
    ("1000m", False, None),
    ("0n", False, None),
    ("1.5Gi", False, None),  # Held as an inf.Dec.
    ("3Ei", False, None),
    ("9Ei", False, None),  # Saturated to 2^63 - 1, but as an inf.Dec.
    ("1.5", False, None),
]


@pytest.mark.parametrize(("text", "is_integer", "as_integer"), INTEGERS)
def test_integer_conversion(text: str, is_integer: bool, as_integer: int | None) -> None:
    q = Quantity.parse(text)
    assert q.is_integer() is is_integer
    if as_integer is None:
        with pytest.raises(QuantityError, match="cannot convert value to integer"):
            q.as_integer()
    else:
        assert q.as_integer() == as_integer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0.0),
        ("50.703k", 50703.0),
        ("1Gi", 1073741824.0),
        ("0.3", 0.30000000000000004),  # 3 * 0.1, as Go computes it.
        ("9Ei", 9.223372036854776e18),
        ("1e-400", 1e-9),
        ("1e400", math.inf),
        ("-1e400", -math.inf),
        ("1e2147483647", math.inf),
        ("1e309999", math.inf),
        ("-1e-2000", -1e-9),
    ],
)
def test_as_approximate_float(text: str, expected: float) -> None:
    assert Quantity.parse(text).as_approximate_float() == expected


def test_as_approximate_float_of_zero_times_infinity_is_nan() -> None:
    # Upstream multiplies 0 by math.Pow10(400) = +Inf.
    assert math.isnan(Quantity.parse("0e400").as_approximate_float())


def test_as_approximate_float_overflows_to_infinity() -> None:
    huge = Quantity.parse("9" * 400)
    assert huge.as_approximate_float() == math.inf
    assert Quantity.parse("-" + "9" * 400).as_approximate_float() == -math.inf


# (receiver, operand, canonical sum, canonical difference)
ARITHMETIC = [
    ("50k", "20", "50020", "49980"),
    ("50k", 20, "50020", "49980"),
    ("50k", -50000, "0", "100k"),
    ("0", "1Gi", "1Gi", "-1Gi"),  # A zero receiver takes the operand's format.
    ("100m", "0", "100m", "100m"),
    ("1Gi", "1Gi", "2Gi", "0"),
    ("1.5Gi", "512Mi", "2Gi", "1Gi"),
    ("9Ei", "1", "8Ei", "9223372036854775806"),
    ("8E", "8E", "16E", "0"),
    ("9223372036854775807", "1", "9223372036854775808", "9223372036854775806"),
    ("1", INT64_MIN, "-9223372036854775807", "9223372036854775809"),
    ("1e-9", "1e18", "1000000000000000000000000001e-9", "-999999999999999999999999999e-9"),
    ("1.00000000000000000000e1990", 0, "10e1989", "10e1989"),
]


@pytest.mark.parametrize(("left", "right", "total", "difference"), ARITHMETIC)
def test_add_and_sub(left: str, right: str | int, total: str, difference: str) -> None:
    q = Quantity.parse(left)
    assert str(q.add(Quantity.parse(right) if isinstance(right, str) else right)) == total
    assert str(q.sub(Quantity.parse(right) if isinstance(right, str) else right)) == difference


def test_cel_library_arithmetic_chain() -> None:
    result = Quantity.parse("50k").add(20).sub(Quantity.parse("100k")).sub(-50000)
    assert result.as_integer() == 20


@pytest.mark.parametrize(
    ("operand", "error"),
    [(1.5, TypeError), (True, TypeError), ("1", TypeError), (2**63, QuantityError), (INT64_MIN - 1, QuantityError)],
)
def test_arithmetic_rejects_bad_operands(operand: object, error: type[Exception]) -> None:
    q = Quantity.parse("1")
    with pytest.raises(error):
        q.add(operand)  # type: ignore[arg-type]
    with pytest.raises(error):
        q.sub(operand)  # type: ignore[arg-type]


def test_arithmetic_refuses_to_write_out_a_huge_exponent_gap() -> None:
    with pytest.raises(QuantityError, match=f"more than {MAX_DIGITS} digits"):
        Quantity.parse("1").add(Quantity.parse("1e2000000000"))


COMPARISONS = [
    ("0", "0", 0),
    ("100m", "50m", 1),
    ("200M", "0.2G", 0),
    ("50M", "50Mi", -1),
    ("50Mi", "50M", 1),
    ("10000T", "100Gi", 1),
    ("8Ei", "10Ei", 0),
    ("7Ei", "8Ei", -1),
    ("-10Ei", "-9223372036854775807", 0),
    ("256E", "1Ei", 1),
    ("0.0000000004", "0.000000001", 0),
    ("1n", "0", 1),
    ("-1n", "0", -1),
    ("-2", "-1", -1),
    ("1e2147483647", "1e2147483646", 1),
    ("-1e2147483647", "1", -1),
    ("1.0", "1", 0),
]


@pytest.mark.parametrize(("left", "right", "order"), COMPARISONS)
def test_compare(left: str, right: str, order: int) -> None:
    a, b = Quantity.parse(left), Quantity.parse(right)
    assert a.compare_to(b) == order
    assert b.compare_to(a) == -order
    assert (a == b) is (order == 0)
    assert (a < b) is (order < 0)
    assert (a >= b) is (order >= 0)
    if order == 0:
        assert hash(a) == hash(b)


def test_compare_and_equality_with_other_types() -> None:
    q = Quantity.parse("1")
    with pytest.raises(TypeError):
        q.compare_to(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        assert q < 1  # type: ignore[operator]
    assert q != "1"
    assert q != 1


def test_quantities_sort_by_value_and_repr_shows_the_canonical_form() -> None:
    texts = ["1Gi", "1G", "1k", "1Ki", "-1", "0"]
    assert [str(q) for q in sorted(Quantity.parse(t) for t in texts)] == ["-1", "0", "1k", "1Ki", "1G", "1Gi"]
    assert repr(Quantity.parse("1.5Gi")) == "Quantity('1536Mi')"


def test_quantity_is_immutable() -> None:
    q = Quantity.parse("1")
    with pytest.raises(AttributeError):
        q.unscaled = 2  # type: ignore[misc]


# --- properties -------------------------------------------------------------

_DECIMAL = {"": 0, "n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_EXPONENTS = st.tuples(st.sampled_from("eE"), st.sampled_from(["", "+", "-"]), st.integers(0, 30)).map(
    lambda parts: f"{parts[0]}{parts[1]}{parts[2]}"
)


@st.composite
def quantities(draw: st.DrawFn) -> tuple[str, Fraction]:
    """A valid quantity string and its exact value, computed independently."""
    sign = draw(st.sampled_from(["", "+", "-"]))
    whole = draw(st.text("0123456789", max_size=22))
    fraction = draw(st.text("0123456789", max_size=14))
    dot = bool(fraction) or draw(st.booleans())
    assume(whole or fraction)
    suffix = draw(st.sampled_from([*_DECIMAL, *_BINARY]) | _EXPONENTS)
    number = Fraction(f"{whole or '0'}.{fraction or '0'}")
    if suffix in _BINARY:
        number *= 2 ** _BINARY[suffix]
    else:
        number *= Fraction(10) ** (_DECIMAL[suffix] if suffix in _DECIMAL else int(suffix[1:]))
    nanos = math.ceil(number * 10**9)  # Upstream rounds up, away from zero, to nano.
    magnitude = Fraction(nanos, 10**9)
    if suffix in _BINARY:
        magnitude = min(magnitude, Fraction(INT64_MAX))
    text = f"{sign}{whole}{'.' if dot else ''}{fraction}{suffix}"
    return text, -magnitude if sign == "-" else magnitude


@given(quantities())
def test_parse_matches_an_exact_rational_oracle(case: tuple[str, Fraction]) -> None:
    text, exact = case
    assert value(Quantity.parse(text)) == exact


@given(quantities())
def test_canonical_string_round_trips(case: tuple[str, Fraction]) -> None:
    q = Quantity.parse(case[0])
    again = Quantity.parse(str(q))
    assert again == q
    assert hash(again) == hash(q)
    assert str(again) == str(q)


@given(quantities(), quantities())
def test_add_and_sub_are_exact_and_inverse(left: tuple[str, Fraction], right: tuple[str, Fraction]) -> None:
    a, b = Quantity.parse(left[0]), Quantity.parse(right[0])
    assert value(a.add(b)) == left[1] + right[1]
    assert value(a.sub(b)) == left[1] - right[1]
    assert a.add(b).sub(b) == a


@given(quantities(), st.integers(INT64_MIN, INT64_MAX))
def test_int_operands_behave_like_quantities(left: tuple[str, Fraction], number: int) -> None:
    a = Quantity.parse(left[0])
    assert value(a.add(number)) == left[1] + number
    assert a.sub(number).add(number) == a


@given(quantities(), quantities())
def test_compare_is_antisymmetric_and_exact(left: tuple[str, Fraction], right: tuple[str, Fraction]) -> None:
    a, b = Quantity.parse(left[0]), Quantity.parse(right[0])
    expected = (left[1] > right[1]) - (left[1] < right[1])
    assert a.compare_to(b) == expected
    assert b.compare_to(a) == -expected
