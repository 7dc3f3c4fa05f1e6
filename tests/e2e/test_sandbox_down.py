"""`sandbox down` leaves nothing behind: no process, no listening port, no state, no stack file."""

from __future__ import annotations

import json
import re
from pathlib import Path

from modelplane.sandbox.processes import listening, start_time_of
from tests.e2e.conftest import SandboxRun


def test_down_stops_every_process_frees_every_port_and_removes_its_files(tmp_path: Path, bin_dir: Path) -> None:
    run = SandboxRun(tmp_path / "sandbox", bin_dir)
    try:
        run.up("dev")
        state = json.loads((run.root / "state.json").read_text())
        (stack_file,) = [Path(path) for path in state["stackFiles"]]
        assert stack_file.is_file()
    finally:
        run.cli("down")
    pids = [p for started in state["processes"].values() for p in started]
    assert len(pids) == 5
    assert all(start_time_of(p["pid"]) != p["start_time"] for p in pids)
    ports = [port for cluster in state["clusters"] for port in cluster["ports"].values()]
    assert not any(listening(port) for port in ports)
    assert not run.root.exists()
    assert not stack_file.exists()


def processes_mentioning(path: Path) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in command:
            found.append(command)
    return found


def test_a_failed_up_stops_what_it_started_and_leaves_no_state(tmp_path: Path, bin_dir: Path) -> None:
    run = SandboxRun(tmp_path / "sandbox", bin_dir)
    # However fast the machine, some stage of a prod cluster outlasts a second.
    result = run.cli("up", "--stack", "prod", "--timeout", "1", check=False)
    assert result.returncode == 2
    assert re.search(r": \S+ not (ready|established) in time; ", result.stderr), result.stderr[-2000:]
    assert "stopping what it started" in result.stderr
    assert processes_mentioning(run.root) == []
    assert not run.root.exists()
    assert run.cli("down").returncode == 0
