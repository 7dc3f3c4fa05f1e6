"""The value model shared by the DRA CEL evaluator and its function libraries.

Values are plain Python ones (int, float, str, bytes, bool, None, list, dict)
plus ``Uint``, ``CelType``, Quantity, Semver and the library types (IP, CIDR,
URL). This module holds what every library needs: the evaluation error, type
names, CEL equality and ordering, checked integer arithmetic, the size bounds
the cost estimate works with, and the function table entry.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from modelplane.scheduling.quantity import INT64_MAX, INT64_MIN, Quantity
from modelplane.scheduling.semver import Semver

UINT64_MAX = 2**64 - 1


class EvalError(Exception):
    """A runtime error inside a selector; the evaluation becomes a non-match."""


class Uint(int):
    """CEL's uint; plain Python ints are CEL ints."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"{int(self)}u"


@dataclass(frozen=True, slots=True)
class CelType:
    """A CEL type value, as ``type(x)`` returns and ``int``/``string``/... name."""

    name: str


class Guard(Protocol):
    """The runtime guard of one evaluation: library functions charge their work to it."""

    def tick(self, amount: int = 1) -> None: ...


_TYPE_NAMES: dict[type, str] = {
    bool: "bool",
    int: "int",
    Uint: "uint",
    float: "double",
    str: "string",
    bytes: "bytes",
    type(None): "null_type",
    list: "list",
    dict: "map",
    Quantity: "Quantity",
    Semver: "Semver",
    CelType: "type",
}
NUMBERS = (int, Uint, float)


def class_name(kind: type) -> str:
    """The CEL name of a runtime class; other modules' classes carry a ``cel_type_name``."""
    return _TYPE_NAMES.get(kind) or getattr(kind, "cel_type_name", kind.__name__)


def type_name(value: Any) -> str:
    return class_name(type(value))


def overload_error(name: str, *args: Any) -> EvalError:
    return EvalError(f"no such overload: {name}({', '.join(type_name(a) for a in args)})")


def expect(value: Any, kind: type, function: str) -> Any:
    if type(value) is not kind:
        raise EvalError(f"{function}() expects {class_name(kind)}, not {type_name(value)}")
    return value


def checked_int(value: int) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise EvalError("integer overflow")
    return value


def checked_uint(value: int) -> Uint:
    if not 0 <= value <= UINT64_MAX:
        raise EvalError("unsigned integer overflow")
    return Uint(value)


def equal(a: Any, b: Any) -> bool:
    """CEL heterogeneous equality: numbers by value, other mismatched types are unequal."""
    ta, tb = type(a), type(b)
    if ta is list or tb is list:
        return ta is tb and len(a) == len(b) and all(map(equal, a, b))
    if isinstance(a, dict) or isinstance(b, dict):
        if not (isinstance(a, dict) and isinstance(b, dict)) or a.keys() != b.keys():
            return False
        return all(equal(value, b[key]) for key, value in a.items())
    if ta is tb or (ta in NUMBERS and tb in NUMBERS):
        return a == b
    return False


def compare(a: Any, b: Any) -> int | None:
    """cel-go's ``Compare`` (-1, 0 or 1), or None where it returns an error.

    Numbers order across types (``CrossTypeNumericComparisons``); NaN and
    mismatched types do not order.
    """
    ta, tb = type(a), type(b)
    if ta in NUMBERS and tb in NUMBERS:
        if (ta is float and math.isnan(a)) or (tb is float and math.isnan(b)):
            return None
    elif ta is not tb or ta not in (str, bytes, bool):
        return None
    return (a > b) - (a < b)


# --- size bounds for the cost estimate ---------------------------------------------


# The size of a value whose size cel-go's estimator does not know (as its MaxUint64): the
# elements of split() and findAll(), string(), charAt() and URL parts, and the elements
# that join() and the lists library read. Any cost that walks such a value is unbounded.
UNKNOWN = 2**64 - 1


@dataclass(frozen=True, slots=True)
class Shape:
    """An upper bound on a value's size: string length or collection length.

    ``item`` bounds list elements and map values, ``key`` map keys. ``text`` marks a
    string (or bytes) known as such at compile time, which is what the cost estimate
    of Kubernetes' lists library looks at.
    """

    size: int
    item: Shape | None = None
    key: Shape | None = None
    text: bool = False


TEXT_OF_UNKNOWN_SIZE = Shape(UNKNOWN, text=True)


def text_shape(size: int) -> Shape:
    return Shape(size, text=True)


def join_shapes(a: Shape | None, b: Shape | None) -> Shape | None:
    """A bound covering both."""
    if a is None or b is None:
        return a or b
    item, key = join_shapes(a.item, b.item), join_shapes(a.key, b.key)
    return Shape(max(a.size, b.size), item, key, a.text and b.text)


def size_of(shape: Shape | None) -> int:
    return shape.size if shape else 0


def weight(shape: Shape | None) -> int:
    """How many elements a full walk of the value can touch."""
    return shape.size * (1 + weight(shape.item)) if shape else 0


# --- the function table ----------------------------------------------------------------

# The extra cost of a call beyond its arguments' own, and its result's bound, from the
# bounds of its arguments (the receiver of a member call first).
Estimate = Callable[[list[Shape | None]], tuple[int, Shape | None]]


@dataclass(frozen=True, slots=True)
class Function:
    """A callable CEL function; ``arities`` count the receiver of a member call.

    ``estimate`` gives the call's cost and result bound (without one, a call costs one
    unit plus a tenth of its arguments' sizes and has no bound). A ``guarded`` function
    takes the evaluation's ``Guard`` first, to charge work proportional to its data, and
    is never folded at compile time.
    """

    impl: Callable[..., Any]
    arities: frozenset[int]
    estimate: Estimate | None = None
    guarded: bool = False


def function(
    impl: Callable[..., Any], *arities: int, estimate: Estimate | None = None, guarded: bool = False
) -> Function:
    return Function(impl, frozenset(arities or (1,)), estimate, guarded)


def traversal(shape: Shape | None, factor: int = 1) -> int:
    """cel-go's string traversal cost: a tenth of a unit per element (rounded up), times ``factor``."""
    return -(-size_of(shape) * factor // 10)


def nominal(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    """A call of constant cost (cel-go's default: one unit, already counted) with a scalar result."""
    return 0, None
