"""Components over composed Bundles: ModelReplica, ModelCache, ModelEndpoint, ModelService, Namespace, InferenceGateway.

Each creates its Bundle's manifests as Kubernetes resources on the provider of the bundle's cluster. Nothing here
decides what the objects are: `modelplane.compose` does. Only values known after deploy (secret values, gateway
addresses) are filled in, as Outputs, at the field level.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from modelplane.api.inference_gateway import InferenceGateway
from modelplane.components.kube import kube_object, object_name
from modelplane.components.serving_stack import awaited, release, service_address
from modelplane.compose import serving_stack as stack
from modelplane.compose.cache import SecretSpec
from modelplane.compose.fleet import Bundle, PendingBackend

ObjectKey = tuple[str, str | None, str]  # kind, namespace, name
Fields = Mapping[ObjectKey, Mapping[str, pulumi.Input[Any]]]


def object_key(manifest: Mapping[str, Any]) -> ObjectKey:
    meta = manifest["metadata"]
    return (manifest["kind"], meta.get("namespace"), meta["name"])


def create_objects(
    cluster: str, manifests: Sequence[Mapping[str, Any]], opts: pulumi.ResourceOptions, fields: Fields | None = None
) -> list[pulumi.CustomResource]:
    """One resource per manifest; `fields` replaces top-level fields of some objects with Outputs."""
    fields = fields or {}
    return [
        kube_object(object_name(cluster, item), {**item, **fields.get(object_key(item), {})}, opts)
        for item in manifests
    ]


class BundleComponent(pulumi.ComponentResource):
    """The objects one API object puts on one cluster, typed `modelplane:index:<owner kind>`.

    `secrets` are the Secrets of this bundle whose values come from secret config; the objects wait for them.
    """

    def __init__(
        self,
        bundle: Bundle,
        provider: k8s.Provider,
        *,
        depends_on: Sequence[pulumi.Resource] = (),
        fields: Fields | None = None,
        secrets: Sequence[tuple[SecretSpec, pulumi.Output[str]]] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(f"modelplane:index:{bundle.owner_kind}", f"{bundle.cluster}/{bundle.owner}", None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(depends_on))
        values = [{**spec.manifest(), "stringData": {spec.key: value}} for spec, value in secrets]
        created = create_objects(bundle.cluster, values, on_cluster)
        after = pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=created))
        self.objects = created + create_objects(bundle.cluster, bundle.manifests, after, fields)
        self.register_outputs({})


def pending_backend_bundle(pending: PendingBackend, address: pulumi.Output[str | None]) -> tuple[Bundle, Fields]:
    """A replica's backend (Service + EndpointSlice on the gateway cluster) whose address is an Output.

    Until the workload gateway has an address the slice has no endpoints; routes leave the replica out meanwhile.
    """
    template = pending.endpoint_slice("0.0.0.0")  # fixes the static fields (metadata, ports) only
    built = address.apply(lambda value: pending.endpoint_slice(value) if value else {**template, "endpoints": []})
    fields = {object_key(template): {"addressType": built["addressType"], "endpoints": built["endpoints"]}}
    bundle = Bundle(
        "ModelEndpoint", f"{pending.namespace}/{pending.endpoint}", pending.cluster, (pending.service(), template)
    )
    return bundle, fields


class InferenceGatewayComponent(pulumi.ComponentResource):
    """The fleet's Traefik front door on its cluster: MetalLB when asked for, the chart, then the composed
    GatewayClass and Gateway.

    `address` is the Traefik Service's load-balancer address (what Modelplane publishes as status.address).
    """

    def __init__(
        self,
        gateway: InferenceGateway,
        bundle: Bundle,
        provider: k8s.Provider,
        versions: Mapping[str, str],
        *,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
        install_charts: bool = True,
    ) -> None:
        super().__init__("modelplane:index:InferenceGateway", gateway.name, None, opts)
        traefik = gateway.spec.traefik
        assert traefik is not None  # the API model requires it for backend Traefik
        cluster = bundle.cluster
        on_cluster = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(depends_on))
        if install_charts:
            chart: pulumi.Resource = self._charts(cluster, traefik, provider, versions, on_cluster)
            after = pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[chart]))
            self.objects = create_objects(cluster, bundle.manifests, after)
        else:
            # Traefik is someone else's: its Service has an address once Traefik has programmed the Gateway.
            self.objects = create_objects(cluster, [awaited(m) for m in bundle.manifests], on_cluster)
            chart = self.objects[-1]
        self.address = service_address(
            f"{cluster}/traefik-service", stack.TRAEFIK_NAMESPACE, stack.TRAEFIK_SERVICE, chart, on_cluster
        )
        self.register_outputs({"address": self.address})

    def _charts(
        self,
        cluster: str,
        traefik: Any,
        provider: k8s.Provider,
        versions: Mapping[str, str],
        on_cluster: pulumi.ResourceOptions,
    ) -> pulumi.Resource:
        """MetalLB when asked for, then the Traefik release (Helm waits for its Service's address)."""
        load_balancer: list[pulumi.Resource] = []
        if traefik.load_balancer == "MetalLB":
            assert traefik.metallb is not None  # the API model requires it for loadBalancer MetalLB
            # Not after `depends_on` (the serving stack): its Envoy Gateway waits for an address from this pool too.
            on_provider = pulumi.ResourceOptions(parent=self, provider=provider)
            load_balancer = metallb(cluster, traefik.metallb.address_pool, versions["metallb"], on_provider)
        return release(
            f"{cluster}/traefik",
            stack.traefik_chart(traefik.version),
            pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=load_balancer)),
        )


def metallb(cluster: str, address_pool: str, version: str, opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
    """Namespace, MetalLB release, then its IPAddressPool and L2Advertisement (§1.1); returns the last two, which
    LoadBalancer Services need before they get an address."""
    namespace = stack.metallb_namespace()
    created = kube_object(object_name(cluster, namespace), namespace, opts)
    chart = release(
        f"{cluster}/metallb",
        stack.metallb_chart(version),
        pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[created])),
    )
    # The release waits for the controller, whose webhook validates these objects.
    after = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[chart]))
    return list(create_objects(cluster, stack.metallb_objects(address_pool), after))
