"""Outputs reach their declared safe state however the pilot ends: close, exception,
uncaught exception at exit, SIGTERM, SIGKILL (the dead-man script in the daemon) and a
cut link to the daemon."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import rclpy
from pilot_test_helpers import wait_for

from ab_interfaces.msg import ActuatorCommand
from pilot_hw.config import load_config
from pilot_hw.hardware import PilotHardware
from pilot_hw.virtual_pi import VirtualPi

pytestmark = pytest.mark.timeout(120)

DEVICES = """
devices:
  - {name: led, type: digital_output, pin: 17, channel: led}
  - {name: gripper, type: servo, pin: 18, safe_pulse_us: 1000, channel: gripper}
  - {name: wheel, type: dc_motor, pwm_pin: 12, in1_pin: 5, in2_pin: 6, channel: wheel,
     channel_range: [-1.0, 1.0]}
  - {name: valve, type: solenoid, pin: 25, max_pulse_us: 10000000}
"""


def is_active(vpi: VirtualPi) -> bool:
    return (vpi.level(17) == 1 and vpi.pin_state(18).servo_pulse_us == 2000
            and vpi.pin_state(12).pwm_duty > 0)


def is_safe(vpi: VirtualPi) -> bool:
    return (vpi.level(17) == 0 and vpi.pin_state(18).servo_pulse_us == 1000
            and vpi.pin_state(12).pwm_duty == 0 and vpi.level(25) == 0)


def activate(hw: PilotHardware) -> None:
    hw.apply_channel_deltas({"led": 1.0, "gripper": 1.0, "wheel": 0.5})


def test_close_and_exceptions_make_outputs_safe(vpi: VirtualPi) -> None:
    config = load_config(DEVICES)
    with pytest.raises(RuntimeError, match="boom"):
        with PilotHardware(config, "127.0.0.1", vpi.port, command_timeout_s=60) as hw:
            activate(hw)
            hw.timed_pulse("valve", 5_000_000)
            assert wait_for(lambda: is_active(vpi) and vpi.level(25) == 1)
            raise RuntimeError("boom")
    assert is_safe(vpi)
    assert vpi.script_statuses() == {}  # the clean path removed its dead-man script


def test_uncaught_exception_at_exit_makes_outputs_safe(vpi: VirtualPi, tmp_path: Path) -> None:
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent(f"""
        from pilot_hw.config import load_config
        from pilot_hw.hardware import PilotHardware
        hw = PilotHardware(load_config({DEVICES!r}), "127.0.0.1", {vpi.port},
                           command_timeout_s=60)
        hw.start()
        hw.apply_channel_deltas({{"led": 1.0, "gripper": 1.0, "wheel": 0.5}})
        print("active", flush=True)
        raise SystemExit("the application failed")
    """))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=60)
    assert "active" in result.stdout and result.returncode == 1
    assert is_safe(vpi)
    assert vpi.script_statuses() == {}  # atexit ran the shutdown path, not the dead-man


def test_cut_link_lets_the_daemon_make_outputs_safe(vpi: VirtualPi, hardware) -> None:
    hw = hardware(DEVICES, deadman_timeout_ms=200, reconnect_period_s=30.0,
                  command_timeout_s=60)
    activate(hw)
    assert is_active(vpi)
    vpi.drop_clients()  # the daemon lives on, the pilot cannot reach it
    assert wait_for(lambda: is_safe(vpi), timeout_s=5)
    assert wait_for(lambda: not hw.connected)
    assert list(vpi.script_statuses().values()) == [1]  # halted: it fired
    with pytest.raises(ConnectionError):
        hw.apply_channel_deltas({"led": 1.0})
    hw.reconnect_period_s = 0.05
    assert wait_for(lambda: hw.connected)
    # the fired script was cleaned up; only the new connection's switch is left, running
    assert wait_for(lambda: list(vpi.script_statuses().values()) == [2])


@pytest.fixture
def commander(ros_context):
    node = rclpy.create_node("commander", context=ros_context)
    publisher = node.create_publisher(ActuatorCommand, "actuator_command", 10)
    yield publisher
    node.destroy_node()


def start_pilot(start_process, vpi: VirtualPi, tmp_path: Path) -> subprocess.Popen:
    devices = tmp_path / "devices.yaml"
    devices.write_text(DEVICES)
    child = start_process(["python", "-m", "pilot_hw.pilot_node", "--ros-args",
                           "-p", f"devices:={devices}", "-p", f"port:={vpi.port}",
                           "-p", "deadman_timeout_ms:=300", "-p", "heartbeat_period_s:=0.05",
                           "-p", "command_timeout_s:=60.0"],
                          stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert wait_for(lambda: 2 in vpi.script_statuses().values(), timeout_s=30), \
        "the pilot did not arm its dead-man script"
    return child


def drive_active(publisher, vpi: VirtualPi) -> None:
    msg = ActuatorCommand(source="test", channels=["led", "gripper", "wheel"], step_count=1,
                          step_dt_s=0.02, deltas=[1.0, 1.0, 0.5])
    deadline = time.monotonic() + 30
    while not is_active(vpi) and time.monotonic() < deadline:
        publisher.publish(msg)  # deltas add up, clamped: repeating is harmless
        time.sleep(0.1)
    assert is_active(vpi)


@pytest.mark.timeout(120)
def test_sigterm_makes_outputs_safe(vpi: VirtualPi, start_process, commander,
                                    tmp_path: Path) -> None:
    child = start_pilot(start_process, vpi, tmp_path)
    drive_active(commander, vpi)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 0
    assert is_safe(vpi)
    assert vpi.script_statuses() == {}  # its own shutdown path ran


@pytest.mark.timeout(120)
def test_sigkill_leaves_the_daemon_to_make_outputs_safe(vpi: VirtualPi, start_process,
                                                        commander, tmp_path: Path) -> None:
    child = start_pilot(start_process, vpi, tmp_path)
    drive_active(commander, vpi)
    child.kill()
    child.wait(timeout=30)
    # nothing ran in the killed process; the dead-man script fires within 2 x 300 ms
    assert wait_for(lambda: is_safe(vpi), timeout_s=5)
    assert list(vpi.script_statuses().values()) == [1]


def test_a_stalled_pilot_trips_the_switch_and_rearms(vpi: VirtualPi, hardware) -> None:
    hw = hardware(DEVICES, deadman_timeout_ms=100, command_timeout_s=60)
    activate(hw)
    with hw._lock:  # the pilot hangs: no heartbeat gets through
        assert wait_for(lambda: is_safe(vpi), timeout_s=5)
    assert wait_for(lambda: hw.status().deadman_trips == 1)
    assert wait_for(lambda: list(vpi.script_statuses().values()) == [2])  # re-armed
    activate(hw)  # the channels restarted from their safe values
    assert is_active(vpi)
