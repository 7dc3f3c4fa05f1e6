"""Kubernetes ``resource.Quantity``, exactly, for DRA CEL selectors.

This ports ``k8s.io/apimachinery/pkg/api/resource`` (quantity.go, amount.go,
suffix.go) as the apiserver CEL ``quantity`` library uses it:

* Grammar: ``[+-]`` digits ``[.digits]`` then one suffix: binary ``Ki Mi Gi Ti Pi
  Ei``, decimal ``n u m "" k M G T P E``, or a decimal exponent ``e``/``E`` with a
  signed integer. ``200K`` is invalid (capital K is no suffix); ``1.3Gi`` is valid.
* Values are exact (ints, never floats). Parsing rounds up, away from zero, to
  nano (1e-9) scale (``0.1n`` is ``1n``, ``-0.1n`` is ``-1n``), as
  ``inf.RoundUp`` does.
* A binary-suffix value beyond int64 saturates to +/-(2^63 - 1), so ``8Ei ==
  10Ei``; decimal values are unbounded, as upstream.
* Upstream keeps a quantity either in an int64 fast form or as an ``inf.Dec``.
  That split is observable through ``isInteger``/``asInteger`` (only fast-form
  values whose scale is >= 0 qualify, so ``1.0`` and ``1.5Gi`` are not
  integers) and ``asApproximateFloat`` (``float(unscaled) * 10^exponent``, so
  ``0.3`` gives 0.30000000000000004), so it is modelled here too.
* ``str()`` is the canonical form: the parse format (BinarySI, DecimalSI,
  DecimalExponent) is kept and the largest suffix that loses nothing is used.

Documented divergences from upstream:

* A quantity with no digits at all (``Mi``, ``k``, ``-``, ``.``) is rejected.
  Upstream parses most of these as 0 but errors on others (``Pi``, ``Ei``), and
  its CEL library documents ``quantity('Mi')`` as an error.
* Numbers with more than ``MAX_DIGITS`` digits (leading zeros aside), and
  arithmetic whose exact result would need more, raise ``QuantityError``. Upstream would allocate without
  bound (``1e2000000000`` + ``1`` writes two billion digits).
* String forms follow current upstream, which falls back to exponent notation
  where no suffix fits (DecimalSI above ``E``, BinarySI above ``Ei``) and
  rejects exponents outside the int32 range; older releases dropped the suffix.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1

# Bounds every number this module builds, so hostile input cannot allocate
# without limit (and stays well below CPython's int/str conversion limit).
MAX_DIGITS = 2000

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"

_NANO = -9
_DIGITS = frozenset("0123456789")
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DECIMAL_SUFFIXES = {"": 0, "n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIX_FOR = {exp: suffix for suffix, exp in _DECIMAL_SUFFIXES.items()}
_BINARY_SUFFIX_FOR = {0: "", **{power // 10: suffix for suffix, power in _BINARY_SUFFIXES.items()}}
_SIGNED_INT = re.compile(r"[+-]?[0-9]+")
# Go's regexp in ErrFormatWrong, quoted so messages read like upstream's.
_FORMAT = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"

# math.Pow10's tables: Go multiplies two correctly rounded table entries, which
# asApproximateFloat inherits, so the same tables reproduce its results.
_POW10 = [float(f"1e{i}") for i in range(32)]
_POW10_POS32 = [float(f"1e{32 * i}") for i in range(10)]
_POW10_NEG32 = [float(f"1e-{32 * i}") for i in range(11)]


class QuantityError(ValueError):
    """A string that is not a Quantity, or a value a Quantity cannot hold."""


@functools.total_ordering
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Quantity:
    """An exact fixed-point quantity: ``unscaled * 10**exponent``.

    Build one with ``Quantity.parse``. ``fast`` marks upstream's int64 fast form
    and ``format`` the suffix family used by ``str()``; neither takes part in
    equality, hashing or ordering, which compare values only.
    """

    unscaled: int
    exponent: int
    fast: bool
    format: str

    @classmethod
    def parse(cls, text: str) -> Quantity:
        """Parse ``text`` as ``resource.ParseQuantity`` does."""
        if not isinstance(text, str):
            raise QuantityError(f"a quantity must be a string, not {type(text).__name__}")
        if text == "":
            raise QuantityError("invalid quantity '': empty string")
        if text == "0":
            return cls(0, 0, True, DECIMAL_SI)
        positive, num, denom, suffix = _scan(text)
        if not _DIGITS.intersection(text[: len(text) - len(suffix)]):
            raise QuantityError(f"invalid quantity {text!r}: no digits before the suffix")
        if len(num) + len(denom) > MAX_DIGITS:
            raise QuantityError(f"invalid quantity {text!r}: more than {MAX_DIGITS} digits")
        exponent, fmt = _interpret(text, suffix)
        fast = _parse_fast(positive, num, denom, exponent, fmt)
        if fast is not None:
            return cls(fast[0], fast[1], True, fmt)
        return _parse_decimal(positive, num, denom, exponent, fmt)

    @classmethod
    def _from_int(cls, value: int) -> Quantity:
        """``resource.NewQuantity(value, DecimalExponent)``, as CEL's int overloads use."""
        if type(value) is not int:
            raise TypeError(f"expected a Quantity or an int, not {type(value).__name__}")
        if not INT64_MIN <= value <= INT64_MAX:
            raise QuantityError(f"integer {value} is outside the int64 range")
        return cls(value, 0, True, DECIMAL_EXPONENT)

    def sign(self) -> int:
        """-1, 0 or 1."""
        return (self.unscaled > 0) - (self.unscaled < 0)

    def is_integer(self) -> bool:
        """Whether ``as_integer`` succeeds (upstream ``AsInt64``)."""
        return self._as_int64() is not None

    def as_integer(self) -> int:
        """The value as an int64, or ``QuantityError`` (see the module docstring)."""
        value = self._as_int64()
        if value is None:
            raise QuantityError(f"cannot convert value to integer: {self}")
        return value

    def as_approximate_float(self) -> float:
        """``AsApproximateFloat64``: may lose precision, +/-inf when out of range."""
        try:
            base = float(self.unscaled)
        except OverflowError:
            base = float("inf") if self.unscaled > 0 else float("-inf")
        if self.exponent == 0:
            return base
        return base * _go_pow10(self.exponent)

    def add(self, other: Quantity | int) -> Quantity:
        """The exact sum (``Quantity.Add``); an int counts as DecimalExponent."""
        other = other if isinstance(other, Quantity) else Quantity._from_int(other)
        fmt = self.format
        if self.fast and other.fast:
            if self.unscaled == 0:
                fmt = other.format
            fast = _int64_add(self.unscaled, self.exponent, other.unscaled, other.exponent)
            if fast is not None:
                return Quantity(fast[0], fast[1], True, fmt)
        elif self.unscaled == 0:
            fmt = other.format
        return _decimal_sum(self, other.unscaled, other.exponent, fmt)

    def sub(self, other: Quantity | int) -> Quantity:
        """The exact difference (``Quantity.Sub``); an int counts as DecimalExponent."""
        other = other if isinstance(other, Quantity) else Quantity._from_int(other)
        fmt = other.format if self.unscaled == 0 else self.format
        # Negating int64's minimum overflows, so upstream takes the decimal path.
        if self.fast and other.fast and other.unscaled != INT64_MIN:
            fast = _int64_add(self.unscaled, self.exponent, -other.unscaled, other.exponent)
            if fast is not None:
                return Quantity(fast[0], fast[1], True, fmt)
        return _decimal_sum(self, -other.unscaled, other.exponent, fmt)

    def compare_to(self, other: Quantity) -> int:
        """-1, 0 or 1 as this quantity is less than, equal to or greater than ``other``."""
        if not isinstance(other, Quantity):
            raise TypeError(f"cannot compare a Quantity with {type(other).__name__}")
        return _compare(self.unscaled, self.exponent, other.unscaled, other.exponent)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.compare_to(other) == 0

    def __lt__(self, other: Quantity) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.compare_to(other) < 0

    def __hash__(self) -> int:
        return hash(_strip_tens(self.unscaled, self.exponent))

    def __str__(self) -> str:
        return _canonical(self)

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r})"

    def _as_int64(self) -> int | None:
        """Upstream ``AsInt64``: only the fast form with a scale >= 0 converts."""
        if not self.fast or self.exponent < 0:
            return None
        return _int64_scale_up(self.unscaled, self.exponent)


