"""Reference §10 items 15–19: workloads, claims, the replica routing surface, PrefillDecode and cache mounts."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from modelplane.api.model_deployment import ModelDeployment
from modelplane.compose.replica import compose_replica
from modelplane.scheduling.placement import EnginePlacement, MemberPlacement, ReplicaPlacement
from tests.compose import builders as b
from tests.compose.checks import check_object

REPLICA = "my-model-5ab63"  # replica_name("my-model", "cluster-a", 0)
PVC = "modelcache-ml-team-qwen-17db2"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
PROBE_8000 = {
    "httpGet": {"path": "/health", "port": 8000},
    "initialDelaySeconds": 30,
    "periodSeconds": 10,
    "timeoutSeconds": 5,
}
GANG_ENV = [
    {"name": "MODELPLANE_LEADER_ADDRESS", "value": "$(LWS_LEADER_ADDRESS)"},
    {"name": "MODELPLANE_RANK", "value": "$(LWS_WORKER_INDEX)"},
]


def compose(doc: dict[str, Any], *engines: EnginePlacement, cache_pvc: str | None = None) -> dict[str, dict[str, Any]]:
    """The replica's objects on cluster-a, index 0, keyed `Kind/name`; each checked against its schema."""
    deployment = ModelDeployment.model_validate(doc)
    objects = compose_replica(deployment, ReplicaPlacement("cluster-a", 0, engines), cache_pvc)
    for item in objects:
        check_object(item)
    return {f"{item['kind']}/{item['metadata']['name']}": item for item in objects}


