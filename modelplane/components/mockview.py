"""Run the Pulumi program in-process under the SDK's mock monitor, recording every registration.

Shared by the tests and `modelplane synth`. Nothing is deployed and no engine is involved: `pulumi.runtime.set_mocks`
replaces the engine, and `Mocks.new_resource` answers with plausible fake outputs. Several programs can run in one
process: each run gets a fresh event loop (created before `set_mocks`, so the runtime's futures bind to it), fresh
settings and config, and its own root Stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_in_stack

PROJECT = "modelplane"
ORGANIZATION = "organization"  # what a self-managed backend calls every stack's organization


@dataclass(frozen=True)
class Registration:
    """One resource as the engine would see it: URN-derived type and name, parent and provider by URN."""

    urn: str
    type: str
    name: str
    parent: str  # parent URN ("" for the root stack)
    provider: str  # provider URN ("" when the default provider would be used)
    inputs: Mapping[str, Any]
    read: bool = False  # a `.get` read or a stack reference, not a managed resource
    dependencies: tuple[str, ...] = ()  # URNs it waits for (depends_on and inputs)

    @property
    def parent_name(self) -> str:
        return self.parent.rsplit("::", 1)[-1] if self.parent else ""

    @property
    def provider_name(self) -> str:
        return self.provider.rsplit("::", 1)[-1] if self.provider else ""


class RecordingMocks(pulumi.runtime.Mocks):
    """Fake outputs per resource type; `stack_outputs` answers StackReferences by stack name."""

    def __init__(self, stack_outputs: Mapping[str, tuple[Mapping[str, Any], list[str]]] | None = None) -> None:
        self.stack_outputs = dict(stack_outputs or {})

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.typ == "pulumi:pulumi:StackReference":
            outputs, secret = self.stack_outputs.get(args.inputs.get("name", ""), ({}, []))
            return args.name, {"name": args.inputs.get("name"), "outputs": dict(outputs), "secretOutputNames": secret}
        state = {**args.inputs, "name": args.inputs.get("name", args.name)}
        state.update(_FAKE_OUTPUTS.get(args.typ, lambda _args: {})(args))
        return args.resource_id or f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


def _fake_ip(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return f"203.0.113.{digest[0] % 250 + 1}"  # TEST-NET-3: never a real address


def _service_status(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
    if not args.resource_id:
        return {}
    return {"status": {"loadBalancer": {"ingress": [{"ip": _fake_ip(f"{args.name}/{args.resource_id}")}]}}}


_FAKE_OUTPUTS: dict[str, Callable[[pulumi.runtime.MockResourceArgs], dict[str, Any]]] = {
    "aws:eks/cluster:Cluster": lambda args: {
        "endpoint": f"https://{args.name}.eks.example.invalid",
        "certificateAuthority": {"data": "bW9jay1jYQ=="},
        "vpcConfig": {**args.inputs.get("vpcConfig", {}), "clusterSecurityGroupId": f"sg-{args.name}-cluster"},
    },
    "aws:iam/role:Role": lambda args: {"arn": f"arn:aws:iam::000000000000:role/{args.name}"},
    "aws:ec2/launchTemplate:LaunchTemplate": lambda _args: {"latestVersion": 1},
    "gcp:container/cluster:Cluster": lambda args: {
        "endpoint": _fake_ip(args.name),
        "masterAuth": {"clusterCaCertificate": "bW9jay1jYQ=="},
    },
    "gcp:compute/network:Network": lambda _args: {"project": "mock-project"},
    "kubernetes:core/v1:Service": _service_status,
}


class _RecordingMonitor(MockMonitor):
    """The SDK's mock monitor, also keeping each request's parent and provider (MockResourceArgs lacks the parent)."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method name)
        response = super().RegisterResource(request)
        self._record(request, response.urn, read=False)
        return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802
        response = super().ReadResource(request)
        self._record(request, response.urn, read=True)
        return response

    def _record(self, request: Any, urn: str, *, read: bool) -> None:
        if request.type == "pulumi:pulumi:Stack":
            return
        state = self.resources.get(urn)
        inputs = dict(state.state) if state else {}
        provider = request.provider.rsplit("::", 1)[0] if request.provider else ""
        dependencies = tuple(getattr(request, "dependencies", ()))
        self.registrations.append(
            Registration(urn, request.type, request.name, request.parent, provider, inputs, read, dependencies)
        )