def _scan(text: str) -> tuple[bool, str, str, str]:
    """Port of ``parseQuantityString``: (positive, num, denom, suffix).

    ``num`` has its leading zeros stripped; upstream also returns the number as
    written, which carries the same value.
    """
    end, pos, positive = len(text), 0, True
    if text[0] in "+-":
        positive, pos = text[0] == "+", 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "", ""
    num_end = _skip(text, pos, _DIGITS)
    if num_end >= end:
        return positive, text[pos:], "", ""
    num, pos, denom = text[pos:num_end] or "0", num_end, ""
    if text[pos] == ".":
        denom_end = _skip(text, pos + 1, _DIGITS)
        denom = text[pos + 1 : denom_end]
        if denom_end >= end:
            return positive, num, denom, ""
        pos = denom_end
    suffix_start = pos
    pos = _skip(text, pos, _SUFFIX_CHARS)
    if pos < end and text[pos] in "+-":
        pos += 1
    if _skip(text, pos, _DIGITS) < end:
        raise QuantityError(f"invalid quantity {text!r}: quantities must match the regular expression '{_FORMAT}'")
    return positive, num, denom, text[suffix_start:]


def _skip(text: str, pos: int, allowed: frozenset[str]) -> int:
    """The index of the first character at or after ``pos`` not in ``allowed``."""
    while pos < len(text) and text[pos] in allowed:
        pos += 1
    return pos


