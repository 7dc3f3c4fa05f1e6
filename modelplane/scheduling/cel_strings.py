"""Text functions of the DRA CEL environment: the strings extension and regexes.

Kubernetes 1.34 enables cel-go's strings extension at version 2
(``ext.Strings(ext.StringsVersion(2))`` in k8s.io/apiserver/pkg/cel/environment/base.go
v0.34.4) and its own regex library (k8s.io/apiserver/pkg/cel/library/regex.go). The
functions below follow cel-go v0.26.0's ext/strings.go, the version Kubernetes 1.34
builds with: indices count code points, not bytes; ``trim`` strips what Go's
``unicode.IsSpace`` calls space; ``lowerAscii``/``upperAscii`` touch ASCII only.
``format`` (also version 1+) is left out: see the module docstring of ``cel``.

Regexes are RE2 (google-re2), as Go's ``regexp`` is, so they run in linear time.
"""

from __future__ import annotations

import functools
import string
from typing import Any

import re2

from modelplane.scheduling.cel_runtime import (
    TEXT_OF_UNKNOWN_SIZE,
    UNKNOWN,
    EvalError,
    Function,
    Guard,
    Shape,
    function,
    overload_error,
    size_of,
    text_shape,
    traversal,
)

# Go's unicode.IsSpace: Latin-1 space characters plus the White_Space property.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_QUOTED = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
_QUOTED |= {"\\": "\\\\", '"': '\\"'}


def _check(name: str, args: tuple[Any, ...], strings: int) -> None:
    """Raise "no such overload" unless the first ``strings`` arguments are strings and the rest ints (not bools)."""
    for index, arg in enumerate(args):
        if type(arg) is not (str if index < strings else int):
            raise overload_error(name, *args)


def char_at(text: Any, index: Any) -> str:
    _check("charAt", (text, index), 1)
    if not 0 <= index <= len(text):
        raise EvalError(f"index out of range: {index}")
    return text[index : index + 1]


def index_of(text: Any, part: Any, *offset: Any) -> int:
    """``indexOf``: an empty ``part`` returns the offset unchecked, as cel-go does."""
    _check("indexOf", (text, part, *offset), 2)
    start = offset[0] if offset else 0
    if part == "":
        return start
    if start < 0:
        raise EvalError(f"index out of range: {start}")
    return text.find(part, start)


def last_index_of(text: Any, part: Any, *offset: Any) -> int:
    """``lastIndexOf``: the last match starting at or before the offset (default: the end)."""
    _check("lastIndexOf", (text, part, *offset), 2)
    if not offset:
        return len(text) if part == "" else text.rfind(part)
    (start,) = offset
    if part == "":
        return start
    if start < 0:
        raise EvalError(f"index out of range: {start}")
    if start >= len(text):
        return -1  # cel-go's rule, though a match may exist.
    return text.rfind(part, 0, start + len(part))


def lower_ascii(text: Any) -> str:
    _check("lowerAscii", (text,), 1)
    return text.lower() if text.isascii() else text.translate(_LOWER)


def upper_ascii(text: Any) -> str:
    _check("upperAscii", (text,), 1)
    return text.upper() if text.isascii() else text.translate(_UPPER)


def trim(text: Any) -> str:
    _check("trim", (text,), 1)
    return text.strip(_GO_SPACE)


