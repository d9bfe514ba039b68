"""The pilot survives its daemon going away: it reconnects, re-applies the safe state
and carries on (commands, edges with continuing sequence numbers)."""

from __future__ import annotations

import pytest
from pilot_test_helpers import free_port, wait_for

from pilot_hw.config import load_config
from pilot_hw.devices import InputEvent
from pilot_hw.hardware import PilotHardware
from pilot_hw.virtual_pi import VirtualPi

pytestmark = pytest.mark.timeout(120)

DEVICES = """
devices:
  - {name: led, type: digital_output, pin: 17, channel: led}
  - {name: gripper, type: servo, pin: 18, safe_pulse_us: 1500, channel: gripper}
  - {name: button, type: digital_input, pin: 27, pull: up}
"""


@pytest.mark.timeout(60)
def test_daemon_restart_reconnects_in_safe_state() -> None:
    port = free_port()
    events: list[InputEvent] = []
    daemon = VirtualPi("127.0.0.1", port).start()
    hw = PilotHardware(load_config(DEVICES), "127.0.0.1", port, on_event=events.append,
                       heartbeat_period_s=0.05, reconnect_period_s=0.1)
    try:
        assert hw.start()
        hw.apply_channel_deltas({"led": 1.0, "gripper": 0.5})
        daemon.set_input(27, 0)
        assert wait_for(lambda: len(events) == 1)
        daemon.stop()
        assert wait_for(lambda: not hw.connected)
        with pytest.raises(ConnectionError):
            hw.apply_channel_deltas({"led": 1.0})
        daemon = VirtualPi("127.0.0.1", port).start()  # a fresh daemon: all pins inputs
        assert wait_for(lambda: hw.connected, timeout_s=10)
        assert daemon.level(17) == 0 and daemon.pin_state(18).servo_pulse_us == 1500
        hw.apply_channel_deltas({"led": 1.0, "gripper": 0.25})
        assert daemon.level(17) == 1 and daemon.pin_state(18).servo_pulse_us == 1750
        daemon.set_input(27, 0)
        assert wait_for(lambda: len(events) == 2)
        assert [e.seq for e in events] == [0, 1] and events[-1].level == 0
        status = hw.status()
        assert (status.connects, status.link_losses) == (2, 1)
    finally:
        hw.close()
        daemon.stop()


@pytest.mark.timeout(60)
def test_pilot_started_before_its_daemon_connects_later() -> None:
    port = free_port()
    hw = PilotHardware(load_config(DEVICES), "127.0.0.1", port, heartbeat_period_s=0.05,
                       reconnect_period_s=0.1)
    daemon = None
    try:
        assert not hw.start()
        assert "no pigpio daemon" in hw.status().last_error
        daemon = VirtualPi("127.0.0.1", port).start()
        assert wait_for(lambda: hw.connected, timeout_s=10)
        assert daemon.pin_state(18).servo_pulse_us == 1500
    finally:
        hw.close()
        if daemon is not None:
            daemon.stop()


@pytest.mark.timeout(60)
def test_close_after_the_daemon_vanished_unnoticed() -> None:
    """The daemon goes between two heartbeats: close() finds a dead link (pigpio's first
    failed call on it is a short reply, struct.error) and still returns normally."""
    daemon = VirtualPi("127.0.0.1", 0).start()
    hw = PilotHardware(load_config("devices: [{name: button, type: digital_input, pin: 27}]"),
                       "127.0.0.1", daemon.port, heartbeat_period_s=30.0, deadman_timeout_ms=0)
    assert hw.start()
    daemon.stop()
    assert hw.close() == []  # nothing to make safe, and no exception from the dead link
    assert not hw.connected


class Lines:
    """A logger keeping its lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, text: str) -> None:
        self.lines.append(text)

    warning = error = info


@pytest.mark.timeout(60)
def test_tries_back_off_with_one_line_each_until_the_daemon_answers() -> None:
    port = free_port()
    log = Lines()
    hw = PilotHardware(load_config(DEVICES), "127.0.0.1", port, heartbeat_period_s=0.01,
                       reconnect_period_s=0.05, reconnect_max_period_s=0.2, logger=log)
    daemon = None
    try:
        assert not hw.start()
        assert wait_for(lambda: sum("(try" in line for line in log.lines) >= 5)
        daemon = VirtualPi("127.0.0.1", port).start()
        assert wait_for(lambda: hw.connected, timeout_s=10)
        tries = [line for line in log.lines if "(try" in line]
        assert all(f"(try {n + 1})" in line for n, line in enumerate(tries))
        delays = [line.rsplit("next try in ", 1)[1] for line in tries]
        assert delays[:4] == ["0.05 s", "0.1 s", "0.2 s", "0.2 s"]  # doubling, capped
        assert all(f"no pigpio daemon at 127.0.0.1:{port}" in line for line in tries)
        assert any(f"answered after {len(tries)} failed tries" in line for line in log.lines)
        # meanwhile nothing was driven; now every output is in its safe state
        assert daemon.level(17) == 0 and daemon.pin_state(18).servo_pulse_us == 1500
    finally:
        hw.close()
        if daemon is not None:
            daemon.stop()
