"""The serving stack every workload cluster gets (reference §1.4), the InferenceGateway's Traefik and MetalLB, and
the EKS EFA driver: pure data.

Chart coordinates, pinned versions (overridable through stack config `modelplane:chartVersions`), Helm values and
the fixed gateway objects, as plain dicts. `modelplane.components` turns them into Pulumi resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SYSTEM_NAMESPACE = "modelplane-system"
GATEWAY_NAME = "inference-gateway"
GATEWAY_CLASS = "envoy"
# Envoy Gateway names the proxy Service after the EnvoyProxy setting below, so its address can be read by name.
GATEWAY_SERVICE = "modelplane-inference-gateway"
ENVOY_GATEWAY_NAMESPACE = "envoy-gateway-system"
TRAEFIK_NAMESPACE = "traefik-system"
TRAEFIK_SERVICE = "traefik"
METALLB_NAMESPACE = "metallb-system"
METALLB_POOL = "modelplane"
METALLB_API = "metallb.io/v1beta1"
GKE_NVIDIA_DRIVER_ROOT = "/home/kubernetes/bin/nvidia"
# Node agents that must run on GPU nodes tolerate the taint every GPU pool carries.
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}

# The tested combination (reference §1.4 `versions`). Keys are the `modelplane:chartVersions` config keys.
DEFAULT_VERSIONS: dict[str, str] = {
    "certManager": "v1.17.1",
    "envoyGateway": "v1.8.1",
    "aiGateway": "v0.7.0",
    "gatewayApiInferenceExtension": "v1.0.1",
    "prometheus": "72.6.2",
    "leaderWorkerSet": "v0.8.0",
    "nodeFeatureDiscovery": "0.18.3",
    "nvidiaDraDriver": "0.4.0",
    "metallb": "0.14.9",  # only on an InferenceGateway's cluster with loadBalancer MetalLB
    "awsDranet": "1.0.0",  # only on an EKS cluster with an EFA pool
}


@dataclass(frozen=True)
class Chart:
    """One Helm release: `chart` is a repo chart name (with `repo`) or a full `oci://` reference."""

    component: str
    release: str
    chart: str
    version: str
    namespace: str
    repo: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    # Charts whose CRDs another release on the cluster already installs skip their own.
    skip_crds: bool = False


def resolve_versions(overrides: Mapping[str, str] | None) -> dict[str, str]:
    """Defaults with stack-config overrides applied; an unknown key is an error, not a silent no-op."""
    unknown = sorted(set(overrides or {}) - set(DEFAULT_VERSIONS))
    if unknown:
        known = ", ".join(DEFAULT_VERSIONS)
        raise ValueError(f"modelplane:chartVersions: unknown key(s) {', '.join(unknown)} (known: {known})")
    return {**DEFAULT_VERSIONS, **{key: str(value) for key, value in (overrides or {}).items()}}


def gaie_crds_url(version: str) -> str:
    """The Gateway API Inference Extension release bundle (InferencePool/InferenceObjective CRDs)."""
    return (
        f"https://github.com/kubernetes-sigs/gateway-api-inference-extension/releases/download/{version}/manifests.yaml"
    )


def serving_charts(versions: Mapping[str, str], *, nvidia_driver_root: str = "/") -> tuple[Chart, ...]:
    """Every serving-stack release, keyed by the reference's component names, in install order."""
    return (
        Chart(
            "cert-manager",
            "mp-cert-manager",
            "cert-manager",
            versions["certManager"],
            "cert-manager",
            repo="https://charts.jetstack.io",
            values={"crds": {"enabled": True, "keep": False}},
        ),
        Chart(
            "envoy-gateway",
            "mp-envoy-gateway",
            "oci://docker.io/envoyproxy/gateway-helm",
            versions["envoyGateway"],
            ENVOY_GATEWAY_NAMESPACE,
            values=_envoy_gateway_values(),
        ),
        Chart(
            "ai-gateway-crds",
            "mp-ai-gateway-crds",
            "oci://docker.io/envoyproxy/ai-gateway-crds-helm",
            versions["aiGateway"],
            "envoy-ai-gateway-system",
        ),
        Chart(
            "ai-gateway",
            "mp-ai-gateway",
            "oci://docker.io/envoyproxy/ai-gateway-helm",
            versions["aiGateway"],
            "envoy-ai-gateway-system",
        ),
        Chart(
            "prometheus",
            "mp-kube-prometheus-stack",
            "kube-prometheus-stack",
            versions["prometheus"],
            "monitoring",
            repo="https://prometheus-community.github.io/helm-charts",
            values=_prometheus_values(),
        ),
        Chart(
            "leader-worker-set",
            "mp-lws",
            "oci://registry.k8s.io/lws/charts/lws",
            versions["leaderWorkerSet"],
            "lws-system",
        ),
        Chart(
            "node-feature-discovery",
            "mp-node-feature-discovery",
            "oci://registry.k8s.io/nfd/charts/node-feature-discovery",
            versions["nodeFeatureDiscovery"],
            "node-feature-discovery",
            # Without this NFD never labels GPU nodes (pci-10de), so the DRA kubelet plugin never starts.
            values={"worker": {"tolerations": [GPU_TOLERATION]}},
        ),
        Chart(
            "dra-driver",
            "mp-dra-driver-nvidia-gpu",
            "oci://registry.k8s.io/dra-driver-nvidia/charts/dra-driver-nvidia-gpu",
            versions["nvidiaDraDriver"],
            "dra-driver-nvidia-gpu",
            values=_dra_driver_values(nvidia_driver_root),
        ),
    )


