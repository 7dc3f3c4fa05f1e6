"""Kubernetes' URL library for the DRA CEL environment, with Go's URL parser.

k8s.io/apiserver/pkg/cel/library/urls.go v0.34.4 accepts what Go's
``url.ParseRequestURI`` accepts (an absolute URI or an absolute path) and keeps what
``url.Parse`` makes of it. Python's ``urllib.parse`` validates far less and splits
differently, so the parts of Go's ``net/url`` that the library reaches (parse,
unescape/escape, ``EscapedPath``, ``Hostname``/``Port``, ``Query``, ``String`` for
equality) are ported here from Go 1.24.12, the Go release Kubernetes 1.34.4 is built
with. Go works on UTF-8 bytes; so does this module, decoding results as UTF-8 (an
escaped invalid byte such as ``%ff`` reads as U+FFFD).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from modelplane.scheduling.cel_runtime import (
    TEXT_OF_UNKNOWN_SIZE,
    UNKNOWN,
    EvalError,
    Function,
    Shape,
    function,
    nominal,
    overload_error,
    size_of,
    text_shape,
    traversal,
)

_ALNUM = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_HOST_ALLOWED = frozenset(b"!$&'()*+,;=:[]<>\"")
_RESERVED = frozenset(b"$&+,/:;=?@")
# Which reserved characters each part escapes (hosts fall through to "escape").
_RESERVED_ESCAPED = {"path": b"?", "user": b"@/?:", "query": _RESERVED, "fragment": b""}
_LETTERS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SUB_DELIMS = frozenset(b"!$&'()*+,;=:@[]%")
_USERINFO = _ALNUM | frozenset(b"-._:~!$&'()*+,;=%@")
_MAX_QUERY_PARAMETERS = 10_000


class URLError(EvalError):
    """Go's url.Parse error."""


def _should_escape(c: int, mode: str) -> bool:
    """Go's ``shouldEscape`` for one byte in one part of a URL (mode: host, zone, path, user, query, fragment)."""
    if c in _ALNUM or c in b"-_.~" or (mode in ("host", "zone") and c in _HOST_ALLOWED):
        return False
    if c in _RESERVED and mode in _RESERVED_ESCAPED:
        return c in _RESERVED_ESCAPED[mode]
    return not (mode == "fragment" and c in b"!()*")


def _escape(text: str, mode: str) -> str:
    return "".join(chr(c) if not _should_escape(c, mode) else f"%{c:02X}" for c in text.encode())


def _unescape(text: str, mode: str) -> str:
    """Go's ``unescape``: decode %XX (and '+' in a query), rejecting bad escapes and host bytes."""
    data, out, i = text.encode(), bytearray(), 0
    while i < len(data):
        c = data[i]
        if c == ord("%"):
            if i + 2 >= len(data) or data[i + 1] not in _HEX or data[i + 2] not in _HEX:
                raise URLError(f"invalid URL escape {data[i : i + 3].decode(errors='replace')!r}")
            value = int(data[i + 1 : i + 3], 16)
            escape = data[i : i + 3]
            if mode == "host" and value < 0x80 and escape != b"%25":
                raise URLError(f"invalid URL escape {escape.decode()!r}")
            if mode == "zone" and escape != b"%25" and value != 0x20 and _should_escape(value, "host"):
                raise URLError(f"invalid URL escape {escape.decode()!r}")
            out.append(value)
            i += 3
            continue
        if mode in ("host", "zone") and c < 0x80 and _should_escape(c, mode):
            raise URLError(f"invalid character {chr(c)!r} in host name")
        out.append(0x20 if c == ord("+") and mode == "query" else c)
        i += 1
    return out.decode(errors="replace")


def _valid_port(port: str) -> bool:
    """``""`` or ``:`` followed by ASCII digits."""
    return port == "" or (port[0] == ":" and all("0" <= c <= "9" for c in port[1:]))


def _valid_encoded(text: str, mode: str) -> bool:
    return all(c in _SUB_DELIMS or not _should_escape(c, mode) for c in text.encode())


