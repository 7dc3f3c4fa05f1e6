"""Scaling by config edit: validate the new plan first, then edit the stack file, then nudge the service."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from modelplane.reconcile.manifest_edits import ManifestDeployment, find_deployment
from modelplane.reconcile.stackfiles import (
    DEPLOYMENTS_KEY,
    MANIFESTS_KEY,
    PLACEMENT_KEY,
    StackDocument,
    StackFileError,
    parse_placement,
    stack_file,
    stack_file_lock,
    write_atomically,
)


class PlanRejectedError(Exception):
    """The plan for the edited config is invalid (or cannot place what was asked); nothing was changed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class UnknownDeploymentError(LookupError):
    """The stack config declares no deployment of that name."""


class Planner(Protocol):
    """Shape of ``modelplane.planning.plan_stack_config``; raises ``PlanRejectedError`` on invalid input."""

    def __call__(
        self,
        config: Mapping[str, Any],
        *,
        project_dir: Path,
        source: str,
        previous: Mapping[str, Any] | None,
        texts: Mapping[Path, str] | None = None,
    ) -> dict[str, Any]: ...


def facade_planner(
    config: Mapping[str, Any],
    *,
    project_dir: Path,
    source: str,
    previous: Mapping[str, Any] | None,
    texts: Mapping[Path, str] | None = None,
) -> dict[str, Any]:
    """The project's planning facade, with its ``InvalidInputError`` mapped to ``PlanRejectedError``."""
    from modelplane.api.errors import InvalidInputError
    from modelplane.planning import plan_stack_config

    try:
        return plan_stack_config(config, project_dir=project_dir, source=source, previous=previous, texts=texts)
    except InvalidInputError as exc:
        raise PlanRejectedError(list(exc.problems)) from exc


@dataclass(frozen=True)
class ScaleResult:
    stack: str
    deployment: str
    previous: int | None
    replicas: int
    record: dict[str, Any]
    path: Path | None = None  # the file edited: the stack file, or the manifest defining the deployment

    @property
    def changed(self) -> bool:
        return self.previous != self.replicas


def _config_spec(doc: StackDocument, deployment: str) -> Mapping[str, Any] | None:
    deployments = doc.config.get(DEPLOYMENTS_KEY)
    spec = deployments.get(deployment) if isinstance(deployments, Mapping) else None
    return spec if isinstance(spec, Mapping) else None


def _manifest_deployment(project_dir: Path, doc: StackDocument, deployment: str) -> ManifestDeployment:
    """The one manifest document defining `deployment`; UnknownDeploymentError when there is none or several."""
    found = find_deployment(project_dir, doc.config, deployment)
    if len(found) == 1:
        return found[0]
    if found:
        places = ", ".join(f"{item.namespace}/{deployment.rpartition('/')[2]} at {item.where()}" for item in found)
        raise UnknownDeploymentError(
            f"{deployment[:64]!r} is defined {len(found)} times ({places}): name it NAMESPACE/NAME"
        )
    deployments = doc.config.get(DEPLOYMENTS_KEY)
    known = ", ".join(sorted(map(str, deployments))[:20]) if isinstance(deployments, Mapping) else "none"
    raise UnknownDeploymentError(
        f"{doc.path}: declares no deployment {deployment[:64]!r} under {DEPLOYMENTS_KEY} (known: {known}) "
        f"nor in the files of {MANIFESTS_KEY}"
    )


def _declared_replicas(spec: Mapping[str, Any]) -> int | None:
    """The replicas a deployment declares (None when unset or not a whole number: the plan reports that)."""
    value = spec.get("replicas")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_replicas(project_dir: Path, stack: str, deployment: str) -> int:
    """The replicas the stack declares for a deployment, in its config or its manifests (1 when unset)."""
    doc = StackDocument.load(stack_file(project_dir, stack))
    spec = _config_spec(doc, deployment)
    where = f"{DEPLOYMENTS_KEY}.{deployment}"
    if spec is None:
        manifest = _manifest_deployment(project_dir, doc, deployment)
        spec, where = manifest.spec, f"{manifest.where()}: spec"
    if "replicas" not in spec:
        return 1
    replicas = _declared_replicas(spec)
    if replicas is None:
        raise StackFileError(f"{where}.replicas is not a whole number")
    return replicas


