"""The planning facade: inputs → placement → the record that `plan -o json` prints and the next plan reads."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelplane import collector
from modelplane.api.errors import InvalidInputError, Origin, Problem
from modelplane.api.fleet import Fleet
from modelplane.api.loading import fleet_from_stack_config, previous_from_config
from modelplane.api.model_deployment import ModelDeployment
from modelplane.api.model_service import ModelService
from modelplane.api.record import record_problems
from modelplane.compose.common import LABEL_CLUSTER, LABEL_DEPLOYMENT, LABEL_REPLICA_INDEX
from modelplane.compose.routing import service_backends
from modelplane.scheduling.placement import Placement, RecordError, replicas_from_record, to_record
from modelplane.scheduling.scheduler import schedule
from modelplane.scheduling.validation import semantic_problems


def plan(
    fleet: Fleet, previous: Mapping[str, Any] | None = None, *, explain: bool = False, source: str = "previous"
) -> Placement:
    """Schedule the fleet, keeping what the previous record placed where it still fits; a record out of its bounds
    (types, ranges, replicas per deployment) is an input problem, found before the scheduler sees it."""
    problems = record_problems(previous, Origin(source))
    if problems:
        raise InvalidInputError(problems)
    with collector.paused():
        try:
            replicas = replicas_from_record(previous)
        except RecordError as error:
            raise InvalidInputError([Problem(Origin(source), "", "", "", str(error))]) from None
        return schedule(fleet, replicas, explain=explain)


def plan_record(fleet: Fleet, placement: Placement, *, explain: bool = False) -> dict[str, Any]:
    """The placement record plus each ModelService's backends and weights."""
    with collector.paused():
        record = to_record(placement, explain=explain)
        record["services"] = service_backends(fleet, placement)
    return record


def unrouted_services(fleet: Fleet, placement: Placement) -> list[str]:
    """Per ModelService that routes to nothing, why: the plan's reasons for the deployments its endpoints select."""
    lines: list[str] = []
    for entry in service_backends(fleet, placement):
        if entry["backends"]:
            continue
        service = fleet.services[f"{entry['namespace']}/{entry['name']}"]
        reasons = [
            f"ModelDeployment {item.key}: {'; '.join(item.reasons) or 'no replica placed'}"
            for item in placement.deployments
            if item.namespace == service.namespace and _selects(service, fleet.deployments[item.key])
        ]
        why = "; ".join(reasons) or "no ModelDeployment or ModelEndpoint matches its endpoints"
        lines.append(f"ModelService {service.key} routes to nothing: {why}")
    return lines


def _selects(service: ModelService, deployment: ModelDeployment) -> bool:
    """Whether an endpoint selector of the service picks the deployment's replicas, wherever they run."""
    labels = {**deployment.spec.template.metadata.labels, LABEL_DEPLOYMENT: deployment.name}
    return any(
        all(labels.get(key) == value for key, value in entry.selector.match_labels.items() if key not in _WHERE)
        for entry in service.spec.endpoints
    )


_WHERE = (LABEL_CLUSTER, LABEL_REPLICA_INDEX)  # labels that only say where a replica runs


def checked_fleet(
    config: Mapping[str, Any], *, project_dir: Path, source: str, texts: Mapping[Path, str] | None = None
) -> Fleet:
    """A stack's Fleet, checked exactly as `modelplane plan` checks it (schema, references, CEL, quantities)."""
    with collector.paused():
        fleet = fleet_from_stack_config(config, project_dir=project_dir, source=source, texts=texts)
        problems = semantic_problems(fleet)
    if problems:
        raise InvalidInputError(problems)
    return fleet


def plan_stack_config(
    config: Mapping[str, Any],
    *,
    project_dir: Path,
    source: str,
    previous: Mapping[str, Any] | None = None,
    texts: Mapping[Path, str] | None = None,
) -> dict[str, Any]:
    """Validate and plan a stack's `config:` mapping (`texts` stand in for manifest files, by resolved path);
    raises InvalidInputError with every problem."""
    fleet = checked_fleet(config, project_dir=project_dir, source=source, texts=texts)
    if previous is None:
        previous = previous_from_config(config)
    return plan_record(fleet, plan(fleet, previous, source=source))
