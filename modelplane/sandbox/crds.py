"""The CustomResourceDefinitions a sandbox cluster gets in place of the serving stack's charts: the real ones from a
directory where given, permissive ones (any spec and status accepted) for every other kind the charts install."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class CrdKind:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def name(self) -> str:
        return f"{self.plural}.{self.group}"


# The kinds the serving stack's charts install (LWS, Gateway API, GAIE, Envoy Gateway, MetalLB, Prometheus) that the
# program composes objects of or that their controllers' objects refer to.
SERVING_STACK_KINDS = (
    CrdKind("leaderworkerset.x-k8s.io", "v1", "LeaderWorkerSet", "leaderworkersets"),
    CrdKind("gateway.networking.k8s.io", "v1", "GatewayClass", "gatewayclasses", namespaced=False),
    CrdKind("gateway.networking.k8s.io", "v1", "Gateway", "gateways"),
    CrdKind("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes"),
    CrdKind("gateway.networking.k8s.io", "v1", "GRPCRoute", "grpcroutes"),
    CrdKind("gateway.networking.k8s.io", "v1beta1", "ReferenceGrant", "referencegrants"),
    CrdKind("gateway.networking.k8s.io", "v1", "BackendTLSPolicy", "backendtlspolicies"),
    CrdKind("inference.networking.k8s.io", "v1", "InferencePool", "inferencepools"),
    CrdKind("inference.networking.x-k8s.io", "v1alpha2", "InferenceObjective", "inferenceobjectives"),
    CrdKind("inference.networking.x-k8s.io", "v1alpha2", "InferencePool", "inferencepools"),
    CrdKind("gateway.envoyproxy.io", "v1alpha1", "EnvoyProxy", "envoyproxies"),
    CrdKind("metallb.io", "v1beta1", "IPAddressPool", "ipaddresspools"),
    CrdKind("metallb.io", "v1beta1", "L2Advertisement", "l2advertisements"),
    CrdKind("monitoring.coreos.com", "v1", "PodMonitor", "podmonitors"),
    CrdKind("monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors"),
)


class CrdError(Exception):
    """A --crds directory that cannot be read (the message names the file)."""


def permissive_crd(kind: CrdKind) -> dict[str, Any]:
    """A CRD that accepts any spec and status, with the status subresource (controllers and kwok write status)."""
    preserve = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    annotations = {"sandbox.modelplane.ai/permissive": "true"}
    if kind.group.endswith((".k8s.io", ".kubernetes.io")):
        # The API server refuses CRDs in Kubernetes' protected groups without this annotation; "unapproved" is the
        # documented value for a definition that is not the reviewed upstream one.
        annotations["api-approved.kubernetes.io"] = "unapproved, a permissive sandbox stand-in for the upstream CRD"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": kind.name, "annotations": annotations},
        "spec": {
            "group": kind.group,
            "scope": "Namespaced" if kind.namespaced else "Cluster",
            "names": {
                "kind": kind.kind,
                "plural": kind.plural,
                "singular": kind.kind.lower(),
                "listKind": f"{kind.kind}List",
            },
            "versions": [
                {
                    "name": kind.version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": preserve, "status": preserve},
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def read_crds(directory: Path) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in `directory`'s *.yaml / *.yml files (other documents are skipped)."""
    if not directory.is_dir():
        raise CrdError(f"{directory}: --crds must name a directory of CustomResourceDefinition YAML files")
    found = []
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise CrdError(f"{path}: cannot read: {str(error).splitlines()[0]}") from None
        found.extend(
            document
            for document in documents
            if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition"
        )
    return found


def sandbox_crds(real: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """The real CRDs given, then a permissive one for each serving-stack kind they do not define."""
    given = {crd["metadata"]["name"]: crd for crd in real}
    permissive = [permissive_crd(kind) for kind in SERVING_STACK_KINDS if kind.name not in given]
    merged = {crd["metadata"]["name"]: crd for crd in permissive}
    merged.update(given)
    return [merged[name] for name in sorted(merged)]