def scale_deployment(
    project_dir: Path,
    stack: str,
    deployment: str,
    replicas: int,
    *,
    planner: Planner = facade_planner,
    allow_unplaced: bool = False,
) -> ScaleResult:
    """The edit of ``pulumi config set --path 'modelplane:deployments.<name>.replicas' N``, validated first; for a
    deployment defined in a file of ``modelplane:manifests``, the same edit of that document's ``spec.replicas``.

    Everything is checked before anything is written: the edit itself (in place, only that value's text), the
    placement record, the new plan. Raises ``UnknownDeploymentError``, ``StackFileError`` or ``PlanRejectedError``
    with every file untouched.
    """
    if replicas < 0:
        raise PlanRejectedError([f"replicas must be >= 0, got {replicas}"])
    path = stack_file(project_dir, stack)
    with stack_file_lock(path):
        keys = (DEPLOYMENTS_KEY, deployment, "replicas")
        doc = StackDocument.load(path, edit=keys)
        spec = _config_spec(doc, deployment)
        if spec is None:
            return _scale_manifest(project_dir, stack, doc, deployment, replicas, planner, allow_unplaced)
        previous = _previous_replicas(spec, f"{path}: {'.'.join(keys)}")
        edited = doc.with_value(keys, replicas)
        record = planner(
            edited.config,
            project_dir=project_dir,
            source=str(path),
            previous=parse_placement(edited.config.get(PLACEMENT_KEY)),
        )
        namespace = (spec.get("metadata") or {}).get("namespace") or None
        _require_placed(record, deployment, namespace, allow_unplaced)
        if edited.text != doc.text:
            edited.save()
    return ScaleResult(stack, deployment, previous, replicas, record, path)


def _scale_manifest(
    project_dir: Path,
    stack: str,
    doc: StackDocument,
    deployment: str,
    replicas: int,
    planner: Planner,
    allow_unplaced: bool,
) -> ScaleResult:
    """`scale_deployment` of a deployment defined in a manifest file; the plan reads the edited text in its place."""
    path = _manifest_deployment(project_dir, doc, deployment).path
    with stack_file_lock(path):
        manifest = _manifest_deployment(project_dir, doc, deployment)  # read again, now under the file's lock
        previous = _previous_replicas(manifest.spec, f"{manifest.where()}: spec.replicas")
        text = manifest.with_replicas(replicas)
        record = planner(
            doc.config,
            project_dir=project_dir,
            source=str(doc.path),
            previous=parse_placement(doc.config.get(PLACEMENT_KEY)),
            texts={manifest.path.resolve(): text},
        )
        _require_placed(record, deployment.rpartition("/")[2], manifest.namespace, allow_unplaced)
        if text != manifest.text:
            write_atomically(manifest.path, text)
    return ScaleResult(stack, deployment, previous, replicas, record, manifest.path)


def _previous_replicas(spec: Mapping[str, Any], shown: str) -> int | None:
    if isinstance(spec.get("replicas"), dict | list):
        kind = "a mapping" if isinstance(spec["replicas"], dict) else "a list"
        raise StackFileError(f"{shown} is {kind}, not a number; fix it by hand (nothing changed)")
    return _declared_replicas(spec)


def _require_placed(record: Mapping[str, Any], deployment: str, namespace: str | None, allow: bool) -> None:
    """Refuse a plan that cannot place every requested replica: asking for N and silently getting fewer is worse."""
    entries = [
        d
        for d in record.get("deployments", [])
        if d.get("name") == deployment and namespace in (None, d.get("namespace"))
    ]
    if not entries:
        raise PlanRejectedError([f"the plan has no entry for deployment '{deployment}'"])
    unplaced = sum(int(d.get("unplaced", 0)) for d in entries)
    if unplaced and not allow:
        desired = sum(int(d.get("desired", 0)) for d in entries)
        reasons = [r for d in entries for r in d.get("reasons", [])]
        raise PlanRejectedError([f"{deployment}: {unplaced} of {desired} replicas cannot be placed", *reasons])


def nudge(service_url: str, stack: str, *, token: str | None = None, timeout: float = 3.0) -> str | None:
    """Ask a running service to reconcile ``stack`` now; returns an error message, or None on success."""
    url = f"{service_url.rstrip('/')}/stacks/{quote(stack, safe='')}/reconcile"
    request = urllib.request.Request(url, method="POST", data=b"")
    token = token if token is not None else os.environ.get("MODELPLANE_API_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            json.load(response)
    except urllib.error.HTTPError as exc:
        return f"{url}: HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{url}: {getattr(exc, 'reason', exc)}"
    return None