@dataclass(frozen=True, slots=True, eq=False)
class URL:
    """A ``kubernetes.URL``: the fields of Go's ``url.URL`` this library reads."""

    scheme: str = ""
    opaque: str = ""
    user: tuple[str, str | None] | None = None
    host: str = ""
    path: str = ""
    raw_path: str = ""
    omit_host: bool = False
    force_query: bool = False
    raw_query: str = ""
    fragment: str = ""
    raw_fragment: str = ""
    cel_type_name: ClassVar[str] = "kubernetes.URL"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, URL) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def escaped_path(self) -> str:
        if self.raw_path and _valid_encoded(self.raw_path, "path"):
            try:
                if _unescape(self.raw_path, "path") == self.path:
                    return self.raw_path
            except URLError:
                pass
        return "*" if self.path == "*" else _escape(self.path, "path")

    def escaped_fragment(self) -> str:
        if self.raw_fragment and _valid_encoded(self.raw_fragment, "fragment"):
            try:
                if _unescape(self.raw_fragment, "fragment") == self.fragment:
                    return self.raw_fragment
            except URLError:
                pass
        return _escape(self.fragment, "fragment")

    def split_host(self) -> tuple[str, str]:
        """Go's ``splitHostPort``: (hostname without brackets, port)."""
        host, port = self.host, ""
        colon = host.rfind(":")
        if colon != -1 and _valid_port(host[colon:]):
            host, port = host[:colon], host[colon + 1 :]
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        return host, port

    def query(self) -> dict[str, list[str]]:
        """Go's ``URL.Query``: bad pairs are skipped; too many parameters give an empty map."""
        values: dict[str, list[str]] = {}
        if self.raw_query.count("&") + 1 > _MAX_QUERY_PARAMETERS:
            return values
        for pair in self.raw_query.split("&"):
            if ";" in pair or pair == "":
                continue
            key, _, value = pair.partition("=")
            try:
                key, value = _unescape(key, "query"), _unescape(value, "query")
            except URLError:
                continue
            values.setdefault(key, []).append(value)
        return values

    def __str__(self) -> str:
        return self._head() + self._tail()

    def _head(self) -> str:
        """Go's ``URL.String`` up to the path."""
        text = f"{self.scheme}:" if self.scheme else ""
        if self.opaque:
            return text + self.opaque
        if (self.scheme or self.host or self.user) and not (self.omit_host and not self.host and not self.user):
            if self.host or self.path or self.user:
                text += "//"
            if self.user:
                username, password = self.user
                text += _escape(username, "user") + ("" if password is None else ":" + _escape(password, "user")) + "@"
            text += _escape(self.host, "host")
        path = self.escaped_path()
        if path and path[0] != "/" and self.host:
            text += "/"
        if not text and ":" in path.split("/", 1)[0]:
            text = "./"
        return text + path

    def _tail(self) -> str:
        text = "?" + self.raw_query if self.force_query or self.raw_query else ""
        return text + ("#" + self.escaped_fragment() if self.fragment else "")


def _scheme(raw: str) -> tuple[str, str]:
    """Go's ``getScheme``: a leading ``[a-zA-Z][a-zA-Z0-9+.-]*:``, else none."""
    for i, c in enumerate(raw.encode()):
        if c in _LETTERS:
            continue
        if c in b"0123456789+-." and i > 0:
            continue
        if c == ord(":"):
            if i == 0:
                raise URLError("missing protocol scheme")
            return raw[:i], raw[i + 1 :]
        return "", raw
    return "", raw


def _parse_host(host: str) -> str:
    """Go's ``parseHost``: host[:port], with bracketed IPv6 literals (and %25 zones)."""
    open_bracket = host.rfind("[")
    if open_bracket == -1:
        colon = host.rfind(":")
        if colon != -1 and not _valid_port(host[colon:]):
            raise URLError(f"invalid port {host[colon:]!r} after host")
        return _unescape(host, "host")
    close_bracket = host.rfind("]")
    if close_bracket < 0:
        raise URLError("missing ']' in host")
    colon_port = host[close_bracket + 1 :]
    if not _valid_port(colon_port):
        raise URLError(f"invalid port {colon_port!r} after host")
    hostname = host[open_bracket + 1 : close_bracket]
    zone = hostname.find("%25")
    if zone >= 0:
        literal = _unescape(hostname[:zone], "host") + _unescape(hostname[zone:], "zone")
    else:
        literal = _unescape(hostname, "host")
    _check_ipv6_literal(literal)
    return f"[{literal}]{_unescape(colon_port, 'host')}"


def _check_ipv6_literal(literal: str) -> None:
    """Only a valid IPv6 address (zone allowed, IPv4-mapped allowed) may be bracketed."""
    address, _, zone = literal.partition("%")
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError as err:
        raise URLError(f"invalid host: {err}") from None
    if parsed.version == 4 or ("%" in literal and not zone):
        raise URLError("invalid IP-literal")


