"""`sandbox down` leaves nothing behind: no process, no listening port, no state, no stack file."""

from __future__ import annotations

import json
from pathlib import Path

from modelplane.sandbox.processes import listening, start_time_of
from tests.e2e.conftest import SandboxRun


def test_down_stops_every_process_frees_every_port_and_removes_its_files(tmp_path: Path, bin_dir: Path) -> None:
    run = SandboxRun(tmp_path / "sandbox", bin_dir)
    try:
        run.up("dev")
        state = json.loads((run.root / "state.json").read_text())
        stack_file = Path(state["stackFile"])
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