def _interpret(text: str, suffix: str) -> tuple[int, str]:
    """Port of ``suffixer.interpret``: (exponent, format); BinarySI exponents are powers of 2."""
    if suffix in _DECIMAL_SUFFIXES:
        return _DECIMAL_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return _BINARY_SUFFIXES[suffix], BINARY_SI
    digits = suffix[1:]
    if suffix[:1] in ("e", "E") and _SIGNED_INT.fullmatch(digits):
        # Checked before int() so a long digit string cannot stall the conversion.
        unsigned = digits.lstrip("+-").lstrip("0") or "0"
        if len(unsigned) <= 10 and int(unsigned) <= INT32_MAX:
            exponent = -int(unsigned) if digits[0] == "-" else int(unsigned)
            return exponent, DECIMAL_EXPONENT
    raise QuantityError(f"invalid quantity {text!r}: unable to parse quantity's suffix {suffix!r}")


def _parse_fast(positive: bool, num: str, denom: str, exponent: int, fmt: str) -> tuple[int, int] | None:
    """Upstream's int64 fast path: (value, scale), or None to use the decimal path."""
    mantissa, scale = 1, exponent
    if fmt == BINARY_SI:
        if denom:
            return None
        mantissa, scale = 1 << exponent, 0
        precision = 15 - len(num) - exponent * 3 // 10 - 1
    else:
        precision = 18 - (len(num) + len(denom))
    scale -= len(denom)
    if precision < 0 or scale < _NANO:
        return None
    result = int(num + denom) * mantissa
    if result > INT64_MAX:
        return None
    return (result if positive else -result), scale


def _parse_decimal(positive: bool, num: str, denom: str, exponent: int, fmt: str) -> Quantity:
    """Upstream's ``inf.Dec`` path: exact value, rounded up to nano, binary capped."""
    magnitude, exp = int(num + denom), -len(denom)
    if fmt == BINARY_SI:
        magnitude <<= exponent
    else:
        exp += exponent
    if magnitude:
        magnitude, exp = _round_up_to_nano(magnitude, exp)
    if fmt == BINARY_SI and _compare(magnitude, exp, INT64_MAX, 0) > 0:
        magnitude, exp = INT64_MAX, 0
    if fmt == BINARY_SI and magnitude and _compare(magnitude, exp, 1, 0) < 0:
        fmt = DECIMAL_SI
    return Quantity(magnitude if positive else -magnitude, exp, False, fmt)


def _round_up_to_nano(magnitude: int, exp: int) -> tuple[int, int]:
    """``inf.Dec.Round(x, 9, RoundUp)`` for a positive magnitude."""
    digits = _digit_count(magnitude)
    if digits + exp <= _NANO:
        return 1, _NANO  # All of it lies below 1n, so it rounds up to exactly 1n.
    if exp < _NANO:
        whole, rest = divmod(magnitude, 10 ** (_NANO - exp))
        return whole + (rest > 0), _NANO
    # Upstream pads to scale 9; skipped only where that padding could not fit.
    if digits + exp - _NANO <= MAX_DIGITS:
        return magnitude * 10 ** (exp - _NANO), _NANO
    return magnitude, exp


def _int64_add(a: int, a_scale: int, b: int, b_scale: int) -> tuple[int, int] | None:
    """Port of ``int64Amount.Add``: the sum as (value, scale), or None on overflow."""
    if b == 0:
        return a, a_scale
    if a == 0:
        return b, b_scale
    if a_scale > b_scale:
        a = _int64_scale_up(a, a_scale - b_scale)
        a_scale = b_scale
    elif b_scale > a_scale:
        b = _int64_scale_up(b, b_scale - a_scale)
    if a is None or b is None or not INT64_MIN <= a + b <= INT64_MAX:
        return None
    return a + b, a_scale