@dataclass
class MockRun:
    """What one program run registered, exported and logged; `error` is what stopped it, if anything."""

    registrations: list[Registration]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    logs: list[tuple[str, str]] = field(default_factory=list)
    error: BaseException | None = None

    def of_type(self, type_: str) -> list[Registration]:
        return [item for item in self.registrations if item.type == type_]

    def named(self, type_: str, name: str) -> Registration:
        found = [item for item in self.of_type(type_) if item.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources of type {type_} named {name}")
        return found[0]

    def messages(self, level: str) -> list[str]:
        return [message for severity, message in self.logs if severity == level]


class _Collect(logging.Handler):
    def __init__(self, sink: list[tuple[str, str]]) -> None:
        super().__init__(logging.INFO)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append((record.levelname.lower(), record.getMessage()))


def config_values(config: Mapping[str, Any], placeholder: str = "mock-secret") -> tuple[dict[str, str], list[str]]:
    """Stack-file `config:` as the CLI hands it to a program: JSON text for structured values. `secure:` values
    cannot be decrypted here, so they become `placeholder` and their keys are marked secret."""
    values, secret = {}, []
    for key, value in config.items():
        plain, had_secure = _strip_secure(value, placeholder)
        values[key] = plain if isinstance(plain, str) else json.dumps(plain)
        if had_secure:
            secret.append(key)
    return values, secret


def _strip_secure(value: Any, placeholder: str) -> tuple[Any, bool]:
    if isinstance(value, Mapping):
        if set(value) == {"secure"}:
            return placeholder, True
        items = {key: _strip_secure(item, placeholder) for key, item in value.items()}
        return {key: item for key, (item, _) in items.items()}, any(found for _, found in items.values())
    if isinstance(value, list):
        items = [_strip_secure(item, placeholder) for item in value]
        return [item for item, _ in items], any(found for _, found in items)
    return value, False


def run_program(
    program: Callable[[], Awaitable[None]],
    config: Mapping[str, str],
    *,
    stack: str,
    secret_keys: list[str] | None = None,
    stack_outputs: Mapping[str, tuple[Mapping[str, Any], list[str]]] | None = None,
    project_dir: Path | None = None,
    preview: bool = True,
) -> MockRun:
    """Run `program` as `pulumi up`/`preview` would on stack `stack`, under mocks; never raises for program errors."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    monitor = _RecordingMonitor(RecordingMocks(stack_outputs))
    logs: list[tuple[str, str]] = []
    logger = logging.getLogger(f"modelplane.mockview.{id(monitor)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(_Collect(logs))
    runtime_settings.reset_options(project=PROJECT, stack=stack, preview=preview, organization=ORGANIZATION)
    runtime_config.set_all_config(dict(config), secret_keys or [])
    pulumi.runtime.set_mocks(
        monitor.mocks,
        project=PROJECT,
        stack=stack,
        preview=preview,
        logger=logger,
        monitor=monitor,
        organization=ORGANIZATION,
    )
    runtime_settings.set_root_resource(None)  # set_mocks made a finished root; run_in_stack makes a live one
    holder: dict[str, Any] = {}

    def entry() -> Awaitable[None]:
        holder["stack"] = runtime_settings.get_root_resource()
        return program()

    error: BaseException | None = None
    outputs: dict[str, Any] = {}
    secret: set[str] = set()
    try:
        with contextlib.chdir(project_dir or Path.cwd()):
            loop.run_until_complete(run_in_stack(entry))
        outputs, secret = loop.run_until_complete(_resolve(holder["stack"].outputs))
    except Exception as exc:  # noqa: BLE001 - a failed program is a result to show, not a crash
        error = exc
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    return MockRun(monitor.registrations, outputs, secret, logs, error)


async def _resolve(exports: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    values, secret = {}, set()
    for key, value in exports.items():
        output = pulumi.Output.from_input(value)
        values[key] = await output.future()
        if await output.is_secret():
            secret.add(key)
    return values, secret


def tree(run: MockRun) -> list[str]:
    """The registrations as an indented tree: `type name [provider]`, reads marked."""
    known = {item.urn for item in run.registrations}
    children: dict[str, list[Registration]] = {}
    for item in run.registrations:
        children.setdefault(item.parent if item.parent in known else "", []).append(item)
    lines: list[str] = []

    def walk(parent: str, depth: int) -> None:
        for item in sorted(children.get(parent, []), key=lambda entry: (entry.type, entry.name)):
            provider = f"  [provider: {item.provider_name}]" if item.provider else ""
            read = "  (read)" if item.read else ""
            lines.append(f"{'  ' * depth}{item.type}  {item.name}{provider}{read}")
            walk(item.urn, depth + 1)

    walk("", 0)
    return lines
