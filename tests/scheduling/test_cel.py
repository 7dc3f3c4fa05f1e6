"""Tests for modelplane.scheduling.cel: the DRA device-selector CEL environment."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelplane.scheduling import cel
from modelplane.scheduling.cel import (
    MAX_COST,
    MAX_EXPRESSION_LENGTH,
    MAX_NESTING,
    AttributeValue,
    CelCompileError,
    CompiledSelector,
    DeviceData,
    SelectorEvaluator,
    Verdict,
    compile_selector,
)
from modelplane.scheduling.quantity import Quantity

GPU = DeviceData.build(
    "gpu.nvidia.com",
    {
        "architecture": AttributeValue("string", "Hopper"),
        "productName": AttributeValue("string", "NVIDIA H100 80GB HBM3"),
        "cudaComputeCapability": AttributeValue("version", "9.0.0"),
        "driverVersion": AttributeValue("version", "550.54.15-rc.1+build"),
        "index": AttributeValue("int", 3),
        "mig": AttributeValue("bool", False),
        "dra.net/rdma": AttributeValue("bool", True),
        "example.com/a/b": AttributeValue("string", "split at the first slash"),
    },
    {"memory": "80Gi", "dra.net/bandwidth": "400G"},
)
NIC = DeviceData.build("dra.net", {"rdma": AttributeValue("bool", True)}, {})

LIST_100 = "[" + ", ".join(str(i) for i in range(100)) + "]"


def run(expression: str, device: DeviceData = GPU) -> Verdict:
    return compile_selector(expression).evaluate(device)


# --- selectors that evaluate without error ------------------------------------

# (expression, matched) on GPU.
MATCHES = [
    # The selector forms of section 2.4.
    ('device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("20Gi")) >= 0', True),
    ('device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("100Gi")) >= 0', False),
    ('device.attributes["gpu.nvidia.com"].architecture == "Hopper"', True),
    ('device.attributes["gpu.nvidia.com"].architecture == "Ampere"', False),
    ('device.attributes["gpu.nvidia.com"].cudaComputeCapability.isGreaterThan(semver("8.9.0"))', True),
    ('device.attributes["gpu.nvidia.com"].cudaComputeCapability.isGreaterThan(semver("9.0.0"))', False),
    ('device.driver == "dra.net"', False),
    ('device.driver == "gpu.nvidia.com"', True),
    ('"gpu.nvidia.com" in device.attributes', True),
    # Qualified keys split at the first '/'; bare names use the driver's domain.
    ('"dra.net" in device.attributes && device.attributes["dra.net"].rdma', True),
    ('device.capacity["dra.net"].bandwidth == quantity("400G")', True),
    ('device.attributes["example.com"]["a/b"] == "split at the first slash"', True),
    ('device.attributes["gpu.nvidia.com"].size() == 6', True),
    ("device.attributes.size() == 3 && device.capacity.size() == 2", True),
    # An unknown domain is an empty map.
    ('"x.com" in device.attributes', False),
    ('device.attributes["x.com"].size() == 0', True),
    ('device.attributes["x.com"] == {}', True),
    ('has(device.attributes["x.com"].foo)', False),
    ('!("x.com" in device.capacity)', True),
    # Attribute kinds.
    ('device.attributes["gpu.nvidia.com"].index == 3 && !device.attributes["gpu.nvidia.com"].mig', True),
    ('device.attributes["gpu.nvidia.com"].driverVersion == semver("550.54.15-rc.1")', True),
    ('device.attributes["gpu.nvidia.com"].driverVersion.isLessThan(semver("550.54.15"))', True),
    ('type(device.attributes["gpu.nvidia.com"].cudaComputeCapability) != string', True),
    # Quantity library, both call styles.
    ('quantity("1.3Gi").isGreaterThan(quantity("1.3G"))', True),
    ('isGreaterThan(quantity("2"), quantity("1"))', True),
    ('quantity("50M").isLessThan(quantity("50Mi"))', True),
    ('quantity("100M").isLessThan(quantity("50M"))', False),
    ('quantity("200M").compareTo(quantity("0.2G")) == 0', True),
    ('compareTo(quantity("50Mi"), quantity("50M")) == 1', True),
    ('quantity("200M") == quantity("0.2G") && quantity("0.2G") == quantity("200M")', True),
    ('quantity("200M") != quantity("0.3G")', True),
    ('quantity("8Ei") == quantity("10Ei")', True),
    ('isQuantity("1.3Gi") && isQuantity("20") && isQuantity("1e3") && isQuantity("-5m")', True),
    ('isQuantity("200K") || isQuantity("1,3G") || isQuantity("Three") || isQuantity("Mi")', False),
    ('sign(quantity("50k")) == 1 && quantity("-50k").sign() == -1 && sign(quantity("0")) == 0', True),
    (
        'quantity("50k").isInteger() && !isInteger(quantity("1.5")) && !quantity("9999999999999999999G").isInteger()',
        True,
    ),
    ('quantity("50k").asInteger() == 50000 && asInteger(quantity("1Ki")) == 1024', True),
    ('quantity("50.703k").asApproximateFloat() == 50703.0', True),
    ('asApproximateFloat(quantity("0.3")) == 0.30000000000000004', True),
    ('quantity("50k").add(quantity("20")) == quantity("50.02k")', True),
    ('quantity("50k").add(20).isLessThan(quantity("50020"))', False),
    ('add(quantity("50k"), 20) == quantity("50020")', True),
    ('quantity("50k").sub(quantity("20")) == quantity("49.98k")', True),
    ('sub(quantity("50k"), 20000) == quantity("30k")', True),
    ('quantity("50k").add(20).sub(quantity("100k")).sub(-50000).asInteger() == 20', True),
    ('device.capacity["gpu.nvidia.com"].memory.sub(quantity("79Gi")) == quantity("1Gi")', True),
    # Semver library, both call styles and normalization.
    ('semver("1.0.0") == semver("1.0.0+build")', True),
    ('semver("1.0.0-alpha").isLessThan(semver("1.0.0"))', True),
    ('semver("1.2.3").compareTo(semver("2.0.0")) == -1 && compareTo(semver("1.2.3"), semver("0.1.2")) == 1', True),
    ('semver("1.2.3").major() == 1 && minor(semver("1.2.3")) == 2 && semver("1.2.3").patch() == 3', True),
    ('semver("v1.0", true) == semver("1.0.0") && semver("01.01.01", true) == semver("1.1.1")', True),
    ('isSemver("1.0.0") && !isSemver("v1.0") && isSemver("v1.0", true) && !isSemver("hello", true)', True),
    ('semver("18446744073709551615.0.0").major() == -1', True),  # Go's int64(uint64) wraps.
    # Standard functions.
    ('size("héllo") == 5 && "héllo".size() == 5 && size(b"ab") == 2 && size([1, 2]) == 2 && size({1: 2}) == 1', True),
    ('"abc".contains("b") && "abc".startsWith("ab") && "abc".endsWith("bc")', True),
    ('"abc".contains("d") || "abc".startsWith("b") || endsWith("abc", "b")', False),
    ('device.attributes["gpu.nvidia.com"].productName.matches("^NVIDIA H1[0-9]{2}")', True),
    ('matches("abc", "^b")', False),
    ('int("42") == 42 && int(3.9) == 3 && int(-3.9) == -3 && int(7u) == 7 && int("-5") == -5', True),
    ('uint(7) == 7u && uint("7") == 7u && uint(7.9) == 7u', True),
    ('double(2) == 2.0 && double("1e3") == 1000.0 && double(3u) == 3.0 && double("-inf") < 0.0', True),
    ('string(true) == "true" && string(-12) == "-12" && string(12u) == "12" && string(b"hi") == "hi"', True),
    ('string(0.1) == "0.1" && string(1.5e6) == "1.5e+06" && string(100000.0) == "100000"', True),
    ('string(1e-05) == "1e-05" && string(0.0001) == "0.0001" && string(-0.0) == "-0" && string(123.0) == "123"', True),
    ('string(1.0 / 0.0) == "+Inf" && string(-1.0 / 0.0) == "-Inf" && string(0.0 / 0.0) == "NaN"', True),
    ('string("x") == "x" && bytes("é") == b"\\xc3\\xa9" && bytes(b"x") == b"x"', True),
    ('bool("true") && bool("T") && bool("1") && !bool("False") && !bool("0") && bool(true)', True),
    ('type(1) == int && type(1u) == uint && type(1.0) == double && type("") == string && type(b"") == bytes', True),
    ("type(true) == bool && type([]) == list && type({}) == map && type(null) == null_type && type(int) == type", True),
    ('type(quantity("1")) == type(quantity("2")) && type(semver("1.0.0")) != type(quantity("1"))', True),
    ("dyn(1) == 1 && dyn([1, 2]).size() == 2", True),
    # Macros and cel.bind.
    ("[1, 2, 3].all(x, x > 0)", True),
    ("[1, 2, 3].all(x, x > 1)", False),
    ("[1, 2, 3].exists(x, x > 2)", True),
    ("[1, 2, 3].exists(x, x > 3)", False),
    ("[1, 2, 3].exists_one(x, x > 2)", True),
    ("[1, 2, 3].exists_one(x, x > 1)", False),
    ("[1, 2, 3].map(x, x * 2) == [2, 4, 6]", True),
    ("[1, 2, 3].map(x, x > 1, x * 10) == [20, 30]", True),
    ("[1, 2, 3].filter(x, x % 2 == 1) == [1, 3]", True),
    ('{"a": 1, "b": 2}.all(k, k in ["a", "b"]) && {"a": 1}.map(k, k) == ["a"]', True),
    ("[].all(x, x) && ![].exists(x, x)", True),
    ("[[1, 2], [3]].exists(l, l.exists(x, x == 3))", True),
    ("[1, 2].all(x, [3, 4].all(x, x > 2))", True),  # The inner x shadows the outer.
    ('device.attributes["gpu.nvidia.com"].all(n, n.size() > 2)', True),
    ('device.attributes.exists(d, d == "dra.net")', True),
    ('cel.bind(gpu, device.attributes["gpu.nvidia.com"], gpu.architecture == "Hopper" && gpu.index == 3)', True),
    ("cel.bind(x, 1, cel.bind(y, x + 1, y == 2))", True),
    ("has(device.attributes.dra)", False),
    ("has(device.driver) && has(device.attributes) && has(device.capacity)", True),
    ('has({"a": 1}.a) && !has({"a": 1}.b)', True),
    # Operators.
    ("1 + 2 * 3 - 4 / 2 == 5 && 7 % 3 == 1 && -7 % 3 == -1 && 7 / -2 == -3", True),
    ("1u + 2u == 3u && 7u / 2u == 3u && 7u % 2u == 1u && 2u * 3u == 6u && 3u - 1u == 2u", True),
    ("1.5 + 1.5 == 3.0 && 3.0 * 2.0 == 6.0 && 1.0 - 0.5 == 0.5 && 1.0 / 4.0 == 0.25 && -(1.5) == -1.5", True),
    ("1.0 / 0.0 > 1e308 && -1.0 / 0.0 < -1e308 && 0.0 / 0.0 != 0.0 / 0.0", True),
    ('"a" + "b" == "ab" && b"a" + b"b" == b"ab" && [1] + [2] == [1, 2]', True),
    ('1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 3 && 1 < 1.5 && 1u < 2 && "a" < "b" && b"a" < b"b" && false < true', True),
    ("1 == 1.0 && 1 == 1u && 1u == 1.0", True),
    ('1 == "1" || true == 1 || null == 0 || [1] == [true] || {"a": 1} == {"a": "1"}', False),
    ('[1, "a"] == [1, "a"] && {"a": [1]} == {"a": [1.0]} && null == null && [1, 2] != [1]', True),
    ('2 in [1, 2] && "a" in {"a": 1} && !(3 in [1, 2]) && 1.0 in {1: "x"} && 1u in [1]', True),
    ('{true: "t", 1: "one"}[true] == "t" && {true: "t", 1: "one"}[1] == "one"', True),
    ('{1: "a"}[1u] == "a" && [10, 20][1u] == 20 && {"a": {"b": 1}}.a.b == 1', True),
    ("0x10 == 16 && -0x10 == -16 && 0x10u == 16u && -9223372036854775808 < 0", True),
    ('r"a\\n" == "a\\\\n" && """multi""" == "multi" && \'single\' == "single"', True),
    ("true ? true : false", True),
    ("false ? 1 / 0 == 1 : true", True),
    ("1 == 1 == true", True),
    ("!!true && !false", True),
    # Logical operators are commutative over errors.
    ("1 / 0 == 1 || true", True),
    ("true || 1 / 0 == 1", True),
    ("1 / 0 == 1 && false", False),
    ("false && 1 / 0 == 1", False),
    ("1 || true", True),
    ("[0, 1].all(x, 1 / x > 5)", False),
    ("[0, 1].exists(x, 1 / x == 1)", True),
]


@pytest.mark.parametrize(("expression", "matched"), MATCHES)
def test_selector_matches(expression: str, matched: bool) -> None:
    assert run(expression) == Verdict(matched, None)


def test_driver_selector_on_another_device() -> None:
    assert run('device.driver == "dra.net"', NIC) == Verdict(True)
    assert run('device.attributes["dra.net"].rdma', NIC) == Verdict(True)
    assert run('"gpu.nvidia.com" in device.attributes', NIC) == Verdict(False)


# --- runtime errors: a non-match with a readable error ---------------------------

# (expression, the error text or a part of it)
RUNTIME_ERRORS = [
    ('device.attributes["gpu.nvidia.com"].foo', "no attribute 'foo' in domain gpu.nvidia.com"),
    ('device.attributes["gpu.nvidia.com"].foo == 1', "no attribute 'foo' in domain gpu.nvidia.com"),
    ('device.attributes["x.com"].foo', "no attribute 'foo' in domain x.com"),
    ('device.capacity["gpu.nvidia.com"]["cores"] > quantity("1")', "no capacity 'cores' in domain gpu.nvidia.com"),
    ('{"a": 1}.b == 1', "no such key: 'b'"),
    ('{"a": 1}["b"] == 1', "no such key: 'b'"),
    ('device.attributes["gpu.nvidia.com"].index', "selector returned int, not bool"),
    ('device.attributes["gpu.nvidia.com"].architecture', "selector returned string, not bool"),
    ('quantity("1")', "selector returned Quantity, not bool"),
    ("null", "selector returned null_type, not bool"),
    ("[1]", "selector returned list, not bool"),
    ('quantity("200K").isGreaterThan(quantity("1"))', "invalid quantity '200K': unable to parse quantity's suffix"),
    ('quantity("9999999999999999999G").asInteger() > 0', "cannot convert value to integer"),
    ('quantity("1").add(quantity("1e2000")) == quantity("1")', "needs more than 2000 digits"),
    ('semver("v1.0.0").major() == 1', "invalid version 'v1.0.0'"),
    ('semver("1.0", false) == semver("1.0.0")', "invalid version '1.0': no Major.Minor.Patch elements found"),
    ('semver("1.0-rc", true).major() == 1', "short version cannot contain PreRelease/Build meta data"),
    ('quantity("1").compareTo(semver("1.0.0")) == 0', "no such overload: compareTo(Quantity, Semver)"),
    ('semver("1.0.0").isGreaterThan(quantity("1"))', "no such overload: isGreaterThan(Semver, Quantity)"),
    ('quantity("1").isLessThan(1)', "no such overload: isLessThan(Quantity, int)"),
    ('quantity("1").add(1.5) == quantity("2")', "no such overload: add(Quantity, double)"),
    ('quantity("1").sub(true) == quantity("0")', "no such overload: sub(Quantity, bool)"),
    ("sign(1) == 1", "sign() expects Quantity, not int"),
    ('isInteger("1")', "isInteger() expects Quantity, not string"),
    ("asInteger(1) == 1", "asInteger() expects Quantity, not int"),
    ("asApproximateFloat(1) == 1.0", "asApproximateFloat() expects Quantity, not int"),
    ("quantity(1) == quantity(1)", "quantity() expects string, not int"),
    ("isQuantity(1)", "isQuantity() expects string, not int"),
    ('semver("1.0.0", 1) == semver("1.0.0")', "semver() expects bool, not int"),
    ("isSemver(1)", "isSemver() expects string, not int"),
    ('quantity("1").major() == 1', "major() expects Semver, not Quantity"),
    ('quantity("1") < quantity("2")', "no such overload: _<_(Quantity, Quantity)"),
    ('semver("1.0.0") > semver("0.1.0")', "no such overload: _>_(Semver, Semver)"),
    ('1 < "a"', "no such overload: _<_(int, string)"),
    ("[1] <= [2]", "no such overload: _<=_(list, list)"),
    ("true >= 1", "no such overload: _>=_(bool, int)"),
    ("0.0 / 0.0 < 1.0", "NaN values cannot be ordered"),
    ("1 >= 0.0 / 0.0", "NaN values cannot be ordered"),
    ("9223372036854775807 + 1 > 0", "integer overflow"),
    ("-9223372036854775807 - 2 < 0", "integer overflow"),
    ("9223372036854775807 * 2 > 0", "integer overflow"),
    ("-(-9223372036854775807 - 1) > 0", "integer overflow"),
    ("(-9223372036854775807 - 1) / -1 > 0", "integer overflow"),
    ("(-9223372036854775807 - 1) % -1 == 0", "integer overflow"),
    ("18446744073709551615u + 1u > 0u", "unsigned integer overflow"),
    ("5u - 6u > 0u", "unsigned integer overflow"),
    ("1 / 0 == 1", "division by zero"),
    ("1u / 0u == 1u", "division by zero"),
    ("1 % 0 == 0", "modulus by zero"),
    ("1.5 % 1.0 == 0.5", "no such overload: _%_(double, double)"),
    ("1 + 1u == 2", "no such overload: _+_(int, uint)"),
    ("1 - 1.0 == 0", "no such overload: _-_(int, double)"),
    ('"a" * 2 == "aa"', "no such overload: _*_(string, int)"),
    ("[1] / 1 == [1]", "no such overload: _/_(list, int)"),
    ("!1", "no such overload: !_(int)"),
    ('-"a" == "a"', "no such overload: -_(string)"),
    ("-(1u) == 1u", "no such overload: -_(uint)"),
    ("1 ? true : false", "no such overload: _?_:_(int)"),
    ("true && 1", "no such overload: _&&_(int)"),
    ("false || 1", "no such overload: _||_(int)"),
    ('1 in "abc"', "no such overload: in(int, string)"),
    ("[1] in {}", "unsupported map key type list"),
    ("{1.5: 1}.size() == 1", "unsupported map key type double"),
    ('{"a": 1, "a": 2}.size() == 1', "duplicate map key 'a'"),
    ("[1, 2][2] == 1", "index out of range: 2 (list size 2)"),
    ("[1, 2][-1] == 1", "index out of range: -1 (list size 2)"),
    ('[1, 2]["a"] == 1', "no such overload: _[_](list, string)"),
    ('"abc"[0] == "a"', "no such overload: _[_](string, int)"),
    ('device["driver"] == "x"', "no such overload: _[_](device, string)"),
    ("(1.0).a == 1", "cannot select field 'a' on double"),
    ("cel.bind(d, device, d.nope == 1)", "cannot select field 'nope' on device"),
    ('cel.bind(s, "x", has(s.y))', "has() cannot test field 'y' of string"),
    ("[1, 2].all(x, x)", "all() predicate returned int, not bool"),
    ("[1, 2].exists(x, x)", "exists() predicate returned int, not bool"),
    ("[1, 2].exists_one(x, x)", "exists_one() predicate returned int, not bool"),
    ("[1, 2].filter(x, x).size() == 0", "filter() predicate returned int, not bool"),
    ("[1, 2].map(x, x, x).size() == 0", "map() predicate returned int, not bool"),
    ("[1, 2].exists_one(x, x / 0 == 1)", "division by zero"),
    ("[1, 2].map(x, x / 0).size() == 2", "division by zero"),
    ('"abc".all(c, true)', "all() cannot iterate over string"),
    ("cel.bind(n, 1, n.exists(x, true))", "exists() cannot iterate over int"),
    ("size(1) == 1", "no such overload: size(int)"),
    ('"abc".contains(1)', "no such overload: contains(string, int)"),
    ('matches("abc", 1)', "no such overload: matches(string, int)"),
    ('"abc".matches("[")', "invalid regular expression '['"),
    ('int("4.2") == 4', "int() cannot convert string '4.2'"),
    ("int(1e19) == 1", "int() cannot convert 1e+19: out of range"),
    ("int(18446744073709551615u) == 1", "integer overflow"),
    ("int(true) == 1", "int() cannot convert bool True"),
    ("uint(-1) == 1u", "unsigned integer overflow"),
    ("uint(-0.5) == 0u", "uint() cannot convert -0.5: out of range"),
    ('uint("-1") == 1u', "uint() cannot convert string '-1'"),
    ('double("1_000") == 1000.0', "double() cannot convert string '1_000'"),
    ("double(true) == 1.0", "double() cannot convert bool True"),
    ("string([1]) == '[1]'", "no such overload: string(list)"),
    ("string(b'\\xff') == ''", "string() needs valid UTF-8 bytes"),
    ("bytes(1) == b''", "no such overload: bytes(int)"),
    ('bool("yes")', "bool() cannot convert string 'yes'"),
]


@pytest.mark.parametrize(("expression", "error"), RUNTIME_ERRORS)
def test_runtime_error_is_a_non_match(expression: str, error: str) -> None:
    verdict = run(expression)
    assert verdict.matched is False
    assert verdict.error is not None
    assert error in verdict.error


# --- device data -------------------------------------------------------------------


def test_a_bad_version_attribute_fails_every_selector_on_that_device() -> None:
    device = DeviceData.build("gpu.example.com", {"fw": AttributeValue("version", "v1.2")})
    for expression in ('device.driver == "gpu.example.com"', "true"):
        verdict = run(expression, device)
        assert verdict.matched is False
        assert verdict.error is not None
        assert "attribute 'fw'" in verdict.error
        assert "invalid version 'v1.2'" in verdict.error


def test_a_bad_capacity_fails_every_selector_on_that_device() -> None:
    device = DeviceData.build("gpu.example.com", capacity={"memory": "80GB"})
    verdict = run("true", device)
    assert verdict.matched is False
    assert verdict.error is not None
    assert "capacity 'memory'" in verdict.error


def test_a_name_given_both_bare_and_qualified_is_an_error() -> None:
    device = DeviceData.build(
        "gpu.example.com",
        {"model": AttributeValue("string", "a"), "gpu.example.com/model": AttributeValue("string", "b")},
    )
    assert run("true", device) == Verdict(False, "attribute 'model' of domain gpu.example.com is given twice")


@pytest.mark.parametrize(
    ("kind", "value", "error"),
    [
        ("float", 1.5, ValueError),
        ("string", 1, TypeError),
        ("version", True, TypeError),
        ("bool", 1, TypeError),
        ("int", True, TypeError),
        ("int", "1", TypeError),
        ("int", 2**63, ValueError),
        ("int", -(2**63) - 1, ValueError),
    ],
)
def test_attribute_value_validates_its_kind(kind: str, value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        AttributeValue(kind, value)  # type: ignore[arg-type]


def test_device_data_build_sorts_keys_so_equal_devices_are_equal() -> None:
    a = DeviceData.build("d", {"b": AttributeValue("int", 1), "a": AttributeValue("bool", True)}, {"y": "1", "x": "2"})
    b = DeviceData.build("d", {"a": AttributeValue("bool", True), "b": AttributeValue("int", 1)}, {"x": "2", "y": "1"})
    assert a == b
    assert hash(a) == hash(b)
    assert [name for name, _ in a.attributes] == ["a", "b"]
    assert a != DeviceData.build("d", {"a": AttributeValue("bool", False), "b": AttributeValue("int", 1)})
    assert DeviceData.build("d") == DeviceData("d")


# --- compile errors ------------------------------------------------------------------

# (expression, part of the error)
COMPILE_ERRORS = [
    ("(1 + 2", "syntax error: unexpected end of expression at line 1, column 6"),
    ("1 + 2)", "syntax error: unexpected ')'"),
    ("device.driver == @", "syntax error: unexpected character '@'"),
    ('"unterminated', "syntax error"),
    ("foo(1)", "undeclared reference to function 'foo' at line 1, column 1"),
    ("device.attributes.foo(1)", "undeclared reference to function 'foo'"),
    ("all([1], x, true)", "undeclared reference to function 'all' (a macro: call it on a list or map)"),
    ("timestamp('2024-01-01T00:00:00Z') > timestamp('2023-01-01T00:00:00Z')", "function 'timestamp'"),
    ('"abc".reverse() == "cba"', "function 'reverse'"),  # strings v3: not in Kubernetes 1.34
    ("[3, 1].sort() == [1, 3]", "function 'sort'"),
    ("x == 1", "undeclared reference to 'x'"),
    ("cel == 1", "undeclared reference to 'cel'"),
    ("[1].all(x, y)", "undeclared reference to 'y'"),
    ("[1].all(x, true) && x == 1", "undeclared reference to 'x'"),
    ("device.foo == 1", "device has no field 'foo' (it has attributes, capacity, driver) at line 1, column 8"),
    ("has(device.foo)", "device has no field 'foo'"),
    ('has(device.attributes["x.com"])', "has() takes one field selection"),
    ("has(1)", "has() takes one field selection"),
    ("[1].all(1, true)", "all() must be called as all(x, predicate), with x a variable name"),
    ("[1].exists(x)", "exists() must be called as exists(x, predicate)"),
    ("[1].map(x)", "map() must be called as map(x, transform) or map(x, predicate, transform)"),
    ("cel.bind(x, 1)", "cel.bind() needs a variable name, a value and an expression"),
    ("cel.bind(1, 1, true)", "cel.bind() needs a variable name"),
    ("size()", "size() takes 1 argument(s), counting a receiver; got 0"),
    ("[1, 2].size(1) == 2", "size() takes 1 argument(s), counting a receiver; got 2"),
    ('semver("1.0.0", true, 1)', "semver() takes 1 or 2 argument(s)"),
    ('quantity("1").add()', "add() takes 2 argument(s)"),
    ("9223372036854775808 > 0", "int literal 9223372036854775808 is out of range"),
    ("18446744073709551616u > 0u", "uint literal 18446744073709551616u is out of range"),
    ("-1u < 1u", "uint literal -1u is out of range"),
    ("1" * 30 + " > 0", "is out of range"),
    ("Message{a: 1}", "undeclared reference to 'Message'"),
    ("device{a: 1}", "message construction (Type{...}) is not supported"),
    (".device.driver == 'x'", "names with a leading '.' are not supported"),
    ("(" * MAX_NESTING + "true" + ")" * MAX_NESTING, f"expression nests more than {MAX_NESTING} levels deep"),
    (
        f"{LIST_100}.all(a, {LIST_100}.all(b, {LIST_100}.all(c, {LIST_100}.all(d, true))))",
        "selector is too expensive: its estimated worst-case cost",
    ),
]


@pytest.mark.parametrize(("expression", "error"), COMPILE_ERRORS)
def test_compile_error(expression: str, error: str) -> None:
    with pytest.raises(CelCompileError) as caught:
        compile_selector(expression)
    assert error in str(caught.value)


def test_compile_error_quotes_the_source_with_a_caret() -> None:
    source = 'device.driver == "x" && foo(1)'
    with pytest.raises(CelCompileError) as caught:
        compile_selector(source)
    assert str(caught.value).splitlines()[1:] == [f"  {source}", " " * (2 + source.index("foo")) + "^"]


def test_evaluator_raises_compile_errors_instead_of_returning_a_verdict() -> None:
    evaluator = SelectorEvaluator()
    with pytest.raises(CelCompileError, match="undeclared reference to function 'foo'"):
        evaluator.evaluate("foo(1)", GPU)
    with pytest.raises(CelCompileError, match="syntax error"):
        evaluator.evaluate("(", GPU)


def test_expression_length_is_capped() -> None:
    padded = "true" + " " * (MAX_EXPRESSION_LENGTH - 4)
    assert run(padded) == Verdict(True)
    with pytest.raises(CelCompileError, match=f"the limit is {MAX_EXPRESSION_LENGTH} characters"):
        compile_selector(padded + " ")


def test_compile_rejects_a_non_string() -> None:
    with pytest.raises(CelCompileError, match="must be a string"):
        compile_selector(42)  # type: ignore[arg-type]


def test_nesting_up_to_the_limit_compiles_and_evaluates() -> None:
    depth = MAX_NESTING - 1  # The whole expression is one level already.
    assert run("!(" * depth + "false" + ")" * depth) == Verdict(depth % 2 == 1)
    assert run("[1].all(x0, " + "".join(f"[1].all(x{i}, " for i in range(1, depth)) + "true" + ")" * depth) == Verdict(
        True
    )


def test_long_operator_chains_do_not_nest() -> None:
    terms = 2000
    assert run(" + ".join(["1"] * terms) + f" == {terms}") == Verdict(True)
    assert run(" && ".join(["true"] * (terms // 2))) == Verdict(True)
    assert run("device.driver" + ".dyn()" * 1500 + " == 'gpu.nvidia.com'") == Verdict(True)


# --- cost ------------------------------------------------------------------------------


def test_the_nested_comprehension_fails_fast_at_compile_and_mentions_cost() -> None:
    expression = f"{LIST_100}.all(a, {LIST_100}.all(b, {LIST_100}.all(c, {LIST_100}.all(d, true))))"
    with pytest.raises(CelCompileError, match="cost") as caught:
        compile_selector(expression)
    assert f"{MAX_COST:,}" in str(caught.value)


@pytest.mark.parametrize(
    "expression",
    [
        f"{LIST_100}.all(a, {LIST_100}.all(b, true))",
        "device.attributes.all(d, device.attributes[d].all(n, n.size() < 64))",
        'device.attributes["gpu.nvidia.com"].productName.matches("H100")',
    ],
)
def test_reasonable_selectors_are_within_the_cost_bound(expression: str) -> None:
    assert 0 < compile_selector(expression).estimated_cost <= MAX_COST


def test_three_nested_comprehensions_over_100_elements_exceed_the_bound() -> None:
    with pytest.raises(CelCompileError, match="too expensive"):
        compile_selector(f"{LIST_100}.all(a, {LIST_100}.all(b, {LIST_100}.all(c, true)))")


def test_doubling_a_string_through_bindings_is_rejected_by_cost() -> None:
    expression = 'cel.bind(s0, "0123456789", '
    expression += "".join(f"cel.bind(s{i}, s{i - 1} + s{i - 1}, " for i in range(1, 40))
    expression += "s39.size() > 0" + ")" * 40
    with pytest.raises(CelCompileError, match="too expensive"):
        compile_selector(expression)


def test_runtime_guard_stops_evaluation_past_the_step_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    # A device far beyond the API's 32 names per domain defeats the estimate.
    names = {f"n{i}": AttributeValue("int", i) for i in range(300)}
    device = DeviceData.build("big.example.com", names)
    expression = 'device.attributes["big.example.com"].all(a, device.attributes["big.example.com"].all(b, true))'
    assert compile_selector(expression).estimated_cost <= MAX_COST
    monkeypatch.setattr(cel, "RUNTIME_STEP_LIMIT", 10_000)
    verdict = run(expression, device)
    assert verdict.matched is False
    assert verdict.error == "evaluation stopped: it exceeded the runtime limit of 10000 steps"


def test_runtime_guard_stops_evaluation_past_the_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cel, "RUNTIME_TIME_LIMIT", -1.0)  # Already late at the first clock check.
    verdict = run(f"{LIST_100}.all(a, {LIST_100}.all(b, true))")
    assert verdict.matched is False
    assert verdict.error == "evaluation stopped: it ran longer than -1.0 s"


def test_runtime_guard_counts_concatenated_elements(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cel, "RUNTIME_STEP_LIMIT", 50)
    verdict = run(f"({LIST_100} + {LIST_100} + {LIST_100} + {LIST_100} + {LIST_100} + {LIST_100}).size() > 0")
    assert verdict.error is not None
    assert "exceeded the runtime limit" in verdict.error


# --- memoization and caching -------------------------------------------------------------


def test_evaluator_runs_each_pair_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = CompiledSelector._evaluate_activation

    def spy(self: CompiledSelector, device: object) -> Verdict:
        calls.append(self.expression)
        return original(self, device)  # type: ignore[arg-type]

    monkeypatch.setattr(CompiledSelector, "_evaluate_activation", spy)
    expression = 'device.attributes["gpu.nvidia.com"].architecture == "Hopper"'
    evaluator = SelectorEvaluator()
    first = evaluator.evaluate(expression, GPU)
    same_device = DeviceData.build(GPU.driver, dict(GPU.attributes), dict(GPU.capacity))
    second = evaluator.evaluate(expression, same_device)
    assert first == second == Verdict(True)
    assert calls == [expression]
    assert evaluator.evaluate(expression, NIC) == Verdict(False, "no attribute 'architecture' in domain gpu.nvidia.com")
    assert evaluator.evaluate("true", GPU) == Verdict(True)
    assert len(calls) == 3
    assert SelectorEvaluator().evaluate(expression, GPU) == first
    assert len(calls) == 4  # A new evaluator (a new plan) starts empty.


def test_evaluator_builds_each_device_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    original = cel._activation

    def spy(device: DeviceData) -> object:
        built.append(device.driver)
        return original(device)

    monkeypatch.setattr(cel, "_activation", spy)
    evaluator = SelectorEvaluator()
    for expression in ("true", "false", 'device.driver == "dra.net"'):
        evaluator.evaluate(expression, GPU)
        evaluator.evaluate(expression, NIC)
    assert built == ["gpu.nvidia.com", "dra.net"]


def test_evaluator_memoizes_device_errors_too() -> None:
    bad = DeviceData.build("x", {"v": AttributeValue("version", "bad")})
    evaluator = SelectorEvaluator()
    first = evaluator.evaluate("true", bad)
    assert first.matched is False
    assert evaluator.evaluate("false", bad) == Verdict(False, first.error)


def test_compile_selector_caches_by_expression() -> None:
    expression = 'device.driver == "cache.example.com"'
    assert compile_selector(expression) is compile_selector(expression)
    assert repr(compile_selector(expression)) == f"CompiledSelector({expression!r})"


# --- robustness ------------------------------------------------------------------------


def test_unexpected_exceptions_become_errors_not_crashes(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(value: object) -> int:
        raise RuntimeError("kaboom")

    monkeypatch.setitem(cel._FUNCTIONS, "size", cel._Function(boom, frozenset({1})))
    verdict = run("size([1, 2, 3]) == 3 && device.driver != 'robustness'")
    assert verdict == Verdict(False, "internal error while evaluating: RuntimeError: kaboom")


def test_runaway_recursion_becomes_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def deep(value: object) -> int:
        raise RecursionError

    monkeypatch.setitem(cel._FUNCTIONS, "size", cel._Function(deep, frozenset({1})))
    assert run("size([1]) == 1 && device.driver != 'recursion'") == Verdict(
        False, "evaluation stopped: it recursed too deeply"
    )


def test_compiling_with_too_little_stack_is_a_compile_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def exhausted(self: object, tree: object) -> object:
        raise RecursionError

    monkeypatch.setattr(cel._Compiler, "node", exhausted)
    with pytest.raises(CelCompileError, match="nests too deeply for the available stack"):
        compile_selector("device.driver == 'stack'")


def test_constant_folding_keeps_invalid_constants_as_runtime_errors() -> None:
    # quantity("bad") cannot be folded at compile time, so it errors per evaluation.
    selector = compile_selector('device.driver == "x" || quantity("bad") == quantity("1")')
    assert selector.evaluate(GPU).error == "invalid quantity 'bad': quantities must match the regular expression " + (
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )
    assert selector.evaluate(DeviceData.build("x")) == Verdict(True)


# --- properties --------------------------------------------------------------------------

_INT64 = st.integers(-(2**63), 2**63 - 1)


@given(_INT64, _INT64)
def test_integer_addition_matches_python_with_overflow_errors(a: int, b: int) -> None:
    verdict = run(f"{a} + {b} == {a + b}" if -(2**63) <= a + b < 2**63 else f"{a} + {b} > 0")
    if -(2**63) <= a + b < 2**63:
        assert verdict == Verdict(True)
    else:
        assert verdict == Verdict(False, "integer overflow")


_QUANTITIES = st.sampled_from(["0", "1", "-1", "1.5", "1Gi", "1G", "1500M", "0.1n", "8Ei", "1e3", "999m", "1.3Gi"])


@given(_QUANTITIES, _QUANTITIES)
def test_cel_quantity_comparison_agrees_with_the_quantity_module(left: str, right: str) -> None:
    expected = Quantity.parse(left).compare_to(Quantity.parse(right))
    assert run(f'quantity("{left}").compareTo(quantity("{right}")) == {expected}') == Verdict(True)
    assert run(f'quantity("{left}").isGreaterThan(quantity("{right}"))') == Verdict(expected == 1)


_ATTRIBUTE_VALUES = st.one_of(
    st.text(max_size=8).map(lambda s: AttributeValue("string", s)),
    st.text("0123456789.v-+a", max_size=8).map(lambda s: AttributeValue("version", s)),
    st.booleans().map(lambda b: AttributeValue("bool", b)),
    _INT64.map(lambda i: AttributeValue("int", i)),
)
_DEVICES = st.builds(
    DeviceData.build,
    st.sampled_from(["gpu.nvidia.com", "dra.net"]),
    st.dictionaries(st.sampled_from(["architecture", "index", "dra.net/rdma", "x/y/z"]), _ATTRIBUTE_VALUES, max_size=4),
    st.dictionaries(st.sampled_from(["memory", "dra.net/bw"]), st.text("0123456789.kMGiKe-", max_size=6), max_size=2),
)
_SELECTORS = [
    'device.attributes["gpu.nvidia.com"].architecture == "Hopper"',
    'device.attributes["gpu.nvidia.com"].index > 2',
    'device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("20Gi")) >= 0',
    'device.attributes["dra.net"].rdma',
    '"dra.net" in device.attributes && device.attributes["x"]["y/z"].size() > 0',
    'device.attributes.all(d, device.attributes[d].all(n, n != ""))',
]


@given(_DEVICES)
def test_evaluate_never_raises_and_memoized_verdicts_match_direct_ones(device: DeviceData) -> None:
    evaluator = SelectorEvaluator()
    for expression in _SELECTORS:
        verdict = evaluator.evaluate(expression, device)
        assert isinstance(verdict.matched, bool)
        assert verdict.error is None or (verdict.matched is False and verdict.error)
        assert verdict == compile_selector(expression).evaluate(device)
