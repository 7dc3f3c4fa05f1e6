"""Running the program on a stack file (or a variant of it) under mocks."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from modelplane.api import names
from modelplane.components import mockview
from modelplane.components.fleet import main

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "local-kubeconfig": {"kubeconfig": "apiVersion: v1\nkind: Config\n# kind test kubeconfig"},
    "hf-token": {"HF_TOKEN": "hf_test_token_value"},
}
K8S_PREFIX = "kubernetes:"


@cache
def _stack_file(stack: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]


def stack_config(stack: str) -> dict[str, Any]:
    """A fresh copy of a stack file's `config:`, safe to edit."""
    return copy.deepcopy(_stack_file(stack))


def run(
    config: Mapping[str, Any],
    stack: str = "prod",
    *,
    secrets: Mapping[str, Any] | None = SECRETS,
    stack_outputs: Mapping[str, tuple[Mapping[str, Any], list[str]]] | None = None,
) -> mockview.MockRun:
    """The program on `config` as stack `stack`; secrets are set as a Pulumi secret key, as the CLI would."""
    values = {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()}
    secret_keys = []
    if secrets is not None:
        values["modelplane:secrets"] = json.dumps(secrets)
        secret_keys.append("modelplane:secrets")
    return mockview.run_program(
        main, values, stack=stack, secret_keys=secret_keys, stack_outputs=stack_outputs, project_dir=ROOT
    )


def resources(result: mockview.MockRun) -> set[tuple[str, str]]:
    return {(item.type, item.name) for item in result.registrations}


def replica_component(record: Mapping[str, Any], deployment: Mapping[str, Any], replica: Mapping[str, Any]) -> str:
    name = names.replica_name(deployment["name"], replica["cluster"], int(replica["index"]))
    return f"{replica['cluster']}/{deployment['namespace']}/{name}"


def set_replicas(config: dict[str, Any], deployment: str, replicas: int, previous: Mapping[str, Any]) -> dict[str, Any]:
    """`pulumi config set --path 'modelplane:deployments.<name>.replicas' N` after an up that recorded `previous`."""
    changed = copy.deepcopy(config)
    changed["modelplane:deployments"][deployment]["replicas"] = replicas
    changed["modelplane:placement"] = json.dumps(previous)
    return changed
