"""One sandbox cluster on loopback: etcd, kube-apiserver (TLS, client-certificate admin), kube-controller-manager,
kube-scheduler and kwok, with the cluster's shape applied before the controllers start placing pods."""

from __future__ import annotations

import ipaddress
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelplane.sandbox import processes
from modelplane.sandbox.kubeapi import KubeApi, KubeApiError, healthy
from modelplane.sandbox.pki import ClusterPki, write_pki
from modelplane.sandbox.processes import Started

HOST = "127.0.0.1"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
PORT_NAMES = ("etcd", "etcdPeer", "apiserver", "controllerManager", "scheduler")
MAX_CLUSTERS = 64
STAGES_FILE = Path(__file__).with_name("kwok-stages.yaml")


class SandboxError(Exception):
    """The sandbox cannot do what was asked; the message says why and what to do."""


@dataclass(frozen=True)
class Addressing:
    """A cluster's address ranges. Service ClusterIPs and node addresses stay in 127.0.0.0/8; pod and load-balancer
    addresses come from 198.18.0.0/15 (RFC 2544 benchmarking, routed nowhere) because the API server refuses
    loopback addresses in EndpointSlices, and Services must get endpoints (the provider waits for them)."""

    index: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < MAX_CLUSTERS:
            raise SandboxError(f"a sandbox holds at most {MAX_CLUSTERS} clusters")

    @property
    def pod_cidr(self) -> str:
        return f"198.18.{self.index * 4}.0/22"

    @property
    def load_balancer_prefix(self) -> str:
        return f"198.19.{self.index}"

    @property
    def service_cidr(self) -> str:
        return f"127.{64 + self.index}.0.0/16"

    @property
    def kubernetes_service_ip(self) -> str:
        return str(ipaddress.ip_network(self.service_cidr)[1])


@dataclass(frozen=True)
class ClusterLayout:
    """Where one cluster's files live and which ports it uses."""

    name: str
    directory: Path
    ports: Mapping[str, int]
    addressing: Addressing

    @property
    def pki(self) -> ClusterPki:
        return ClusterPki(self.directory / "pki")

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://{HOST}:{self.ports['apiserver']}"

    def api(self, timeout: float = 5.0) -> KubeApi:
        pki = self.pki
        return KubeApi(self.server, pki.ca_cert, pki.admin_cert, pki.admin_key, timeout)

    def log(self, component: str) -> Path:
        return self.directory / "logs" / f"{component}.log"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "directory": str(self.directory), "ports": dict(self.ports), "index": self.index}

    @property
    def index(self) -> int:
        return self.addressing.index

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClusterLayout:
        return cls(str(data["name"]), Path(data["directory"]), dict(data["ports"]), Addressing(int(data["index"])))


def kubeconfig(layouts: list[ClusterLayout], current: str | None = None) -> dict[str, Any]:
    """A kubeconfig with one context per cluster, named after it, credentials embedded."""
    import base64

    def data(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    clusters, users, contexts = [], [], []
    for layout in layouts:
        pki = layout.pki
        clusters.append(
            {"name": layout.name, "cluster": {"server": layout.server, "certificate-authority-data": data(pki.ca_cert)}}
        )
        users.append(
            {
                "name": f"{layout.name}-admin",
                "user": {"client-certificate-data": data(pki.admin_cert), "client-key-data": data(pki.admin_key)},
            }
        )
        contexts.append({"name": layout.name, "context": {"cluster": layout.name, "user": f"{layout.name}-admin"}})
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": clusters,
        "users": users,
        "contexts": contexts,
        "current-context": current or (layouts[0].name if layouts else ""),
        "preferences": {},
    }


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (kubeconfigs, passphrases)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)


