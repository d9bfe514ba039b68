"""Bad device configurations fail at start with the device and field named."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rclpy.parameter import Parameter

from pilot_hw.config import ConfigError, load_config
from pilot_hw.pilot_node import PilotNode

pytestmark = pytest.mark.timeout(120)

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"


@pytest.mark.parametrize("devices, device, field", [
    ("[{name: a, type: digital_output, pin: 17}, {name: b, type: servo, pin: 17}]", "b", "pin"),
    ("[{name: m, type: dc_motor, pwm_pin: 12, in1_pin: 5, in2_pin: 5}]", "m", "in2_pin"),
    ("[{name: imu, type: imu_mpu6050}, {name: led, type: digital_output, pin: 2}]", "led", "pin"),
    ("[{name: x, type: stepper, pin: 4}]", "x", "type"),
    ("[{name: s, type: servo, pin: 18, max_pulse_us: 3000}]", "s", "max_pulse_us"),
    ("[{name: s, type: servo, pin: 18, min_pulse_us: 1800, max_pulse_us: 1200}]", "s",
     "max_pulse_us"),
    ("[{name: s, type: servo, pin: 18, safe_pulse_us: 2200}]", "s", "safe_pulse_us"),
    ("[{name: f, type: pwm, pin: 17, hardware: true}]", "f", "pin"),
    ("[{name: f, type: pwm, pin: 17, range: 10}]", "f", "range"),
    ("[{name: b, type: digital_input, pin: 4, glitch_us: 500000}]", "b", "glitch_us"),
    ("[{name: b, type: digital_input, pin: 4, pull: sideways}]", "b", "pull"),
    ("[{name: v, type: solenoid, pin: 4, max_pulse_us: 0}]", "v", "max_pulse_us"),
    ("[{name: m, type: dc_motor, pwm_pin: 12, in1_pin: 5, in2_pin: 6, max_speed: 1.5}]", "m",
     "max_speed"),
    ("[{name: l, type: digital_output, pin: 40}]", "l", "pin"),
    ("[{name: l, type: digital_output, pin: 17, colour: red}]", "l", "colour"),
    ("[{name: l, type: digital_output}]", "l", "pin"),
    ("[{name: a, type: servo, pin: 18, channel: grip}, {name: b, type: servo, pin: 19,"
     " channel: grip}]", "b", "channel"),
    ("[{name: s, type: servo, pin: 18, channel_range: [1.0, 0.0]}]", "s", "channel_range"),
    ("[{name: b, type: digital_input, pin: 4, channel: x}]", "b", "channel"),
    ("[{name: a, type: digital_output, pin: 4}, {name: a, type: digital_output, pin: 5}]", "a",
     "name"),
])
def test_bad_device_is_named(devices: str, device: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(f"devices: {devices}")
    assert (info.value.device, info.value.field) == (device, field)
    assert f"device '{device}', field '{field}'" in str(info.value)


def test_pin_used_twice_names_both_devices() -> None:
    with pytest.raises(ConfigError, match="already used by device 'a' field 'pin'"):
        load_config("devices: [{name: a, type: digital_output, pin: 17},"
                    " {name: b, type: servo, pin: 17}]")


def test_board_numbering_maps_to_bcm() -> None:
    config = load_config("numbering: BOARD\ndevices: [{name: s, type: servo, pin: 12},"
                         " {name: m, type: dc_motor, pwm_pin: 32, in1_pin: 29, in2_pin: 31}]")
    assert config.device("s").pins == {"pin": 18}
    assert config.device("m").pins == {"pwm_pin": 12, "in1_pin": 5, "in2_pin": 6}
    with pytest.raises(ConfigError, match="physical pin 1 is not a GPIO"):
        load_config("numbering: BOARD\ndevices: [{name: s, type: servo, pin: 1}]")


def test_shipped_configs_are_valid() -> None:
    for path in CONFIG_DIR.glob("*.yaml"):
        assert load_config(path.read_text()).devices, path


def test_pilot_node_refuses_a_bad_config(ros_context) -> None:
    with pytest.raises(ConfigError, match="device 'b', field 'pin'"):
        PilotNode(context=ros_context, parameter_overrides=[
            Parameter("port", value=1),
            Parameter("devices", value="devices: [{name: a, type: digital_output, pin: 17},"
                                       " {name: b, type: servo, pin: 17}]")])
    with pytest.raises(ValueError, match="parameter 'devices' is empty"):
        PilotNode(context=ros_context)


def test_pilot_executable_exits_with_the_reason(start_process, tmp_path: Path) -> None:
    bad = tmp_path / "devices.yaml"
    bad.write_text("devices: [{name: arm, type: servo, pin: 18, min_pulse_us: 100}]")
    child = start_process(["python", "-m", "pilot_hw.pilot_node", "--ros-args",
                           "-p", f"devices:={bad}", "-p", "port:=1"],
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    output, _ = child.communicate(timeout=60)
    assert child.returncode == 1
    assert "device 'arm', field 'min_pulse_us'" in output


def test_devices_are_a_file_or_inline_yaml(tmp_path: Path) -> None:
    from pilot_hw.config import load_devices

    path = tmp_path / "devices.yaml"
    path.write_text("devices: [{name: led, type: digital_output, pin: 17}]")
    assert [d.name for d in load_devices(str(path)).devices] == ["led"]
    inline = "devices: [{name: servo, type: servo, pin: 18}]"
    assert [d.name for d in load_devices(inline).devices] == ["servo"]
    with pytest.raises(ConfigError, match="device 'servo', field 'pin'.*parameter 'devices'"):
        load_devices("devices: [{name: servo, type: servo, pin: 99}]")
    with pytest.raises(ValueError, match="'devices': file .*missing.yaml' not found"):
        load_devices(str(tmp_path / "missing.yaml"))
    with pytest.raises(ValueError, match="'devices': inline YAML is not valid YAML"):
        load_devices("devices: [")
    with pytest.raises(ValueError, match="'devices': inline YAML must hold a mapping, got a list"):
        load_devices("[1, 2]")
