"""The one place that turns a devices YAML into validated device specs.

    numbering: BCM            # or BOARD (physical header pins)
    devices:
      - {name: gripper, type: servo, pin: 18, min_pulse_us: 1000, max_pulse_us: 2000,
         safe_pulse_us: 1500, channel: gripper, channel_range: [0.0, 1.0]}
      - {name: led, type: digital_output, pin: 17, channel: led}
      - {name: button, type: digital_input, pin: 27, pull: up, glitch_us: 2000}

Every problem raises ConfigError naming the device and the field. Pins are
stored as BCM numbers whatever the file's numbering.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pilot_hw.pins import BCM_HEADER_GPIOS, BOARD_TO_BCM, HARDWARE_PWM_GPIOS, I2C_BUS_PINS

DEVICE_TYPES = ("digital_output", "digital_input", "pwm", "servo", "dc_motor", "rgb_led",
                "solenoid", "imu_mpu6050")

PIN_FIELDS: dict[str, tuple[str, ...]] = {
    "digital_output": ("pin",),
    "digital_input": ("pin",),
    "pwm": ("pin",),
    "servo": ("pin",),
    "dc_motor": ("pwm_pin", "in1_pin", "in2_pin"),
    "rgb_led": ("red_pin", "green_pin", "blue_pin"),
    "solenoid": ("pin",),
    "imu_mpu6050": (),
}

# Types whose outputs can follow an actuator_command channel, and the normalised range they take.
CHANNEL_TYPES: dict[str, tuple[float, float]] = {
    "digital_output": (0.0, 1.0), "pwm": (0.0, 1.0), "servo": (0.0, 1.0),
    "dc_motor": (-1.0, 1.0), "rgb_led": (0.0, 1.0),
}


class ConfigError(ValueError):
    """A device configuration problem; names the device and the field."""

    def __init__(self, device: str, field_name: str, problem: str) -> None:
        super().__init__(f"device '{device}', field '{field_name}': {problem}")
        self.device = device
        self.field = field_name


@dataclass(frozen=True)
class DeviceSpec:
    """One device: its name, type, BCM pins by role, and its validated settings."""

    name: str
    type: str
    pins: dict[str, int]
    settings: dict[str, Any]
    channel: str = ""
    channel_range: tuple[float, float] = (0.0, 1.0)
    # seconds without an actuator_command naming the channel before the output goes to its
    # safe value; None: the pilot's `command_timeout_s`; 0: hold the last value
    command_timeout_s: float | None = None


@dataclass(frozen=True)
class PilotConfig:
    numbering: str
    devices: tuple[DeviceSpec, ...] = field(default_factory=tuple)

    def device(self, name: str) -> DeviceSpec:
        for spec in self.devices:
            if spec.name == name:
                return spec
        raise KeyError(name)


Check = Callable[[Any], str | None]  # returns a problem, or None when the value is fine


def _int_range(low: int, high: int) -> Check:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int):
            return f"must be an integer, got {v!r}"
        return None if low <= v <= high else f"{v} is out of range [{low}, {high}]"
    return check


def _float_range(low: float, high: float, low_open: bool = False) -> Check:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return f"must be a number, got {v!r}"
        ok = (low < v if low_open else low <= v) and v <= high
        bracket = "(" if low_open else "["
        return None if ok else f"{v} is out of range {bracket}{low}, {high}]"
    return check


def _choice(*options: Any) -> Check:
    def check(v: Any) -> str | None:
        return None if v in options else f"{v!r} is not one of {list(options)}"
    return check


def _boolean(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"must be true or false, got {v!r}"


def _string(v: Any) -> str | None:
    return None if isinstance(v, str) else f"must be a string, got {v!r}"


def _fraction_triplet(v: Any) -> str | None:
    if not isinstance(v, (list, tuple)) or len(v) != 3:
        return f"must be [r, g, b], got {v!r}"
    for x in v:
        problem = _float_range(0.0, 1.0)(x)
        if problem:
            return problem
    return None


_COMMON: dict[str, tuple[Any, Check]] = {
    "channel": ("", _string),
}
_FIELDS: dict[str, dict[str, tuple[Any, Check]]] = {
    "digital_output": {
        "active_high": (True, _boolean),
        "safe_on": (False, _boolean),
    },
    "digital_input": {
        "pull": ("off", _choice("up", "down", "off")),
        "edge": ("either", _choice("rising", "falling", "either")),
        "glitch_us": (0, _int_range(0, 300_000)),
        "watchdog_ms": (0, _int_range(0, 60_000)),
    },
    "pwm": {
        "hardware": (False, _boolean),
        "frequency_hz": (800, _int_range(1, 125_000_000)),
        "range": (255, _int_range(25, 40_000)),
        "active_high": (True, _boolean),
        "safe_duty": (0.0, _float_range(0.0, 1.0)),
    },
    "servo": {
        "min_pulse_us": (1000, _int_range(500, 2500)),
        "max_pulse_us": (2000, _int_range(500, 2500)),
        "safe_pulse_us": (0, _int_range(0, 2500)),
    },
    "dc_motor": {
        "frequency_hz": (1000, _int_range(1, 8000)),
        "max_speed": (1.0, _float_range(0.0, 1.0, low_open=True)),
        "brake_on_stop": (False, _boolean),
    },
    "rgb_led": {
        "common_anode": (False, _boolean),
        "frequency_hz": (800, _int_range(1, 8000)),
        "safe_color": ((0.0, 0.0, 0.0), _fraction_triplet),
    },
    "solenoid": {
        "active_high": (True, _boolean),
        "max_pulse_us": (1_000_000, _int_range(1, 100_000_000)),
    },
    "imu_mpu6050": {
        "bus": (1, _choice(0, 1)),
        "address": (0x68, _choice(0x68, 0x69)),
        "accel_range_g": (2, _choice(2, 4, 8, 16)),
        "gyro_range_dps": (250, _choice(250, 500, 1000, 2000)),
        "rate_hz": (50.0, _float_range(0.0, 1000.0, low_open=True)),
        "frame_id": ("imu_link", _string),
    },
}


def _pin(device: str, field_name: str, value: Any, numbering: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(device, field_name, f"must be a pin number, got {value!r}")
    if numbering == "BOARD":
        if value not in BOARD_TO_BCM:
            raise ConfigError(device, field_name,
                              f"physical pin {value} is not a GPIO on the 40-pin header")
        return BOARD_TO_BCM[value]
    if value not in BCM_HEADER_GPIOS:
        raise ConfigError(device, field_name,
                          f"BCM {value} is not a GPIO on the 40-pin header (0..27)")
    return value


def _device(entry: Any, index: int, numbering: str) -> DeviceSpec:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"#{index}", "devices", f"each device must be a mapping, got {entry!r}")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"#{index}", "name", "every device needs a non-empty name")
    kind = entry.get("type")
    if kind not in DEVICE_TYPES:
        raise ConfigError(name, "type", f"unknown device type {kind!r}; known: "
                          f"{', '.join(DEVICE_TYPES)}")
    known = {"name", "type", *PIN_FIELDS[kind], *_COMMON, *_FIELDS[kind]}
    if kind in CHANNEL_TYPES:
        known |= {"channel_range", "command_timeout_s"}
    for key in entry:
        if key not in known:
            raise ConfigError(name, str(key), f"unknown field for a {kind}; known: "
                              f"{', '.join(sorted(known))}")
    pins = {}
    for role in PIN_FIELDS[kind]:
        if role not in entry:
            raise ConfigError(name, role, f"a {kind} needs '{role}'")
        pins[role] = _pin(name, role, entry[role], numbering)
    settings: dict[str, Any] = {}
    for key, (default, check) in {**_COMMON, **_FIELDS[kind]}.items():
        value = entry.get(key, default)
        problem = check(value)
        if problem:
            raise ConfigError(name, key, problem)
        settings[key] = value
    _check_cross_fields(name, kind, pins, settings)
    channel = settings.pop("channel")
    if channel and kind not in CHANNEL_TYPES:
        raise ConfigError(name, "channel", f"a {kind} cannot follow an actuator channel")
    default_range = CHANNEL_TYPES.get(kind, (0.0, 1.0))
    channel_range = entry.get("channel_range", list(default_range))
    if (not isinstance(channel_range, (list, tuple)) or len(channel_range) != 2
            or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in channel_range)
            or not channel_range[0] < channel_range[1]):
        raise ConfigError(name, "channel_range", f"must be [low, high] with low < high, got "
                          f"{channel_range!r}")
    timeout_s = entry.get("command_timeout_s")
    if timeout_s is not None:
        problem = _float_range(0.0, 3600.0)(timeout_s)
        if problem:
            raise ConfigError(name, "command_timeout_s", problem)
        timeout_s = float(timeout_s)
    return DeviceSpec(name, kind, pins, settings, channel,
                      (float(channel_range[0]), float(channel_range[1])), timeout_s)


def _check_cross_fields(name: str, kind: str, pins: dict[str, int], s: dict[str, Any]) -> None:
    if kind == "servo":
        if s["min_pulse_us"] >= s["max_pulse_us"]:
            raise ConfigError(name, "max_pulse_us", f"{s['max_pulse_us']} must be greater than "
                              f"min_pulse_us {s['min_pulse_us']}")
        safe = s["safe_pulse_us"]
        if safe != 0 and not s["min_pulse_us"] <= safe <= s["max_pulse_us"]:
            raise ConfigError(name, "safe_pulse_us", f"{safe} must be 0 (off) or within "
                              f"[{s['min_pulse_us']}, {s['max_pulse_us']}]")
    if kind == "pwm" and s["hardware"]:
        if pins["pin"] not in HARDWARE_PWM_GPIOS:
            raise ConfigError(name, "pin", f"BCM {pins['pin']} has no hardware PWM; use one of "
                              f"{sorted(HARDWARE_PWM_GPIOS)}")
    if kind == "pwm" and not s["hardware"] and s["frequency_hz"] > 8000:
        raise ConfigError(name, "frequency_hz", f"{s['frequency_hz']} is above 8000, the "
                          "highest software PWM frequency; set hardware: true")


def load_config(data: Mapping[str, Any] | str | None) -> PilotConfig:
    """Validate a devices mapping (or YAML text); raises ConfigError."""
    if isinstance(data, str):
        try:
            data = yaml.safe_load(data)
        except yaml.YAMLError as exc:
            raise ConfigError("-", "yaml", f"not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError("-", "devices", "the devices file must be a mapping with 'devices'")
    for key in data:
        if key not in ("numbering", "devices"):
            raise ConfigError("-", str(key), "unknown top-level field; known: numbering, devices")
    numbering = str(data.get("numbering", "BCM")).upper()
    if numbering not in ("BCM", "BOARD"):
        raise ConfigError("-", "numbering", f"{numbering!r} is not BCM or BOARD")
    entries = data.get("devices") or []
    if not isinstance(entries, list):
        raise ConfigError("-", "devices", "must be a list of devices")
    specs: list[DeviceSpec] = []
    pin_owner: dict[int, tuple[str, str]] = {}
    channel_owner: dict[str, str] = {}
    for index, entry in enumerate(entries):
        spec = _device(entry, index, numbering)
        if any(s.name == spec.name for s in specs):
            raise ConfigError(spec.name, "name", "two devices have this name")
        used = list(spec.pins.items())
        if spec.type == "imu_mpu6050":
            used += [("bus", p) for p in I2C_BUS_PINS[spec.settings["bus"]]]
        for role, pin in used:
            if pin in pin_owner:
                other, other_role = pin_owner[pin]
                raise ConfigError(spec.name, role, f"BCM {pin} is already used by device "
                                  f"'{other}' field '{other_role}'")
            pin_owner[pin] = (spec.name, role)
        for channel in _channels_of(spec):
            if channel in channel_owner:
                raise ConfigError(spec.name, "channel", f"channel '{channel}' already drives "
                                  f"device '{channel_owner[channel]}'")
            channel_owner[channel] = spec.name
        specs.append(spec)
    return PilotConfig(numbering, tuple(specs))


def _channels_of(spec: DeviceSpec) -> list[str]:
    if not spec.channel:
        return []
    if spec.type == "rgb_led":
        return [f"{spec.channel}:{c}" for c in "rgb"]
    return [spec.channel]


def load_config_file(path: str | Path) -> PilotConfig:
    """Read and validate a devices YAML file."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError("-", "devices", f"cannot read {path}: {exc}") from exc
    return load_config(text)


def load_devices(devices: str) -> PilotConfig:
    """The PilotConfig of the pilot's parameter `devices` (inline YAML or the path of a
    devices YAML); errors name the parameter."""
    from node_kit.config import load_structured

    data = load_structured("devices", devices, dict)
    if data is None:
        raise ValueError("parameter 'devices' is empty: the pilot needs at least one device "
                         "(inline YAML or the path of a devices YAML)")
    try:
        return load_config(data)
    except ConfigError as exc:
        raise ConfigError(exc.device, exc.field,
                          f"{str(exc).split(': ', 1)[1]} (from parameter 'devices')") from None