def command_lines(layout: ClusterLayout, bin_dir: Path) -> dict[str, list[str]]:
    """Each component's argv: everything on 127.0.0.1, no leader election (one of each), fsync off for etcd."""
    pki, ports, kubeconfig_path = layout.pki, layout.ports, str(layout.kubeconfig)
    etcd_url, peer_url = f"http://{HOST}:{ports['etcd']}", f"http://{HOST}:{ports['etcdPeer']}"
    delegated = [f"--authentication-kubeconfig={kubeconfig_path}", f"--authorization-kubeconfig={kubeconfig_path}"]
    return {
        "etcd": [
            str(bin_dir / "etcd"),
            "--name=default",
            f"--data-dir={layout.directory / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
        "kube-apiserver": [
            str(bin_dir / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            f"--bind-address={HOST}",
            f"--advertise-address={HOST}",
            f"--secure-port={ports['apiserver']}",
            f"--tls-cert-file={pki.server_cert}",
            f"--tls-private-key-file={pki.server_key}",
            f"--client-ca-file={pki.ca_cert}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.service_account_public}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-cluster-ip-range={layout.addressing.service_cidr}",
            "--authorization-mode=Node,RBAC",
            # The `kubernetes` Service's endpoints would be this loopback address, which EndpointSlices refuse.
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--v=1",
        ],
        "kube-controller-manager": [
            str(bin_dir / "kube-controller-manager"),
            f"--kubeconfig={kubeconfig_path}",
            *delegated,
            f"--bind-address={HOST}",
            f"--secure-port={ports['controllerManager']}",
            "--leader-elect=false",
            f"--service-account-private-key-file={pki.service_account_key}",
            f"--root-ca-file={pki.ca_cert}",
            f"--cluster-name={layout.name}",
            "--v=1",
        ],
        "kube-scheduler": [
            str(bin_dir / "kube-scheduler"),
            f"--kubeconfig={kubeconfig_path}",
            *delegated,
            f"--bind-address={HOST}",
            f"--secure-port={ports['scheduler']}",
            "--leader-elect=false",
            "--v=1",
        ],
        "kwok": [
            str(bin_dir / "kwok"),
            f"--kubeconfig={kubeconfig_path}",
            f"--config={layout.directory / 'kwok-stages.yaml'}",
            "--manage-all-nodes=true",
            f"--cidr={layout.addressing.pod_cidr}",
            f"--node-ip={HOST}",
            "--node-lease-duration-seconds=40",
        ],
    }


def stages(addressing: Addressing) -> str:
    return STAGES_FILE.read_text().replace("__LB_PREFIX__", addressing.load_balancer_prefix)


class ClusterRun:
    """Starts one cluster, applies its objects and waits until it is ready; `started` lists every process."""

    def __init__(self, layout: ClusterLayout, bin_dir: Path, progress: Callable[[str], None]) -> None:
        self.layout, self.bin_dir, self.progress = layout, bin_dir, progress
        self.started: list[Started] = []
        self.on_start: Callable[[list[Started]], None] = lambda _started: None  # persist as each process starts

    def prepare(self) -> None:
        layout = self.layout
        layout.directory.mkdir(parents=True, exist_ok=True)
        write_pki(layout.pki.directory, layout.name, [HOST, layout.addressing.kubernetes_service_ip])
        write_private(layout.kubeconfig, yaml.safe_dump(kubeconfig([layout]), sort_keys=False))
        (layout.directory / "kwok-stages.yaml").write_text(stages(layout.addressing))

    def up(self, objects: list[dict[str, Any]], crds: list[dict[str, Any]], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self.prepare()
        commands = command_lines(self.layout, self.bin_dir)
        self._start("etcd", commands)
        self._wait("etcd", lambda: healthy(f"http://{HOST}:{self.layout.ports['etcd']}/health"), deadline)
        self._start("kube-apiserver", commands)
        self._wait("kube-apiserver", self.layout.api().ready, deadline)
        # The controllers start while the shape is applied (nothing can be scheduled before the nodes exist); kwok
        # after the CRDs, since its stages watch some of their kinds.
        for component in ("kube-controller-manager", "kube-scheduler"):
            self._start(component, commands)
        self._apply("crds", crds)
        self._wait("kube-apiserver", self.crds_established, deadline, subject="CRDs", state="established")
        self._start("kwok", commands)
        self._apply("objects", objects)
        for component, key in (("kube-controller-manager", "controllerManager"), ("kube-scheduler", "scheduler")):
            url = f"https://{HOST}:{self.layout.ports[key]}/healthz"
            self._wait(component, lambda url=url: healthy(url), deadline)
        self._wait("kwok", self.nodes_ready, deadline)

    def nodes_ready(self) -> bool:
        try:
            nodes = self.layout.api().items("/api/v1/nodes")
        except KubeApiError:
            return False
        return bool(nodes) and all(_condition(node, "Ready") for node in nodes)

    def _start(self, component: str, commands: Mapping[str, list[str]]) -> None:
        self.started.append(processes.start(component, commands[component], self.layout.log(component)))
        self.on_start(self.started)

    def _wait(
        self,
        component: str,
        check: Callable[[], bool],
        deadline: float,
        subject: str | None = None,
        state: str = "ready",
    ) -> None:
        """Wait for `check`; the failure names what was awaited (`subject`, by default the component) and its log."""
        subject = subject or component
        while not check():
            process = next(p for p in self.started if p.name == component)
            if not process.alive():
                raise SandboxError(f"{self.layout.name}: {component} exited; its log: {_tail(process.log)}")
            if time.monotonic() > deadline:
                raise SandboxError(
                    f"{self.layout.name}: {subject} not {state} in time; {component}'s log: {_tail(process.log)}"
                )
            time.sleep(0.2)
        self.progress(f"{self.layout.name}: {subject} {state}")

    def _apply(self, what: str, manifests: list[dict[str, Any]]) -> None:
        if not manifests:
            return
        path = self.layout.directory / f"{what}.yaml"
        path.write_text(yaml.safe_dump_all(manifests, sort_keys=False))
        kubectl = [str(self.bin_dir / "kubectl"), f"--kubeconfig={self.layout.kubeconfig}"]
        _run([*kubectl, "apply", "--server-side", "--force-conflicts", f"--filename={path}"], self.layout.name)

    def crds_established(self) -> bool:
        """Every CRD serves its kinds (polled here: `kubectl wait` fails on a CRD that has no conditions yet)."""
        try:
            crds = self.layout.api().items("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        except KubeApiError:
            return False
        return all(_condition(crd, "Established") for crd in crds)


def _condition(item: Mapping[str, Any], kind: str) -> bool:
    conditions = item.get("status", {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _run(argv: list[str], cluster: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0:
        raise SandboxError(f"{cluster}: {' '.join(argv[2:4])} failed: {result.stderr.strip()[-800:]}")


def _tail(log: str, lines: int = 5) -> str:
    try:
        text = Path(log).read_text(errors="replace").strip().splitlines()
    except OSError:
        return log
    return f"{log}\n  " + "\n  ".join(text[-lines:])
