"""`pilot` as a process ends cleanly on SIGINT and SIGTERM - exit code 0, no traceback,
outputs safe - run after run: with an IMU timer firing fast (a sample published after
shutdown used to exit 1), and with its daemon going away at the same moment (as a launch's
Ctrl-C stops the virtual Pi too; a short reply used to surface as struct.error)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from functools import partial
from pathlib import Path

import pytest
from pilot_test_helpers import free_port, wait_for

from pilot_hw.virtual_pi import VirtualPi

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

DEVICES = """
devices:
  - {name: gripper, type: servo, pin: 18, safe_pulse_us: 1000, channel: gripper}
  - {name: led, type: digital_output, pin: 17, channel: led}
  - {name: button, type: digital_input, pin: 27, pull: up}
  - {name: imu, type: imu_mpu6050, rate_hz: 500}
"""
RUNS = 3


def run_pilot(start_process, port: int, tmp_path: Path) -> subprocess.Popen:
    devices = tmp_path / "devices.yaml"
    devices.write_text(DEVICES)
    return start_process(["python", "-m", "pilot_hw.pilot_node", "--ros-args",
                          "-p", f"devices:={devices}", "-p", f"port:={port}",
                          "-p", "heartbeat_period_s:=0.05", "-p", "deadman_timeout_ms:=300"],
                         env={**os.environ, "PYTHONUNBUFFERED": "1"})


def armed(vpi: VirtualPi) -> bool:
    """The pilot is up: its dead-man script runs in the daemon."""
    return 2 in vpi.script_statuses().values()


def read_until(child: subprocess.Popen, text: str) -> str:
    """The child's output up to the first line holding `text` (or its end)."""
    lines = []
    for line in child.stdout:
        lines.append(line)
        if text in line:
            break
    return "".join(lines)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_with_daemon_alive(start_process, tmp_path: Path, signum: int) -> None:
    for run in range(RUNS):
        with VirtualPi("127.0.0.1", 0) as vpi:
            child = run_pilot(start_process, vpi.port, tmp_path)
            assert wait_for(partial(armed, vpi), timeout_s=30)
            head = ""
            if run > 0:  # run 0: while the node is being made; then: spinning, IMU at 500 Hz
                head = read_until(child, "device(s), channels")
            child.send_signal(signum)
            output, _ = child.communicate(timeout=30)
            output = head + output
            assert child.returncode == 0, f"run {run}: exit {child.returncode}\n{output}"
            assert "Traceback" not in output, f"run {run}:\n{output}"
            assert vpi.pin_state(18).servo_pulse_us == 1000 and vpi.level(17) == 0
            assert vpi.script_statuses() == {}  # its own shutdown path ran


def test_sigint_while_the_daemon_goes_away(start_process, tmp_path: Path) -> None:
    for run in range(RUNS):
        port = free_port()
        vpi = VirtualPi("127.0.0.1", port).start()
        child = run_pilot(start_process, port, tmp_path)
        try:
            assert wait_for(partial(armed, vpi), timeout_s=30)
        finally:
            # both at once, as a launch's Ctrl-C reaches every process
            stopper = threading.Thread(target=vpi.stop)
            stopper.start()
            child.send_signal(signal.SIGINT)
            stopper.join()
        output, _ = child.communicate(timeout=30)
        assert child.returncode == 0, f"run {run}: exit {child.returncode}\n{output}"
        assert "Traceback" not in output, f"run {run}:\n{output}"
