"""The `brain_server` node runs the embedded brain server for launch files: in-process
(composable with other nodes) and as the installed executable."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest
import rclpy
import requests
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.parameter import Parameter

from embedded_brain.brain_server_node import BrainServerNode

EXECUTABLE = Path(__file__).resolve().parents[2] / "install/embedded_brain/lib/embedded_brain/brain_server"


@pytest.mark.timeout(60)
def test_node_serves_the_brain_and_reports_diagnostics(ros_context, executor, spin_until,
                                                       tmp_path: Path) -> None:
    node = BrainServerNode(context=ros_context, parameter_overrides=[
        Parameter("port", value=0), Parameter("state_dir", value=str(tmp_path)),
        Parameter("realtime", value=False)])
    executor.add_node(node)
    url = f"http://127.0.0.1:{node.port}"
    assert requests.get(f"{url}/api/health", timeout=10).json()["projects"] == ["demo_arm"]
    run = requests.post(f"{url}/api/robot/demo_arm/start", json={}, timeout=10).json()

    received: list[DiagnosticArray] = []
    listener = rclpy.create_node("diag_listener", context=ros_context)
    listener.create_subscription(DiagnosticArray, "diagnostics", received.append, 10)
    executor.add_node(listener)
    assert spin_until(executor, lambda: received, timeout_s=10)
    status = received[-1].status[0]
    assert status.name == "brain_server" and status.hardware_id == "demo_arm"
    assert run["runId"] in " ".join(kv.key for kv in status.values)

    executor.remove_node(node)
    node.destroy_node()                 # stops the run (weights saved) and the server
    assert (tmp_path / "demo_arm.npz").exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/api/health", timeout=2)


def test_bad_graph_parameter_is_named(ros_context, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="parameter 'graph': cannot read graph file"):
        BrainServerNode(context=ros_context, parameter_overrides=[
            Parameter("graph", value=str(tmp_path / "none.yaml")),
            Parameter("port", value=0), Parameter("state_dir", value=str(tmp_path))])


@pytest.mark.timeout(60)
@pytest.mark.skipif(not EXECUTABLE.exists(), reason="run `make setup` to install brain_server")
def test_executable_starts_with_ros_args(start_process, tmp_path: Path) -> None:
    proc = start_process([str(EXECUTABLE), "--ros-args", "-p", "port:=0",
                          "-p", f"state_dir:={tmp_path}"])
    port = None
    for _ in range(100):
        line = proc.stdout.readline()
        match = re.search(r"on http://127\.0\.0\.1:(\d+)", line)
        if match:
            port = int(match.group(1))
            break
    assert port, "brain_server did not log its port"
    assert requests.get(f"http://127.0.0.1:{port}/api/health", timeout=10).json()["ok"]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0


@pytest.mark.timeout(60)
def test_run_cap_and_lease_are_parameters(ros_context, tmp_path: Path) -> None:
    node = BrainServerNode(context=ros_context, parameter_overrides=[
        Parameter("port", value=0), Parameter("state_dir", value=str(tmp_path)),
        Parameter("max_runs", value=1), Parameter("lease_s", value=0.5)])
    try:
        url = f"http://127.0.0.1:{node.port}/api/robot/demo_arm"
        assert requests.post(f"{url}/start", json={}, timeout=10).status_code == 200
        assert requests.post(f"{url}/start", json={}, timeout=10).status_code == 429
        # Nobody joins the first run: its lease ends it and frees the slot.
        deadline = time.monotonic() + 10
        while requests.get(f"{url}/io/state", timeout=10).json()["runs"] and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert requests.post(f"{url}/start", json={}, timeout=10).status_code == 200
        result = node.set_parameters([Parameter("max_runs", value=5)])[0]
        assert not result.successful and "read-only" in result.reason
    finally:
        node.destroy_node()
