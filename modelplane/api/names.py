"""Every derived name, in one place, so the same inputs always give the same Kubernetes names.

Names follow Modelplane v0.3.1 (reference §0.4): `child_name` is the Crossplane SDK's `resource.child_name`
(the parts joined with '-', then a 5-hex sha256 suffix, capped at 63 characters), checked against the
golden names of Modelplane's own tests (`modelcache-ml-team-qwen-17db2`).
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 63
_HASH_LEN = 5
_NOT_LABEL = re.compile(r"[^a-z0-9-]")


def short_hash(text: str, length: int = _HASH_LEN) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _hashed(visible: str, hashed: str) -> str:
    """`<visible cut to 57>-<5 hex of sha256(hashed)>`; a cut never leaves '-' or '.' before the hash."""
    return f"{visible[: MAX_NAME - _HASH_LEN - 1].rstrip('-.')}-{short_hash(hashed)}"


def child_name(*parts: str) -> str:
    """Crossplane's `resource.child_name`: the joined parts plus a short hash of them, at most 63 characters."""
    joined = "-".join(parts)
    return _hashed(joined, joined)


def replica_name(deployment: str, cluster: str, index: int) -> str:
    """Modelplane's replica name: `<deployment cut to 57>-<5 hex of sha256("<md>-<cluster>-<index>")>`."""
    return _hashed(deployment, f"{deployment}-{cluster}-{index}")


def suffixed(name: str, suffix: str) -> str:
    """`<name>-<suffix>` as the reference names it (`<replica>-pool`), hashed only when that would pass 63."""
    plain = f"{name}-{suffix}"
    return plain if len(plain) <= MAX_NAME else child_name(name, suffix)


def dns_label(name: str) -> str:
    """A DNS-1035 label for kinds that need one (Service, LeaderWorkerSet): a name that already is one is kept.

    Deployment names may hold dots and start with a digit (DNS subdomains), which a Service rejects;
    such names get '.' → '-' and an `mp-` prefix when they do not start with a letter.
    """
    label = _NOT_LABEL.sub("-", name)
    if not label[:1].isalpha():
        label = f"mp-{label}"
    return label if len(label) <= MAX_NAME else child_name(label)


# --- a replica's workload-cluster objects (reference §3) ---


def workload_name(replica: str, engine: str) -> str:
    """Deployment / LeaderWorkerSet of an engine; never equal to the replica name, because the LWS controller
    creates its headless gang Service under the LWS name only when no Service of that name exists (§3.3)."""
    return dns_label(child_name(replica, engine))


def claim_template_name(replica: str, engine: str, role: str, index: int = 0) -> str:
    """ResourceClaimTemplate of one claiming member (§3.4); `index` numbers the further claims of a member whose
    devices do not fit one claim."""
    return child_name(replica, engine, role.lower(), "devices" if index == 0 else f"devices-{index + 1}")


def serving_service_name(replica: str) -> str:
    """The Service in front of a Unified replica's serving pods."""
    return dns_label(replica)


def replica_path(namespace: str, replica: str) -> str:
    """The replica's path prefix on its cluster's gateway, and what fleet routes rewrite to (§4.1)."""
    return f"/{namespace}/{replica}/"


def replica_route_name(replica: str) -> str:
    """The workload cluster's HTTPRoute for a replica (§3.5)."""
    return replica


def pool_name(replica: str) -> str:
    return suffixed(replica, "pool")


def picker_name(replica: str) -> str:
    """The endpoint picker's ServiceAccount, Role, RoleBinding, ConfigMap, Deployment and Service."""
    return dns_label(suffixed(replica, "epp"))


# --- ModelCache objects on each matched cluster (reference §5) ---


def cache_pvc_name(namespace: str, cache: str) -> str:
    return child_name("modelcache", namespace, cache)


def cache_job_name(namespace: str, cache: str) -> str:
    return child_name("modelcache", namespace, cache, "hydrate")


def cache_secret_name(namespace: str, cache: str) -> str:
    return child_name("modelcache", namespace, cache, "auth")


# --- the gateway cluster's objects (reference §1.7, §1.8) ---


def endpoint_backend_name(endpoint: str) -> str:
    """Selectorless Service + EndpointSlice of a ModelEndpoint on a gateway cluster. Not the endpoint name itself:
    a replica's endpoint is named like the replica, whose serving Service may share the gateway cluster."""
    return dns_label(child_name(endpoint, "endpoint"))


def service_path(namespace: str, service: str) -> str:
    """A ModelService's public path prefix on its gateway: `/<namespace>/<service>/` (§4.1)."""
    return f"/{namespace}/{service}/"


def service_route_name(service: str) -> str:
    """The gateway cluster's HTTPRoute of a ModelService."""
    return service
