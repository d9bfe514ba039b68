"""`make run` (python -m robot_bringup.demo) as a user runs it: Ctrl-C mid-run stops it with
no traceback, its children (brain server, virtual Pi) are gone, and the report is written."""

from __future__ import annotations

import json
import re
import signal
import socket
import sys
import threading
import time

import pytest
from e2e_helpers import wait_for

pytestmark = pytest.mark.timeout(150)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.slow     # ~23 s: the demo starts, runs and stops
def test_ctrl_c_holds_stops_the_children_and_writes_the_report(start_process, tmp_path):
    report = tmp_path / "report"
    demo = start_process([sys.executable, "-m", "robot_bringup.demo", "--duration", "60",
                          "--report", str(report), "--seed", "2"])
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout), daemon=True)
    reader.start()
    assert wait_for(lambda: any("[frozen_initial" in line or "[learning" in line
                                for line in lines)
                    and any("cycle" in line and "reward avg 0" in line for line in lines), 90), \
        "".join(lines[-20:])
    time.sleep(3.0)
    demo.send_signal(signal.SIGINT)
    assert demo.wait(timeout=60) == 0
    reader.join(timeout=10)
    output = "".join(lines)
    assert "Traceback" not in output, output[-3000:]
    assert "stopping: actuators hold" in output
    ports = [int(p) for p in re.findall(r"(?:virtual Pi on 127\.0\.0\.1:|brain on "
                                        r"http://127\.0\.0\.1:)(\d+)", output)]
    assert len(ports) == 2, output[-3000:]
    assert not any(port_open(p) for p in ports), "a child process outlived the demo"
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["missing_parts"] == {}
    assert "headline" in metrics and metrics["commands"] > 0
    first = metrics["phases"][0]
    assert first["name"] == "frozen_initial" and first["targets_visited"]
    # The references ran on the phase's own targets: holding still scores below the
    # proportional controller.
    assert first["hold_last_fifth"] < first["proportional_last_fifth"]
    assert metrics["loop_latency_p50_ms"] > 0  # frames were matched to their commands
    assert metrics["phases"][0]["rewards"] > 0
    for name in ("reward_curve.png", "spike_raster.png", "reach.png"):
        assert (report / name).stat().st_size > 1000, name


def test_a_second_graph_on_the_same_domain_is_refused(start_process, ros_context, tmp_path):
    """Two demos on one ROS domain would drive and judge each other's arms: the second
    one stops at once, naming the domain and how to pick another."""
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import JointState

    other = rclpy.create_node("other_arm", context=ros_context)
    other.create_publisher(JointState, "joint_states", qos_profile_sensor_data)
    try:
        demo = start_process([sys.executable, "-m", "robot_bringup.demo", "--duration", "5",
                              "--report", str(tmp_path / "report")])
        output, _ = demo.communicate(timeout=60)
    finally:
        other.destroy_node()
    assert demo.returncode == 2, output
    assert "already publishes /joint_states on ROS_DOMAIN_ID" in output
    assert "--domain-id" in output and "Traceback" not in output
    assert not (tmp_path / "report").exists()