def _int64_scale_up(value: int, scale: int) -> int | None:
    """``value * 10**scale`` if it fits in an int64 (``positiveScaleInt64``)."""
    if value == 0:
        return 0
    if scale > 18:
        return None
    result = value * 10**scale
    return result if INT64_MIN <= result <= INT64_MAX else None


def _decimal_sum(left: Quantity, unscaled: int, exponent: int, fmt: str) -> Quantity:
    """``inf.Dec.Add``: the exact sum at the smaller exponent, within ``MAX_DIGITS``."""
    # A zero term changes nothing; skipping it avoids aligning a huge exponent.
    if unscaled == 0 or left.unscaled == 0:
        return Quantity(left.unscaled or unscaled, left.exponent if unscaled == 0 else exponent, False, fmt)
    low = min(left.exponent, exponent)
    width = max(_digit_count(left.unscaled) + left.exponent, _digit_count(unscaled) + exponent) - low
    if width > MAX_DIGITS:
        raise QuantityError(f"the exact result of this arithmetic needs more than {MAX_DIGITS} digits")
    total = left.unscaled * 10 ** (left.exponent - low) + unscaled * 10 ** (exponent - low)
    return Quantity(total, low, False, fmt)


def _compare(u1: int, e1: int, u2: int, e2: int) -> int:
    """Compare two exact decimals without writing out a large exponent gap."""
    s1, s2 = (u1 > 0) - (u1 < 0), (u2 > 0) - (u2 < 0)
    if s1 != s2 or s1 == 0:
        return (s1 > s2) - (s1 < s2)
    # Orders of magnitude decide unless they are equal, and then the gap between
    # the exponents is at most a digit count, so aligning them is cheap.
    m1, m2 = _digit_count(u1) + e1, _digit_count(u2) + e2
    if m1 != m2:
        return s1 if m1 > m2 else -s1
    low = min(e1, e2)
    a, b = u1 * 10 ** (e1 - low), u2 * 10 ** (e2 - low)
    return (a > b) - (a < b)


def _digit_count(value: int) -> int:
    """Decimal digits in ``abs(value)`` (1 for zero)."""
    return len(str(abs(value)))


def _strip_tens(unscaled: int, exponent: int) -> tuple[int, int]:
    """The same value with no trailing decimal zeros in the unscaled part."""
    if unscaled == 0:
        return 0, 0
    while unscaled % 10 == 0:
        unscaled //= 10
        exponent += 1
    return unscaled, exponent


def _go_pow10(n: int) -> float:
    """Go's ``math.Pow10``."""
    if 0 <= n <= 308:
        return _POW10_POS32[n // 32] * _POW10[n % 32]
    if -323 <= n < 0:
        return _POW10_NEG32[-n // 32] / _POW10[-n % 32]
    return float("inf") if n > 0 else 0.0


def _canonical(q: Quantity) -> str:
    """Port of ``CanonicalizeBytes`` with current upstream's fallbacks."""
    if q.unscaled == 0:
        return "0"
    fmt = q.format
    if fmt == BINARY_SI:
        whole = _whole(q) if _compare(abs(q.unscaled), q.exponent, 1024, 0) >= 0 else None
        if whole is None:
            fmt = DECIMAL_SI  # Below 1024 or fractional: a binary suffix would round.
        else:
            power = 0
            while whole % 1024 == 0:
                whole //= 1024
                power += 1
            if power in _BINARY_SUFFIX_FOR:
                return f"{whole}{_BINARY_SUFFIX_FOR[power]}"
            fmt = DECIMAL_EXPONENT  # Beyond Ei no binary suffix exists.
    mantissa, exponent = _strip_tens(q.unscaled, q.exponent)
    shift = exponent % 3
    mantissa, exponent = mantissa * 10**shift, exponent - shift
    if fmt == DECIMAL_SI and exponent in _DECIMAL_SUFFIX_FOR:
        return f"{mantissa}{_DECIMAL_SUFFIX_FOR[exponent]}"
    return f"{mantissa}e{exponent}" if exponent else str(mantissa)


def _whole(q: Quantity) -> int | None:
    """The value as an int, or None when it has a fractional part."""
    if q.exponent >= 0:
        return q.unscaled * 10**q.exponent
    whole, rest = divmod(q.unscaled, 10**-q.exponent)
    return None if rest else whole