def _envoy_gateway_values() -> dict[str, Any]:
    """Envoy Gateway wired to the Envoy AI Gateway extension server so HTTPRoutes can target InferencePools."""
    include_all = {"includeAll": True}
    return {
        "config": {
            "envoyGateway": {
                "extensionApis": {"enableBackend": True},
                "extensionManager": {
                    "hooks": {
                        "xdsTranslator": {
                            "translation": {
                                "listener": include_all,
                                "route": include_all,
                                "cluster": include_all,
                                "secret": include_all,
                            },
                            "post": ["Translation", "Cluster", "Route"],
                        }
                    },
                    "service": {
                        "fqdn": {
                            "hostname": "ai-gateway-controller.envoy-ai-gateway-system.svc.cluster.local",
                            "port": 1063,
                        }
                    },
                    "backendResources": [
                        {"group": "inference.networking.k8s.io", "kind": "InferencePool", "version": "v1"}
                    ],
                },
            }
        }
    }


def _prometheus_values() -> dict[str, Any]:
    """PodMonitors found in every namespace, plus a scrape job for the Envoy proxies; no Grafana/Alertmanager."""
    proxy_job = {
        "job_name": "envoy-gateway-proxy",
        "metrics_path": "/stats/prometheus",
        "kubernetes_sd_configs": [{"role": "pod"}],
        "relabel_configs": [
            {
                "source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_component"],
                "regex": "proxy",
                "action": "keep",
            },
            {
                "source_labels": ["__meta_kubernetes_pod_container_port_number"],
                "regex": "19001",
                "action": "keep",
            },
        ],
    }
    return {
        "fullnameOverride": "prometheus",
        "grafana": {"enabled": False},
        "alertmanager": {"enabled": False},
        "prometheus": {
            "prometheusSpec": {
                "podMonitorSelectorNilUsesHelmValues": False,
                "podMonitorNamespaceSelector": {},
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "additionalScrapeConfigs": [proxy_job],
            }
        },
    }


def _dra_driver_values(nvidia_driver_root: str) -> dict[str, Any]:
    values: dict[str, Any] = {"gpuResourcesEnabledOverride": True, "resources": {"computeDomains": {"enabled": False}}}
    if nvidia_driver_root != "/":
        values["nvidiaDriverRoot"] = nvidia_driver_root
    return values


def critical_pods_quota() -> dict[str, Any]:
    """Lets the DRA driver's node-critical pods run outside kube-system (GKE needs it; harmless elsewhere)."""
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "allow-critical-pods", "namespace": "dra-driver-nvidia-gpu"},
        "spec": {
            "hard": {"pods": "1000"},
            "scopeSelector": {
                "matchExpressions": [
                    {
                        "operator": "In",
                        "scopeName": "PriorityClass",
                        "values": ["system-node-critical", "system-cluster-critical"],
                    }
                ]
            },
        },
    }


