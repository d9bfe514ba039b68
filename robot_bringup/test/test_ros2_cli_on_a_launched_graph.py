"""README.md's `ros2` commands, run as a user runs them: `ros2 launch robot_bringup
sim.launch.py` in a terminal (its own process group, so Ctrl-C reaches the launch and
every node, as a terminal sends it), then `ros2 topic echo`, `ros2 topic hz`,
`ros2 service call`, `ros2 interface show`, `ros2 param get/set` and `ros2 node list`
against it; then Ctrl-C, after which the launch exits 0 with no traceback and nothing
left running."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from e2e_helpers import free_port
from launch_probe import MISSING_LAUNCH, TRACEBACK

pytestmark = [
    pytest.mark.skipif(bool(MISSING_LAUNCH) or shutil.which("ros2") is None,
                       reason=MISSING_LAUNCH or "no ros2 command on PATH"),
    pytest.mark.slow, pytest.mark.timeout(300)]

UP_WITHIN_S = 90


def ros2(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["ros2", *args], capture_output=True, text=True, timeout=timeout)


def until(command: tuple[str, ...], ok, timeout_s: float = UP_WITHIN_S
          ) -> subprocess.CompletedProcess:
    """Runs `ros2 command` until `ok(result)` (a node or service may not be up yet)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = ros2(*command)
        if ok(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


@pytest.fixture(scope="module")
def launched():
    """`ros2 launch robot_bringup sim.launch.py` with free ports, in its own session."""
    ports = [f"pi_port:={free_port()}", f"detector_port:={free_port()}",
             f"brain_port:={free_port()}"]
    started = time.monotonic()
    child = subprocess.Popen(["ros2", "launch", "robot_bringup", "sim.launch.py", *ports],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
    state = {"child": child, "started": started, "output": ""}
    yield state
    if child.poll() is None:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    # The ros2 commands started a ros2cli daemon for this domain: it goes with the tests.
    ros2("daemon", "stop", timeout=30)


def test_topic_echo_shows_the_brain_moving_the_arm(launched):
    # sim_arm publishes its gripper and LED on the same topic: the brain's commands only.
    result = ros2("topic", "echo", "--once", "--filter", "m.source == 'brain_session'",
                  "/actuator_command", "ab_interfaces/msg/ActuatorCommand", timeout=UP_WITHIN_S)
    assert result.returncode == 0, result.stderr
    assert "channels:" in result.stdout and "joint:0" in result.stdout
    assert "source: brain_session" in result.stdout


def test_topic_hz_shows_spikes_near_the_camera_rate(launched):
    hz = subprocess.Popen(["ros2", "topic", "hz", "/spikes", "--window", "50"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rates = []
    try:
        deadline = time.monotonic() + UP_WITHIN_S
        while time.monotonic() < deadline and len(rates) < 3:
            line = hz.stdout.readline()
            match = re.search(r"average rate: ([0-9.]+)", line)
            if match:
                rates.append(float(match.group(1)))
    finally:
        hz.send_signal(signal.SIGINT)
        hz.wait(timeout=10)
    assert rates, "ros2 topic hz printed no rate"
    assert 30.0 <= rates[-1] <= 70.0, rates


def test_interface_show_lists_the_fields(launched):
    result = ros2("interface", "show", "ab_interfaces/msg/ActuatorCommand")
    assert result.returncode == 0, result.stderr
    assert "float32[] deltas" in result.stdout or "deltas" in result.stdout


def test_node_list_names_every_node(launched):
    expected = {"/brain_session", "/brain_server", "/sim_arm", "/pilot", "/detector",
                "/reward_from_detections", "/spike_raster"}
    result = until(("node", "list"), lambda r: expected <= set(r.stdout.split()))
    assert expected <= set(result.stdout.split()), result.stdout


def test_param_get_reads_the_parameter_file_and_set_is_live_or_refused(launched):
    got = until(("param", "get", "/sim_arm", "camera.rate_hz"),
                lambda r: r.returncode == 0 and "50.0" in r.stdout)
    assert "50.0" in got.stdout, got.stdout + got.stderr
    live = ros2("param", "set", "/brain_session", "fresh_wait_ms", "25.0")
    assert "successful" in live.stdout, live.stdout + live.stderr
    assert "25.0" in ros2("param", "get", "/brain_session", "fresh_wait_ms").stdout
    fixed = ros2("param", "set", "/brain_session", "url", "http://elsewhere:1")
    assert "successful" not in fixed.stdout
    assert "read-only" in fixed.stdout + fixed.stderr
    out_of_range = ros2("param", "set", "/brain_session", "fresh_wait_ms", "5000.0")
    assert "successful" not in out_of_range.stdout


def test_service_calls_stop_and_start_the_run(launched):
    start = "ab_interfaces/srv/StartRun"
    running = until(("service", "call", "/brain_session/start_run", start, "{}"),
                    lambda r: "already running" in r.stdout)
    assert "already running" in running.stdout, running.stdout + running.stderr
    stopped = ros2("service", "call", "/brain_session/stop_run", "ab_interfaces/srv/StopRun")
    assert "success=True" in stopped.stdout and "stopped" in stopped.stdout, stopped.stdout
    again = ros2("service", "call", "/brain_session/start_run", start,
                 "{options_json: '{\"seed\": 3}'}")
    assert "success=True" in again.stdout, again.stdout
    assert re.search(r"run_id='[0-9a-f]+'", again.stdout), again.stdout
    echo = ros2("topic", "echo", "--once", "--filter", "m.source == 'brain_session'",
                "/actuator_command", "ab_interfaces/msg/ActuatorCommand", timeout=UP_WITHIN_S)
    assert echo.returncode == 0


def test_ctrl_c_ends_every_node_cleanly(launched):
    """Last in this module: Ctrl-C to the terminal's process group."""
    child = launched["child"]
    assert child.poll() is None, "the launch ended by itself"
    os.killpg(child.pid, signal.SIGINT)
    output, _ = child.communicate(timeout=60)
    assert child.returncode == 0, output[-3000:]
    assert not TRACEBACK.search(output), output[-5000:]
    died = [line for line in output.splitlines() if "process has died" in line]
    assert not died, "\n".join(died)
    leftover = subprocess.run(["pgrep", "-s", str(child.pid)], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", f"still running: {leftover.stdout}"
    # The arm's TF: robot_state_publisher where it is installed; a line saying why not.
    assert "robot_state_publisher-" in output or \
        "tf: robot_state_publisher is not installed" in output, output[:3000]


@pytest.mark.parametrize("argument, package", [("rviz:=true", "rviz2"),
                                               ("tf:=true", "robot_state_publisher")])
def test_an_argument_needing_a_missing_package_says_so_and_starts_nothing(argument, package):
    if package in ros2("pkg", "list").stdout.split():
        pytest.skip(f"{package} is installed here")
    result = subprocess.run(["ros2", "launch", "robot_bringup", "sim.launch.py", argument,
                             f"pi_port:={free_port()}"], capture_output=True, text=True,
                            timeout=60, start_new_session=True)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert package in output and "not installed" in output, output
    assert "process started" not in output, output


def test_a_misspelled_node_section_stops_the_launch_before_anything_starts(tmp_path):
    shipped = (Path(__file__).resolve().parents[1] / "config" / "brain.yaml").read_text()
    broken = tmp_path / "brain.yaml"
    broken.write_text(shipped.replace("/**/brain_session:", "/**/brain_sesion:"))
    result = subprocess.run(["ros2", "launch", "robot_bringup", "sim.launch.py",
                             f"brain_params:={broken}", f"pi_port:={free_port()}"],
                            capture_output=True, text=True, timeout=60, start_new_session=True)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "'/**/brain_sesion' (did you mean 'brain_session'?)" in output, output
    assert "process started" not in output, output
