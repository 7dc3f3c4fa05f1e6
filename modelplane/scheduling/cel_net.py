"""Kubernetes' IP and CIDR libraries for the DRA CEL environment.

k8s.io/apiserver/pkg/cel/library/ip.go and cidr.go v0.34.4, over Go's ``net/netip``:
an address is IPv4 (no leading zeros) or IPv6, never with a zone and never
IPv4-mapped (``::ffff:1.2.3.4``). A CIDR keeps its address as written
(``cidr("10.0.0.1/8")`` is not ``cidr("10.0.0.0/8")``; ``masked()`` clears the host
bits). Address classes follow netip, not Python's ``ipaddress`` (whose
``is_global`` excludes private ranges, where Go's ``IsGlobalUnicast`` does not).
Text is parsed with ``ipaddress``, whose rules agree with netip's.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from modelplane.scheduling.cel_runtime import EvalError, Function, Shape, function, nominal, overload_error, traversal

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_BITS = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True, slots=True)
class IP:
    """A ``net.IP`` value."""

    address: Address
    cel_type_name: ClassVar[str] = "net.IP"

    def __str__(self) -> str:
        return str(self.address)


@dataclass(frozen=True, slots=True)
class CIDR:
    """A ``net.CIDR`` value: an address and a prefix length, host bits kept."""

    address: Address
    bits: int
    cel_type_name: ClassVar[str] = "net.CIDR"

    def __str__(self) -> str:
        return f"{self.address}/{self.bits}"


def _parse_address(text: str) -> Address:
    if "%" in text:
        raise EvalError(f"IP address {text!r} with zone value is not allowed")
    try:
        address = ipaddress.ip_address(text)
    except ValueError as err:
        raise EvalError(f"IP address {text!r} parse error during conversion from string: {err}") from None
    if address.version == 6 and address.ipv4_mapped is not None:
        raise EvalError(f"IPv4-mapped IPv6 address {text!r} is not allowed")
    return address


def _parse_cidr(text: str) -> CIDR:
    head, slash, bits = text.rpartition("/")
    if not slash:
        raise EvalError(f"network address {text!r} has no '/'")
    try:
        address = _parse_address(head)
    except EvalError as err:
        raise EvalError(f"network address {text!r}: {err}") from None
    if not _BITS.fullmatch(bits) or int(bits) > address.max_prefixlen:
        raise EvalError(f"network address {text!r}: bad prefix length {bits!r}")
    return CIDR(address, int(bits))


def _text(name: str, value: Any) -> str:
    if type(value) is not str:
        raise overload_error(name, value)
    return value


def ip(value: Any) -> IP:
    """``ip(string)``, or ``cidr.ip()``: the CIDR's address as written."""
    if type(value) is CIDR:
        return IP(value.address)
    return IP(_parse_address(_text("ip", value)))


def is_ip(value: Any) -> bool:
    text = _text("isIP", value)
    try:
        _parse_address(text)
    except EvalError:
        return False
    return True


def is_canonical(value: Any) -> bool:
    """``ip.isCanonical``: an invalid address is an error, not false."""
    text = _text("ip.isCanonical", value)
    return str(_parse_address(text)) == text


def cidr(value: Any) -> CIDR:
    return _parse_cidr(_text("cidr", value))


def is_cidr(value: Any) -> bool:
    text = _text("isCIDR", value)
    try:
        _parse_cidr(text)
    except EvalError:
        return False
    return True


def _address_of(name: str, value: Any) -> Address:
    if type(value) is not IP:
        raise overload_error(name, value)
    return value.address


def family(value: Any) -> int:
    return _address_of("family", value).version


def _first(address: Address, bits: int) -> int:
    """The leading ``bits`` of ``address`` as a number."""
    return int(address) >> (address.max_prefixlen - bits)


def is_unspecified(value: Any) -> bool:
    return int(_address_of("isUnspecified", value)) == 0


def is_loopback(value: Any) -> bool:
    address = _address_of("isLoopback", value)
    return _first(address, 8) == 127 if address.version == 4 else int(address) == 1


