"""`modelplane sandbox tools | up | down | status | env`: the real toolchain and a local twin of a stack's fleet."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from modelplane.api.errors import InvalidInputError
from modelplane.api.loading import SECRETS_KEY, stack_source
from modelplane.cli.app import app
from modelplane.cli.console import console, table
from modelplane.cli.inputs import fail, load_or_exit
from modelplane.sandbox.cluster import SandboxError
from modelplane.sandbox.crds import CrdError, read_crds
from modelplane.sandbox.sandbox import Sandbox, ShapeProblemsError, SplitStack, UpRequest, pulumi_env
from modelplane.sandbox.shape import fleet_shapes
from modelplane.sandbox.stack import FLEET_STACK_KEY, ROLE_KEY
from modelplane.sandbox.state import LockedError
from modelplane.sandbox.status import sandbox_status
from modelplane.sandbox.toolchain import Toolchain, ToolchainError

sandbox_app = typer.Typer(no_args_is_help=True, help="A local sandbox fleet and the real Pulumi toolchain.")
app.add_typer(sandbox_app, name="sandbox")
TOOLS_COMMAND = "modelplane sandbox tools"


def _progress(line: str) -> None:
    typer.echo(line, err=True)


@sandbox_app.command()
def tools(
    check: Annotated[
        bool, typer.Option("--check", help="Build nothing: print the bin directory if it is built.")
    ] = False,
) -> None:
    """Build (or find) the toolchain from Go modules; print progress, then the bin directory."""
    if check:
        typer.echo(str(_installed_bin("sandbox tools --check")))
        return
    try:
        bin_dir = Toolchain().build_all(_progress)
    except ToolchainError as error:
        fail([f"sandbox tools: {error}"])
    typer.echo(str(bin_dir))


@sandbox_app.command()
def up(
    stack: Annotated[str, typer.Option("--stack", help="The stack whose fleet the sandbox twins.")],
    project_dir: Annotated[Path, typer.Option("--project-dir", help="The Pulumi project directory.")] = Path(),
    crds: Annotated[Path | None, typer.Option("--crds", help="A directory of real CRDs to install.")] = None,
    initial_nodes: Annotated[
        bool, typer.Option("--initial-nodes", help="Create nodeCount nodes per pool, not the autoscaling ceiling.")
    ] = False,
    port_base: Annotated[int | None, typer.Option(help="First port (default: free ports the kernel picks).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each cluster.")] = 180.0,
) -> None:
    """Start one control plane per InferenceCluster of STACK and leave the stack STACK-sandbox to `pulumi up`."""
    inputs = load_or_exit([], stack, project_dir)
    _, problems = fleet_shapes(inputs.fleet, ceiling=not initial_nodes)
    if problems:
        fail([str(problem) for problem in problems])
    bin_dir = _installed_bin("sandbox up")
    real = []
    if crds is not None:
        try:
            real = read_crds(crds)
        except CrdError as error:
            fail([str(error)])
    request = UpRequest(
        cluster_stacks=_split_stacks(project_dir, stack, inputs.config, inputs.fleet.clusters),
        stack=stack,
        fleet=inputs.fleet,
        config=inputs.config,
        declared_secrets=_declared_secrets(project_dir, stack),
        project_dir=project_dir.resolve(),
        bin_dir=bin_dir,
        crds=real,
        ceiling=not initial_nodes,
        port_base=port_base,
        timeout=timeout,
    )
    try:
        state = Sandbox().up(request, _progress)
    except ShapeProblemsError as error:
        fail([str(problem) for problem in error.problems])
    except (SandboxError, LockedError, InvalidInputError) as error:
        fail([f"sandbox up: {error}"])
    stacks = ", ".join([state.sandbox_stack, *state.cluster_stacks])
    typer.echo(f"sandbox of {stack} is up: {len(state.clusters)} cluster(s); stack(s) {stacks}", err=True)
    typer.echo(f'next: eval "$(modelplane sandbox env)"; pulumi up --stack {state.sandbox_stack} --yes', err=True)


@sandbox_app.command()
def down() -> None:
    """Stop every process the sandbox started and remove its state."""
    try:
        stopped = Sandbox().down(_progress)
    except LockedError as error:
        fail([f"sandbox down: {error}"])
    typer.echo(f"sandbox down: {len(stopped)} process(es) stopped" if stopped else "sandbox down: nothing was running")


@sandbox_app.command()
def status(
    output: Annotated[str, typer.Option("-o", "--output", help="table or json.")] = "table",
) -> None:
    """Each cluster: ports, process health, nodes and devices."""
    state = Sandbox().state()
    if state is None:
        fail(["sandbox status: no sandbox (start one with `modelplane sandbox up --stack NAME`)"])
    report = sandbox_status(state)
    if output == "json":
        typer.echo(json.dumps(report, indent=2))
        return
    clusters = table(
        f"sandbox of {report['stack']} (stack {report['sandboxStack']}), state in {report['root']}",
        ("CLUSTER", "SERVER", "PROCESSES", "NODES READY", "DEVICES", "RESOURCESLICES", "ERROR"),
    )
    for cluster in report["clusters"]:
        clusters.add_row(
            cluster["name"],
            cluster["server"],
            "\n".join(f"{name} {'up' if up else 'DOWN'}" for name, up in cluster["processes"].items()) or "-",
            f"{cluster['nodesReady']}/{cluster['nodes']}",
            str(cluster["devices"]),
            str(cluster["resourceSlices"]),
            cluster.get("error", "-"),
        )
    console().print(clusters)


@sandbox_app.command()
def env() -> None:
    """`export` lines for a shell: eval "$(modelplane sandbox env)"."""
    state = Sandbox().state()
    if state is None or not state.ready:
        fail(["sandbox env: no sandbox is up (start one with `modelplane sandbox up --stack NAME`)"])
    for key, value in pulumi_env(state).items():
        typer.echo(f"export {key}={shlex.quote(value)}")


def _installed_bin(command: str) -> Path:
    bin_dir = Toolchain().installed_bin()
    if bin_dir is None:
        fail([f"{command}: the toolchain is not built for the current pins; build it with `{TOOLS_COMMAND}`"])
    return bin_dir


def _stack_config(project_dir: Path, stack: str) -> dict[str, Any]:
    """A stack file's raw `config:` mapping ({} when it cannot be read: the loader has reported that already)."""
    try:
        settings = yaml.safe_load((project_dir / stack_source(project_dir, stack)).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    config = settings.get("config") if isinstance(settings, dict) else None
    return config if isinstance(config, dict) else {}


def _declared_secrets(project_dir: Path, stack: str) -> dict[str, Any] | None:
    """The names and keys under a stack's `modelplane:secrets` (the encrypted values themselves are never read)."""
    declared = _stack_config(project_dir, stack).get(SECRETS_KEY)
    return declared if isinstance(declared, dict) else None


def _split_stacks(
    project_dir: Path, stack: str, config: dict[str, Any], clusters: Mapping[str, Any]
) -> dict[str, SplitStack]:
    """For a fleet stack, each cluster stack (by the program's convention `<base>-<cluster>`) that names it."""
    if config.get(ROLE_KEY) != "fleet":
        return {}
    base = stack.removesuffix("-fleet")
    found = {}
    for cluster in clusters:
        name = f"{base}-{cluster}"
        own = _stack_config(project_dir, name)
        if own.get(ROLE_KEY) == "cluster" and str(own.get(FLEET_STACK_KEY, "")).rsplit("/", 1)[-1] == stack:
            public = {key: value for key, value in own.items() if key != SECRETS_KEY}
            found[cluster] = SplitStack(name, public, _declared_secrets(project_dir, name))
    return found
