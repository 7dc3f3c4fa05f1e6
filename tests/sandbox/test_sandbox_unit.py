"""Sandbox lifecycle pieces that need no process: input errors start nothing, ports, state, env, the CLI's errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelplane.api.loading import load_stack
from modelplane.cli import app
from modelplane.sandbox.cluster import Addressing, ClusterLayout, SandboxError, command_lines
from modelplane.sandbox.processes import Started, free_ports, port_taken, start_time_of
from modelplane.sandbox.sandbox import Sandbox, UpRequest, pulumi_env
from modelplane.sandbox.state import SandboxState

ROOT = Path(__file__).resolve().parents[2]


def request(stack: str = "dev", **changes: object) -> UpRequest:
    inputs = load_stack(ROOT, stack)
    fields = {
        "stack": stack,
        "fleet": inputs.fleet,
        "config": inputs.config,
        "declared_secrets": None,
        "project_dir": ROOT,
        "bin_dir": Path("/nonexistent/bin"),
        "crds": [],
        **changes,
    }
    return UpRequest(**fields)  # type: ignore[arg-type]


def test_taken_ports_are_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SandboxError, match=f"port\\(s\\) {port} on 127.0.0.1 are in use"):
            Sandbox(tmp_path / "state").up(request(port_base=port), lambda _line: None)
    assert not (tmp_path / "state" / "state.json").exists()
    assert not (ROOT / "stacks" / "Pulumi.dev-sandbox.yaml").exists()


def test_free_ports_are_distinct_and_free() -> None:
    ports = free_ports(10)
    assert len(set(ports)) == 10
    assert not any(port_taken(port) for port in ports)


def test_addresses_stay_off_the_network_and_apart_per_cluster() -> None:
    import ipaddress

    benchmark = ipaddress.ip_network("198.18.0.0/15")
    loopback = ipaddress.ip_network("127.0.0.0/8")
    pods = [ipaddress.ip_network(Addressing(i).pod_cidr) for i in range(64)]
    assert all(net.subnet_of(benchmark) for net in pods)
    assert all(not a.overlaps(b) for i, a in enumerate(pods) for b in pods[i + 1 :])
    services = [ipaddress.ip_network(Addressing(i).service_cidr) for i in range(64)]
    assert all(net.subnet_of(loopback) for net in services)
    assert ipaddress.ip_address(Addressing(5).load_balancer_prefix + ".1") in benchmark
    assert not any(
        ipaddress.ip_address(Addressing(i).load_balancer_prefix + ".1") in p for i in range(64) for p in pods
    )
    with pytest.raises(SandboxError, match="at most 64"):
        Addressing(64)


def test_every_component_listens_on_loopback_only(tmp_path: Path) -> None:
    layout = ClusterLayout(
        "c",
        tmp_path,
        dict.fromkeys(("etcd", "etcdPeer", "apiserver", "controllerManager", "scheduler"), 1),
        Addressing(0),
    )
    commands = command_lines(layout, tmp_path / "bin")
    listening = ("-urls=", "address=", "etcd-servers=", "initial-cluster=", "node-ip=")
    flags = [arg for argv in commands.values() for arg in argv if any(key in arg for key in listening)]
    assert flags
    for flag in flags:
        assert "127.0.0.1" in flag and "0.0.0.0" not in flag, flag


def test_state_round_trips_and_is_private(tmp_path: Path) -> None:
    layout = ClusterLayout("c", tmp_path / "c", {"etcd": 1, "apiserver": 2}, Addressing(1))
    state = SandboxState(tmp_path, "dev", "dev-sandbox", ROOT, tmp_path / "bin", Path("/usr/bin/python3"), [layout])
    state.processes["c"] = [Started("etcd", 123, 456, "/x.log")]
    state.save()
    loaded = SandboxState.load(tmp_path)
    assert loaded is not None
    assert loaded.clusters == [layout]
    assert loaded.all_processes() == [Started("etcd", 123, 456, "/x.log")]
    assert (tmp_path / "state.json").stat().st_mode & 0o077 == 0


def test_a_reused_pid_is_not_our_process() -> None:
    import os

    me = start_time_of(os.getpid())
    assert me is not None
    assert Started("x", os.getpid(), me, "").alive()
    assert not Started("x", os.getpid(), me + 1, "").alive()


def test_env_points_pulumi_and_kubectl_at_the_sandbox(tmp_path: Path) -> None:
    state = SandboxState(tmp_path, "dev", "dev-sandbox", ROOT, tmp_path / "bin", Path("/venv/bin/python"))
    env = pulumi_env(state)
    assert env["PATH"].startswith(f"{tmp_path / 'bin'}:")
    assert env["PULUMI_BACKEND_URL"] == f"file://{tmp_path / 'backend'}"
    assert env["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(tmp_path / "passphrase")
    assert env["PULUMI_SKIP_UPDATE_CHECK"] == env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert env["KUBECONFIG"] == str(tmp_path / "kubeconfig")
    assert env["PULUMI_PYTHON_CMD"] == "/venv/bin/python"


runner = CliRunner()


def test_up_of_an_unknown_stack_fails_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPLANE_SANDBOX_DIR", str(tmp_path / "state"))
    result = runner.invoke(app, ["sandbox", "up", "--stack", "nope", "--project-dir", str(ROOT)])
    assert result.exit_code == 2
    assert "stacks/Pulumi.nope.yaml" in result.output
    assert not (tmp_path / "state").exists()


def test_up_without_the_toolchain_names_the_command_that_builds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPLANE_TOOLS_DIR", str(tmp_path / "tools"))
    monkeypatch.setenv("MODELPLANE_SANDBOX_DIR", str(tmp_path / "state"))
    result = runner.invoke(app, ["sandbox", "up", "--stack", "dev", "--project-dir", str(ROOT)])
    assert result.exit_code == 2
    assert "build it with `modelplane sandbox tools`" in result.output
    assert not (tmp_path / "state").exists()


def test_a_class_no_resource_slice_can_carry_starts_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: t\nruntime: python\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.bad.yaml").write_text(
        """config:
  modelplane:classes:
    odd:
      devices: [{name: gpu, driver: gpu.nvidia.com, deviceClassName: gpu.nvidia.com,
                 attributes: {long: {string: "%s"}}}]
  modelplane:clusters:
    c:
      cluster: {source: Existing, existing: {secretRef: {name: k}}}
      nodePools: [{name: p, className: odd}]
"""
        % ("x" * 100)
    )
    monkeypatch.setenv("MODELPLANE_SANDBOX_DIR", str(tmp_path / "state"))
    result = runner.invoke(app, ["sandbox", "up", "--stack", "bad", "--project-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "InferenceClass odd" in result.output and "attributes[long].string" in result.output
    assert "longer than 64" in result.output
    assert not (tmp_path / "state").exists()


def test_status_and_env_without_a_sandbox_say_how_to_start_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MODELPLANE_SANDBOX_DIR", str(tmp_path / "state"))
    for command in ("status", "env"):
        result = runner.invoke(app, ["sandbox", command])
        assert result.exit_code == 2
        assert "modelplane sandbox up --stack NAME" in result.output


def test_down_without_a_sandbox_is_a_no_op(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPLANE_SANDBOX_DIR", str(tmp_path / "state"))
    result = runner.invoke(app, ["sandbox", "down"])
    assert result.exit_code == 0
    assert "nothing was running" in result.output
