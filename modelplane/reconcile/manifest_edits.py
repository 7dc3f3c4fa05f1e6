"""Scaling a ModelDeployment that a stack's `modelplane:manifests` defines: its document, edited in place.

The edit is the one a stack file gets (modelplane.reconcile.stackfiles): the new value is spliced into the text at
the position libyaml reports for `spec.replicas` of that one document, every other byte stays, and the edited text
must parse to exactly the intended documents before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelplane.api.common import API_VERSION, DEFAULT_NAMESPACE
from modelplane.api.documents import InputError, Limits, json_documents, located_documents, read_text
from modelplane.reconcile.stackfiles import StackFileError, manifest_files, spliced

REPLICAS = ("spec", "replicas")


@dataclass(frozen=True)
class ManifestDeployment:
    """One ModelDeployment document of a manifest file: where it is, its text and its parsed documents."""

    path: Path
    document: int  # 1-based, as problems number documents
    namespace: str
    text: str
    documents: list[Any]

    @property
    def spec(self) -> Mapping[str, Any]:
        spec = self.documents[self.document - 1].get("spec")
        return spec if isinstance(spec, Mapping) else {}

    def where(self) -> str:
        return f"{self.path}:{self.document}"

    def with_replicas(self, replicas: int) -> str:
        """The file's text with this document's `spec.replicas` set, only that value's text changed."""
        limits = Limits.from_env()
        try:
            found = located_documents(self.text, limits, locate=REPLICAS, locate_document=self.document)[1]
        except InputError as exc:
            raise StackFileError(f"{self.where()}: {exc.message}") from None
        text = spliced(self.text, found, REPLICAS[-1], replicas, f"{self.where()}: spec.replicas")
        expected = [*self.documents]
        doc = dict(expected[self.document - 1])
        expected[self.document - 1] = {**doc, "spec": {**self.spec, "replicas": replicas}}
        try:
            same = _parsed(self.path, text, limits) == expected
        except InputError:
            same = False
        if not same:
            message = "spec.replicas cannot be edited in place (anchors, aliases or JSON?); edit it by hand"
            raise StackFileError(f"{self.where()}: {message}; nothing changed")
        return text


def find_deployment(project_dir: Path, config: Mapping[str, Any], deployment: str) -> list[ManifestDeployment]:
    """Every ModelDeployment named `deployment` (`NAME` or `NAMESPACE/NAME`) in the stack's manifests, in file
    order; files that cannot be read are passed over (the plan that follows reports them)."""
    namespace, _, name = deployment.rpartition("/")
    found = []
    for path in manifest_files(project_dir, config):
        if not path.is_file():  # a FIFO or a device would never end; the plan reports what is not a file
            continue
        try:
            text = read_text(path, Limits.from_env())
            documents = _parsed(path, text, Limits.from_env())
        except (OSError, InputError):
            continue
        for number, data in enumerate(documents, start=1):
            own = _identity(data)
            if own is not None and own[1] == name and namespace in ("", own[0]):
                found.append(ManifestDeployment(path, number, own[0], text, documents))
    return found


def _identity(data: Any) -> tuple[str, str] | None:
    """(namespace, name) of a ModelDeployment document, None for any other document."""
    if not isinstance(data, Mapping) or (data.get("apiVersion"), data.get("kind")) != (API_VERSION, "ModelDeployment"):
        return None
    metadata = data.get("metadata")
    if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str):
        return None
    return str(metadata.get("namespace") or DEFAULT_NAMESPACE), metadata["name"]


def _parsed(path: Path, text: str, limits: Limits) -> list[Any]:
    if path.suffix == ".json":
        return json_documents(text, limits)
    return located_documents(text, limits)[0]
