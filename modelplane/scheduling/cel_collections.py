"""List functions of the DRA CEL environment: Kubernetes' lists library and cel-go's sets.

Kubernetes' lists library (k8s.io/apiserver/pkg/cel/library/lists.go v0.34.4):
``isSorted sum min max indexOf lastIndexOf``. cel-go's sets extension (ext/sets.go
v0.26.0, ``ext.Sets()`` in base.go): ``sets.contains sets.equivalent sets.intersects``,
with CEL's heterogeneous equality. As in the Go code, an ordering error between two
elements (NaN, or a string next to an int in a ``dyn`` list) is skipped rather than
raised by ``isSorted``, ``min`` and ``max``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from modelplane.scheduling import cel_strings
from modelplane.scheduling.cel_runtime import (
    TEXT_OF_UNKNOWN_SIZE,
    EvalError,
    Function,
    Guard,
    Shape,
    Uint,
    checked_int,
    checked_uint,
    compare,
    equal,
    function,
    overload_error,
    size_of,
    traversal,
    type_name,
)

# The element types cel-go can order (traits.Comparer), less durations and timestamps.
_ORDERED = (bool, int, Uint, float, str, bytes)
_ZERO: dict[type, Any] = {int: 0, Uint: Uint(0), float: 0.0}


def _list(name: str, value: Any, *rest: Any) -> list:
    if type(value) is not list:
        raise overload_error(name, value, *rest)
    return value


def _ordered(name: str, guard: Guard, items: Any) -> list:
    items = _list(name, items)
    guard.tick(len(items) // 10)
    for item in items:
        if type(item) not in _ORDERED:
            raise EvalError(f"{name}() cannot order elements of type {type_name(item)}")
    return items


def is_sorted(guard: Guard, items: Any) -> bool:
    items = _ordered("isSorted", guard, items)
    return all(compare(a, b) != 1 for a, b in itertools.pairwise(items))


def _extreme(name: str, preferred: int) -> Any:
    def extreme(guard: Guard, items: Any) -> Any:
        items = _ordered(name, guard, items)
        if not items:
            raise EvalError(f"{name} called on empty list")
        result = items[0]
        for item in items[1:]:
            if compare(result, item) == preferred:
                result = item
        return result

    return extreme


minimum = _extreme("min", 1)
maximum = _extreme("max", -1)


def total(guard: Guard, items: Any) -> Any:
    """``sum``: of ints, uints or doubles (one kind per list), 0 for an empty list."""
    items = _list("sum", items)
    guard.tick(len(items) // 10)
    kind = type(items[0]) if items else int
    if kind not in _ZERO:
        raise overload_error("sum", items)
    check = {int: checked_int, Uint: checked_uint}.get(kind, float)
    result = _ZERO[kind]
    for item in items:
        if type(item) is not kind:
            raise overload_error("sum", result, item)
        result = check(result + item)
    return result


def index_of(guard: Guard, items: Any, item: Any) -> int:
    guard.tick(len(_list("indexOf", items, item)) // 10)
    return next((index for index, element in enumerate(items) if equal(element, item)), -1)


def last_index_of(guard: Guard, items: Any, item: Any) -> int:
    guard.tick(len(_list("lastIndexOf", items, item)) // 10)
    matches = [index for index, element in enumerate(items) if equal(element, item)]
    return matches[-1] if matches else -1


def _pair(name: str, guard: Guard, a: Any, b: Any) -> tuple[list, list]:
    if type(a) is not list or type(b) is not list:
        raise overload_error(name, a, b)
    guard.tick(len(a) * len(b) // 10)
    return a, b


def _contains(container: list, items: list) -> bool:
    return all(any(equal(element, item) for element in container) for item in items)


def sets_contains(guard: Guard, a: Any, b: Any) -> bool:
    return _contains(*_pair("sets.contains", guard, a, b))


def sets_equivalent(guard: Guard, a: Any, b: Any) -> bool:
    a, b = _pair("sets.equivalent", guard, a, b)
    return _contains(a, b) and _contains(b, a)


def sets_intersects(guard: Guard, a: Any, b: Any) -> bool:
    a, b = _pair("sets.intersects", guard, a, b)
    return any(equal(element, item) for element in a for item in b)


# --- cost estimates (arguments' bounds, the receiver first) ---------------------------


def _walk(shape: Shape | None) -> int:
    """Kubernetes' list cost: a unit per element, plus a walk of each element if they are strings.

    Kubernetes takes string elements' size from the selector's variables, and a list in a
    selector never comes from them, so it counts them as of unknown size.
    """
    item = shape.item if shape else None
    return size_of(shape) * (1 + (traversal(TEXT_OF_UNKNOWN_SIZE) if item is not None and item.text else 0))


def walked(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    return _walk(shapes[0]), None


def walked_to_element(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    """``min``/``max``: the result is one of the elements."""
    return _walk(shapes[0]), shapes[0].item if shapes[0] else None


def set_pairs(factor: int) -> Any:
    """cel-go's sets cost: every element of one list against every element of the other."""

    def estimate(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
        return factor * size_of(shapes[0]) * size_of(shapes[1]), None

    return estimate


def _by_receiver(name: str, text_version: Callable[..., Any], list_version: Callable[..., Any]) -> Callable[..., Any]:
    """``indexOf``/``lastIndexOf``: the strings extension's on a string, the lists library's on a list."""

    def dispatch(guard: Guard, receiver: Any, *args: Any) -> Any:
        if type(receiver) is str:
            return text_version(receiver, *args)
        if type(receiver) is list and len(args) == 1:
            return list_version(guard, receiver, *args)
        raise overload_error(name, receiver, *args)

    return dispatch


def _searched(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    receiver = shapes[0]
    return (cel_strings.searched(shapes)[0] if receiver is None or receiver.text else _walk(receiver)), None


FUNCTIONS: dict[str, Function] = {
    "isSorted": function(is_sorted, estimate=walked, guarded=True),
    "sum": function(total, estimate=walked, guarded=True),
    "min": function(minimum, estimate=walked_to_element, guarded=True),
    "max": function(maximum, estimate=walked_to_element, guarded=True),
    "indexOf": function(
        _by_receiver("indexOf", cel_strings.index_of, index_of), 2, 3, estimate=_searched, guarded=True
    ),
    "lastIndexOf": function(
        _by_receiver("lastIndexOf", cel_strings.last_index_of, last_index_of), 2, 3, estimate=_searched, guarded=True
    ),
    "sets.contains": function(sets_contains, 2, estimate=set_pairs(1), guarded=True),
    "sets.equivalent": function(sets_equivalent, 2, estimate=set_pairs(2), guarded=True),
    "sets.intersects": function(sets_intersects, 2, estimate=set_pairs(1), guarded=True),
}