def replace(guard: Guard, text: Any, old: Any, new: Any, *limit: Any) -> str:
    """Go's ``strings.Replace``; the result's size is charged before it is built."""
    _check("replace", (text, old, new, *limit), 3)
    count = text.count(old)  # Counts len(text) + 1 boundaries for an empty ``old``.
    if limit and limit[0] >= 0:
        count = min(count, limit[0])
    if old == new:
        return text
    guard.tick((len(text) + count * (len(new) - len(old))) // 10)
    return text.replace(old, new, count)


def split(guard: Guard, text: Any, separator: Any, *limit: Any) -> list[str]:
    """Go's ``strings.SplitN``: a limit of 0 gives no parts, a negative one all of them."""
    _check("split", (text, separator, *limit), 2)
    guard.tick(len(text) // 10)
    parts = limit[0] if limit else -1
    if parts == 0:
        return []
    if separator == "":
        if parts < 0 or parts >= len(text):
            return list(text)
        return [*text[: parts - 1], text[parts - 1 :]]
    return text.split(separator, parts - 1 if parts > 0 else -1)


def join(guard: Guard, items: Any, *separator: Any) -> str:
    if type(items) is not list or (separator and type(separator[0]) is not str) or len(separator) > 1:
        raise overload_error("join", items, *separator)
    for item in items:
        if type(item) is not str:
            raise EvalError(f"join: list element {item!r} is not a string")
    glue = separator[0] if separator else ""
    guard.tick((sum(map(len, items)) + len(glue) * max(len(items) - 1, 0)) // 10)
    return glue.join(items)


def substring(text: Any, start: Any, *end: Any) -> str:
    _check("substring", (text, start, *end), 1)
    if end and start > end[0]:
        raise EvalError(f"invalid substring range. start: {start}, end: {end[0]}")
    for index in (start, *end):
        if not 0 <= index <= len(text):
            raise EvalError(f"index out of range: {index}")
    return text[start : end[0] if end else len(text)]


def quote(text: Any) -> str:
    """``strings.quote``: double-quoted, with CEL's escape sequences written out."""
    _check("strings.quote", (text,), 1)
    return '"' + "".join(_QUOTED.get(char, char) for char in text) + '"'


# --- regexes ------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _regex(pattern: str) -> Any:
    """RE2, as cel-go uses: linear time, so no pattern can stall an evaluation."""
    options = re2.Options()
    options.log_errors = False  # A bad pattern is reported as an evaluation error instead.
    try:
        return re2.compile(pattern, options)
    except re2.error:
        return None


def _compiled(name: str, text: Any, pattern: Any) -> Any:
    if type(text) is not str or type(pattern) is not str:
        raise overload_error(name, text, pattern)
    regex = _regex(pattern)
    if regex is None:
        raise EvalError(f"invalid regular expression {pattern!r}")
    return regex


def matches(text: Any, pattern: Any) -> bool:
    return _compiled("matches", text, pattern).search(text) is not None


def find(text: Any, pattern: Any) -> str:
    """The leftmost match, or "" when there is none (as Go's ``FindString``)."""
    match = _compiled("find", text, pattern).search(text)
    return match.group() if match else ""


def find_all(guard: Guard, text: Any, pattern: Any, *limit: Any) -> list[str]:
    """Go's ``FindAllString``: successive matches; an empty match right after one is skipped."""
    regex = _compiled("findAll", text, pattern)
    if limit and type(limit[0]) is not int:
        raise overload_error("findAll", text, pattern, *limit)
    most = limit[0] if limit and limit[0] >= 0 else len(text) + 1
    found: list[str] = []
    position, previous_end = 0, -1
    while len(found) < most and position <= len(text):
        guard.tick((len(text) - position) // 10 + 1)
        match = regex.search(text, position)
        if match is None:
            break
        start, end = match.span()
        accept = not (start == end == previous_end)
        position = end + 1 if start == end else end
        previous_end = end
        if accept:
            found.append(match.group())
    return found


# --- cost estimates (arguments' bounds, the receiver first) ---------------------------
# As Kubernetes' library.CostEstimator (k8s.io/apiserver/pkg/cel/library/cost.go v0.34.4)
# and cel-go's checker/cost.go: a tenth of a unit per character walked.


def same_size(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    """One walk of the receiver, and a result no longer than it (lowerAscii, trim, substring)."""
    return traversal(shapes[0]), text_shape(size_of(shapes[0]))


def searched(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    return traversal(shapes[0]), None


def one_character(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    """``charAt``: cel-go charges one unit and does not bound the result."""
    return 0, TEXT_OF_UNKNOWN_SIZE


def replaced(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    """Two walks; the result bound assumes every boundary is replaced by the longest replacement."""
    size, new = size_of(shapes[0]), size_of(shapes[2])
    return traversal(shapes[0], 2), text_shape((size + 1) * new + size)


def split_parts(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    """Two walks; at most size + 1 parts, whose sizes cel-go does not bound."""
    return traversal(shapes[0], 2), Shape(size_of(shapes[0]) + 1, TEXT_OF_UNKNOWN_SIZE)


def joined(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    """Kubernetes bounds the result by the list's element size, which it never knows for a selector."""
    count = size_of(shapes[0])
    separator = size_of(shapes[1]) if len(shapes) > 1 else 0
    result = text_shape(count * UNKNOWN + separator * max(count - 1, 0))
    return traversal(result), result


def quoted(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    return traversal(shapes[0]), text_shape(2 * size_of(shapes[0]) + 2)


def regex_cost(shapes: list[Shape | None]) -> int:
    """cel-go's regex cost: a walk of the text times a quarter unit per pattern character."""
    return -(-(1 + size_of(shapes[0])) // 10) * -(-size_of(shapes[1]) // 4)


def found(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    return regex_cost(shapes), text_shape(size_of(shapes[0]))


def found_all(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    return regex_cost(shapes), Shape(size_of(shapes[0]) + 1, TEXT_OF_UNKNOWN_SIZE)


def matched(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    return regex_cost(shapes), None


FUNCTIONS: dict[str, Function] = {
    "charAt": function(char_at, 2, estimate=one_character),
    "lowerAscii": function(lower_ascii, estimate=same_size),
    "upperAscii": function(upper_ascii, estimate=same_size),
    "trim": function(trim, estimate=same_size),
    "substring": function(substring, 2, 3, estimate=same_size),
    "replace": function(replace, 3, 4, estimate=replaced, guarded=True),
    "split": function(split, 2, 3, estimate=split_parts, guarded=True),
    "join": function(join, 1, 2, estimate=joined, guarded=True),
    "strings.quote": function(quote, estimate=quoted),
    "matches": function(matches, 2, estimate=matched),
    "find": function(find, 2, estimate=found),
    "findAll": function(find_all, 2, 3, estimate=found_all, guarded=True),
}
