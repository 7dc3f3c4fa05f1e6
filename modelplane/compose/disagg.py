"""PrefillDecode wiring and the endpoint picker (reference §3.5, §3.6).

Both engines run on the replica's cluster. Their serving pods carry the llm-d role labels; the decode pod gets the
pd-sidecar on the engine port, and the engine moves to its own `--port` (default 8001). An InferencePool selects the
replica's serving pods and the llm-d endpoint picker (EPP) chooses, per request, a decode pod and a prefill pod: it
sets `x-prefiller-host-port`, and the decode sidecar runs the prefill phase there; KV moves over NIXL. The same
pool + EPP is the opt-in Unified path (prefix-cache-aware picking across a replica's pods).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence

import yaml

from modelplane.api import names
from modelplane.compose.common import ENGINE_PORT, Manifest, http_probe, manifest, metadata

EPP_IMAGE = "ghcr.io/llm-d/llm-d-router-endpoint-picker:v0.9.0"
SIDECAR_IMAGE = "ghcr.io/llm-d/llm-d-router-disagg-sidecar:v0.9.0"
EPP_PORT = 9002
EPP_HEALTH_PORT = 9003
EPP_CONFIG_KEY = "epp-config.yaml"
DECODE_PORT = 8001  # the sidecar owns the engine port, so decode listens here unless its args say `--port`
DEFAULT_BLOCK_SIZE = 16  # vLLM's KV block size; the EPP must chunk prefixes the same way (#179)
NIXL_PORT = "5557"
POOL_GROUP = "inference.networking.k8s.io"
LABEL_ROLE = "llm-d.ai/role"
LABEL_INFERENCE_SERVING = "llm-d.ai/inference-serving"
CHECKSUM_ANNOTATION = "modelplane.ai/epp-config-checksum"  # a config change rolls the EPP pods


def flag_value(args: Sequence[str], *flags: str) -> str | None:
    """The value of the first `--flag value` or `--flag=value` in args (engine flags are the user's; we only peek)."""
    for index, arg in enumerate(args):
        for flag in flags:
            if arg == flag and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(f"{flag}="):
                return arg.split("=", 1)[1]
    return None


def _int_flag(args: Sequence[str], default: int, *flags: str) -> int:
    raw = flag_value(args, *flags)
    return int(raw) if raw is not None and raw.strip().isdigit() else default


def block_size(args: Sequence[str]) -> int:
    """KV block size from vLLM's `--block-size` or SGLang's `--page-size`; 16 when absent or not an integer."""
    return _int_flag(args, DEFAULT_BLOCK_SIZE, "--block-size", "--page-size")


def decode_port(args: Sequence[str]) -> int:
    return _int_flag(args, DECODE_PORT, "--port")


def role_labels(phase: str, replica: str) -> dict[str, str]:
    return {LABEL_ROLE: phase.lower(), LABEL_INFERENCE_SERVING: "true", "app": replica}


def nixl_env(user_env: Sequence[Manifest]) -> list[Manifest]:
    """NIXL side-channel env the schema cannot express (a podIP fieldRef), each only if the user has not set it."""
    present = {item["name"] for item in user_env}
    wanted = [
        {"name": "VLLM_NIXL_SIDE_CHANNEL_HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "VLLM_NIXL_SIDE_CHANNEL_PORT", "value": NIXL_PORT},
    ]
    return [item for item in wanted if item["name"] not in present]


def sidecar(engine_port: int) -> Manifest:
    """The decode pod's pd-sidecar: it owns the serving port and forwards to the engine."""
    return {
        "name": "pd-sidecar",
        "image": SIDECAR_IMAGE,
        "args": ["--secure-proxy=false", "--kv-connector=nixlv2", f"--vllm-port={engine_port}"],
        "ports": [{"containerPort": ENGINE_PORT}],
        "readinessProbe": http_probe(ENGINE_PORT),
    }


def inference_pool(replica: str, namespace: str, selector: Mapping[str, str], labels: Mapping[str, str]) -> Manifest:
    spec = {
        "selector": {"matchLabels": dict(selector)},
        "targetPorts": [{"number": ENGINE_PORT}],
        "endpointPickerRef": {
            "name": names.picker_name(replica),
            "port": {"number": EPP_PORT},
            "failureMode": "FailOpen",
        },
    }
    meta = metadata(names.pool_name(replica), namespace, labels)
    return manifest(f"{POOL_GROUP}/v1", "InferencePool", meta, spec=spec)


def pool_backend(replica: str) -> Manifest:
    """The HTTPRoute backendRef to the replica's pool; Envoy hands it to the AI gateway's ext-proc and the EPP."""
    return {"group": POOL_GROUP, "kind": "InferencePool", "name": names.pool_name(replica)}


@functools.cache  # two arguments with few values, and PyYAML's emitter is slow
def picker_config(block: int, *, disaggregated: bool) -> str:
    """The EndpointPickerConfig (llm-d.ai/v1alpha1): prefix-cache (weight 2) + queue (weight 1) scoring.

    Disaggregated adds the P/D decider: only prompts whose uncached suffix is at least 16 tokens take a prefill hop.
    """
    producer = {
        "type": "approx-prefix-cache-producer",
        "parameters": {
            "autoTune": False,  # autoTune leaves the block size 0 and the decider never sees prefix matches
            "blockSizeTokens": block,
            "maxPrefixBlocksToMatch": 256,
            "lruCapacityPerServer": 31250,
        },
    }
    plugins: list[Manifest] = [producer, {"type": "prefix-cache-scorer"}, {"type": "queue-scorer"}]
    if not disaggregated:
        plugins.append({"type": "max-score-picker"})
        profiles = [_profile("default", "max-score-picker")]
    else:
        plugins += [
            {"type": "disagg-headers-handler"},
            {"type": "prefill-filter"},
            {"type": "decode-filter"},
            {"type": "max-score-picker"},
            {"type": "prefix-based-pd-decider", "parameters": {"nonCachedTokens": 16}},
            {"type": "disagg-profile-handler", "parameters": {"deciders": {"prefill": "prefix-based-pd-decider"}}},
        ]
        profiles = [_profile(phase, f"{phase}-filter", "max-score-picker") for phase in ("prefill", "decode")]
    config = {
        "apiVersion": "llm-d.ai/v1alpha1",
        "kind": "EndpointPickerConfig",
        "plugins": plugins,
        "schedulingProfiles": profiles,
    }
    return yaml.safe_dump(config, sort_keys=False)


def _profile(name: str, *steps: str) -> Manifest:
    """A scheduling profile: its filter/picker steps, then prefix-cache (weight 2) and queue (weight 1) scoring."""
    scorers = [{"pluginRef": "prefix-cache-scorer", "weight": 2}, {"pluginRef": "queue-scorer", "weight": 1}]
    return {"name": name, "plugins": [*({"pluginRef": step} for step in steps), *scorers]}


def picker_objects(replica: str, namespace: str, config: str, labels: Mapping[str, str]) -> list[Manifest]:
    """The EPP: ServiceAccount, Role, RoleBinding, ConfigMap, Deployment (1 replica) and its gRPC Service."""
    name = names.picker_name(replica)
    meta = metadata(name, namespace, labels)
    read = ["get", "watch", "list"]
    rules = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": read},
        {"apiGroups": [POOL_GROUP], "resources": ["inferencepools"], "verbs": read},
        # The picker also watches InferenceObjectives; without this it logs forbidden errors.
        {"apiGroups": ["inference.networking.x-k8s.io"], "resources": ["inferenceobjectives"], "verbs": read},
    ]
    binding = {
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
    }
    service_spec = {
        "selector": {"app": name},
        "ports": [{"name": "grpc-ext-proc", "port": EPP_PORT, "targetPort": EPP_PORT, "appProtocol": "http2"}],
    }
    return [
        manifest("v1", "ServiceAccount", meta),
        manifest("rbac.authorization.k8s.io/v1", "Role", meta, rules=rules),
        manifest("rbac.authorization.k8s.io/v1", "RoleBinding", meta, **binding),
        manifest("v1", "ConfigMap", meta, data={EPP_CONFIG_KEY: config}),
        manifest("apps/v1", "Deployment", meta, spec=_picker_deployment_spec(replica, name, namespace, config)),
        manifest("v1", "Service", meta, spec=service_spec),
    ]


def _picker_deployment_spec(replica: str, name: str, namespace: str, config: str) -> Manifest:
    container = {
        "name": "epp",
        "image": EPP_IMAGE,
        "args": [
            f"--pool-name={names.pool_name(replica)}",
            f"--pool-namespace={namespace}",
            f"--pool-group={POOL_GROUP}",
            f"--config-file=/config/{EPP_CONFIG_KEY}",
            f"--grpc-port={EPP_PORT}",
        ],
        "ports": [
            {"name": "grpc", "containerPort": EPP_PORT},
            {"name": "grpc-health", "containerPort": EPP_HEALTH_PORT},
        ],
        "volumeMounts": [{"name": "config", "mountPath": "/config"}],
    }
    checksum = hashlib.sha256(config.encode()).hexdigest()
    return {
        "replicas": 1,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}, "annotations": {CHECKSUM_ANNOTATION: checksum}},
            "spec": {
                "serviceAccountName": name,
                "containers": [container],
                "volumes": [{"name": "config", "configMap": {"name": name}}],
            },
        },
    }
