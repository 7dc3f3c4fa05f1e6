"""InferenceGateway: the Traefik front door of the fleet's ModelServices (reference §1.1).

Beyond Modelplane's singleton, a gateway names the InferenceCluster it runs on (`spec.cluster`), so a fleet may run
one per region. The Traefik Helm release (kubernetesGateway provider on, chart-made Gateway and GatewayClass off) is
the Pulumi layer's; this composes the Gateway API objects Modelplane composes once Traefik is up.
"""

from __future__ import annotations

from modelplane.api.fleet import Fleet
from modelplane.api.inference_gateway import InferenceGateway
from modelplane.compose.common import (
    FLEET_GATEWAY,
    FLEET_GATEWAY_CLASS,
    GATEWAY_API,
    SYSTEM_NAMESPACE,
    Manifest,
    manifest,
    metadata,
)

TRAEFIK_CONTROLLER = "traefik.io/gateway-controller"
# Traefik's `web` entrypoint listens on 8000 inside the pod; its Service exposes port 80.
LISTENER_PORT = 8000


def gateway_cluster(fleet: Fleet, gateway: InferenceGateway) -> tuple[str | None, str | None]:
    """The cluster the gateway runs on and, when it had to be chosen, a notice saying so."""
    if gateway.spec.cluster:
        return gateway.spec.cluster, None
    if not fleet.clusters:
        return None, f"InferenceGateway {gateway.name}: no InferenceCluster to run on; its services are not routed"
    chosen = next(iter(sorted(fleet.clusters)))
    return chosen, f"InferenceGateway {gateway.name}: spec.cluster unset, running on {chosen} (first cluster by name)"


def gateway_objects() -> list[Manifest]:
    """GatewayClass `traefik` and Gateway `modelplane-system/modelplane` (listener `web`, HTTP, routes from all
    namespaces, since each ModelService's route lives in its own namespace)."""
    gateway_class = manifest(
        GATEWAY_API, "GatewayClass", metadata(FLEET_GATEWAY_CLASS), spec={"controllerName": TRAEFIK_CONTROLLER}
    )
    listener = {
        "name": "web",
        "protocol": "HTTP",
        "port": LISTENER_PORT,
        "allowedRoutes": {"namespaces": {"from": "All"}},
    }
    spec = {"gatewayClassName": FLEET_GATEWAY_CLASS, "listeners": [listener]}
    return [gateway_class, manifest(GATEWAY_API, "Gateway", metadata(FLEET_GATEWAY, SYSTEM_NAMESPACE), spec=spec)]
