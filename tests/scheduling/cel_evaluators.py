"""The evaluators the CEL library tests compare: this project's, Kubernetes' and cel-cpp's.

Values from each are put in one canonical form (``canonical``, ``from_oracle``,
``from_cel_cpp``, ``from_table``): ``("int", 3)``, ``("list", [...])``, ``("map", pairs)``,
``("ip", "::1")``... so that an int is never equal to a bool or a uint, and quantities
compare by value (as Kubernetes' ``==`` does), not by their text.

Kubernetes' side is ``tests/scheduling/k8s_oracle``, a Go program over
k8s.io/dynamic-resource-allocation/cel v0.34.4; set ``MODELPLANE_K8S_ORACLE`` to the
built binary to run the tests that use it.
"""

from __future__ import annotations

import base64
import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

from modelplane.scheduling import cel
from modelplane.scheduling.cel import AttributeValue, CelCompileError, DeviceData
from modelplane.scheduling.cel_net import CIDR, IP
from modelplane.scheduling.cel_runtime import CelType, EvalError, Uint
from modelplane.scheduling.cel_url import URL
from modelplane.scheduling.quantity import Quantity
from modelplane.scheduling.semver import Semver
from tests.scheduling.cel_library_cases import Err, Typed, U

ORACLE = os.environ.get("MODELPLANE_K8S_ORACLE")
NO_ORACLE = "set MODELPLANE_K8S_ORACLE to the binary built from tests/scheduling/k8s_oracle to compare with Kubernetes"
DEFAULT_DRIVER = "oracle.example.com"

Result = tuple[str, Any]  # ("value", canonical value), ("error", message) or ("rejected", message)


# --- canonical values ----------------------------------------------------------------


def _double(value: float) -> tuple[str, Any]:
    return ("double", "NaN" if math.isnan(value) else value)


def _map(pairs: list[tuple[Any, Any]]) -> tuple[str, Any]:
    return ("map", sorted(pairs, key=lambda pair: repr(pair[0])))


_KINDS = {IP: "ip", CIDR: "cidr", URL: "url", Semver: "semver"}


def canonical(value: Any) -> Any:
    """A value of this project's evaluator."""
    kind = type(value)
    if value is None or kind in (bool, str):
        return value
    if kind in (int, Uint):
        return ("uint" if kind is Uint else "int", int(value))
    if kind is float:
        return _double(value)
    if kind is bytes:
        return ("bytes", value)
    if kind is list:
        return ("list", [canonical(item) for item in value])
    if isinstance(value, dict):
        return _map([(canonical(cel._unwrap_key(key)), canonical(item)) for key, item in value.items()])
    if kind is Quantity:
        return ("quantity", value)
    if kind is CelType:
        return ("type", value.name)
    return (_KINDS[kind], str(value))


def from_table(value: Any) -> Any:
    """An expected value written in ``cel_library_cases``."""
    if isinstance(value, Typed):
        return tuple(value)
    if type(value) is U:
        return ("uint", int(value))
    if isinstance(value, dict):
        return _map([(from_table(key), from_table(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [from_table(item) for item in value])
    return canonical(value)


def from_oracle(value: Any) -> Any:
    """A value as k8s_oracle writes it (see its ``encode``)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, list):
        return ("list", [from_oracle(item) for item in value])
    ((kind, text),) = value.items()
    if kind == "map":
        return _map([(from_oracle(key), from_oracle(item)) for key, item in text])
    if kind in ("int", "uint"):
        return (kind, int(text))
    if kind == "double":
        return _double(float(text))
    if kind == "bytes":
        return ("bytes", base64.b64decode(text))
    if kind == "quantity":
        return ("quantity", Quantity.parse(text))
    return (kind, text)


def from_cel_cpp(value: Any) -> Result:
    """A ``cel_expr_python`` Value."""
    kind = value.type().name()
    if kind == "ERROR":
        return ("error", value.value())
    return ("value", _cel_cpp_value(value))


def _cel_cpp_value(value: Any) -> Any:
    kind, raw = value.type().name(), value.value()
    if kind in ("INT", "UINT"):
        return (kind.lower(), raw)
    if kind == "DOUBLE":
        return _double(raw)
    if kind == "BYTES":
        return ("bytes", bytes(raw))
    if kind.startswith("LIST"):
        return ("list", [_cel_cpp_value(item) for item in raw])
    if kind.startswith("MAP"):
        return _map([(_cel_cpp_key(key), _cel_cpp_value(item)) for key, item in raw.items()])
    return raw  # BOOL, STRING, NULL


def _cel_cpp_key(key: Any) -> Any:
    return _cel_cpp_value(key) if hasattr(key, "type") else canonical(key)


def same(a: Any, b: Any) -> bool:
    """Equal canonical values; quantities by value."""
    if isinstance(a, tuple) and isinstance(b, tuple) and a[:1] == b[:1] == ("quantity",):
        return a[1].compare_to(b[1]) == 0
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    return type(a) is type(b) and a == b


# --- this project's evaluator ------------------------------------------------------------


def our_value(expression: str, device: DeviceData | None = None) -> Result:
    """Evaluate to a value of any type, skipping the cost limit (as the oracle's value mode does)."""
    compiler = cel._Compiler(expression)
    try:
        node = compiler.expr(cel._parser().parse(expression))
    except CelCompileError as err:
        return ("rejected", str(err))
    except cel.CELParseError as err:
        return ("rejected", str(err))
    activation = cel._activation(device or DeviceData.build(DEFAULT_DRIVER))
    try:
        return ("value", canonical(node.run(cel._Frame(activation, compiler.slot_count))))
    except EvalError as err:
        return ("error", str(err))


def expected_result(expected: Any) -> Result:
    if isinstance(expected, Err):
        return ("error", expected.message)
    return ("value", from_table(expected))


def agrees(result: Result, expected: Result) -> bool:
    """The same value, or both errors (whose messages differ between evaluators)."""
    if result[0] == expected[0] == "value":
        return same(result[1], expected[1])
    return result[0] == expected[0]


# --- devices -----------------------------------------------------------------------------


def device_data(driver: str, entry: dict) -> DeviceData:
    """A ResourceSlice ``spec.devices[]`` entry as this evaluator's device."""
    attributes = {}
    for name, typed in entry.get("attributes", {}).items():
        ((kind, value),) = typed.items()
        attributes[name] = AttributeValue(kind, value)
    capacity = {name: value["value"] for name, value in entry.get("capacity", {}).items()}
    return DeviceData.build(driver, attributes, capacity)


def oracle_device(driver: str, entry: dict) -> dict:
    capacity = {name: value["value"] for name, value in entry.get("capacity", {}).items()}
    return {"driver": driver, "attributes": entry.get("attributes", {}), "capacity": capacity}


# --- Kubernetes ------------------------------------------------------------------------------


def run_oracle(cases: list[dict]) -> list[dict]:
    """Kubernetes' results for ``{"expression", "mode", "device"?}`` cases (see k8s_oracle/main.go)."""
    assert ORACLE, NO_ORACLE
    completed = subprocess.run(
        [str(Path(ORACLE))], input=json.dumps(cases), capture_output=True, text=True, check=True, timeout=600
    )
    return json.loads(completed.stdout)


def oracle_result(result: dict) -> Result:
    if result.get("hasValue"):
        return ("value", from_oracle(result.get("value")))
    if "error" in result:
        return ("error", result["error"])
    return ("rejected", result.get("compileError", ""))
