"""`modelplane reconcile`, `scale` and `preview`: the service, scaling by config edit, and PR previews."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from ruamel.yaml import YAMLError

from modelplane.api.errors import problem_line
from modelplane.api.loading import missing_stack_file, stack_warnings
from modelplane.cli.app import app
from modelplane.cli.inputs import fail, warn
from modelplane.reconcile.auth import TOKEN_ENV, AuthSetupError, read_client_token, resolve_auth
from modelplane.reconcile.driver import AutomationStackDriver
from modelplane.reconcile.logs import Redactor
from modelplane.reconcile.preflight import Preflight, PreflightError, check_toolchain
from modelplane.reconcile.preview import StackPreview, preview_stack, render_markdown, render_rejected, to_json
from modelplane.reconcile.scaling import PlanRejectedError, UnknownDeploymentError, nudge, scale_deployment
from modelplane.reconcile.settings import ServiceSettings, default_state_dir, load_settings
from modelplane.reconcile.stackfiles import StackFileError, stack_file
from modelplane.sandbox.toolchain import load_pins

ProjectOpt = Annotated[Path, typer.Option("--project-dir", help="The Pulumi project directory.")]


def _settings_errors(error: ValidationError, config: Path | None) -> list[str]:
    where = str(config) if config is not None else "command line"
    return [problem_line(where, e["msg"], ".".join(str(p) for p in e["loc"])) for e in error.errors()]


@app.command()
def reconcile(
    stack: Annotated[list[str] | None, typer.Option("--stack", help="A stack to reconcile (repeatable).")] = None,
    project_dir: ProjectOpt = Path(),
    config: Annotated[Path | None, typer.Option("--config", help="Service settings file (YAML/JSON).")] = None,
    host: Annotated[str | None, typer.Option(help="HTTP bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port (default 8080).")] = None,
    parallelism: Annotated[int | None, typer.Option(help="Stacks updated at once (default 2).")] = None,
    drift_interval: Annotated[float | None, typer.Option(help="Seconds between drift checks (default 600).")] = None,
    auto_remediate: Annotated[
        bool | None, typer.Option("--auto-remediate/--no-auto-remediate", help="Apply drift, or only report it.")
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    state_dir: Annotated[
        Path | None, typer.Option(help="The service's journal and generated token (default ~/.local/state/...).")
    ] = None,
    token_file: Annotated[Path | None, typer.Option(help="File holding the API bearer token.")] = None,
    insecure_no_auth: Annotated[
        bool | None, typer.Option("--insecure-no-auth", help="No API token (only on a loopback address).")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve /metrics without a token on this port instead of the API port.")
    ] = None,
) -> None:
    """Run the reconcile service: keep each stack applied on config edits, drift and HTTP triggers."""
    from modelplane.reconcile.service import serve

    overrides: dict[str, Any] = {"http": {}, "runner": {}}
    if stack:
        overrides["stacks"] = list(dict.fromkeys(stack))
    if parallelism is not None:
        overrides["parallelism"] = parallelism
    if state_dir is not None:
        overrides["stateDir"] = str(state_dir)
    for section, key, value in (
        ("http", "host", host),
        ("http", "port", port),
        ("http", "tokenFile", None if token_file is None else str(token_file)),
        ("http", "insecureNoAuth", insecure_no_auth),
        ("http", "metricsPort", metrics_port),
        ("runner", "driftIntervalSeconds", drift_interval),
        ("runner", "autoRemediate", auto_remediate),
    ):
        if value is not None:
            overrides[section][key] = value
    try:
        settings = load_settings(config, overrides)
    except ValidationError as error:
        fail(_settings_errors(error, config))
    except (OSError, YAMLError) as error:
        fail([f"{config}: cannot read settings: {error}"])
    check_startup(settings, project_dir, log_level)
    raise typer.Exit(serve(settings, project_dir, log_level=log_level))


def check_startup(settings: ServiceSettings, project_dir: Path, log_level: str) -> None:
    """Refuse, before serving, a setup under which every run would fail: exit 2 with the fix in the message."""
    if not settings.stacks:
        fail([problem_line("command line", "no stack to reconcile: pass --stack NAME or list stacks in --config")])
    missing = [stack_file(project_dir, s) for s in settings.stacks if not stack_file(project_dir, s).is_file()]
    if missing:
        fail([f"{path}: {missing_stack_file(path)}" for path in missing])
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        fail([problem_line("command line", f"{log_level!r} is not one of DEBUG, INFO, WARNING, ERROR", "--log-level")])
    try:
        check_auth_setup(settings)
        check_toolchain(project_dir, settings.stacks, Preflight(install_hint(), redact=_environment_redactor().redact))
    except (AuthSetupError, PreflightError) as error:
        fail([str(error)])


def install_hint() -> str:
    """How to get the Pulumi CLI this project is tested with."""
    version = load_pins()["pulumi"]["version"]
    return (
        "build it with `modelplane sandbox tools` (it prints the directory to put on PATH) and, with a sandbox up, "
        f'run `eval "$(modelplane sandbox env)"`; or install Pulumi {version} (https://www.pulumi.com/docs/install/)'
    )


def _environment_redactor() -> Redactor:
    redactor = Redactor()
    redactor.register_environment(os.environ)
    return redactor


def check_auth_setup(settings: ServiceSettings) -> None:
    """Refuse an unsafe setup before anything starts (the service checks again when it resolves the token)."""
    http = settings.http
    if http.insecure_no_auth:
        resolve_auth(http, settings.state_dir, {})
    elif http.token_file is None and TOKEN_ENV in os.environ and not os.environ[TOKEN_ENV].strip():
        raise AuthSetupError(f"{TOKEN_ENV} is set but empty: an empty token is not 'no authentication'")


@app.command()
def scale(
    deployment: Annotated[str, typer.Argument(help="The deployment: NAME or NAMESPACE/NAME.")],
    replicas: Annotated[int, typer.Argument(min=0, help="The new replica count.")],
    stack: Annotated[str, typer.Option("--stack", help="The stack whose config to edit.")],
    project_dir: ProjectOpt = Path(),
    allow_unplaced: Annotated[
        bool, typer.Option("--allow-unplaced", help="Accept a plan that cannot place every replica.")
    ] = False,
    service_url: Annotated[
        str, typer.Option(envvar="MODELPLANE_SERVICE_URL", help="The running reconcile service to nudge.")
    ] = "http://127.0.0.1:8080",
    nudge_service: Annotated[bool, typer.Option("--nudge/--no-nudge", help="Ask the service to reconcile now.")] = True,
    token_file: Annotated[
        Path | None,
        typer.Option(help="The service's API token file (default: MODELPLANE_API_TOKEN, or the one it generated)."),
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="The service's state directory (for its generated token).")
    ] = None,
) -> None:
    """Set a deployment's replicas in the stack config, or in the manifest of `modelplane:manifests` that defines it,
    after checking the new plan; nothing changes if invalid."""
    warn(stack_warnings(project_dir, stack))
    try:
        result = scale_deployment(project_dir, stack, deployment, replicas, allow_unplaced=allow_unplaced)
    except (UnknownDeploymentError, StackFileError) as error:
        fail([str(error)])
    except PlanRejectedError as error:
        fail([f"{stack_file(project_dir, stack)}: the new plan is invalid; nothing changed", *error.problems])
    if not result.changed:
        typer.echo(f"{deployment}: already {replicas} replicas in stack {stack}; nothing changed")
        return
    typer.echo(f"{deployment}: replicas {result.previous} -> {replicas} in {result.path}")
    if nudge_service:
        token = read_client_token(token_file, state_dir or default_state_dir())
        problem = nudge(service_url, stack, token=token or "")
        if problem:
            typer.echo(f"notice: service not nudged ({problem}); a running service still sees the edit", err=True)


@app.command()
def preview(
    stack: Annotated[list[str], typer.Option("--stack", help="A stack to preview (repeatable).")],
    markdown: Annotated[bool, typer.Option("--markdown", help="A comment-ready summary instead of JSON.")] = False,
    project_dir: ProjectOpt = Path(),
    pulumi: Annotated[
        bool, typer.Option("--pulumi/--no-pulumi", help="Add `pulumi preview`'s summary when a CLI is installed.")
    ] = True,
) -> None:
    """Show what a change does: placement diff, free nodes per pool, route weights, Pulumi's summary."""
    redactor = _environment_redactor()  # a CI runner's tokens and passphrase never reach the comment
    driver = AutomationStackDriver(project_dir, redactor) if pulumi and shutil.which("pulumi") else None
    previews: list[StackPreview] = []
    sections: list[str] = []
    problems: list[str] = []
    for name in dict.fromkeys(stack):
        warn(stack_warnings(project_dir, name))
        try:
            result = preview_stack(project_dir, name, driver=driver, redactor=redactor)
        except StackFileError as error:
            fail([str(error)])
        except PlanRejectedError as error:
            sections.append(render_rejected(name, error.problems))
            problems.extend(error.problems)
            continue
        previews.append(result)
        sections.append(render_markdown(result))
    if markdown:
        typer.echo("\n".join(sections), nl=False)
    else:
        typer.echo(json.dumps([to_json(p) for p in previews], indent=2))
    if problems:
        fail(problems)
