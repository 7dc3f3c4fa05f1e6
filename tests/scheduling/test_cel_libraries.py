"""The Kubernetes CEL extension libraries: against tables from Kubernetes, cel-cpp and kube's own code."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from modelplane.scheduling import cel, cel_collections, cel_net, cel_strings, cel_url
from modelplane.scheduling.cel import MAX_COST, CelCompileError, DeviceData, Verdict, compile_selector
from tests.scheduling import cel_library_cases as tables
from tests.scheduling.cel_evaluators import (
    NO_ORACLE,
    ORACLE,
    agrees,
    device_data,
    expected_result,
    from_cel_cpp,
    oracle_device,
    oracle_result,
    our_value,
    run_oracle,
)
from tests.scheduling.cel_extension_cases import DEVICE_SOURCES, DEVICES, REFUSED_SELECTORS, SELECTOR_CASES

LIBRARY_TABLES = {
    "strings": tables.STRINGS,
    "strings-cel-cpp-differs": tables.STRINGS_CEL_CPP_DIFFERS,
    "sets": tables.SETS,
    "bind": tables.BIND,
    "lists": tables.LISTS,
    "regex": tables.REGEX,
    "ip": tables.IPS,
    "cidr": tables.CIDRS,
    "url": tables.URLS,
}
ALL_CASES = [(name, *case) for name, table in LIBRARY_TABLES.items() for case in table]
CEL_CPP_CASES = tables.STRINGS + tables.SETS + tables.BIND
REFERENCE = Path("/work/shared/reference")


# --- the tables ------------------------------------------------------------------------


@pytest.mark.parametrize(("library", "expression", "expected"), ALL_CASES)
def test_library_values(library: str, expression: str, expected: object) -> None:
    result = our_value(expression)
    wanted = expected_result(expected)
    assert agrees(result, wanted), f"{library}: {expression}: {result} != {wanted}"
    if wanted[0] == "error":
        assert wanted[1] in result[1]


def test_the_tables_cover_every_new_function() -> None:
    libraries = cel_strings.FUNCTIONS | cel_collections.FUNCTIONS | cel_net.FUNCTIONS | cel_url.FUNCTIONS
    text = "\n".join(expression for _, expression, _ in ALL_CASES)
    assert not sorted(name for name in libraries if f"{name}(" not in text and f".{name}(" not in text)


# --- cel-cpp (cel-expr-python) ------------------------------------------------------------


@pytest.fixture(scope="module")
def cel_cpp() -> object:
    module = pytest.importorskip("cel_expr_python.cel", reason="cel-expr-python (requirements-dev.txt) is missing")
    # Kubernetes 1.34 enables the strings extension at version 2, sets and bindings.
    config = module.NewEnvConfigFromYaml(
        "extensions:\n  - name: strings\n    version: 2\n  - name: sets\n  - name: bindings\n"
    )
    return module.NewEnv(config=config, variables={"device": module.Type.DYN})


def cel_cpp_result(env: object, expression: str) -> tuple[str, object]:
    return from_cel_cpp(env.compile(expression).eval(data={"device": {}}))  # type: ignore[attr-defined]


@pytest.mark.parametrize(("expression", "expected"), CEL_CPP_CASES)
def test_cel_cpp_agrees(cel_cpp: object, expression: str, expected: object) -> None:
    assert agrees(cel_cpp_result(cel_cpp, expression), expected_result(expected))


@pytest.mark.parametrize(("expression", "expected"), tables.STRINGS_CEL_CPP_DIFFERS)
def test_cel_cpp_really_differs_there(cel_cpp: object, expression: str, expected: object) -> None:
    assert not agrees(cel_cpp_result(cel_cpp, expression), expected_result(expected))


_TEXT = st.text(st.sampled_from("aAbB é\u00a0\u2003\t,:-_/%\u0085"), max_size=8)
_SMALL = st.integers(-2, 10)


def _cel_string(text: str) -> str:
    return '"' + "".join(c if c.isalnum() or c in " ,:-_/%é" else f"\\u{ord(c):04x}" for c in text) + '"'


def _cel_cpp_differs(function: str, text: str, part: str, number: int) -> bool:
    """STRINGS_CEL_CPP_DIFFERS as a rule: offsets out of range, an empty split, an end at the size."""
    if function in ("indexOf", "lastIndexOf"):
        if part == "":
            return not 0 <= number <= len(text)
        return number > len(text) or (function == "lastIndexOf" and number == len(text))
    if function == "split":
        return text == "" and part == ""
    return function == "substring" and number == len(text)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["indexOf", "lastIndexOf", "split", "replace", "substring", "charAt"]), _TEXT, _TEXT, _SMALL)
def test_string_functions_agree_with_cel_cpp(cel_cpp: object, function: str, text: str, part: str, number: int) -> None:
    assume(not _cel_cpp_differs(function, text, part, number))
    receiver, argument = _cel_string(text), _cel_string(part)
    expression = {
        "indexOf": f"{receiver}.indexOf({argument}, {number})",
        "lastIndexOf": f"{receiver}.lastIndexOf({argument}, {number})",
        "split": f"{receiver}.split({argument}, {number})",
        "replace": f"{receiver}.replace({argument}, {receiver}, {number})",
        "substring": f"{receiver}.substring(0, {number})",
        "charAt": f"{receiver}.charAt({number})",
    }[function]
    assert agrees(our_value(expression), cel_cpp_result(cel_cpp, expression))


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_text_transformations_agree_with_cel_cpp(cel_cpp: object, text: str) -> None:
    for function in ("lowerAscii()", "upperAscii()", "trim()", "split(' ')", "split('')"):
        if function == "split('')" and text == "":
            continue  # STRINGS_CEL_CPP_DIFFERS: "".split("")
        expression = f"{_cel_string(text)}.{function}"
        assert agrees(our_value(expression), cel_cpp_result(cel_cpp, expression)), expression
    quoted = f"strings.quote({_cel_string(text)})"
    assert agrees(our_value(quoted), cel_cpp_result(cel_cpp, quoted))


_ITEMS = st.lists(st.sampled_from(["1", "2", "1u", "2.0", '"a"', '"b"', "true", "[1]"]), max_size=4)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["contains", "equivalent", "intersects"]), _ITEMS, _ITEMS)
def test_sets_agree_with_cel_cpp(cel_cpp: object, function: str, a: list[str], b: list[str]) -> None:
    expression = f"sets.{function}([{', '.join(f'dyn({x})' for x in a)}], [{', '.join(f'dyn({x})' for x in b)}])"
    assert agrees(our_value(expression), cel_cpp_result(cel_cpp, expression))


# --- DRA selectors ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", SELECTOR_CASES, ids=lambda case: case["name"])
def test_dra_selector_cases(case: dict[str, str]) -> None:
    verdict = compile_selector(case["selector"]).evaluate(device_data(*DEVICES[case["device"]]))
    outcome = "runtime-error" if verdict.error else "match" if verdict.matched else "no-match"
    assert outcome == case["outcome"], verdict.error
    assert not verdict.matched or verdict.error is None


@pytest.mark.parametrize("selector", REFUSED_SELECTORS)
def test_selectors_kubernetes_refuses_for_cost_are_refused_at_plan_time(selector: str) -> None:
    with pytest.raises(CelCompileError, match="estimated worst-case cost is unbounded"):
        compile_selector(selector)


@pytest.mark.parametrize(("selector", "accepted"), tables.COST_CASES)
def test_cost_decisions_match_kubernetes(selector: str, accepted: bool) -> None:
    if accepted:
        assert 0 < compile_selector(selector).estimated_cost <= MAX_COST
    else:
        with pytest.raises(CelCompileError, match="selector is too expensive"):
            compile_selector(selector)


def test_the_dra_table_is_large_enough_and_uses_the_reference_devices() -> None:
    assert len(SELECTOR_CASES) >= 15
    assert {case["outcome"] for case in SELECTOR_CASES} == {"match", "no-match", "runtime-error"}
    assert {case["device"] for case in SELECTOR_CASES} == set(DEVICES)


@pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"{REFERENCE} (the shared reference data) is not on this machine")
@pytest.mark.parametrize("key", sorted(DEVICE_SOURCES))
def test_table_devices_are_the_reference_resourceslice_devices(key: str) -> None:
    driver, entry = DEVICES[key]
    path = REFERENCE / "resourceslices" / DEVICE_SOURCES[key]
    found = [
        {"name": device["name"], **device.get("basic", device)}
        for document in yaml.safe_load_all(path.read_text())
        if document
        for device in document["spec"]["devices"]
        if device["name"] == entry["name"] and document["spec"]["driver"] == driver
    ]
    assert [{key: value for key, value in item.items() if key != "basic"} for item in found] == [entry]


# --- errors, cost and the runtime guard ------------------------------------------------------

# (expression, part of the error): evaluation errors, which --explain shows.
RUNTIME_ERRORS = [
    ('"abc".charAt(7) == "x"', "index out of range: 7"),
    ('"abc".substring(2, 1) == ""', "invalid substring range. start: 2, end: 1"),
    ('"abc".indexOf("a", -1) == 0', "index out of range: -1"),
    ('"abc".split(1).size() == 1', "no such overload: split(string, int)"),
    ('["a", 1].join() == "a1"', "join: list element 1 is not a string"),
    ("[].min() == 0", "min called on empty list"),
    ("[[1], [2]].max() == [2]", "max() cannot order elements of type list"),
    ('[dyn("a"), 1.5].sum() > 0.0', "no such overload: sum(list)"),
    ("[1, 1.5].sum() > 0.0", "no such overload: sum(int, double)"),
    ('sets.contains([1], "a")', "no such overload: sets.contains(list, string)"),
    ('"abc".find("(") == ""', "invalid regular expression '('"),
    ('ip("10.0.0.256").family() == 4', "IP address '10.0.0.256' parse error"),
    ('ip("fe80::1%eth0").isLinkLocalUnicast()', "with zone value is not allowed"),
    ('ip.isCanonical("not an ip")', "IP address 'not an ip' parse error"),
    ('cidr("10.0.0.0/40").prefixLength() == 40', "bad prefix length '40'"),
    ('cidr("10.0.0.0/8").containsIP("::ffff:10.0.0.1")', "IPv4-mapped IPv6 address"),
    ('cidr("10.0.0.0/8").containsIP(1)', "no such overload: containsIP(net.CIDR, int)"),
    ('ip("::1").masked() == ip("::1")', "no such overload: masked(net.IP)"),
    ('url("example.com").getHost() == ""', "URL parse error during conversion from string"),
    ('url("https://x/%zz").getHost() == "x"', "invalid URL escape '%zz'"),
    ('"https://x/".getHost() == "x"', "no such overload: getHost(string)"),
    ('device.attributes["gpu.nvidia.com"].productName.split(" ")[9] == ""', "index out of range: 9"),
    ('device.attributes["gpu.nvidia.com"].profile.lowerAscii() == ""', "no attribute 'profile'"),
]


@pytest.mark.parametrize(("expression", "error"), RUNTIME_ERRORS)
def test_runtime_errors_say_what_went_wrong(expression: str, error: str) -> None:
    device = device_data(*DEVICES["h100"])
    result = our_value(expression, device)
    assert result[0] == "error"
    assert error in result[1]
    try:
        selector = compile_selector(expression)
    except CelCompileError:
        return  # Refused for cost (join, lists of strings), so it never runs as a selector.
    verdict = selector.evaluate(device)
    assert verdict.matched is False
    assert verdict.error is not None
    assert error in verdict.error


COMPILE_ERRORS = [
    ('"abc".reverse() == "cba"', "undeclared reference to function 'reverse'"),  # strings v3
    ('"%d".format([1]) == "1"', "undeclared reference to function 'format'"),
    ("[3, 1].sort() == [1, 3]", "undeclared reference to function 'sort'"),  # ext.Lists: 1.34 stored only
    ("[[1], [2]].flatten().size() == 2", "undeclared reference to function 'flatten'"),
    ('format.dns1123Label().validate("x").hasValue()', "undeclared reference to 'format'"),
    ('"abc".charAt()', "charAt() takes 2 argument(s), counting a receiver; got 1"),
    ("sets.contains([1])", "sets.contains() takes 2 argument(s)"),
    ('strings.nope("x")', "undeclared reference to 'strings'"),
    ('"x".split(",", 1, 2).size() == 1', "split() takes 2 or 3 argument(s)"),
]


@pytest.mark.parametrize(("selector", "error"), COMPILE_ERRORS)
def test_functions_kubernetes_1_34_does_not_offer_are_compile_errors(selector: str, error: str) -> None:
    with pytest.raises(CelCompileError, match="at line 1") as caught:
        compile_selector(selector)
    assert error in str(caught.value)


def test_a_namespace_name_can_still_be_a_variable() -> None:
    assert compile_selector('["ab"].all(sets, sets.contains("a"))').evaluate(DeviceData.build("x")) == Verdict(True)
    assert compile_selector('cel.bind(ip, "::1", ip.size() == 3)').evaluate(DeviceData.build("x")) == Verdict(True)


HOSTILE = [
    # Doubling a string through replace: the estimate follows the growing bound.
    'cel.bind(a, device.driver.replace("", device.driver), cel.bind(b, a.replace("", a), b.replace("", b) == ""))',
    # Quadratic sets over long split lists, nested in a comprehension.
    "device.attributes.all(d, device.attributes.all(e, sets.equivalent("
    'device.driver.split(""), device.driver.split("")) && sets.intersects(device.driver.split(""), '
    'device.driver.split(""))))',
    # A long regex over a long string, in nested comprehensions.
    "device.attributes.all(d, device.attributes.all(e, device.attributes.all(f, "
    'device.driver.find("' + "(a|b)" * 60 + '") == "")))',
]


@pytest.mark.parametrize("selector", HOSTILE)
def test_hostile_selectors_are_refused_at_compile_time(selector: str) -> None:
    with pytest.raises(CelCompileError, match="too expensive"):
        compile_selector(selector)


def test_runtime_guard_charges_a_replace_before_building_it() -> None:
    # Within the estimate (which, as Kubernetes', bounds the receiver), but the result would be 16 million characters.
    selector = compile_selector('cel.bind(a, device.driver.replace("", device.driver), a.replace("", a).size() > 0)')
    verdict = selector.evaluate(DeviceData.build("d" * 63))
    assert verdict.matched is False
    assert verdict.error == f"evaluation stopped: it exceeded the runtime limit of {cel.RUNTIME_STEP_LIMIT} steps"
    assert selector.evaluate(DeviceData.build("d")) == Verdict(True)


@pytest.mark.parametrize(
    ("selector", "limit"),
    [
        ('device.driver.split("").size() > 0', 5),
        ('device.driver.findAll("").size() > 0', 50),
        ('sets.contains(device.driver.split(""), device.driver.split(""))', 100),
        ('device.driver.split("").map(c, 1).isSorted()', 115),
        ('device.driver.replace("x", "yy").size() > 0', 15),
    ],
)
def test_runtime_guard_counts_library_work(monkeypatch: pytest.MonkeyPatch, selector: str, limit: int) -> None:
    device = DeviceData.build("x" * 100)
    assert compile_selector(selector).evaluate(device) == Verdict(True)
    monkeypatch.setattr(cel, "RUNTIME_STEP_LIMIT", limit)
    verdict = compile_selector(selector).evaluate(device)
    assert verdict.error == f"evaluation stopped: it exceeded the runtime limit of {limit} steps"


_ANY_TEXT = st.text(max_size=12)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["ip", "cidr", "url", "isIP", "isCIDR", "isURL", "ip.isCanonical"]), _ANY_TEXT)
def test_parsers_never_fail_internally(function: str, text: str) -> None:
    literal = '"' + "".join(f"\\U{ord(c):08x}" for c in text) + '"'
    selector = f"string({function}({literal})) != ''" if function in ("ip", "cidr") else f"{function}({literal}) != 1"
    verdict = compile_selector(selector).evaluate(DeviceData.build("x"))
    assert verdict.error is None or "internal error" not in verdict.error


# --- Kubernetes itself (when the oracle is built) ----------------------------------------------


@pytest.mark.skipif(not ORACLE, reason=NO_ORACLE)
def test_the_tables_are_what_kubernetes_computes() -> None:
    results = run_oracle([{"expression": expression, "mode": "value"} for _, expression, _ in ALL_CASES])
    wrong = [
        (expression, result)
        for (_, expression, expected), result in zip(ALL_CASES, results, strict=True)
        if not agrees(oracle_result(result), expected_result(expected))
    ]
    assert not wrong


@pytest.mark.skipif(not ORACLE, reason=NO_ORACLE)
def test_kubernetes_accepts_and_matches_the_dra_cases() -> None:
    cases = [
        {"expression": case["selector"], "mode": "match", "device": oracle_device(*DEVICES[case["device"]])}
        for case in SELECTOR_CASES
    ]
    for case, result in zip(SELECTOR_CASES, run_oracle(cases), strict=True):
        assert "compileError" not in result
        assert result["cost"] <= MAX_COST, case["name"]
        outcome = "runtime-error" if "error" in result else "match" if result["matched"] else "no-match"
        assert outcome == case["outcome"], case["name"]


@pytest.mark.skipif(not ORACLE, reason=NO_ORACLE)
def test_kubernetes_makes_the_same_cost_decisions() -> None:
    cases = [(selector, False) for selector in REFUSED_SELECTORS] + tables.COST_CASES
    results = run_oracle([{"expression": selector, "mode": "match"} for selector, _ in cases])
    for (selector, accepted), result in zip(cases, results, strict=True):
        assert "compileError" not in result, selector
        assert (result["cost"] <= MAX_COST) == accepted, selector


def _random_expression(rng: random.Random) -> str:
    def text(alphabet: str, most: int, prefix: str = "") -> str:
        return '"' + prefix + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, most))) + '"'

    words, url, address = "aab é,-_/:%", "ab:/?#@[]%2541fF .;=&+é-~*!'", "0123456789abcdef:.%/"
    number = rng.randint(-2, 10)
    forms = [
        f"{text(words, 8)}.indexOf({text(words, 2)}, {number})",
        f"{text(words, 8)}.lastIndexOf({text(words, 2)}, {number})",
        f"{text(words, 8)}.replace({text(words, 2)}, {text(words, 2)}, {number})",
        f"{text(words, 8)}.split({text(words, 2)}, {number})",
        f"{text(words, 8)}.substring({number})",
        f"{text(words, 8)}.findAll({text('ab.*+?|^$()', 4)})",
        f"url({text(url, 12, rng.choice(['', 'http://', '/']))}).getEscapedPath()",
        f"url({text(url, 12, 'https://')}).getQuery()",
        f"isURL({text(url, 12)})",
        f"isIP({text(address, 12)})",
        f"isCIDR({text(address, 14)})",
    ]
    return rng.choice(forms)


@pytest.mark.skipif(not ORACLE, reason=NO_ORACLE)
def test_random_expressions_agree_with_kubernetes() -> None:
    rng = random.Random(13)
    expressions = [_random_expression(rng) for _ in range(2000)]
    results = run_oracle([{"expression": expression, "mode": "value"} for expression in expressions])
    wrong = [
        (expression, result)
        for expression, result in zip(expressions, results, strict=True)
        if not agrees(our_value(expression), oracle_result(result))
    ]
    assert not wrong