def one(objects: dict[str, dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [item for key, item in objects.items() if key.startswith(f"{kind}/")]
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


def pod(workload: dict[str, Any], template: str = "template") -> dict[str, Any]:
    spec = workload["spec"]
    return spec["template"] if template == "template" else spec["leaderWorkerTemplate"][template]


STANDALONE = b.engine_at("main", ("Standalone", True))
GANG = EnginePlacement(
    "main", "gpu", (MemberPlacement("Leader", "gpu"), MemberPlacement("Worker", "gpu", (b.claim(8),)))
)


def gang_doc(**leader: Any) -> dict[str, Any]:
    members = [
        b.member("Leader", claims=False, command=["/bin/sh", "-c", "serve"], **leader),
        b.member("Worker", nodes=2, command=["/bin/sh", "-c", "join $(MODELPLANE_LEADER_ADDRESS)"]),
    ]
    return b.deployment(engines=[{"name": "main", "copies": 2, "members": members}])


class TestStandalone:
    """Item 15: Standalone → Deployment with replicas = copies, pinned, tolerating, claiming, probing."""

    def test_deployment(self) -> None:
        doc = b.deployment(engines=[{"name": "main", "copies": 2, "members": [b.member(args=["--model=m"])]}])
        objects = compose(doc, STANDALONE)
        deployment = one(objects, "Deployment")
        assert deployment["metadata"]["namespace"] == "ml-team"
        assert deployment["spec"]["replicas"] == 2
        template = pod(deployment)
        assert template["metadata"]["labels"]["modelplane.ai/serving"] == REPLICA
        spec = template["spec"]
        assert spec["nodeSelector"] == {"modelplane.ai/pool": "gpu"}
        assert spec["tolerations"] == [GPU_TOLERATION]
        assert spec["volumes"][0] == {"name": "dshm", "emptyDir": {"medium": "Memory"}}
        rct_name = spec["resourceClaims"][0]["resourceClaimTemplateName"]
        assert spec["resourceClaims"] == [{"name": "devices", "resourceClaimTemplateName": rct_name}]
        engine = spec["containers"][0]
        assert engine["ports"] == [{"containerPort": 8000}]
        assert engine["readinessProbe"] == PROBE_8000
        assert engine["resources"] == {"claims": [{"name": "devices"}]}
        assert engine["args"] == ["--model=m"]
        assert {"name": "dshm", "mountPath": "/dev/shm"} in engine["volumeMounts"]

    def test_claim_template_carries_exactly_the_request(self) -> None:
        objects = compose(b.deployment(), STANDALONE)
        template = one(objects, "ResourceClaimTemplate")
        assert template["spec"]["spec"]["devices"]["requests"] == [
            {
                "name": "gpu",
                "exactly": {
                    "deviceClassName": "gpu.nvidia.com",
                    "count": 1,
                    "selectors": [{"cel": {"expression": b.GPU_CEL}}],
                },
            }
        ]
        deployment = one(objects, "Deployment")
        assert pod(deployment)["spec"]["resourceClaims"][0]["resourceClaimTemplateName"] == template["metadata"]["name"]

    def test_user_metadata_env_and_pull_secrets_pass_through(self) -> None:
        member = b.member(env=[{"name": "A", "value": "1"}])
        member["template"]["metadata"] = {"labels": {"tier": "gold"}, "annotations": {"note": "x"}}
        member["template"]["spec"]["imagePullSecrets"] = [{"name": "regcred"}]
        doc = b.deployment(engines=[{"name": "main", "members": [member]}])
        doc["spec"]["template"]["metadata"] = {"labels": {"team": "search"}}
        template = pod(one(compose(doc, STANDALONE), "Deployment"))
        assert template["metadata"]["labels"]["tier"] == "gold"
        assert template["metadata"]["labels"]["team"] == "search"
        assert template["metadata"]["annotations"] == {"note": "x"}
        assert template["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
        assert template["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]

    def test_two_engines_share_one_serving_service(self) -> None:
        engines = [{"name": "a", "members": [b.member()]}, {"name": "b", "members": [b.member()]}]
        objects = compose(
            b.deployment(engines=engines),
            b.engine_at("a", ("Standalone", True)),
            b.engine_at("b", ("Standalone", True)),
        )
        deployments = [item for key, item in objects.items() if key.startswith("Deployment/")]
        assert len(deployments) == 2
        selectors = {tuple(d["spec"]["selector"]["matchLabels"].items()) for d in deployments}
        assert len(selectors) == 2  # per-engine selectors never overlap
        assert one(objects, "Service")["spec"]["selector"] == {"modelplane.ai/serving": REPLICA}


class TestGang:
    """Item 16: Leader + Worker(nodes 2) → LWS size 3; gang env first; only the leader serves."""

    def test_leader_worker_set(self) -> None:
        doc = gang_doc(env=[{"name": "USER", "value": "$(MODELPLANE_RANK)"}])
        lws = one(compose(doc, GANG), "LeaderWorkerSet")
        assert lws["spec"]["replicas"] == 2
        template = lws["spec"]["leaderWorkerTemplate"]
        assert template["size"] == 3
        leader, worker = template["leaderTemplate"], template["workerTemplate"]
        assert leader["spec"]["containers"][0]["env"] == [*GANG_ENV, {"name": "USER", "value": "$(MODELPLANE_RANK)"}]
        assert worker["spec"]["containers"][0]["env"] == GANG_ENV
        assert leader["metadata"]["labels"]["modelplane.ai/serving"] == REPLICA
        assert leader["metadata"]["labels"]["modelplane.ai/lws-role"] == "leader"
        assert "modelplane.ai/serving" not in worker["metadata"]["labels"]
        assert leader["spec"]["containers"][0]["ports"] == [{"containerPort": 8000}]
        assert leader["spec"]["containers"][0]["readinessProbe"] == PROBE_8000
        assert "ports" not in worker["spec"]["containers"][0]
        assert "readinessProbe" not in worker["spec"]["containers"][0]
        assert lws["metadata"]["name"] != REPLICA  # the LWS controller's gang Service takes the LWS name

    def test_claimless_leader_gets_no_claim_template_and_no_claim(self) -> None:
        objects = compose(gang_doc(), GANG)
        templates = [key for key in objects if key.startswith("ResourceClaimTemplate/")]
        assert templates == [key for key in templates if "-worker-devices-" in key] and len(templates) == 1
        leader = pod(one(objects, "LeaderWorkerSet"), "leaderTemplate")
        assert "resourceClaims" not in leader["spec"]
        assert "resources" not in leader["spec"]["containers"][0]
        assert leader["spec"]["tolerations"] == [GPU_TOLERATION]  # it still rides a GPU pool
        worker = pod(one(objects, "LeaderWorkerSet"), "workerTemplate")
        assert worker["spec"]["resourceClaims"][0]["name"] == "devices"


class TestUnifiedRouting:
    """Item 17 as we compose it: a Service + HTTPRoute by default, the InferencePool + EPP on opt-in."""

    def test_simple_path(self) -> None:
        objects = compose(b.deployment(), STANDALONE)
        route = one(objects, "HTTPRoute")
        assert route["metadata"]["name"] == REPLICA
        assert route["spec"]["parentRefs"] == [{"name": "inference-gateway", "namespace": "modelplane-system"}]
        rule = route["spec"]["rules"][0]
        assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": f"/ml-team/{REPLICA}/"}}]
        assert rule["filters"][0]["urlRewrite"]["path"] == {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}
        assert rule["timeouts"] == {"request": "0s"}
        service = one(objects, "Service")
        assert rule["backendRefs"] == [{"name": service["metadata"]["name"], "port": 8000}]
        assert service["spec"]["ports"][0]["port"] == 8000
        assert not [key for key in objects if key.startswith(("InferencePool/", "ConfigMap/"))]
        assert len(objects) == 4  # Deployment, RCT, Service, HTTPRoute: the ≤ 5 Pulumi resources target

    @pytest.mark.parametrize(
        ("args", "block"), [(["--block-size=64"], 64), (["--page-size", "32"], 32), ([], 16), (["--block-size=x"], 16)]
    )
    def test_opt_in_endpoint_picker(self, args: list[str], block: int) -> None:
        doc = b.deployment(engines=[{"name": "main", "members": [b.member(args=args)]}])
        doc["metadata"]["annotations"] = {"modelplane.ai/endpoint-picker": "true"}
        objects = compose(doc, STANDALONE)
        pool = one(objects, "InferencePool")
        assert pool["metadata"]["name"] == f"{REPLICA}-pool"
        assert pool["spec"] == {
            "selector": {"matchLabels": {"modelplane.ai/serving": REPLICA}},
            "targetPorts": [{"number": 8000}],
            "endpointPickerRef": {"name": f"{REPLICA}-epp", "port": {"number": 9002}, "failureMode": "FailOpen"},
        }
        route = one(objects, "HTTPRoute")
        assert route["spec"]["rules"][0]["backendRefs"] == [
            {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": f"{REPLICA}-pool"}
        ]
        config = yaml.safe_load(one(objects, "ConfigMap")["data"]["epp-config.yaml"])
        assert config["plugins"][0]["parameters"]["blockSizeTokens"] == block
        assert [profile["name"] for profile in config["schedulingProfiles"]] == ["default"]
        epp = objects[f"Deployment/{REPLICA}-epp"]
        assert (
            epp["spec"]["template"]["spec"]["containers"][0]["image"]
            == "ghcr.io/llm-d/llm-d-router-endpoint-picker:v0.9.0"
        )
        assert "modelplane.ai/epp-config-checksum" in epp["spec"]["template"]["metadata"]["annotations"]
        assert not [key for key in objects if key == f"Service/{REPLICA}"]


def pd_doc(decode_args: list[str], decode_env: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    engines = [
        {"name": "p", "phase": "Prefill", "members": [b.member(args=["--block-size=64"])]},
        {"name": "d", "phase": "Decode", "members": [b.member(args=decode_args, env=decode_env or [])]},
    ]
    return b.deployment(engines=engines, serving={"mode": "PrefillDecode"})


PD = (b.engine_at("p", ("Standalone", True)), b.engine_at("d", ("Standalone", True)))


class TestPrefillDecode:
    """Item 18: role labels, the decode sidecar and port move, NIXL env, the P/D decider."""

    def workloads(self, objects: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
        by_role = {}
        for key, item in objects.items():
            if key.startswith("Deployment/") and not key.endswith("-epp"):
                by_role[pod(item)["metadata"]["labels"]["llm-d.ai/role"]] = pod(item)
        return by_role["prefill"], by_role["decode"]

    @pytest.mark.parametrize(("args", "port"), [([], 8001), (["--port=8123"], 8123), (["--port", "9000"], 9000)])
    def test_decode_sidecar_and_port(self, args: list[str], port: int) -> None:
        _, decode = self.workloads(compose(pd_doc(args), *PD))
        engine, sidecar = decode["spec"]["containers"]
        assert engine["ports"] == [{"containerPort": port}]
        assert engine["readinessProbe"]["httpGet"]["port"] == port
        assert sidecar["name"] == "pd-sidecar"
        assert sidecar["ports"] == [{"containerPort": 8000}]
        assert f"--vllm-port={port}" in sidecar["args"]
        assert sidecar["readinessProbe"] == PROBE_8000

    def test_both_phases_labelled_and_wired_for_nixl(self) -> None:
        prefill, decode = self.workloads(
            compose(pd_doc([], [{"name": "VLLM_NIXL_SIDE_CHANNEL_PORT", "value": "6000"}]), *PD)
        )
        for template, role in ((prefill, "prefill"), (decode, "decode")):
            labels = template["metadata"]["labels"]
            assert labels["llm-d.ai/role"] == role
            assert labels["llm-d.ai/inference-serving"] == "true"
            assert labels["app"] == REPLICA
            assert labels["modelplane.ai/serving"] == REPLICA
        host = {"name": "VLLM_NIXL_SIDE_CHANNEL_HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
        assert prefill["spec"]["containers"][0]["env"] == [
            host,
            {"name": "VLLM_NIXL_SIDE_CHANNEL_PORT", "value": "5557"},
        ]
        # the user's own port wins; only the missing variable is added
        assert decode["spec"]["containers"][0]["env"] == [
            {"name": "VLLM_NIXL_SIDE_CHANNEL_PORT", "value": "6000"},
            host,
        ]
        assert len(prefill["spec"]["containers"]) == 1

    def test_picker_pairs_prefill_and_decode(self) -> None:
        objects = compose(pd_doc(["--block-size=128"]), *PD)
        config = yaml.safe_load(one(objects, "ConfigMap")["data"]["epp-config.yaml"])
        plugins = {plugin["type"]: plugin for plugin in config["plugins"]}
        assert plugins["prefix-based-pd-decider"]["parameters"] == {"nonCachedTokens": 16}
        assert plugins["disagg-profile-handler"]["parameters"] == {"deciders": {"prefill": "prefix-based-pd-decider"}}
        assert plugins["approx-prefix-cache-producer"]["parameters"]["blockSizeTokens"] == 128  # the decode engine's
        assert [profile["name"] for profile in config["schedulingProfiles"]] == ["prefill", "decode"]
        assert one(objects, "InferencePool")["spec"]["selector"] == {"matchLabels": {"modelplane.ai/serving": REPLICA}}
        role = one(objects, "Role")
        assert {
            "apiGroups": ["inference.networking.x-k8s.io"],
            "resources": ["inferenceobjectives"],
            "verbs": ["get", "watch", "list"],
        } in role["rules"]

    @pytest.mark.parametrize(
        "phases",
        [["Prefill"], ["Prefill", "Prefill"], ["Prefill", "Decode", "Decode"]],
        ids=["one engine", "two prefills", "three engines"],
    )
    def test_admission_rejects_malformed_pairs(self, phases: list[str]) -> None:
        engines = [{"name": f"e{index}", "phase": phase, "members": [b.member()]} for index, phase in enumerate(phases)]
        with pytest.raises(ValidationError, match="PrefillDecode needs exactly two engines"):
            ModelDeployment.model_validate(b.deployment(engines=engines, serving={"mode": "PrefillDecode"}))

    def test_admission_rejects_a_phase_under_unified(self) -> None:
        engines = [{"name": "e", "phase": "Prefill", "members": [b.member()]}]
        with pytest.raises(ValidationError, match="phase is only allowed"):
            ModelDeployment.model_validate(b.deployment(engines=engines))


class TestCacheMount:
    """Item 19: every pod mounts the cache PVC read-write at /mnt/models; --model only for vLLM-style leaders."""

    @pytest.mark.parametrize(
        ("fields", "want_args"),
        [
            ({}, ["--model=/mnt/models"]),
            ({"args": ["--served-model-name=q"]}, ["--served-model-name=q", "--model=/mnt/models"]),
            ({"args": ["--model=org/repo"]}, ["--model=org/repo"]),
            ({"args": ["--model", "org/repo"]}, ["--model", "org/repo"]),
            (
                {"command": ["python3", "-m", "sglang.launch_server"], "args": ["--model-path=/mnt/models"]},
                ["--model-path=/mnt/models"],
            ),
        ],
        ids=["bare", "other-args", "model=", "model-space", "own-command"],
    )
    def test_model_flag(self, fields: dict[str, Any], want_args: list[str]) -> None:
        doc = b.deployment(engines=[{"name": "main", "members": [b.member(**fields)]}])
        engine = pod(one(compose(doc, STANDALONE, cache_pvc=PVC), "Deployment"))["spec"]["containers"][0]
        assert engine["args"] == want_args

    def test_every_gang_pod_mounts_the_cache_and_only_the_leader_gets_model(self) -> None:
        members = [b.member("Leader"), b.member("Worker", nodes=1)]
        doc = b.deployment(engines=[{"name": "main", "members": members}])
        gang = EnginePlacement(
            "main",
            "gpu",
            (MemberPlacement("Leader", "gpu", (b.claim(),)), MemberPlacement("Worker", "gpu", (b.claim(),))),
        )
        lws = one(compose(doc, gang, cache_pvc=PVC), "LeaderWorkerSet")
        for name in ("leaderTemplate", "workerTemplate"):
            spec = pod(lws, name)["spec"]
            assert {"name": "model-cache", "persistentVolumeClaim": {"claimName": PVC}} in spec["volumes"]
            mount = {"name": "model-cache", "mountPath": "/mnt/models"}
            assert mount in spec["containers"][0]["volumeMounts"]
            assert "readOnly" not in mount
        assert pod(lws, "leaderTemplate")["spec"]["containers"][0]["args"] == ["--model=/mnt/models"]
        assert "args" not in pod(lws, "workerTemplate")["spec"]["containers"][0]

    def test_no_cache_no_mount_no_flag(self) -> None:
        engine = pod(one(compose(b.deployment(), STANDALONE), "Deployment"))["spec"]["containers"][0]
        assert "args" not in engine
        assert [mount["name"] for mount in engine["volumeMounts"]] == ["dshm"]


def test_requests_are_packed_into_claims_of_at_most_32_devices() -> None:
    from modelplane.compose.claims import MAX_DEVICES_PER_CLAIM, claim_groups
    from modelplane.scheduling.placement import DeviceClaim

    def request(name: str, count: int) -> DeviceClaim:
        return DeviceClaim(name, "gpu.nvidia.com", count, ())

    assert MAX_DEVICES_PER_CLAIM == 32  # resource.k8s.io/v1 AllocationResultsMaxSize in Kubernetes 1.34
    one = claim_groups((request("gpu", 16), request("nic", 16)))
    assert [[c.name for c in group] for group in one] == [["gpu", "nic"]]
    two = claim_groups((request("gpu", 8), request("efa", 32), request("nvme", 4)))
    assert [[c.name for c in group] for group in two] == [["gpu", "nvme"], ["efa"]]
    assert all(sum(c.count for c in group) <= 32 for group in two)
