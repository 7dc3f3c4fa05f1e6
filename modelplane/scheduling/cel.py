"""Kubernetes DRA device-selector CEL, evaluated in pure Python.

A selector is a CEL expression over one ``device``, written as in a DRA
ResourceClaim (k8s.io/dynamic-resource-allocation/cel)::

    device.driver == "gpu.nvidia.com" &&
    device.attributes["gpu.nvidia.com"].cudaComputeCapability.isGreaterThan(semver("8.9.0")) &&
    device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("20Gi")) >= 0

* ``device.driver`` is a string.
* ``device.attributes[domain].name`` is a string, bool, int or (for ``version``
  attributes, parsed strictly) a Semver. ``device.capacity[domain].name`` is a
  Quantity. A ``domain/name`` key splits at its first ``/``; a bare name belongs
  to the driver's domain. An unknown domain is an empty map (so ``"x.com" in
  device.attributes`` is false); an unknown name in a domain is an evaluation
  error.
* Functions: the CEL standard ones (``size contains startsWith endsWith matches
  int uint double string bytes bool dyn type``), the macros (``has all exists
  exists_one map filter``), ``cel.bind``, and the libraries Kubernetes 1.34
  offers a new ResourceClaim (README, "The CEL surface"): quantity and semver
  (here), the strings extension v2 (``cel_strings``), Kubernetes' lists and
  cel-go's sets (``cel_collections``), Kubernetes' regex (``cel_strings``), IP
  and CIDR (``cel_net``) and URL (``cel_url``) libraries.

``compile_selector`` parses with cel-python's parser and checks the tree
statically: function names and arities, identifiers, macro shapes, nesting
depth and an estimated worst-case cost. It then turns the tree into Python
closures. celpy's own tree-walking evaluator is not used: it costs about 300
microseconds per evaluation where the closures cost a few, and it offers no
hook for a step budget. Values are plain Python ones (int, float, str, bytes,
bool, None, list, dict) plus Quantity, Semver, IP, CIDR, URL and a small uint type.

Limits. ``MAX_EXPRESSION_LENGTH`` is the API's 10 KiB. ``MAX_COST`` is
``resourceapi.CELSelectorExpressionMaxCost`` (1,000,000), which the API server
also applies to the estimate: at compile time a cost estimate in the spirit of
cel-go's (one unit per operation, comprehension bodies multiplied by the
largest collection they can iterate, strings and concatenations charged one
unit per ten elements, each function with Kubernetes' own formula) must stay
under it. The device's collections are bounded by the API limits (32 domains
and names, 64-character values). Like cel-go's, the estimate cannot bound some
values (``split``/``findAll`` parts, ``string()``, ``charAt``, URL parts, the
elements ``join`` and the lists library read); walking one is unbounded, so
those selectors are refused here as the API server refuses them. At run time a
guard counts comprehension iterations and walked, concatenated or built
elements (a library function charges a result before building it) against
``RUNTIME_STEP_LIMIT`` and reads a ``RUNTIME_TIME_LIMIT`` clock, so a runaway
evaluation (say, on a device far beyond the API limits) ends as an evaluation
error. ``MAX_NESTING`` bounds nesting (parentheses, arguments, list and map
elements, macro bodies, ternary branches) to stay well within Python's stack.

Documented divergences from upstream Kubernetes:

* Missing from the 1.34 environment: ``format`` (strings v1+; locale-dependent
  printf), Kubernetes' ``format.*`` named formats (they return optional values),
  optional types, two-variable comprehensions, timestamps and durations,
  message construction, and the authorizer libraries (no authorizer variable in
  DRA). cel-go's lists extension (``sort``, ``flatten``, ``distinct``, ...) and
  strings v3 (``reverse``) are absent as well, rightly: Kubernetes 1.34 enables
  them for stored expressions only, and validates new selectors at
  compatibility version 1.33. Using one is a compile error.
* No static type checker. Type errors surface at evaluation, as non-matches,
  and a selector that does not return a bool is a non-match with an error
  rather than a compile error. Comparing a Quantity or Semver with ``==`` to a
  value of another type is false rather than an error.
* Call style is not enforced: every function may be called globally or as a
  member (``sign(q)`` and ``q.sign()``), where upstream declares one style each.
* Scalar attributes only: no list-typed attributes and no ``includes()``.
* The cost estimate is this module's own, so selectors near ``MAX_COST`` may be
  judged differently than by cel-go, and the runtime guard counts steps and
  time rather than cel-go's cost units. Kubernetes refuses ``type(x) == T``
  comparisons for cost and accepts them here.
* An invalid constant regular expression (``matches``, ``find``, ``findAll``)
  is an evaluation error, where Kubernetes refuses the selector at compile time.
* cel-go allows 250 levels of nesting and also counts operator chains; here
  ``MAX_NESTING`` is 50, but chains (``a + b + ...``, ``a && b && ...``,
  ``a.b.c``) are flattened and not limited.
* A leading-dot name (``.device``) and hex float strings (``double("0x1p3")``)
  are rejected.
* Quantity and Semver keep the divergences listed in their modules (notably:
  no quantity without digits, and a ``MAX_DIGITS`` cap on exact arithmetic).
* Regular expressions are RE2 (google-re2, a cel-python dependency), as Go's
  are, so they run in linear time; the two dialects differ in rare corners.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, NamedTuple

import lark
from celpy.celparser import CELParseError, CELParser
from celpy.evaluation import celbytes, celstr
from lark.exceptions import UnexpectedCharacters, UnexpectedToken

from modelplane.scheduling import cel_collections, cel_net, cel_strings, cel_url
from modelplane.scheduling.cel_net import CIDR, IP
from modelplane.scheduling.cel_runtime import NUMBERS as _NUMBERS
from modelplane.scheduling.cel_runtime import TEXT_OF_UNKNOWN_SIZE as _TEXT_OF_UNKNOWN_SIZE
from modelplane.scheduling.cel_runtime import UINT64_MAX
from modelplane.scheduling.cel_runtime import UNKNOWN as _UNKNOWN
from modelplane.scheduling.cel_runtime import CelType as _CelType
from modelplane.scheduling.cel_runtime import EvalError as _EvalError
from modelplane.scheduling.cel_runtime import Function as _Function
from modelplane.scheduling.cel_runtime import Shape as _Shape
from modelplane.scheduling.cel_runtime import Uint as _Uint
from modelplane.scheduling.cel_runtime import checked_int as _int
from modelplane.scheduling.cel_runtime import checked_uint as _uint
from modelplane.scheduling.cel_runtime import equal as _equal
from modelplane.scheduling.cel_runtime import expect as _expect
from modelplane.scheduling.cel_runtime import function as _fn
from modelplane.scheduling.cel_runtime import join_shapes as _join
from modelplane.scheduling.cel_runtime import nominal as _nominal
from modelplane.scheduling.cel_runtime import overload_error as _overload
from modelplane.scheduling.cel_runtime import size_of as _size_of
from modelplane.scheduling.cel_runtime import traversal as _traversal
from modelplane.scheduling.cel_runtime import type_name as _type_name
from modelplane.scheduling.cel_runtime import weight as _weight
from modelplane.scheduling.quantity import INT64_MAX, INT64_MIN, Quantity, QuantityError
from modelplane.scheduling.semver import Semver, SemverError

MAX_EXPRESSION_LENGTH = 10 * 1024
MAX_COST = 1_000_000
MAX_NESTING = 50
RUNTIME_STEP_LIMIT = MAX_COST
RUNTIME_TIME_LIMIT = 1.0  # seconds

# Upper bounds from the DRA API, used by the cost estimate.
_MAX_PER_DEVICE = 32  # ResourceSliceMaxAttributesAndCapacitiesPerDevice
_MAX_VALUE_LENGTH = 64  # DeviceAttributeMaxValueLength
_MAX_NAME_LENGTH = 63  # DeviceMaxDomainLength and DriverNameMaxLength
_CLOCK_INTERVAL = 4096  # steps between clock reads in the runtime guard


class CelCompileError(ValueError):
    """A selector that cannot be compiled: syntax, unknown names, nesting or cost."""


# --- device data ---------------------------------------------------------

AttributeKind = Literal["string", "version", "bool", "int"]
_ATTRIBUTE_TYPES: dict[str, type] = {"string": str, "version": str, "bool": bool, "int": int}


@dataclass(frozen=True, slots=True)
class AttributeValue:
    """One typed attribute value: exactly one of DRA's string, version, bool or int."""

    kind: AttributeKind
    value: str | bool | int

    def __post_init__(self) -> None:
        expected = _ATTRIBUTE_TYPES.get(self.kind)
        if expected is None:
            raise ValueError(f"attribute kind must be one of {sorted(_ATTRIBUTE_TYPES)}, not {self.kind!r}")
        if type(self.value) is not expected:
            raise TypeError(f"a {self.kind} attribute needs a {expected.__name__}, not {type(self.value).__name__}")
        if self.kind == "int" and not INT64_MIN <= self.value <= INT64_MAX:
            raise ValueError(f"int attribute {self.value} is outside the int64 range")