def gateway_objects(
    listeners: tuple[tuple[str, int, str], ...] = (("http", 80, "HTTP"),),
) -> tuple[dict[str, Any], ...]:
    """Namespace, EnvoyProxy, GatewayClass and Gateway of the workload cluster, in apply order."""
    return (
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM_NAMESPACE}},
        {
            "apiVersion": "gateway.envoyproxy.io/v1alpha1",
            "kind": "EnvoyProxy",
            "metadata": {"name": GATEWAY_NAME, "namespace": SYSTEM_NAMESPACE},
            "spec": {
                "provider": {
                    "type": "Kubernetes",
                    "kubernetes": {
                        # Cluster, not Local: some cloud load balancers (Nebius) reject Local.
                        "envoyService": {"name": GATEWAY_SERVICE, "externalTrafficPolicy": "Cluster"},
                    },
                }
            },
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": GATEWAY_CLASS},
            "spec": {
                "controllerName": "gateway.envoyproxy.io/gatewayclass-controller",
                "parametersRef": {
                    "group": "gateway.envoyproxy.io",
                    "kind": "EnvoyProxy",
                    "name": GATEWAY_NAME,
                    "namespace": SYSTEM_NAMESPACE,
                },
            },
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": GATEWAY_NAME, "namespace": SYSTEM_NAMESPACE},
            "spec": {
                "gatewayClassName": GATEWAY_CLASS,
                "listeners": [
                    {"name": name, "port": port, "protocol": protocol, "allowedRoutes": {"namespaces": {"from": "All"}}}
                    for name, port, protocol in listeners
                ],
            },
        },
    )


def traefik_chart(version: str) -> Chart:
    """The InferenceGateway's Traefik (§1.1), on a cluster whose serving stack already has the Gateway API CRDs."""
    return Chart(
        "traefik",
        "mp-traefik",
        "traefik",
        version,
        TRAEFIK_NAMESPACE,
        repo="https://traefik.github.io/charts",
        values={
            "providers": {
                "kubernetesGateway": {
                    "enabled": True,
                    "statusAddress": {"service": {"name": TRAEFIK_SERVICE, "namespace": TRAEFIK_NAMESPACE}},
                },
                "kubernetesIngress": {"enabled": False},
                # Traefik's own CRDs are skipped with the chart's CRDs; only the Gateway API provider is used.
                "kubernetesCRD": {"enabled": False},
            },
            "service": {"nameOverride": TRAEFIK_SERVICE},
            "gateway": {"enabled": False},
            "gatewayClass": {"enabled": False},
        },
        # The chart's crds/ holds the Gateway API CRDs too. Envoy Gateway's release installs them on this cluster, and
        # Helm never upgrades crds/ CRDs, so whichever chart installed them first would pin their version.
        skip_crds=True,
    )


def metallb_chart(version: str) -> Chart:
    """MetalLB (§1.1): LoadBalancer addresses where no cloud provides them (kind, bare metal)."""
    return Chart("metallb", "metallb", "metallb", version, METALLB_NAMESPACE, repo="https://metallb.github.io/metallb")


def metallb_namespace() -> dict[str, Any]:
    """MetalLB's namespace; its speaker needs host networking and NET_RAW, which Pod Security `baseline` rejects."""
    privileged = {f"pod-security.kubernetes.io/{mode}": "privileged" for mode in ("enforce", "audit", "warn")}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": METALLB_NAMESPACE, "labels": privileged}}


def metallb_objects(address_pool: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """IPAddressPool `modelplane` over `address_pool` and the L2Advertisement that announces it, in apply order."""
    metadata = {"name": METALLB_POOL, "namespace": METALLB_NAMESPACE}
    return (
        {
            "apiVersion": METALLB_API,
            "kind": "IPAddressPool",
            "metadata": metadata,
            "spec": {"addresses": [address_pool]},
        },
        {
            "apiVersion": METALLB_API,
            "kind": "L2Advertisement",
            "metadata": dict(metadata),
            "spec": {"ipAddressPools": [METALLB_POOL]},
        },
    )


def aws_dranet_chart(version: str) -> Chart:
    """The EFA DRA driver (§1.10; DeviceClass `efa.networking.k8s.aws`). Its DaemonSet must reach the GPU nodes,
    which carry the GPU taint."""
    return Chart(
        "aws-dranet",
        "aws-dranet",
        "aws-dranet",
        version,
        "kube-system",
        repo="https://aws.github.io/eks-charts",
        values={"tolerations": [GPU_TOLERATION]},
    )
