"""Per-evaluation time of DRA selectors that use the CEL extension libraries.

Runs every selector of tests/scheduling/cel_extension_cases.py on its device with this
project's evaluator, and, where cel-expr-python (cel-cpp) has the functions (strings, sets,
cel.bind), with that too; both get the device prepared once, as a plan does. Prints
microseconds per evaluation. ``python -m bench.cel_bench``
"""

from __future__ import annotations

import statistics
import time

from modelplane.scheduling import cel
from modelplane.scheduling.cel import compile_selector
from tests.scheduling.cel_evaluators import device_data
from tests.scheduling.cel_extension_cases import DEVICES, SELECTOR_CASES

ROUNDS = 2000
KUBERNETES_ONLY = ("find", "cidr(", "ip(", "url(", "quantity", "isSorted", ".max()", "indexOf(device", "asInteger")


def _per_call(function: object, rounds: int = ROUNDS) -> float:
    """The best of three timings, in microseconds per call (the machine may be busy)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(rounds):
            function()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best / rounds * 1e6


def _cel_cpp() -> object | None:
    try:
        from cel_expr_python import cel  # Optional: a test-only dependency.
    except ImportError:
        return None
    extensions = "extensions:\n  - name: strings\n    version: 2\n  - name: sets\n  - name: bindings\n"
    config = cel.NewEnvConfigFromYaml(extensions)
    return cel, cel.NewEnv(config=config, variables={"device": cel.Type.DYN})


def _as_cel_cpp_device(driver: str, entry: dict) -> dict:
    attributes: dict[str, dict] = {}
    for name, typed in entry["attributes"].items():
        domain, _, key = name.rpartition("/") if "/" in name else (driver, "", name)
        ((kind, value),) = typed.items()
        if kind != "version":
            attributes.setdefault(domain or driver, {})[key] = value
    return {"driver": driver, "attributes": attributes, "capacity": {}}


def main() -> None:
    cpp = _cel_cpp()
    ours_times, cpp_times = [], []
    print(f"{'selector':48} {'ours µs':>8} {'cel-cpp µs':>11}")
    for case in SELECTOR_CASES:
        driver, entry = DEVICES[case["device"]]
        selector, device = compile_selector(case["selector"]), cel._activation(device_data(driver, entry))
        ours = _per_call(lambda selector=selector, device=device: selector._evaluate_activation(device))
        ours_times.append(ours)
        other = "-"
        if cpp is not None and not any(word in case["selector"] for word in KUBERNETES_ONLY):
            expression = cpp[1].compile(case["selector"])
            activation = cpp[1].Activation({"device": _as_cel_cpp_device(driver, entry)})
            value = _per_call(lambda expression=expression, activation=activation: expression.eval(activation))
            cpp_times.append(value)
            other = f"{value:.1f}"
        print(f"{case['name']:48} {ours:8.1f} {other:>11}")
    print(f"median: ours {statistics.median(ours_times):.1f} µs over {len(ours_times)} selectors", end="")
    if cpp_times:
        print(f"; cel-cpp {statistics.median(cpp_times):.1f} µs over {len(cpp_times)} (no k8s libraries)", end="")
    print()


if __name__ == "__main__":
    main()
