"""ServingStack: the pinned Helm releases and gateway objects of one workload cluster (reference §1.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_kubernetes.core.v1 as core_v1
import pulumi_kubernetes.helm.v3 as helm
import pulumi_kubernetes.yaml.v2 as yaml_v2

from modelplane.components.kube import kube_object, object_name
from modelplane.compose import serving_stack as stack

# Releases that must be installed before another one (the AI gateway controller needs its CRDs and Envoy Gateway).
_AFTER: Mapping[str, tuple[str, ...]] = {"ai-gateway": ("ai-gateway-crds", "envoy-gateway")}
# Gateway status is filled by the controller once the load balancer has an address; wait for it so it can be read.
WAIT_FOR_PROGRAMMED = {"pulumi.com/waitFor": "condition=Programmed"}


def awaited(manifest: Mapping[str, Any]) -> Mapping[str, Any]:
    """A Gateway the provider waits on until its controller reports it Programmed; other objects unchanged."""
    if manifest["kind"] != "Gateway":
        return manifest
    annotations = {**manifest["metadata"].get("annotations", {}), **WAIT_FOR_PROGRAMMED}
    return {**manifest, "metadata": {**manifest["metadata"], "annotations": annotations}}


def release(name: str, chart: stack.Chart, opts: pulumi.ResourceOptions) -> helm.Release:
    """One pinned Helm release; `mp-<chart>` release names as Modelplane's."""
    return helm.Release(
        name,
        name=chart.release,
        chart=chart.chart,
        version=chart.version,
        namespace=chart.namespace,
        create_namespace=True,
        repository_opts={"repo": chart.repo} if chart.repo else None,
        values=dict(chart.values),
        skip_crds=chart.skip_crds,
        opts=opts,
    )


def load_balancer_address(status: Any) -> str | None:
    """The first ingress IP or host name of a LoadBalancer Service's status, or None before it has one."""
    ingress = (status.load_balancer.ingress or []) if status and status.load_balancer else []
    return (ingress[0].ip or ingress[0].hostname) if ingress else None


def service_address(
    name: str, namespace: str, service: str, after: pulumi.Resource, opts: pulumi.ResourceOptions
) -> pulumi.Output[str | None]:
    """Read a Service's load-balancer address once `after` exists; the ID waits on `after`, so a preview of a
    new cluster skips the read instead of failing on a Service that is not there yet."""
    service_id = after.id.apply(lambda _: f"{namespace}/{service}")
    read = core_v1.Service.get(
        name, service_id, opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[after]))
    )
    return read.status.apply(load_balancer_address)


class ServingStack(pulumi.ComponentResource):
    """cert-manager, Envoy Gateway + AI Gateway, GAIE CRDs, Prometheus, LWS, NFD, the NVIDIA DRA driver, and the
    workload Gateway; `gateway_address` is the Gateway's load-balancer address."""

    def __init__(
        self,
        cluster: str,
        versions: Mapping[str, str],
        nvidia_driver_root: str,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
        *,
        install_charts: bool = True,
    ) -> None:
        super().__init__("modelplane:index:ServingStack", cluster, None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        # Without the charts (installed by someone else) only the gateway objects are ours.
        previous = self._charts(cluster, versions, nvidia_driver_root, on_cluster) if install_charts else []
        # Each gateway object waits for every release and CRD and for the one before it (Namespace → … → Gateway).
        for manifest in map(awaited, stack.gateway_objects()):
            created = kube_object(
                object_name(cluster, manifest),
                manifest,
                pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=previous)),
            )
            previous = [created]
        self.gateway_address = service_address(
            f"{cluster}/gateway-service", stack.ENVOY_GATEWAY_NAMESPACE, stack.GATEWAY_SERVICE, created, on_cluster
        )
        self.register_outputs({"gatewayAddress": self.gateway_address})

    def _charts(
        self, cluster: str, versions: Mapping[str, str], nvidia_driver_root: str, on_cluster: pulumi.ResourceOptions
    ) -> list[pulumi.Resource]:
        """The pinned releases in order, the GAIE CRDs and the DRA driver's quota; returns what objects wait on."""
        releases: dict[str, helm.Release] = {}
        for chart in stack.serving_charts(versions, nvidia_driver_root=nvidia_driver_root):
            after = [releases[name] for name in _AFTER.get(chart.component, ())]
            releases[chart.component] = release(
                f"{cluster}/{chart.component}",
                chart,
                pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=after)),
            )
        # A provider-side component: the CRDs are applied by the provider, fetched from the release URL.
        crds = yaml_v2.ConfigFile(
            f"{cluster}/gateway-api-inference-extension",
            file=stack.gaie_crds_url(versions["gatewayApiInferenceExtension"]),
            opts=on_cluster,
        )
        kube_object(
            object_name(cluster, stack.critical_pods_quota()),
            stack.critical_pods_quota(),
            pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[releases["dra-driver"]])),
        )
        return [*releases.values(), crds]
