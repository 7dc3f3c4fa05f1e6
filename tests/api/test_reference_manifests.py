"""Modelplane's own published manifests load unchanged (skipped where ../shared/reference is not present)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelplane.api.common import API_VERSION
from modelplane.api.fleet import KINDS
from modelplane.api.loading import collect_inputs

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "modelplane-manifests"
FILES = sorted(REFERENCE.rglob("*.yaml")) if REFERENCE.is_dir() else []
# Directories holding alternatives of one object (e.g. model-deployment.yaml and model-deployment-sglang.yaml) are
# meant to be applied one file at a time, so only the others are loaded as a whole.
ALTERNATIVES = {"examples/laguna", "examples/qwen2.5-72b", "examples/qwen3-coder", "getting-started", "reference"}
DIRECTORIES = sorted({str(path.parent.relative_to(REFERENCE)) for path in FILES} - ALTERNATIVES)
pytestmark = pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"{REFERENCE} is not present")


def fleet_document_count(path: Path) -> int:
    """Fleet-kind documents in `path`, counted from the raw YAML (independently of the loader)."""
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if isinstance(doc, dict)]
    return sum(doc.get("apiVersion") == API_VERSION and doc.get("kind") in KINDS for doc in documents)


@pytest.mark.parametrize("path", FILES, ids=lambda path: str(path.relative_to(REFERENCE)))
def test_every_document_validates(path: Path) -> None:
    inputs, problems = collect_inputs([path], None, REFERENCE)
    messages = [problem.message for problem in problems]
    if fleet_document_count(path) == 0:  # e.g. a driver's manifests: finding no fleet object is itself a problem
        assert len(messages) == 1 and messages[0].startswith("no Modelplane objects found"), messages
        return
    # A single file may reference objects of its siblings; nothing else may be wrong with it.
    assert [str(problem) for problem in problems if "not found" not in problem.message] == []
    assert len(inputs.fleet.origins) == fleet_document_count(path)


@pytest.mark.parametrize("directory", DIRECTORIES)
def test_directories_load_with_references_resolved(directory: str) -> None:
    _, problems = collect_inputs([REFERENCE / directory], None, REFERENCE)
    assert [str(problem) for problem in problems] == []


def test_every_non_fleet_document_gets_exactly_one_notice() -> None:
    inputs, _ = collect_inputs([REFERENCE], None, REFERENCE)
    expected = []
    for path in FILES:
        for number, doc in enumerate(yaml.safe_load_all(path.read_text()), start=1):
            if isinstance(doc, dict) and not (doc.get("apiVersion") == API_VERSION and doc.get("kind") in KINDS):
                metadata = doc["metadata"]
                name = f"{metadata['namespace']}/{metadata['name']}" if "namespace" in metadata else metadata["name"]
                expected.append(f"{path}:{number}: skipped {doc['kind']} {name} (not a Modelplane fleet kind)")
    assert len(expected) > 20  # PodMonitor, Namespace, ModelReplica, EKSCluster, ClusterProviderConfig, ...
    assert list(inputs.fleet.notices) == expected