@dataclass(frozen=True)
class DeviceData:
    """What a selector sees of one device. Keys are ``name`` or ``domain/name``."""

    driver: str
    attributes: tuple[tuple[str, AttributeValue], ...] = ()
    capacity: tuple[tuple[str, str], ...] = ()  # name -> Quantity string

    @classmethod
    def build(
        cls,
        driver: str,
        attributes: Mapping[str, AttributeValue] | None = None,
        capacity: Mapping[str, str] | None = None,
    ) -> DeviceData:
        """A device with sorted keys, so equal devices compare and hash equal."""
        return cls(driver, tuple(sorted((attributes or {}).items())), tuple(sorted((capacity or {}).items())))

    @functools.cached_property
    def _hash(self) -> int:
        return hash((self.driver, self.attributes, self.capacity))

    def __hash__(self) -> int:
        # Cached: devices are memo keys, hashed once per lookup.
        return self._hash


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one selector on one device; ``error`` explains a failed evaluation."""

    matched: bool
    error: str | None = None


# --- runtime values --------------------------------------------------------


class _Device:
    """The ``device`` variable: an object with three fields."""

    __slots__ = ("attributes", "capacity", "driver")
    cel_type_name = "device"
    FIELDS = frozenset({"attributes", "capacity", "driver"})

    def __init__(self, driver: str, attributes: _Domains, capacity: _Domains) -> None:
        self.driver, self.attributes, self.capacity = driver, attributes, capacity


class _Domain(dict):
    """The names of one domain; a missing name is an error that says which."""

    __slots__ = ("domain", "kind")
    cel_type_name = "map"

    def __init__(self, kind: str, domain: str) -> None:
        super().__init__()
        self.kind, self.domain = kind, domain


class _Domains(dict):
    """``device.attributes`` or ``device.capacity``: an unknown domain reads as empty."""

    __slots__ = ("kind",)
    cel_type_name = "map"

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def __missing__(self, domain: Any) -> _Domain:
        return _Domain(self.kind, domain)


_TYPE_CONSTANTS = {name: _CelType(name) for name in ("bool", "int", "uint", "double", "string", "bytes", "list", "map")}
_TYPE_CONSTANTS |= {"null_type": _CelType("null_type"), "type": _CelType("type")}
_BOOL_KEYS = {False: ("bool", False), True: ("bool", True)}


class _Frame:
    """One evaluation's variable slots and runtime-guard counters."""

    __slots__ = ("check_at", "deadline", "slots", "steps")

    def __init__(self, device: _Device, slot_count: int) -> None:
        self.slots: list[Any] = [device] + [None] * (slot_count - 1)
        self.steps = 0
        self.check_at = _CLOCK_INTERVAL
        self.deadline = time.monotonic() + RUNTIME_TIME_LIMIT

    def tick(self, amount: int = 1) -> None:
        """Charge ``amount`` steps; stop a runaway evaluation."""
        self.steps += amount
        if self.steps > RUNTIME_STEP_LIMIT:
            raise _EvalError(f"evaluation stopped: it exceeded the runtime limit of {RUNTIME_STEP_LIMIT} steps")
        if self.steps >= self.check_at:
            self.check_at = self.steps + _CLOCK_INTERVAL
            if time.monotonic() > self.deadline:
                raise _EvalError(f"evaluation stopped: it ran longer than {RUNTIME_TIME_LIMIT} s")


# --- operators ---------------------------------------------------------------