def _is_multicast(address: Address) -> bool:
    return _first(address, 4) == 0xE if address.version == 4 else _first(address, 8) == 0xFF


def _is_link_local_unicast(address: Address) -> bool:
    return _first(address, 16) == 0xA9FE if address.version == 4 else _first(address, 10) == 0x3FA


def is_link_local_multicast(value: Any) -> bool:
    address = _address_of("isLinkLocalMulticast", value)
    return _first(address, 24) == 0xE00000 if address.version == 4 else _first(address, 16) & 0xFF0F == 0xFF02


def is_link_local_unicast(value: Any) -> bool:
    return _is_link_local_unicast(_address_of("isLinkLocalUnicast", value))


def is_global_unicast(value: Any) -> bool:
    """Go's rule: private IPv4 and unique-local IPv6 addresses count as global unicast."""
    address = _address_of("isGlobalUnicast", value)
    if int(address) == 0 or (address.version == 4 and int(address) == 0xFFFFFFFF):
        return False
    loopback = _first(address, 8) == 127 if address.version == 4 else int(address) == 1
    return not (loopback or _is_multicast(address) or _is_link_local_unicast(address))


def _cidr_of(name: str, value: Any, *rest: Any) -> CIDR:
    if type(value) is not CIDR:
        raise overload_error(name, value, *rest)
    return value


def _within(network: CIDR, address: Address, bits: int) -> bool:
    return (
        address.version == network.address.version
        and bits >= network.bits
        and _first(address, network.bits) == _first(network.address, network.bits)
    )


def contains_ip(value: Any, other: Any) -> bool:
    network = _cidr_of("containsIP", value, other)
    if type(other) not in (IP, str):
        raise overload_error("containsIP", value, other)
    address = (ip(other) if type(other) is str else other).address
    return _within(network, address, address.max_prefixlen)


def contains_cidr(value: Any, other: Any) -> bool:
    network = _cidr_of("containsCIDR", value, other)
    if type(other) not in (CIDR, str):
        raise overload_error("containsCIDR", value, other)
    inner = cidr(other) if type(other) is str else other
    return _within(network, inner.address, inner.bits)


def prefix_length(value: Any) -> int:
    return _cidr_of("prefixLength", value).bits


def masked(value: Any) -> CIDR:
    network = _cidr_of("masked", value)
    host_bits = network.address.max_prefixlen - network.bits
    return CIDR(type(network.address)(_first(network.address, network.bits) << host_bits), network.bits)


# --- cost estimates (arguments' bounds, the receiver first) ---------------------------


def parsed(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    """Kubernetes: parsing is one walk of the text (``ip`` on a CIDR costs one unit)."""
    return traversal(shapes[0]), None


def parsed_twice(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    return traversal(shapes[0], 2), None


def contains_ip_cost(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    """Comparing two addresses of up to 16 bytes, plus parsing the argument when it is text."""
    return 4 + traversal(shapes[1]), None


def contains_cidr_cost(shapes: list[Shape | None]) -> tuple[int, Shape | None]:
    """As ``containsIP``, plus masking the network first."""
    return 7 + traversal(shapes[1]), None


FUNCTIONS: dict[str, Function] = {
    "ip": function(ip, estimate=parsed),
    "isIP": function(is_ip, estimate=parsed),
    "ip.isCanonical": function(is_canonical, estimate=parsed_twice),
    "family": function(family, estimate=nominal),
    "isUnspecified": function(is_unspecified, estimate=nominal),
    "isLoopback": function(is_loopback, estimate=nominal),
    "isLinkLocalMulticast": function(is_link_local_multicast, estimate=nominal),
    "isLinkLocalUnicast": function(is_link_local_unicast, estimate=nominal),
    "isGlobalUnicast": function(is_global_unicast, estimate=nominal),
    "cidr": function(cidr, estimate=parsed),
    "isCIDR": function(is_cidr, estimate=parsed),
    "containsIP": function(contains_ip, 2, estimate=contains_ip_cost),
    "containsCIDR": function(contains_cidr, 2, estimate=contains_cidr_cost),
    "prefixLength": function(prefix_length, estimate=nominal),
    "masked": function(masked, estimate=nominal),
}