def _parse_authority(authority: str) -> tuple[tuple[str, str | None] | None, str]:
    at = authority.rfind("@")
    host = _parse_host(authority[at + 1 :])
    if at < 0:
        return None, host
    userinfo = authority[:at]
    if not all(c in _USERINFO for c in userinfo.encode()):
        raise URLError("net/url: invalid userinfo")
    username, colon, password = userinfo.partition(":")
    return (_unescape(username, "user"), _unescape(password, "user") if colon else None), host


def _parse(raw: str, *, via_request: bool) -> URL:
    """Go's ``parse``: everything but the fragment."""
    if any(c < 0x20 or c == 0x7F for c in raw.encode()):
        raise URLError("net/url: invalid control character in URL")
    if raw == "" and via_request:
        raise URLError("empty url")
    if raw == "*":
        return URL(path="*")
    scheme, rest = _scheme(raw)
    scheme = scheme.lower()
    force_query, query = False, ""
    if rest.endswith("?") and rest.count("?") == 1:
        force_query, rest = True, rest[:-1]
    else:
        rest, _, query = rest.partition("?")
    if not rest.startswith("/"):
        if scheme:
            return URL(scheme=scheme, opaque=rest, force_query=force_query, raw_query=query)
        if via_request:
            raise URLError("invalid URI for request")
        if ":" in rest.split("/", 1)[0]:
            raise URLError("first path segment in URL cannot contain colon")
    user, host, omit_host = None, "", False
    if (scheme or (not via_request and not rest.startswith("///"))) and rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        user, host = _parse_authority(authority)
        rest = slash + path
    elif scheme and rest.startswith("/"):
        omit_host = True
    path = _unescape(rest, "path")
    raw_path = "" if _escape(path, "path") == rest else rest
    return URL(scheme, "", user, host, path, raw_path, omit_host, force_query, query)


@functools.lru_cache(maxsize=1024)
def parse_url(raw: str) -> URL:
    """What Kubernetes' ``url()`` returns: ``ParseRequestURI`` must accept it, ``Parse`` builds it."""
    try:
        _parse(raw, via_request=True)
        head, _, fragment = raw.partition("#")
        url = _parse(head, via_request=False)
        if not fragment:
            return url
        text = _unescape(fragment, "fragment")
    except URLError as err:
        raise URLError(f"URL parse error during conversion from string: parse {raw!r}: {err}") from None
    raw_fragment = "" if _escape(text, "fragment") == fragment else fragment
    return dataclasses.replace(url, fragment=text, raw_fragment=raw_fragment)


# --- CEL functions --------------------------------------------------------------------


def url(value: Any) -> URL:
    if type(value) is not str:
        raise overload_error("url", value)
    return parse_url(value)


def is_url(value: Any) -> bool:
    if type(value) is not str:
        raise overload_error("isURL", value)
    try:
        _parse(value, via_request=True)
    except URLError:
        return False
    return True


def _accessor(name: str, read: Callable[[URL], Any]) -> Callable[[Any], Any]:
    def accessor(value: Any) -> Any:
        if type(value) is not URL:
            raise overload_error(name, value)
        return read(value)

    return accessor


ACCESSORS = {
    "getScheme": _accessor("getScheme", lambda u: u.scheme),
    "getHost": _accessor("getHost", lambda u: u.host),
    "getHostname": _accessor("getHostname", lambda u: u.split_host()[0]),
    "getPort": _accessor("getPort", lambda u: u.split_host()[1]),
    "getEscapedPath": _accessor("getEscapedPath", URL.escaped_path),
    "getQuery": _accessor("getQuery", URL.query),
}


def estimate_parse(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    """One walk of the text; the URL is as long as the text."""
    return traversal(shapes[0]), text_shape(size_of(shapes[0]))


def estimate_part(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    """An accessor costs one unit; Kubernetes does not bound the part it returns."""
    return 0, TEXT_OF_UNKNOWN_SIZE


def estimate_query(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    return 0, Shape(UNKNOWN, Shape(UNKNOWN, TEXT_OF_UNKNOWN_SIZE), TEXT_OF_UNKNOWN_SIZE)


FUNCTIONS: dict[str, Function] = {
    "url": function(url, estimate=estimate_parse),
    "isURL": function(is_url, estimate=nominal),
} | {
    name: function(accessor, estimate=estimate_query if name == "getQuery" else estimate_part)
    for name, accessor in ACCESSORS.items()
}