def _op_eq(f: _Frame, a: Any, b: Any) -> bool:
    if type(a) is list or isinstance(a, dict):
        f.tick(len(a) // 10)
    return _equal(a, b)


def _op_ne(f: _Frame, a: Any, b: Any) -> bool:
    return not _op_eq(f, a, b)


def _ordered(symbol: str, test: Callable[[Any, Any], bool]) -> Callable[[_Frame, Any, Any], bool]:
    """A relational operator: numbers across types, or two strings, bytes or bools."""

    def op(f: _Frame, a: Any, b: Any) -> bool:
        ta, tb = type(a), type(b)
        if ta in _NUMBERS and tb in _NUMBERS:
            if (ta is float and math.isnan(a)) or (tb is float and math.isnan(b)):
                raise _EvalError("NaN values cannot be ordered")
            return test(a, b)
        if ta is tb and ta in (str, bytes, bool):
            return test(a, b)
        raise _overload(symbol, a, b)

    return op


def _op_in(f: _Frame, item: Any, container: Any) -> bool:
    if type(container) is list:
        f.tick(len(container) // 10)
        return any(_equal(item, element) for element in container)
    if isinstance(container, dict):
        return _map_key(item) in container
    raise _overload("in", item, container)


def _op_add(f: _Frame, a: Any, b: Any) -> Any:
    ta = type(a)
    if ta is type(b):
        if ta is int:
            return _int(a + b)
        if ta is _Uint:
            return _uint(a + b)
        if ta is float:
            return a + b
        if ta in (str, bytes, list):
            f.tick((len(a) + len(b)) // 10)
            return a + b
    raise _overload("_+_", a, b)


def _op_sub(f: _Frame, a: Any, b: Any) -> Any:
    ta = type(a)
    if ta is type(b):
        if ta is int:
            return _int(a - b)
        if ta is _Uint:
            return _uint(a - b)
        if ta is float:
            return a - b
    raise _overload("_-_", a, b)


def _op_mul(f: _Frame, a: Any, b: Any) -> Any:
    ta = type(a)
    if ta is type(b):
        if ta is int:
            return _int(a * b)
        if ta is _Uint:
            return _uint(a * b)
        if ta is float:
            return a * b
    raise _overload("_*_", a, b)


def _op_div(f: _Frame, a: Any, b: Any) -> Any:
    ta = type(a)
    if ta is type(b) and ta in (int, _Uint):
        if b == 0:
            raise _EvalError("division by zero")
        quotient = abs(a) // abs(b)  # Go truncates toward zero.
        return _int(quotient if (a < 0) == (b < 0) else -quotient) if ta is int else _Uint(quotient)
    if ta is float and type(b) is float:
        if b == 0:
            return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1.0, b)
        return a / b
    raise _overload("_/_", a, b)


def _op_mod(f: _Frame, a: Any, b: Any) -> Any:
    ta = type(a)
    if ta is type(b) and ta in (int, _Uint):
        if b == 0:
            raise _EvalError("modulus by zero")
        if ta is int and a == INT64_MIN and b == -1:
            raise _EvalError("integer overflow")
        remainder = abs(a) % abs(b)  # Go's sign follows the dividend.
        return (-remainder if a < 0 else remainder) if ta is int else _Uint(remainder)
    raise _overload("_%_", a, b)


def _op_not(value: Any) -> bool:
    if type(value) is bool:
        return not value
    raise _overload("!_", value)


def _op_neg(value: Any) -> Any:
    if type(value) is int:
        return _int(-value)
    if type(value) is float:
        return -value
    raise _overload("-_", value)


_BINARY_OPS: dict[str, tuple[str, Callable[[_Frame, Any, Any], Any]]] = {
    "relation_eq": ("==", _op_eq),
    "relation_ne": ("!=", _op_ne),
    "relation_lt": ("<", _ordered("_<_", lambda a, b: a < b)),
    "relation_le": ("<=", _ordered("_<=_", lambda a, b: a <= b)),
    "relation_gt": (">", _ordered("_>_", lambda a, b: a > b)),
    "relation_ge": (">=", _ordered("_>=_", lambda a, b: a >= b)),
    "relation_in": ("in", _op_in),
    "addition_add": ("+", _op_add),
    "addition_sub": ("-", _op_sub),
    "multiplication_mul": ("*", _op_mul),
    "multiplication_div": ("/", _op_div),
    "multiplication_mod": ("%", _op_mod),
}


# --- field selection, indexing, iteration -------------------------------------


def _map_key(key: Any) -> Any:
    """A CEL map key as stored: bools are wrapped so they never collide with 0 and 1."""
    kind = type(key)
    if kind is bool:
        return _BOOL_KEYS[key]
    if kind in (str, int, _Uint, float):  # A float finds an equal int key, as in cel-go.
        return key
    raise _EvalError(f"unsupported map key type {_type_name(key)}")


def _unwrap_key(key: Any) -> Any:
    return key[1] if type(key) is tuple else key


def _missing(container: dict, key: Any) -> _EvalError:
    if type(container) is _Domain:
        return _EvalError(f"no {container.kind} {key!r} in domain {container.domain}")
    return _EvalError(f"no such key: {key!r}")


def _select(value: Any, name: str) -> Any:
    """``value.name``."""
    if type(value) is _Device and name in _Device.FIELDS:
        return getattr(value, name)
    if isinstance(value, dict):
        try:
            return value[name]
        except KeyError:
            raise _missing(value, name) from None
    raise _EvalError(f"cannot select field {name!r} on {_type_name(value)}")


def _index(value: Any, key: Any) -> Any:
    """``value[key]``."""
    if isinstance(value, dict):
        try:
            return value[_map_key(key)]
        except KeyError:
            raise _missing(value, key) from None
    if type(value) is list:
        if type(key) not in (int, _Uint):
            raise _overload("_[_]", value, key)
        if not 0 <= key < len(value):
            raise _EvalError(f"index out of range: {key} (list size {len(value)})")
        return value[key]
    raise _overload("_[_]", value, key)


def _has(value: Any, name: str) -> bool:
    if isinstance(value, dict):
        return name in value
    if type(value) is _Device:
        return name in _Device.FIELDS
    raise _EvalError(f"has() cannot test field {name!r} of {_type_name(value)}")


def _items(value: Any, macro: str) -> list[Any]:
    """What a comprehension iterates: a list's elements or a map's keys."""
    if type(value) is list:
        return value
    if isinstance(value, dict):
        return [_unwrap_key(key) for key in value]
    raise _EvalError(f"{macro}() cannot iterate over {_type_name(value)}")


def _predicate(value: Any, macro: str) -> bool:
    if type(value) is not bool:
        raise _EvalError(f"{macro}() predicate returned {_type_name(value)}, not bool")
    return value


# --- functions -----------------------------------------------------------------


def _size(value: Any) -> int:
    if type(value) in (str, bytes, list) or isinstance(value, dict):
        return len(value)
    raise _overload("size", value)


def _string_test(name: str, test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    def function(text: Any, part: Any) -> bool:
        if type(text) is not str or type(part) is not str:
            raise _overload(name, text, part)
        return test(text, part)

    return function


_INT_TEXT = re.compile(r"[+-]?[0-9]{1,25}")
_FLOAT_TEXT = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.IGNORECASE)
_BOOL_TEXT = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True}
_BOOL_TEXT |= {"0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def _to_int(value: Any) -> int:
    kind = type(value)
    if kind in (int, _Uint):
        return _int(int(value))
    if kind is float:
        if math.isnan(value) or not -(2.0**63) < value < 2.0**63:
            raise _EvalError(f"int() cannot convert {value!r}: out of range")
        return int(value)  # Truncates toward zero, as Go does.
    if kind is str and _INT_TEXT.fullmatch(value):
        return _int(int(value))
    raise _EvalError(f"int() cannot convert {_type_name(value)} {value!r}")


def _to_uint(value: Any) -> _Uint:
    kind = type(value)
    if kind in (int, _Uint):
        return _uint(value)
    if kind is float:
        if math.isnan(value) or not 0.0 <= value < 2.0**64:
            raise _EvalError(f"uint() cannot convert {value!r}: out of range")
        return _Uint(int(value))
    if kind is str and _INT_TEXT.fullmatch(value) and value[0] not in "+-":
        return _uint(int(value))
    raise _EvalError(f"uint() cannot convert {_type_name(value)} {value!r}")


def _to_double(value: Any) -> float:
    kind = type(value)
    if kind in (int, _Uint, float):
        return float(value)
    if kind is str and _FLOAT_TEXT.fullmatch(value):
        return float(value)
    raise _EvalError(f"double() cannot convert {_type_name(value)} {value!r}")


def _to_string(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind in (int, _Uint):
        return str(int(value))
    if kind is float:
        return _format_double(value)
    if kind in (IP, CIDR):
        return str(value)
    if kind is bytes:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise _EvalError("string() needs valid UTF-8 bytes") from None
    raise _overload("string", value)


def _format_double(value: float) -> str:
    """Go's ``strconv.FormatFloat(value, 'g', -1, 64)``, which cel-go's string() uses."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = exponent + len(digits)  # The value is 0.<digits> * 10**point.
    largest = len(digits) if 6 > len(digits) >= point else 6
    if not -4 <= point - 1 < largest:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        text = f"{mantissa}e{point - 1:+03d}"
    elif point <= 0:
        text = "0." + "0" * -point + digits
    elif point >= len(digits):
        text = digits + "0" * (point - len(digits))
    else:
        text = digits[:point] + "." + digits[point:]
    return ("-" if sign else "") + text


def _to_bytes(value: Any) -> bytes:
    if type(value) is bytes:
        return value
    if type(value) is str:
        return value.encode("utf-8")
    raise _overload("bytes", value)


def _to_bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    if type(value) is str and value in _BOOL_TEXT:
        return _BOOL_TEXT[value]
    raise _EvalError(f"bool() cannot convert {_type_name(value)} {value!r}")


def _quantity(text: Any) -> Quantity:
    try:
        return Quantity.parse(_expect(text, str, "quantity"))
    except QuantityError as err:
        raise _EvalError(str(err)) from None


def _is_quantity(text: Any) -> bool:
    try:
        Quantity.parse(_expect(text, str, "isQuantity"))
    except QuantityError:
        return False
    return True


def _quantity_arithmetic(name: str) -> Callable[[Any, Any], Quantity]:
    def function(q: Any, other: Any) -> Quantity:
        _expect(q, Quantity, name)
        if type(other) not in (Quantity, int):
            raise _overload(name, q, other)
        try:
            return getattr(q, name)(other)
        except QuantityError as err:
            raise _EvalError(str(err)) from None

    return function


def _as_integer(q: Any) -> int:
    try:
        return _expect(q, Quantity, "asInteger").as_integer()
    except QuantityError as err:
        raise _EvalError(str(err)) from None


def _semver(text: Any, normalize: Any = False) -> Semver:
    try:
        return Semver.parse(_expect(text, str, "semver"), normalize=_expect(normalize, bool, "semver"))
    except SemverError as err:
        raise _EvalError(str(err)) from None


def _is_semver(text: Any, normalize: Any = False) -> bool:
    try:
        Semver.parse(_expect(text, str, "isSemver"), normalize=_expect(normalize, bool, "isSemver"))
    except SemverError:
        return False
    return True


def _version_part(name: str) -> Callable[[Any], int]:
    def function(version: Any) -> int:
        number = getattr(_expect(version, Semver, name), name)
        return (number + 2**63) % 2**64 - 2**63  # Go's int64(uint64) wraps.

    return function


def _compare(a: Any, b: Any, name: str = "compareTo") -> int:
    if type(a) is type(b) and type(a) in (Quantity, Semver):
        return a.compare_to(b)
    raise _overload(name, a, b)


def _contains_cost(shapes: list[_Shape | None]) -> tuple[int, _Shape | None]:
    """cel-go: a walk of the text times a walk of the part."""
    return _traversal(shapes[0]) * _traversal(shapes[1]), None


def _prefix_cost(shapes: list[_Shape | None]) -> tuple[int, _Shape | None]:
    """cel-go's ``startsWith``/``endsWith``: a walk of the part."""
    return _traversal(shapes[1]), None


def _parse_cost(shapes: list[_Shape | None]) -> tuple[int, _Shape | None]:
    """Kubernetes' ``quantity``/``semver`` parsers: a walk of the text."""
    return _traversal(shapes[0]), None


def _as_string(shapes: list[_Shape | None]) -> tuple[int, _Shape | None]:
    """``string()``: one unit, a result cel-go does not bound."""
    return 0, _TEXT_OF_UNKNOWN_SIZE


def _as_bytes(shapes: list[_Shape | None]) -> tuple[int, _Shape | None]:
    """``bytes()``: a walk, and up to four bytes per character."""
    return _traversal(shapes[0]), _Shape(4 * _size_of(shapes[0]), text=True)


def _same(shapes: list[_Shape | None]) -> tuple[int, _Shape | None]:
    """``dyn()``: free, and the value's own bound."""
    return 0, shapes[0]


_FUNCTIONS: dict[str, _Function] = {
    "size": _fn(_size, estimate=_nominal),
    "contains": _fn(_string_test("contains", lambda text, part: part in text), 2, estimate=_contains_cost),
    "startsWith": _fn(_string_test("startsWith", str.startswith), 2, estimate=_prefix_cost),
    "endsWith": _fn(_string_test("endsWith", str.endswith), 2, estimate=_prefix_cost),
    "int": _fn(_to_int, estimate=_nominal),
    "uint": _fn(_to_uint, estimate=_nominal),
    "double": _fn(_to_double, estimate=_nominal),
    "string": _fn(_to_string, estimate=_as_string),
    "bytes": _fn(_to_bytes, estimate=_as_bytes),
    "bool": _fn(_to_bool, estimate=_nominal),
    "dyn": _fn(lambda value: value, estimate=_same),
    "type": _fn(lambda value: _CelType(_type_name(value)), estimate=_nominal),
    "quantity": _fn(_quantity, estimate=_parse_cost),
    "isQuantity": _fn(_is_quantity, estimate=_parse_cost),
    "semver": _fn(_semver, 1, 2, estimate=_parse_cost),
    "isSemver": _fn(_is_semver, 1, 2, estimate=_parse_cost),
} | {
    name: _fn(impl, *arities, estimate=_nominal)
    for name, impl, *arities in [
        ("sign", lambda q: _expect(q, Quantity, "sign").sign(), 1),
        ("isInteger", lambda q: _expect(q, Quantity, "isInteger").is_integer(), 1),
        ("asInteger", _as_integer, 1),
        ("asApproximateFloat", lambda q: _expect(q, Quantity, "asApproximateFloat").as_approximate_float(), 1),
        ("add", _quantity_arithmetic("add"), 2),
        ("sub", _quantity_arithmetic("sub"), 2),
        ("major", _version_part("major"), 1),
        ("minor", _version_part("minor"), 1),
        ("patch", _version_part("patch"), 1),
        ("compareTo", _compare, 2),
        ("isGreaterThan", lambda a, b: _compare(a, b, "isGreaterThan") > 0, 2),
        ("isLessThan", lambda a, b: _compare(a, b, "isLessThan") < 0, 2),
    ]
}
_FUNCTIONS |= cel_strings.FUNCTIONS | cel_collections.FUNCTIONS | cel_net.FUNCTIONS | cel_url.FUNCTIONS
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})


# --- compiler ------------------------------------------------------------------


_NAME_SHAPE = _Shape(_MAX_NAME_LENGTH, text=True)
_DOMAIN_SHAPE = _Shape(_MAX_PER_DEVICE, _Shape(_MAX_VALUE_LENGTH), _NAME_SHAPE)
# One bound covers the three fields: <= 32 domains, or a driver name <= 63 long.
_FIELD_SHAPE = _Shape(max(_MAX_PER_DEVICE, _MAX_NAME_LENGTH), _DOMAIN_SHAPE, _NAME_SHAPE)
_DEVICE_SHAPE = _Shape(len(_Device.FIELDS), _FIELD_SHAPE, _NAME_SHAPE)
_PASS_THROUGH = frozenset({"conditionalor", "conditionaland", "relation", "addition", "multiplication", "unary"})

Run = Callable[[_Frame], Any]


@dataclass(frozen=True, slots=True)
class _Node:
    """A compiled sub-expression with its cost estimate and size bound."""

    run: Run
    cost: int
    shape: _Shape | None = None
    constant: bool = False


class _Step(NamedTuple):
    """A compiled member step: a function of (receiver, frame)."""

    function: Callable[[Any, _Frame], Any]
    cost: int
    shape: _Shape | None
    foldable: bool = False  # Pure and independent of the frame: safe to run at compile time.


def _constant(value: Any, estimated: _Shape | None = None, cost: int = 0) -> _Node:
    """A literal or folded value; a folded call keeps its estimated cost and bound, as cel-go's estimate does."""
    return _Node(lambda f: value, cost, estimated or _shape_of(value), constant=True)


def _shape_of(value: Any) -> _Shape | None:
    """The exact bound of a folded constant."""
    if type(value) in (str, bytes):
        return _Shape(len(value), text=True)
    if type(value) is list:
        return _Shape(len(value), functools.reduce(_join, map(_shape_of, value), None))
    if type(value) is dict:
        items = functools.reduce(_join, map(_shape_of, value.values()), None)
        return _Shape(len(value), items, functools.reduce(_join, map(_shape_of, value), None))
    return None


def _method(impl: Callable[..., Any], runs: list[Run]) -> Callable[[Any, _Frame], Any]:
    """A member call as a step; the common arities without building an argument list."""
    if not runs:
        return lambda value, f: impl(value)
    if len(runs) == 1:
        (only,) = runs
        return lambda value, f: impl(value, only(f))
    return lambda value, f: impl(value, *[run(f) for run in runs])


def _call_cost(function: _Function, shapes: list[_Shape | None], nodes: list[_Node]) -> tuple[int, _Shape | None]:
    """A call's cost (one unit, its arguments, its own estimate) and its result's bound."""
    extra, shape = (function.estimate or _nominal)(shapes)
    return 1 + sum(n.cost for n in nodes) + extra, shape


class _Compiler:
    """Turns celpy's lark tree into closures, checking names, nesting and cost."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.scope: dict[str, tuple[int, _Shape | None]] = {}
        self.slot_count = 1  # Slot 0 holds the device.
        self.depth = 0

    def error(self, where: lark.Tree | lark.Token, message: str) -> CelCompileError:
        """A compile error pointing at ``where`` in the source."""
        line, column = _position(where)
        return CelCompileError(f"{message} at line {line}, column {column}\n{_excerpt(self.source, line, column)}")

    def expr(self, tree: lark.Tree) -> _Node:
        """An ``expr`` rule: every nested sub-expression starts here, so depth is counted here."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(tree, f"expression nests more than {MAX_NESTING} levels deep")
        try:
            if len(tree.children) == 3:
                return self.conditional(*tree.children)
            return self.node(tree.children[0])
        finally:
            self.depth -= 1

    def node(self, tree: lark.Tree) -> _Node:
        while tree.data in _PASS_THROUGH and len(tree.children) == 1:
            tree = tree.children[0]
        if tree.data in ("conditionalor", "conditionaland"):
            return self.logical(tree)
        if tree.data in ("relation", "addition", "multiplication"):
            return self.binary(tree)
        if tree.data == "unary":
            return self.unary(tree)
        return self.member(tree)

    def conditional(self, condition: lark.Tree, yes: lark.Tree, no: lark.Tree) -> _Node:
        test, when_true, when_false = self.node(condition), self.node(yes), self.expr(no)
        test_run, true_run, false_run = test.run, when_true.run, when_false.run

        def run(f: _Frame) -> Any:
            chosen = test_run(f)
            if type(chosen) is not bool:
                raise _overload("_?_:_", chosen)
            return true_run(f) if chosen else false_run(f)

        cost = test.cost + max(when_true.cost, when_false.cost) + 1
        return _Node(run, cost, _join(when_true.shape, when_false.shape))

    def logical(self, tree: lark.Tree) -> _Node:
        """A chain of ``||`` or ``&&``, flattened so long chains do not nest."""
        kind, operands = tree.data, []
        while tree.data == kind and len(tree.children) == 2:
            operands.append(tree.children[1])
            tree = tree.children[0]
        operands.append(tree)
        nodes = [self.node(operand) for operand in reversed(operands)]
        is_or = kind == "conditionalor"
        run = _logical([n.run for n in nodes], stop=is_or, symbol="||" if is_or else "&&")
        return _Node(run, sum(n.cost for n in nodes) + len(nodes) - 1)

    def binary(self, tree: lark.Tree) -> _Node:
        """A left-associative operator chain, flattened and folded in a loop."""
        kind, steps = tree.data, []
        while tree.data == kind and len(tree.children) == 2:
            operator, right = tree.children
            steps.append((operator.data, right))
            tree = operator.children[0]
        first = self.node(tree)
        cost, shape, pairs = first.cost, first.shape, []
        for operator, right_tree in reversed(steps):
            right = self.node(right_tree)
            symbol, op = _BINARY_OPS[operator]
            extra, shape = _operator_cost(symbol, shape, right.shape)
            cost += right.cost + 1 + extra
            pairs.append((op, right.run))
        return _Node(_fold(first.run, pairs), cost, shape)

    def unary(self, tree: lark.Tree) -> _Node:
        operators = []
        while tree.data == "unary" and len(tree.children) == 2:
            operators.append(_op_not if tree.children[0].data == "unary_not" else _op_neg)
            tree = tree.children[1]
        operand = self.node(tree)
        inner, ops = operand.run, operators[::-1]

        def run(f: _Frame) -> Any:
            value = inner(f)
            for op in ops:
                value = op(value)
            return value

        return _Node(run, operand.cost + len(ops))

    def member(self, tree: lark.Tree) -> _Node:
        """A primary followed by a chain of ``.field``, ``[index]`` and ``.method(...)``."""
        steps = []
        while tree.data != "primary":
            if tree.data != "member":
                steps.append(tree)  # member_dot, member_dot_arg, member_index or member_object
            tree = tree.children[0]  # Each of them holds its receiver first.
        steps.reverse()
        base = tree.children[0]
        if steps and _is_ident(base, "cel") and "cel" not in self.scope and _method_name(steps[0]) == "bind":
            node = self.bind(steps.pop(0))
        elif steps and (qualified := self.namespaced(base, steps[0])):
            call = steps.pop(0)
            node = self.call(call.children[1], _arguments(call), qualified)
        else:
            node = self.primary(base, steps[0] if steps else None)
        return self.apply_steps(node, steps)

    def apply_steps(self, node: _Node, steps: list[lark.Tree]) -> _Node:
        """Compile the member steps into one loop over step functions."""
        functions, cost, shape = [], node.cost, node.shape
        for tree in steps:
            step = self.step(tree, shape)
            if node.constant and not functions and step.foldable:
                try:
                    node = _constant(step.function(node.run(None), None), step.shape, cost + step.cost)
                except _EvalError:
                    pass  # Left to evaluation, where the error makes a non-match.
                else:
                    cost, shape = node.cost, node.shape
                    continue
            functions.append(step.function)
            cost, shape = cost + step.cost, step.shape
        if not functions:
            return node
        base = node.run
        if len(functions) == 1:
            only = functions[0]
            return _Node(lambda f: only(base(f), f), cost, shape)

        def run(f: _Frame) -> Any:
            value = base(f)
            for function in functions:
                value = function(value, f)
            return value

        return _Node(run, cost, shape)

    def step(self, step: lark.Tree, shape: _Shape | None) -> _Step:
        """One member step, as a function of the receiver."""
        item = shape.item if shape else None
        if step.data == "member_dot":
            name = step.children[1].value
            return _Step(lambda value, f: _select(value, name), 1, item, foldable=True)
        if step.data == "member_index":
            key = self.expr(step.children[1])
            if key.constant:
                constant = key.run(None)
                return _Step(lambda value, f: _index(value, constant), 1, item, foldable=True)
            key_run = key.run
            return _Step(lambda value, f: _index(value, key_run(f)), key.cost + 1, item)
        if step.data == "member_object":
            raise self.error(step, "message construction (Type{...}) is not supported")
        name_token, arguments = step.children[1], _arguments(step)
        if name_token.value in _MACROS:
            return self.macro(step, name_token.value, arguments, shape)
        function = self.function(name_token, len(arguments) + 1)
        nodes = [self.expr(argument) for argument in arguments]
        runs, impl = [n.run for n in nodes], function.impl
        cost, result_shape = _call_cost(function, [shape, *[n.shape for n in nodes]], nodes)
        if function.guarded:
            return _Step(lambda value, f: impl(f, value, *[run(f) for run in runs]), cost, result_shape)
        return _Step(_method(impl, runs), cost, result_shape, all(n.constant for n in nodes))

    def function(self, name: lark.Token, arity: int, qualified: str | None = None) -> _Function:
        """Look a function up, checking that it exists and takes ``arity`` arguments."""
        key = qualified or name.value
        function = _FUNCTIONS.get(key)
        if function is None:
            hint = " (a macro: call it on a list or map)" if key in _MACROS else ""
            raise self.error(name, f"undeclared reference to function {key!r}{hint}")
        if arity not in function.arities:
            expected = " or ".join(str(n) for n in sorted(function.arities))
            raise self.error(name, f"{key}() takes {expected} argument(s), counting a receiver; got {arity}")
        return function

    def primary(self, tree: lark.Tree, first_step: lark.Tree | None) -> _Node:
        kind = tree.data
        if kind == "literal":
            return _constant(self.literal(tree.children[0]))
        if kind == "ident":
            return self.ident(tree.children[0], first_step)
        if kind == "paren_expr":
            return self.expr(tree.children[0])
        if kind == "list_lit":
            return self.list_literal(tree.children[0].children if tree.children else [])
        if kind == "map_lit":
            return self.map_literal(tree.children[0].children if tree.children else [])
        if kind == "ident_arg":
            return self.call(tree.children[0], _arguments(tree))
        raise self.error(tree, "names with a leading '.' are not supported")

    def ident(self, token: lark.Token, first_step: lark.Tree | None) -> _Node:
        name = token.value
        if name in self.scope:
            slot, shape = self.scope[name]
            return _Node(lambda f: f.slots[slot], 1, shape)
        if name == "device":
            if first_step is not None and first_step.data == "member_dot":
                self.check_device_field(first_step.children[1])
            return _Node(lambda f: f.slots[0], 1, _DEVICE_SHAPE)
        if name in _TYPE_CONSTANTS:
            return _constant(_TYPE_CONSTANTS[name])
        raise self.error(token, f"undeclared reference to {name!r}")

    def check_device_field(self, field: lark.Token) -> None:
        if field.value not in _Device.FIELDS:
            fields = ", ".join(sorted(_Device.FIELDS))
            raise self.error(field, f"device has no field {field.value!r} (it has {fields})")

    def call(self, name: lark.Token, arguments: list[lark.Tree], qualified: str | None = None) -> _Node:
        """A global call: ``has(...)`` or a function (``qualified`` names a namespaced one)."""
        if name.value == "has" and qualified is None:
            return self.has(name, arguments)
        function = self.function(name, len(arguments), qualified)
        impl, nodes = function.impl, [self.expr(argument) for argument in arguments]
        cost, shape = _call_cost(function, [n.shape for n in nodes], nodes)
        if all(n.constant for n in nodes) and not function.guarded:
            try:
                return _constant(impl(*[n.run(None) for n in nodes]), shape, cost)
            except _EvalError:
                pass  # Left to evaluation, where the error makes a non-match.
        runs = [n.run for n in nodes]
        if function.guarded:
            return _Node(lambda f: impl(f, *[run(f) for run in runs]), cost, shape)
        if len(runs) == 1:
            only = runs[0]
            return _Node(lambda f: impl(only(f)), cost, shape)
        return _Node(lambda f: impl(*[run(f) for run in runs]), cost, shape)

    def namespaced(self, base: lark.Tree, first_step: lark.Tree) -> str | None:
        """``sets.contains``, ``strings.quote``, ``ip.isCanonical``: the qualified name, if this is one."""
        if base.data != "ident" or base.children[0].value in self.scope or first_step.data != "member_dot_arg":
            return None
        qualified = f"{base.children[0].value}.{first_step.children[1].value}"
        return qualified if qualified in _FUNCTIONS else None

    def has(self, name: lark.Token, arguments: list[lark.Tree]) -> _Node:
        selection = _unwrap(arguments[0]) if len(arguments) == 1 else None
        if selection is None or selection.data != "member_dot":
            raise self.error(name, "has() takes one field selection, such as has(m.field)")
        target, field = selection.children
        if _is_ident(_unwrap(target), "device") and "device" not in self.scope:
            self.check_device_field(field)
        operand = self.node(target)
        operand_run, field_name = operand.run, field.value
        return _Node(lambda f: _has(operand_run(f), field_name), operand.cost + 1)

    def list_literal(self, elements: list[lark.Tree]) -> _Node:
        nodes = [self.expr(element) for element in elements]
        runs = [n.run for n in nodes]
        item = functools.reduce(_join, (n.shape for n in nodes), None)
        return _Node(lambda f: [run(f) for run in runs], 1 + sum(n.cost for n in nodes), _Shape(len(nodes), item))

    def map_literal(self, entries: list[lark.Tree]) -> _Node:
        keys = [self.expr(entry) for entry in entries[0::2]]
        values = [self.expr(entry) for entry in entries[1::2]]
        pairs = [(k.run, v.run) for k, v in zip(keys, values, strict=True)]

        def run(f: _Frame) -> dict:
            result: dict = {}
            for key_run, value_run in pairs:
                key = key_run(f)
                if type(key) is float:
                    raise _EvalError("unsupported map key type double")
                stored = _map_key(key)
                if stored in result:
                    raise _EvalError(f"duplicate map key {key!r}")
                result[stored] = value_run(f)
            return result

        cost = 1 + sum(n.cost for n in keys + values)
        key_shape = functools.reduce(_join, (k.shape for k in keys), None)
        value_shape = functools.reduce(_join, (v.shape for v in values), None)
        return _Node(run, cost, _Shape(len(pairs), value_shape, key_shape))

    def literal(self, token: lark.Token) -> Any:
        kind, text = token.type, token.value
        if kind in ("INT_LIT", "UINT_LIT"):
            return self.integer_literal(token)
        if kind == "FLOAT_LIT":
            return float(text)
        if kind in ("STRING_LIT", "MLSTRING_LIT"):
            return str(celstr(token))
        if kind == "BYTES_LIT":
            return bytes(celbytes(token))
        if kind == "BOOL_LIT":
            return text == "true"
        return None  # NULL_LIT

    def integer_literal(self, token: lark.Token) -> int:
        unsigned = token.type == "UINT_LIT"
        digits = token.value[:-1] if unsigned else token.value
        body = digits.lstrip("-")
        # The length check keeps int() away from huge digit strings; they are out of range anyway.
        value = int(body[2:], 16) if body[:2] == "0x" else int(body) if len(body) <= 20 else None
        low, high = (0, UINT64_MAX) if unsigned else (INT64_MIN, INT64_MAX)
        if value is not None and digits.startswith("-"):
            value = -value
        if value is None or not low <= value <= high:
            raise self.error(token, f"{'uint' if unsigned else 'int'} literal {token.value} is out of range")
        return _Uint(value) if unsigned else value

    def macro(self, step: lark.Tree, name: str, arguments: list[lark.Tree], shape: _Shape | None) -> _Step:
        """``all exists exists_one map filter`` on the receiver."""
        arities = (2, 3) if name == "map" else (2,)
        variable = _unwrap(arguments[0]) if arguments else None
        if len(arguments) not in arities or variable is None or variable.data != "ident":
            usage = "map(x, transform) or map(x, predicate, transform)" if name == "map" else f"{name}(x, predicate)"
            raise self.error(step.children[1], f"{name}() must be called as {usage}, with x a variable name")
        slot = self.slot_count
        self.slot_count += 1
        iterated = _join(shape.item, shape.key) if shape else None
        bodies = self.scoped(variable.children[0].value, slot, iterated, arguments[1:])
        count = max(_size_of(shape), 1)
        cost = count * (1 + sum(body.cost for body in bodies))
        result_shape = None
        if name == "map":
            result_shape = _Shape(count, bodies[-1].shape)
        elif name == "filter":
            result_shape = _Shape(count, iterated)
        return _Step(_COMPREHENSIONS[name](slot, *[body.run for body in bodies]), cost, result_shape)

    def scoped(self, name: str, slot: int, shape: _Shape | None, bodies: list[lark.Tree]) -> list[_Node]:
        """Compile ``bodies`` with ``name`` bound to ``slot``, restoring any outer binding."""
        outer = self.scope.get(name)
        self.scope[name] = (slot, shape)
        try:
            return [self.expr(body) for body in bodies]
        finally:
            if outer is None:
                del self.scope[name]
            else:
                self.scope[name] = outer

    def bind(self, step: lark.Tree) -> _Node:
        """``cel.bind(name, init, body)``: evaluate ``init`` once and use it as ``name`` in ``body``."""
        arguments = _arguments(step)
        variable = _unwrap(arguments[0]) if len(arguments) == 3 else None
        if variable is None or variable.data != "ident":
            raise self.error(step.children[1], "cel.bind() needs a variable name, a value and an expression")
        init = self.expr(arguments[1])
        slot = self.slot_count
        self.slot_count += 1
        (body,) = self.scoped(variable.children[0].value, slot, init.shape, arguments[2:])
        init_run, body_run = init.run, body.run

        def run(f: _Frame) -> Any:
            f.slots[slot] = init_run(f)
            return body_run(f)

        return _Node(run, init.cost + body.cost + 1, body.shape)


# --- compiler helpers --------------------------------------------------------------

_WRAPPERS = _PASS_THROUGH | {"expr", "member", "primary"}


def _unwrap(tree: lark.Tree) -> lark.Tree:
    """The first node below ``tree`` that is more than a single-child wrapper."""
    while tree.data in _WRAPPERS and len(tree.children) == 1:
        tree = tree.children[0]
    return tree


def _is_ident(tree: lark.Tree, name: str) -> bool:
    return tree.data == "ident" and tree.children[0].value == name


def _method_name(step: lark.Tree) -> str | None:
    return step.children[1].value if step.data == "member_dot_arg" else None


def _arguments(call: lark.Tree) -> list[lark.Tree]:
    """The argument expressions of an ``ident_arg`` or ``member_dot_arg`` node."""
    last = call.children[-1]
    return list(last.children) if isinstance(last, lark.Tree) and last.data == "exprlist" else []


def _operator_cost(symbol: str, left: _Shape | None, right: _Shape | None) -> tuple[int, _Shape | None]:
    """The extra cost of a binary operator beyond one unit, and its result's shape."""
    if symbol == "+":
        if left is None and right is None:
            return 0, None
        size = _size_of(left) + _size_of(right)
        text = bool(left and left.text and right and right.text)
        return size // 10, _Shape(size, _join(left and left.item, right and right.item), text=text)
    if symbol in ("==", "!="):
        return min(_weight(left), _weight(right)) // 10, None
    if symbol == "in":
        return _size_of(right), None  # cel-go: one unit per element.
    return 0, None


def _fold(head: Run, pairs: list[tuple[Callable[[_Frame, Any, Any], Any], Run]]) -> Run:
    """Apply a left-associative chain of binary operators in a loop."""
    if len(pairs) == 1:
        ((op, right),) = pairs
        return lambda f: op(f, head(f), right(f))

    def run(f: _Frame) -> Any:
        value = head(f)
        for op, right in pairs:
            value = op(f, value, right(f))
        return value

    return run


def _logical(runs: list[Run], *, stop: bool, symbol: str) -> Run:
    """``||`` (``stop=True``) or ``&&`` (``stop=False``) over many operands.

    CEL's logical operators are commutative over errors: the first operand that
    is ``stop`` decides, and only without one does an error (or non-bool) count.
    """

    def run(f: _Frame) -> bool:
        error = None
        for operand in runs:
            try:
                value = operand(f)
            except _EvalError as err:
                error = error or err
                continue
            if value is stop:
                return stop
            if type(value) is not bool:
                error = error or _overload(f"_{symbol}_", value)
        if error is not None:
            raise error
        return not stop

    return run


def _quantifier(name: str, stop: bool) -> Callable[[int, Run], Callable[[Any, _Frame], bool]]:
    """``all`` (``stop=False``) or ``exists`` (``stop=True``), with ``_logical``'s error rules."""

    def build(slot: int, predicate: Run) -> Callable[[Any, _Frame], bool]:
        def step(value: Any, f: _Frame) -> bool:
            error = None
            for item in _items(value, name):
                f.tick()
                f.slots[slot] = item
                try:
                    result = predicate(f)
                except _EvalError as err:
                    error = error or err
                    continue
                if result is stop:
                    return stop
                if type(result) is not bool:
                    error = error or _EvalError(f"{name}() predicate returned {_type_name(result)}, not bool")
            if error is not None:
                raise error
            return not stop

        return step

    return build


def _exists_one(slot: int, predicate: Run) -> Callable[[Any, _Frame], bool]:
    def step(value: Any, f: _Frame) -> bool:
        count = 0
        for item in _items(value, "exists_one"):
            f.tick()
            f.slots[slot] = item
            count += _predicate(predicate(f), "exists_one")
        return count == 1

    return step


def _map(slot: int, *bodies: Run) -> Callable[[Any, _Frame], list]:
    *condition, transform = bodies

    def step(value: Any, f: _Frame) -> list:
        result = []
        for item in _items(value, "map"):
            f.tick()
            f.slots[slot] = item
            if not condition or _predicate(condition[0](f), "map"):
                result.append(transform(f))
        return result

    return step


def _filter(slot: int, predicate: Run) -> Callable[[Any, _Frame], list]:
    def step(value: Any, f: _Frame) -> list:
        result = []
        for item in _items(value, "filter"):
            f.tick()
            f.slots[slot] = item
            if _predicate(predicate(f), "filter"):
                result.append(item)
        return result

    return step


_COMPREHENSIONS: dict[str, Callable[..., Callable[[Any, _Frame], Any]]] = {
    "all": _quantifier("all", stop=False),
    "exists": _quantifier("exists", stop=True),
    "exists_one": _exists_one,
    "map": _map,
    "filter": _filter,
}


def _position(where: lark.Tree | lark.Token) -> tuple[int, int]:
    """Line and column of a node, from the first token that has one.

    celpy re-creates ``true``/``false`` tokens without positions, so a node may
    lack them; then the expression's start is the best answer.
    """
    meta = getattr(where, "meta", None)
    if meta is not None and getattr(meta, "line", None) is not None:
        return meta.line, meta.column
    tokens = [where] if isinstance(where, lark.Token) else where.scan_values(lambda v: isinstance(v, lark.Token))
    for token in tokens:
        if token.line is not None:
            return token.line, token.column
    return 1, 1


def _excerpt(source: str, line: int, column: int) -> str:
    """The source around ``line``/``column`` with a caret under the column."""
    lines = source.splitlines() or [""]
    text = lines[min(line, len(lines)) - 1]
    start = max(0, column - 41)
    return f"  {text[start : column + 40]}\n  {' ' * (column - 1 - start)}^"


def _syntax_error(source: str, err: CELParseError) -> CelCompileError:
    cause = err.__context__  # celpy raises CELParseError while handling lark's exception.
    if isinstance(cause, UnexpectedToken):
        reason = "unexpected end of expression" if cause.token.type == "$END" else f"unexpected {cause.token.value!r}"
    elif isinstance(cause, UnexpectedCharacters):
        reason = f"unexpected character {cause.char!r}"
    else:
        reason = "invalid syntax"
    line, column = err.line or 1, err.column or 1
    return CelCompileError(f"syntax error: {reason} at line {line}, column {column}\n{_excerpt(source, line, column)}")


@functools.cache
def _parser() -> CELParser:
    return CELParser()


# --- public API ------------------------------------------------------------------


class CompiledSelector:
    """A compiled selector. ``estimated_cost`` is its worst-case cost estimate."""

    __slots__ = ("_run", "_slot_count", "estimated_cost", "expression")

    def __init__(self, expression: str, run: Run, estimated_cost: int, slot_count: int) -> None:
        self.expression, self.estimated_cost = expression, estimated_cost
        self._run, self._slot_count = run, slot_count

    def __repr__(self) -> str:
        return f"CompiledSelector({self.expression!r})"

    def evaluate(self, device: DeviceData) -> Verdict:
        """Evaluate on one device, without memoization (see ``SelectorEvaluator``)."""
        try:
            activation = _activation(device)
        except _EvalError as err:
            return Verdict(False, str(err))
        return self._evaluate_activation(activation)

    def _evaluate_activation(self, device: _Device) -> Verdict:
        try:
            result = self._run(_Frame(device, self._slot_count))
        except _EvalError as err:
            return Verdict(False, str(err))
        except RecursionError:
            return Verdict(False, "evaluation stopped: it recursed too deeply")
        except Exception as err:  # noqa: BLE001 - user CEL on arbitrary device data must never crash the planner.
            return Verdict(False, f"internal error while evaluating: {type(err).__name__}: {err}")
        if type(result) is bool:
            return Verdict(result)
        return Verdict(False, f"selector returned {_type_name(result)}, not bool")


@functools.lru_cache(maxsize=4096)
def compile_selector(expression: str) -> CompiledSelector:
    """Compile ``expression`` once (results are cached) or raise ``CelCompileError``."""
    if not isinstance(expression, str):
        raise CelCompileError(f"a selector must be a string, not {type(expression).__name__}")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise CelCompileError(
            f"selector is {len(expression)} characters long; the limit is {MAX_EXPRESSION_LENGTH} characters"
        )
    try:
        tree = _parser().parse(expression)
    except CELParseError as err:
        raise _syntax_error(expression, err) from None
    compiler = _Compiler(expression)
    try:
        node = compiler.expr(tree)
    except RecursionError:
        # MAX_NESTING keeps well inside Python's default stack; this covers callers already deep in it.
        raise CelCompileError("selector nests too deeply for the available stack") from None
    if node.cost >= _UNKNOWN // 10:
        raise CelCompileError(
            f"selector is too expensive: its estimated worst-case cost is unbounded (the limit is {MAX_COST:,}): "
            "it walks a value whose size the cost estimate does not know (a part from split() or findAll(), "
            "a string(), charAt() or URL part, or list elements read by join() or the lists library), "
            "which the Kubernetes API server refuses as too complex too"
        )
    if node.cost > MAX_COST:
        raise CelCompileError(
            f"selector is too expensive: its estimated worst-case cost {node.cost:,} exceeds the limit of "
            f"{MAX_COST:,} (nested comprehensions over large lists multiply)"
        )
    return CompiledSelector(expression, node.run, node.cost, compiler.slot_count)


class SelectorEvaluator:
    """Evaluates selectors for one plan, each distinct (expression, device) pair once."""

    def __init__(self) -> None:
        self._verdicts: dict[tuple[str, DeviceData], Verdict] = {}
        self._devices: dict[DeviceData, _Device | _EvalError] = {}

    def evaluate(self, expression: str, device: DeviceData) -> Verdict:
        """The memoized verdict; raises ``CelCompileError`` only, never for runtime problems."""
        key = (expression, device)
        verdict = self._verdicts.get(key)
        if verdict is None:
            selector = compile_selector(expression)
            activation = self._activation(device)
            if isinstance(activation, _EvalError):
                verdict = Verdict(False, str(activation))
            else:
                verdict = selector._evaluate_activation(activation)
            self._verdicts[key] = verdict
        return verdict

    def _activation(self, device: DeviceData) -> _Device | _EvalError:
        activation = self._devices.get(device)
        if activation is None:
            try:
                activation = _activation(device)
            except _EvalError as err:
                activation = err
            self._devices[device] = activation
        return activation


def _activation(device: DeviceData) -> _Device:
    """Build the ``device`` variable; a bad version or quantity is an evaluation error."""
    attributes, capacity = _Domains("attribute"), _Domains("capacity")
    for name, attribute in device.attributes:
        value: Any = attribute.value
        if attribute.kind == "version":
            try:
                value = Semver.parse(attribute.value)
            except SemverError as err:
                raise _EvalError(f"attribute {name!r}: {err}") from None
        _put(attributes, device.driver, name, value)
    for name, text in device.capacity:
        try:
            _put(capacity, device.driver, name, Quantity.parse(text))
        except QuantityError as err:
            raise _EvalError(f"capacity {name!r}: {err}") from None
    return _Device(device.driver, attributes, capacity)


def _put(domains: _Domains, driver: str, name: str, value: Any) -> None:
    """Store ``value`` under a ``domain/name`` or bare (driver-domain) name."""
    domain, _, ident = name.partition("/") if "/" in name else (driver, "", name)
    bucket = domains.get(domain)  # dict.get bypasses __missing__.
    if bucket is None:
        bucket = domains[domain] = _Domain(domains.kind, domain)
    if ident in bucket:
        raise _EvalError(f"{domains.kind} {ident!r} of domain {domain} is given twice")
    bucket[ident] = value
