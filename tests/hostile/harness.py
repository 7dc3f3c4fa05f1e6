"""Running the `modelplane` CLI on hostile input in-process: exit code, output, time, peak memory, files after.

Every hostile case must end in exit 2 with a message naming the file, object and field or the limit, with no
traceback, within TIME_BOUND seconds and MEMORY_BOUND bytes (traced in this process), and leave every file of its
project byte for byte as it was.
"""

from __future__ import annotations

import copy
import resource
import time
import tracemalloc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from modelplane.cli import app

# Generous for a loaded 2-core machine with allocation tracing on (which slows allocation-heavy code ~3x); the
# failures this suite guards against took minutes and gigabytes.
TIME_BOUND = 10.0
MEMORY_BOUND = 256 * 2**20
API = "modelplane.ai/v1alpha1"

BASE = f"""\
apiVersion: {API}
kind: InferenceClass
metadata: {{name: l4-1x}}
spec:
  devices:
    - name: gpu
      driver: gpu.nvidia.com
      deviceClassName: gpu.nvidia.com
      count: 1
      attributes: {{productName: {{string: NVIDIA L4}}}}
      capacity: {{memory: {{value: 24Gi}}}}
---
apiVersion: {API}
kind: InferenceCluster
metadata: {{name: lab, labels: {{region: lab}}}}
spec:
  cluster: {{source: Existing, existing: {{secretRef: {{name: lab-kubeconfig}}}}}}
  nodePools: [{{name: l4, className: l4-1x, nodeCount: 2}}]
---
apiVersion: {API}
kind: ModelDeployment
metadata: {{name: qwen, namespace: ml-team}}
spec:
  replicas: 1
  template:
    spec:
      engines:
        - name: engine
          members:
            - role: Standalone
              nodeSelector:
                devices: [{{name: gpu, count: 1, selectors: [{{cel: 'device.driver == "gpu.nvidia.com"'}}]}}]
              template:
                spec:
                  containers: [{{name: engine, image: vllm/vllm-openai:v0.23.0}}]
---
apiVersion: {API}
kind: ModelService
metadata: {{name: qwen, namespace: ml-team}}
spec:
  endpoints: [{{selector: {{matchLabels: {{modelplane.ai/deployment: qwen}}}}, weight: 1}}]
"""
CONFIG_KEYS = {
    "InferenceClass": "modelplane:classes",
    "InferenceCluster": "modelplane:clusters",
    "ModelDeployment": "modelplane:deployments",
    "ModelService": "modelplane:services",
    "ModelCache": "modelplane:caches",
}
PROJECT_FILE = "name: modelplane\nruntime: python\nstackConfigDir: stacks\n"


def base_documents() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(BASE))


def document(kind: str, documents: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return next(item for item in documents or base_documents() if item["kind"] == kind)


def edited(kind: str, path: str, value: Any) -> list[dict[str, Any]]:
    """The base fleet with `path` (e.g. `spec.replicas`) of its `kind` document set to `value`."""
    documents = base_documents()
    target: Any = document(kind, documents)
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(parts[-1])] = copy.deepcopy(value)
    else:
        target[parts[-1]] = copy.deepcopy(value)
    return documents


def manifest(documents: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False)


def stack_text(documents: list[dict[str, Any]], extra: Mapping[str, Any] | None = None) -> str:
    """The same fleet as a stack file: `modelplane:<kinds>` maps of name → spec fields (+ metadata)."""
    config: dict[str, Any] = {}
    for item in documents:
        fields = dict(item["spec"])
        metadata = {key: value for key, value in item["metadata"].items() if key != "name"}
        if metadata:
            fields["metadata"] = metadata
        config.setdefault(CONFIG_KEYS[item["kind"]], {})[item["metadata"]["name"]] = fields
    config.update(extra or {})
    return yaml.safe_dump({"config": config}, sort_keys=False)


@dataclass
class Case:
    """One hostile input: the files of a project, the command line (`{dir}` is the project) and what the error
    must say. `env` sets limits or allowances for the run only."""

    files: Mapping[str, str | bytes]
    args: list[str]
    expect: str
    env: Mapping[str, str] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None
    # Inputs of millions of objects are timed untraced (tracing would dominate) and bounded by peak RSS instead.
    trace: bool = True


def plan_manifest(text: str | bytes, expect: str, *, name: str = "fleet.yaml", **kw: Any) -> Case:
    return Case({name: text}, ["plan", f"{{dir}}/{name}"], expect, **kw)


def plan_stack(text: str | bytes, expect: str, **kw: Any) -> Case:
    files = {"Pulumi.yaml": PROJECT_FILE, "stacks/Pulumi.dev.yaml": text, **kw.pop("files", {})}
    return Case(files, ["plan", "--stack", "dev", "--project-dir", "{dir}"], expect, **kw)


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    peak_bytes: int
    exception: BaseException | None


def write_project(root: Path, files: Mapping[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def snapshot(root: Path) -> dict[str, tuple[str, bytes | str]]:
    """Every entry below `root`: files by content, symlinks by target, directories by name."""
    found: dict[str, tuple[str, bytes | str]] = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[name] = ("link", str(path.readlink()))
        elif path.is_file():
            found[name] = ("file", path.read_bytes())
        else:
            found[name] = ("dir", "")
    return found


def invoke(args: list[str], env: Mapping[str, str] | None = None, *, trace: bool = True) -> Outcome:
    runner = CliRunner(env=dict(env or {}))
    if not trace:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        result = runner.invoke(app, args)
        seconds = time.perf_counter() - started
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024  # growth of the high-water mark
        exception = None if isinstance(result.exception, SystemExit) else result.exception
        return Outcome(result.exit_code, result.stdout, result.stderr, seconds, peak, exception)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = runner.invoke(app, args)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    exception = None if isinstance(result.exception, SystemExit) else result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr, seconds, peak, exception)


def run_case(case: Case, root: Path) -> Outcome:
    write_project(root, case.files)
    if case.setup:
        case.setup(root)
    before = snapshot(root)
    outcome = invoke([arg.replace("{dir}", str(root)) for arg in case.args], case.env, trace=case.trace)
    assert snapshot(root) == before, "files changed"
    return outcome


def assert_refused(case: Case, root: Path) -> Outcome:
    """The contract for hostile input: exit 2, the expected message, no traceback, bounded cost, nothing changed."""
    outcome = run_case(case, root)
    assert outcome.exception is None, repr(outcome.exception)
    assert "Traceback" not in outcome.stderr
    assert outcome.exit_code == 2, (outcome.exit_code, outcome.stdout[-500:], outcome.stderr[-2000:])
    assert outcome.stdout == ""
    assert case.expect.replace("{dir}", str(root)) in outcome.stderr, outcome.stderr[-2000:]
    assert outcome.seconds < TIME_BOUND, outcome.seconds
    assert outcome.peak_bytes < MEMORY_BOUND, outcome.peak_bytes
    assert all(len(line) < 1000 for line in outcome.stderr.splitlines()), "an unbounded value was printed"
    return outcome
