"""A small fleet that exercises every composition path, with a hand-made placement (no scheduler)."""

from __future__ import annotations

from modelplane.api.fleet import Fleet
from modelplane.scheduling.placement import EnginePlacement, MemberPlacement, Placement
from tests.compose import builders as b

FLEET_YAML = """
apiVersion: modelplane.ai/v1alpha1
kind: InferenceClass
metadata: {name: l4}
spec:
  devices:
  - {name: gpu, driver: gpu.nvidia.com, deviceClassName: gpu.nvidia.com, capacity: {memory: {value: 23034Mi}}}
---
apiVersion: modelplane.ai/v1alpha1
kind: InferenceCluster
metadata: {name: eks-a, labels: {region: us}}
spec:
  cluster: {source: EKS, eks: {region: us-east-2}}
  nodePools: [{name: gpu, className: l4, nodeCount: 4}]
---
apiVersion: modelplane.ai/v1alpha1
kind: InferenceCluster
metadata: {name: gke-b}
spec:
  cluster: {source: GKE, gke: {region: us-central1}}
  nodePools: [{name: gpu, className: l4, nodeCount: 4}]
---
apiVersion: modelplane.ai/v1alpha1
kind: InferenceCluster
metadata: {name: vultr-c}
spec:
  cluster: {source: Vultr, vultr: {region: ewr}}
  nodePools: [{name: gpu, className: l4}]
---
apiVersion: modelplane.ai/v1alpha1
kind: InferenceCluster
metadata: {name: byo-d}
spec:
  cluster: {source: Existing, existing: {secretRef: {name: kc}}}
  nodePools: [{name: gpu, className: l4}]
---
apiVersion: modelplane.ai/v1alpha1
kind: InferenceCluster
metadata: {name: byo-e}
spec:
  cluster: {source: Existing, existing: {secretRef: {name: kc}, cache: {storageClassName: nfs-rwx}}}
  nodePools: [{name: gpu, className: l4}]
---
apiVersion: modelplane.ai/v1alpha1
kind: ModelCache
metadata: {name: qwen, namespace: ml-team}
spec:
  source: HuggingFace
  huggingFace: {repo: Qwen/Qwen3-8B, revision: main, authSecret: {name: hf-token}, sizeGiB: 40}
---
apiVersion: modelplane.ai/v1alpha1
kind: ModelDeployment
metadata: {name: qwen, namespace: ml-team}
spec:
  replicas: 2
  template:
    metadata: {labels: {team: search}}
    spec:
      modelCacheRef: {name: qwen}
      engines:
      - name: vllm
        copies: 2
        members:
        - role: Standalone
          nodeSelector: {devices: [{name: gpu, selectors: [{cel: 'device.driver == "gpu.nvidia.com"'}]}]}
          template:
            metadata: {labels: {tier: gold}, annotations: {note: cached}}
            spec:
              containers:
              - name: engine
                image: vllm/vllm-openai:v0.23.0
                args: [--served-model-name=qwen]
                env: [{name: HF_TOKEN, valueFrom: {secretKeyRef: {name: hf-token, key: HF_TOKEN}}}]
              imagePullSecrets: [{name: regcred}]
---
apiVersion: modelplane.ai/v1alpha1
kind: ModelDeployment
metadata: {name: gang, namespace: ml-team}
spec:
  replicas: 1
  template:
    spec:
      engines:
      - name: main
        members:
        - role: Leader
          template:
            spec:
              containers:
              - name: engine
                image: vllm/vllm-openai:v0.23.0
                command: [/bin/sh, -c, 'exec vllm serve m --node-rank=$(MODELPLANE_RANK)']
                env: [{name: NCCL_DEBUG, value: INFO}]
        - role: Worker
          worker: {nodes: 2}
          nodeSelector: {devices: [{name: gpu, count: 1, selectors: [{cel: 'device.driver == "gpu.nvidia.com"'}]}]}
          template:
            spec:
              containers:
              - name: engine
                image: vllm/vllm-openai:v0.23.0
                command: [/bin/sh, -c, 'exec vllm serve m --headless']
---
apiVersion: modelplane.ai/v1alpha1
kind: ModelDeployment
metadata: {name: pd, namespace: ml-team}
spec:
  replicas: 1
  template:
    spec:
      modelCacheRef: {name: qwen}
      serving: {mode: PrefillDecode}
      engines:
      - name: fill
        phase: Prefill
        members:
        - nodeSelector: {devices: [{name: gpu, selectors: [{cel: 'device.driver == "gpu.nvidia.com"'}]}]}
          template:
            spec:
              containers:
              - {name: engine, image: vllm/vllm-openai:v0.23.0, args: [--block-size=64]}
      - name: gen
        phase: Decode
        members:
        - nodeSelector: {devices: [{name: gpu, selectors: [{cel: 'device.driver == "gpu.nvidia.com"'}]}]}
          template:
            spec:
              containers:
              - name: engine
                image: vllm/vllm-openai:v0.23.0
                args: [--block-size, '32', --port=8123]
                env: [{name: VLLM_NIXL_SIDE_CHANNEL_PORT, value: '6000'}]
---
apiVersion: modelplane.ai/v1alpha1
kind: ModelDeployment
metadata: {name: 2b.tiny, namespace: research}
spec:
  replicas: 1
  template:
    spec:
      engines:
      - name: main
        members:
        - nodeSelector: {devices: [{name: gpu, selectors: [{cel: 'device.driver == "gpu.nvidia.com"'}]}]}
          template: {spec: {containers: [{name: engine, image: ghcr.io/example/tiny:1}]}}
---
apiVersion: modelplane.ai/v1alpha1
kind: ModelEndpoint
metadata: {name: together, namespace: ml-team, labels: {provider: together}}
spec: {url: 'https://api.together.xyz/', rewritePath: /}
---
apiVersion: modelplane.ai/v1alpha1
kind: ModelEndpoint
metadata: {name: on-prem, namespace: ml-team, labels: {provider: on-prem}}
spec: {url: 'http://10.1.2.3/ns/r/v1', rewritePath: /ns/r/}
---
apiVersion: modelplane.ai/v1alpha1
kind: ModelEndpoint
metadata: {name: lab-v6, namespace: research, labels: {provider: lab}}
spec: {url: 'http://[fd00::1]:8080/v1'}
---
apiVersion: modelplane.ai/v1alpha1
kind: InferenceGateway
metadata: {name: default}
spec: {backend: Traefik, cluster: gke-b, traefik: {version: 40.2.0}}
---
apiVersion: modelplane.ai/v1alpha1
kind: InferenceGateway
metadata: {name: eu}
spec: {backend: Traefik, traefik: {version: 40.2.0}}
---
apiVersion: modelplane.ai/v1alpha1
kind: ModelService
metadata: {name: qwen, namespace: ml-team}
spec:
  endpoints:
  - {weight: 80, selector: {matchLabels: {modelplane.ai/deployment: qwen}}}
  - {weight: 20, selector: {matchLabels: {provider: together}}}
  - {priority: 1, selector: {matchLabels: {provider: on-prem}}}
---
apiVersion: modelplane.ai/v1alpha1
kind: ModelService
metadata: {name: pd, namespace: ml-team}
spec:
  endpoints: [{selector: {matchLabels: {modelplane.ai/deployment: pd}}}]
---
apiVersion: modelplane.ai/v1alpha1
kind: ModelService
metadata: {name: tiny, namespace: research}
spec:
  gatewayRef: {name: eu}
  endpoints:
  - {selector: {matchLabels: {modelplane.ai/deployment: 2b.tiny}}}
  - {selector: {matchLabels: {provider: lab}}}
"""

ADDRESSES = {"eks-a": "10.0.0.1", "gke-b": "gw.gke-b.example.com", "byo-d": "fd00::10"}


def rich_fleet() -> Fleet:
    return b.fleet(FLEET_YAML)


def rich_placement() -> Placement:
    standalone = b.engine_at("vllm", ("Standalone", True))
    gang = EnginePlacement(
        "main", "gpu", (MemberPlacement("Leader", "gpu"), MemberPlacement("Worker", "gpu", (b.claim(),)))
    )
    return b.placement(
        ("ml-team", "gang", [b.replica("gke-b", 0, gang)]),
        (
            "ml-team",
            "pd",
            [
                b.replica(
                    "eks-a", 0, b.engine_at("fill", ("Standalone", True)), b.engine_at("gen", ("Standalone", True))
                )
            ],
        ),
        ("ml-team", "qwen", [b.replica("eks-a", 0, standalone), b.replica("vultr-c", 0, standalone)]),
        ("research", "2b.tiny", [b.replica("byo-d", 0)]),
    )
