"""Every output has a command timeout: when no actuator_command names its channel for that
long, it goes to its safe value - servos, PWM outputs, RGB LEDs and plain outputs as well as
motors. The timeout is the pilot's `command_timeout_s` unless the device sets its own; 0
holds the last value."""

from __future__ import annotations

import time

import pytest
from pilot_test_helpers import wait_for

from pilot_hw.config import ConfigError, load_config

pytestmark = pytest.mark.timeout(60)

DEVICES = """
devices:
  - {name: led, type: digital_output, pin: 17, channel: led}
  - {name: gripper, type: servo, pin: 18, safe_pulse_us: 1000, channel: gripper}
  - {name: fan, type: pwm, pin: 16, range: 100, safe_duty: 0.1, channel: fan}
  - {name: status, type: rgb_led, red_pin: 22, green_pin: 23, blue_pin: 24, channel: status}
  - {name: wheel, type: dc_motor, pwm_pin: 12, in1_pin: 5, in2_pin: 6, channel: wheel}
  - {name: slow, type: servo, pin: 13, safe_pulse_us: 1500, channel: slow,
     command_timeout_s: 1.5}
  - {name: lamp, type: digital_output, pin: 26, channel: lamp, command_timeout_s: 0}
"""


def outputs(vpi) -> dict[str, object]:
    return {"led": vpi.level(17), "gripper": vpi.pin_state(18).servo_pulse_us,
            "fan": vpi.pin_state(16).pwm_duty,
            "status": [vpi.pin_state(p).pwm_duty for p in (22, 23, 24)],
            "wheel": vpi.pin_state(12).pwm_duty, "slow": vpi.pin_state(13).servo_pulse_us,
            "lamp": vpi.level(26)}


SAFE = {"led": 0, "gripper": 1000, "fan": 10, "status": [0, 0, 0], "wheel": 0, "slow": 1500,
        "lamp": 0}
ACTIVE = {"led": 1, "gripper": 2000, "fan": 90, "status": [255, 0, 128], "wheel": 500,
          "slow": 2000, "lamp": 1}


def test_each_output_goes_safe_after_its_timeout(hardware, vpi) -> None:
    hw = hardware(DEVICES, command_timeout_s=0.3)
    assert outputs(vpi) == SAFE
    hw.apply_channel_deltas({"led": 1.0, "gripper": 1.0, "fan": 0.8, "status:r": 1.0,
                             "status:b": 0.5, "wheel": 0.5, "slow": 1.0, "lamp": 1.0})
    commanded = time.monotonic()
    assert outputs(vpi) == ACTIVE
    # the pilot-wide 0.3 s: every output that has no timeout of its own is safe again
    expected = {**SAFE, "slow": ACTIVE["slow"], "lamp": ACTIVE["lamp"]}
    assert wait_for(lambda: outputs(vpi) == expected, timeout_s=5)
    # its own 1.5 s for `slow`; `lamp` (0) holds
    assert wait_for(lambda: outputs(vpi)["slow"] == 1500, timeout_s=10)
    assert time.monotonic() - commanded >= 1.5
    assert outputs(vpi) == {**SAFE, "lamp": 1}
    assert hw.status().command_timeouts == 6
    assert hw.channels["led"].value == 0.0 and hw.channels["slow"].value == 0.5


def test_hold_commands_keep_outputs_and_channel_values_restart_from_safe(hardware, vpi) -> None:
    hw = hardware(DEVICES, command_timeout_s=0.3)
    hw.apply_channel_deltas({"gripper": 0.6})
    for _ in range(10):  # "hold" (zero deltas) for 1 s, past the timeout
        time.sleep(0.1)
        hw.apply_channel_deltas({"gripper": 0.0})
    assert vpi.pin_state(18).servo_pulse_us == 1600
    assert wait_for(lambda: vpi.pin_state(18).servo_pulse_us == 1000, timeout_s=5)
    hw.apply_channel_deltas({"gripper": 0.25})  # deltas continue from the safe value
    assert vpi.pin_state(18).servo_pulse_us == 1250


@pytest.mark.parametrize("entry, problem", [
    ("{name: b, type: digital_input, pin: 4, command_timeout_s: 1}", "unknown field"),
    ("{name: s, type: servo, pin: 18, channel: s, command_timeout_s: -1}", "out of range"),
    ("{name: s, type: servo, pin: 18, channel: s, command_timeout_s: fast}", "must be a number"),
])
def test_bad_command_timeouts_are_refused(entry: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=f"field 'command_timeout_s': .*{problem}"):
        load_config(f"devices: [{entry}]")
