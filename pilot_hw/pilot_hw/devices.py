"""Raspberry Pi device drivers on a pin backend (`pilot_hw.backends`: pigpio, or memory).

Drivers talk only to a `PinBackend`, as gpiozero's devices talk to a pin factory. Each
output driver declares its safe state once, as a list of SafeOp
(`safe_ops()`). That one declaration is both what `safe()` applies through the
client (shutdown, exception, reconnect) and what the dead-man script applies
inside the daemon when the client stops sending heartbeats (see
`pilot_hw.deadman`). Drivers take BCM pin numbers; `pilot_hw.config` maps
BOARD numbers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from pilot_hw import sim_mpu6050 as mpu
from pilot_hw.backends import PinBackend, PinBusy, PinError, Watch
from pilot_hw.config import DeviceSpec

DeviceBusy = PinBusy  # a timed pulse is still running


def tick_diff_us(earlier: int, later: int) -> int:
    """Microseconds from tick `earlier` to tick `later`, across the 2^32 wrap."""
    return (later - earlier) & 0xFFFFFFFF


@dataclass(frozen=True)
class SafeOp:
    """One primitive output action: 'write', 'servo', 'pwm', 'hw_pwm' or 'wave_halt'."""

    kind: str
    pin: int = -1
    value: int = 0
    frequency_hz: int = 0


def _unique(ops: Iterable[SafeOp]) -> list[SafeOp]:
    seen: list[SafeOp] = []
    for op in ops:
        if op not in seen:
            seen.append(op)
    # halting waves first keeps a running pulse from undoing the writes after it
    return sorted(seen, key=lambda op: op.kind != "wave_halt")


def apply_safe_ops(backend: PinBackend, ops: Iterable[SafeOp]) -> list[Exception]:
    """Apply every op, even after one fails; returns the failures."""
    errors: list[Exception] = []
    for op in _unique(ops):
        try:
            if op.kind == "write":
                backend.write(op.pin, op.value)
            elif op.kind == "servo":
                backend.servo_pulse(op.pin, op.value)
            elif op.kind == "pwm":
                backend.pwm_duty(op.pin, op.value)
            elif op.kind == "hw_pwm":
                backend.hardware_pwm(op.pin, op.frequency_hz, op.value)
            elif op.kind == "wave_halt":
                backend.halt_pulse()
        except Exception as exc:  # keep making the rest safe
            errors.append(exc)
    return errors


def render_safe_ops(ops: Iterable[SafeOp]) -> list[str]:
    """The same ops as pigpio script commands."""
    lines = []
    for op in _unique(ops):
        lines.append({"write": f"w {op.pin} {op.value}", "servo": f"s {op.pin} {op.value}",
                      "pwm": f"pwm {op.pin} {op.value}",
                      "hw_pwm": f"hp {op.pin} {op.frequency_hz} {op.value}",
                      "wave_halt": "wvhlt"}[op.kind])
    return lines


@dataclass(frozen=True)
class InputEvent:
    """An edge (level 0/1) or a watchdog timeout (level 2) on an input device."""

    device: str
    pin: int
    level: int
    tick_us: int
    seq: int


@dataclass(frozen=True)
class ImuSample:
    accel_mps2: np.ndarray
    gyro_rad_s: np.ndarray
    temperature_c: float


@dataclass(frozen=True)
class ChannelTarget:
    """An output a command channel can set, in normalised units [low, high]."""

    channel: str
    low: float
    high: float
    safe_value: float
    apply: Callable[[float], None]


class Device:
    """Base: a named device attached to a pin backend."""

    kind = "device"

    def __init__(self, spec: DeviceSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.backend: PinBackend | None = None

    def attach(self, backend: PinBackend) -> None:
        """Configure the pins on (a new) backend and put the outputs in their safe state."""
        self.backend = backend
        self._configure(backend)
        errors = self.safe()
        if errors:
            raise errors[0]

    def _configure(self, backend: PinBackend) -> None:
        pass

    def prepare(self, backend: PinBackend) -> bool:
        """Settings that must be in place before the connection that watches the pins opens;
        returns whether there were any."""
        return False

    def safe_ops(self) -> list[SafeOp]:
        return []

    def safe(self) -> list[Exception]:
        """The one safe-shutdown path of this driver: drive the outputs to the safe state."""
        self.mark_safe()
        if self.backend is None:
            return []
        return apply_safe_ops(self.backend, self.safe_ops())

    def mark_safe(self) -> None:
        """Forget commanded values: the outputs are (or are being put) in the safe state."""

    def detach(self) -> None:
        self.backend = None

    def close(self) -> list[Exception]:
        errors = self.safe()
        self.detach()
        return errors

    def channel_targets(self) -> list[ChannelTarget]:
        return []

    def output_pins(self) -> list[int]:
        return [] if self.kind in ("digital_input", "imu_mpu6050") else list(self.spec.pins.values())

    def _require(self) -> PinBackend:
        if self.backend is None:
            raise ConnectionError(f"device '{self.name}' is not attached to its pins")
        return self.backend


class DigitalOutput(Device):
    kind = "digital_output"

    def __init__(self, spec: DeviceSpec) -> None:
        super().__init__(spec)
        self.pin = spec.pins["pin"]
        self.active_high: bool = spec.settings["active_high"]
        self.safe_on: bool = spec.settings["safe_on"]
        self.on_state = self.safe_on

    def _level(self, on: bool) -> int:
        return int(on == self.active_high)

    def _configure(self, backend: PinBackend) -> None:
        backend.set_output(self.pin)

    def safe_ops(self) -> list[SafeOp]:
        return [SafeOp("write", self.pin, self._level(self.safe_on))]

    def mark_safe(self) -> None:
        self.on_state = self.safe_on

    def set(self, on: bool) -> None:
        self._require().write(self.pin, self._level(on))
        self.on_state = bool(on)

    def channel_targets(self) -> list[ChannelTarget]:
        return [ChannelTarget(self.spec.channel, 0.0, 1.0, float(self.safe_on),
                              lambda x: self.set(x >= 0.5))]


class DigitalInput(Device):
    kind = "digital_input"

    def __init__(self, spec: DeviceSpec, on_event: Callable[[InputEvent], None] | None = None
                 ) -> None:
        super().__init__(spec)
        self.pin = spec.pins["pin"]
        self.on_event = on_event
        self._watch: Watch | None = None
        self._seq = 0
        self._lock = threading.Lock()

    def prepare(self, backend: PinBackend) -> bool:
        # pigpio's notification thread takes its first "previous levels" snapshot when the
        # connection opens and only updates it from reports of watched pins: a level a pull
        # resistor sets afterwards would hide the first edge. So pulls are set first.
        backend.set_input(self.pin, self.spec.settings["pull"])
        return True

    def _configure(self, backend: PinBackend) -> None:
        s = self.spec.settings
        self.prepare(backend)
        self._watch = backend.watch(self.pin, s["edge"], self._on_change,
                                    glitch_us=s["glitch_us"], watchdog_ms=s["watchdog_ms"])

    def _on_change(self, gpio: int, level: int, tick: int) -> None:
        # runs on the pigpio client's notification thread, in report order
        with self._lock:
            event = InputEvent(self.name, gpio, level, tick, self._seq)
            self._seq += 1
        if self.on_event is not None:
            self.on_event(event)

    def read(self) -> int:
        return self._require().read(self.pin)

    def detach(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.cancel()
        super().detach()


class Pwm(Device):
    """Software PWM on any GPIO, or hardware PWM on 12/13/18/19; duty is a fraction 0..1."""

    kind = "pwm"

    def __init__(self, spec: DeviceSpec) -> None:
        super().__init__(spec)
        s = spec.settings
        self.pin = spec.pins["pin"]
        self.hardware: bool = s["hardware"]
        self.frequency_hz: int = s["frequency_hz"]
        self.range: int = s["range"]
        self.active_high: bool = s["active_high"]
        self.safe_duty: float = s["safe_duty"]
        self.duty = self.safe_duty

    def _configure(self, backend: PinBackend) -> None:
        if not self.hardware:
            backend.set_pwm(self.pin, self.frequency_hz, self.range)

    def _op(self, duty: float) -> SafeOp:
        level = duty if self.active_high else 1.0 - duty
        if self.hardware:
            return SafeOp("hw_pwm", self.pin, int(round(level * 1_000_000)), self.frequency_hz)
        return SafeOp("pwm", self.pin, int(round(level * self.range)))

    def safe_ops(self) -> list[SafeOp]:
        return [self._op(self.safe_duty)]

    def mark_safe(self) -> None:
        self.duty = self.safe_duty

    def set_duty(self, duty: float) -> None:
        duty = float(np.clip(duty, 0.0, 1.0))
        errors = apply_safe_ops(self._require(), [self._op(duty)])
        if errors:
            raise errors[0]
        self.duty = duty

    def channel_targets(self) -> list[ChannelTarget]:
        return [ChannelTarget(self.spec.channel, 0.0, 1.0, self.safe_duty, self.set_duty)]


class Servo(Device):
    """A hobby servo: pulse widths clamped to [min_pulse_us, max_pulse_us]; 0 = limp."""

    kind = "servo"

    def __init__(self, spec: DeviceSpec) -> None:
        super().__init__(spec)
        s = spec.settings
        self.pin = spec.pins["pin"]
        self.min_pulse_us: int = s["min_pulse_us"]
        self.max_pulse_us: int = s["max_pulse_us"]
        self.safe_pulse_us: int = s["safe_pulse_us"]
        self.pulse_us = self.safe_pulse_us

    def safe_ops(self) -> list[SafeOp]:
        return [SafeOp("servo", self.pin, self.safe_pulse_us)]

    def mark_safe(self) -> None:
        self.pulse_us = self.safe_pulse_us

    def set_pulse_us(self, pulse_us: float) -> int:
        """Command a pulse width (clamped to the limits); returns the width applied."""
        width = int(round(np.clip(pulse_us, self.min_pulse_us, self.max_pulse_us)))
        self._require().servo_pulse(self.pin, width)
        self.pulse_us = width
        return width

    def set_fraction(self, fraction: float) -> int:
        """0 -> min_pulse_us, 1 -> max_pulse_us."""
        fraction = float(np.clip(fraction, 0.0, 1.0))
        return self.set_pulse_us(self.min_pulse_us + fraction * (self.max_pulse_us
                                                                 - self.min_pulse_us))

    def channel_targets(self) -> list[ChannelTarget]:
        safe = self.safe_pulse_us or self.min_pulse_us
        return [ChannelTarget(self.spec.channel, 0.0, 1.0,
                              (safe - self.min_pulse_us) / (self.max_pulse_us - self.min_pulse_us),
                              self.set_fraction)]


class DcMotor(Device):
    """A DC motor on an H-bridge: IN1/IN2 set the direction, PWM on the enable pin the speed."""

    kind = "dc_motor"
    PWM_RANGE = 1000

    def __init__(self, spec: DeviceSpec) -> None:
        super().__init__(spec)
        s = spec.settings
        self.pwm_pin = spec.pins["pwm_pin"]
        self.in1_pin = spec.pins["in1_pin"]
        self.in2_pin = spec.pins["in2_pin"]
        self.frequency_hz: int = s["frequency_hz"]
        self.max_speed: float = s["max_speed"]
        self.brake_on_stop: bool = s["brake_on_stop"]
        self.speed = 0.0

    def _configure(self, backend: PinBackend) -> None:
        for pin in (self.in1_pin, self.in2_pin):
            backend.set_output(pin)
        backend.set_pwm(self.pwm_pin, self.frequency_hz, self.PWM_RANGE)

    def safe_ops(self) -> list[SafeOp]:
        stop = int(self.brake_on_stop)
        return [SafeOp("pwm", self.pwm_pin, 0), SafeOp("write", self.in1_pin, stop),
                SafeOp("write", self.in2_pin, stop)]

    def mark_safe(self) -> None:
        self.speed = 0.0

    def set_speed(self, speed: float) -> float:
        """-1..1 of full speed (clamped to max_speed); 0 stops (coast or brake)."""
        backend = self._require()
        speed = float(np.clip(speed, -self.max_speed, self.max_speed))
        if speed == 0.0:
            errors = apply_safe_ops(backend, self.safe_ops())
            if errors:
                raise errors[0]
        else:
            forward = speed > 0
            if (self.speed > 0) != forward:  # never drive both ways through a direction change
                backend.pwm_duty(self.pwm_pin, 0)
            backend.write(self.in1_pin, int(forward))
            backend.write(self.in2_pin, int(not forward))
            backend.pwm_duty(self.pwm_pin, int(round(abs(speed) * self.PWM_RANGE)))
        self.speed = speed
        return speed

    def channel_targets(self) -> list[ChannelTarget]:
        return [ChannelTarget(self.spec.channel, -1.0, 1.0, 0.0, self.set_speed)]


class RgbLed(Device):
    kind = "rgb_led"
    PWM_RANGE = 255

    def __init__(self, spec: DeviceSpec) -> None:
        super().__init__(spec)
        s = spec.settings
        self.pins = (spec.pins["red_pin"], spec.pins["green_pin"], spec.pins["blue_pin"])
        self.common_anode: bool = s["common_anode"]
        self.frequency_hz: int = s["frequency_hz"]
        self.safe_color = tuple(float(c) for c in s["safe_color"])
        self.color = list(self.safe_color)

    def _configure(self, backend: PinBackend) -> None:
        for pin in self.pins:
            backend.set_pwm(pin, self.frequency_hz, self.PWM_RANGE)

    def _duty(self, value: float) -> int:
        value = float(np.clip(value, 0.0, 1.0))
        return int(round((1.0 - value if self.common_anode else value) * self.PWM_RANGE))

    def safe_ops(self) -> list[SafeOp]:
        return [SafeOp("pwm", pin, self._duty(c)) for pin, c in zip(self.pins, self.safe_color, strict=True)]

    def mark_safe(self) -> None:
        self.color = list(self.safe_color)

    def set_component(self, index: int, value: float) -> None:
        self._require().pwm_duty(self.pins[index], self._duty(value))
        self.color[index] = float(np.clip(value, 0.0, 1.0))

    def set_color(self, red: float, green: float, blue: float) -> None:
        for index, value in enumerate((red, green, blue)):
            self.set_component(index, value)

    def channel_targets(self) -> list[ChannelTarget]:
        return [ChannelTarget(f"{self.spec.channel}:{c}", 0.0, 1.0, self.safe_color[i],
                              lambda x, i=i: self.set_component(i, x))
                for i, c in enumerate("rgb")]


class Solenoid(Device):
    """A solenoid or valve: closed is safe; timed pulses are hardware-timed (pigpio: waves,
    us-exact)."""

    kind = "solenoid"

    def __init__(self, spec: DeviceSpec) -> None:
        super().__init__(spec)
        self.pin = spec.pins["pin"]
        self.active_high: bool = spec.settings["active_high"]
        self.max_pulse_us: int = spec.settings["max_pulse_us"]
        self.is_open = False

    def _configure(self, backend: PinBackend) -> None:
        backend.set_output(self.pin)

    def safe_ops(self) -> list[SafeOp]:
        return [SafeOp("wave_halt"), SafeOp("write", self.pin, int(not self.active_high))]

    def mark_safe(self) -> None:
        self.is_open = False

    def set_open(self, is_open: bool) -> None:
        self._require().write(self.pin, int(is_open == self.active_high))
        self.is_open = bool(is_open)

    def pulse(self, duration_us: int, level: int | None = None) -> int:
        """Drive the pin to `level` (default: open) for exactly duration_us, then back.

        Returns the tick at which the pulse was queued. Raises ValueError for a bad
        duration and DeviceBusy while another timed pulse is running.
        """
        if not 1 <= duration_us <= self.max_pulse_us:
            raise ValueError(f"duration_us {duration_us} is out of range [1, {self.max_pulse_us}]"
                             f" for device '{self.name}'")
        active = int(self.active_high) if level is None else int(level)
        if active not in (0, 1):
            raise ValueError(f"level {level} must be 0 or 1")
        return self._require().timed_pulse(self.pin, active, duration_us)


class Mpu6050(Device):
    """InvenSense MPU-6050 on I2C: accelerations in m/s^2, rates in rad/s."""

    kind = "imu_mpu6050"

    def __init__(self, spec: DeviceSpec) -> None:
        super().__init__(spec)
        s = spec.settings
        self.bus: int = s["bus"]
        self.address: int = s["address"]
        self.accel_scale = mpu.STANDARD_GRAVITY_MPS2 / mpu.ACCEL_LSB_PER_G[
            mpu.ACCEL_RANGES_G.index(s["accel_range_g"])]
        self.gyro_scale = np.radians(1.0) / mpu.GYRO_LSB_PER_DPS[
            mpu.GYRO_RANGES_DPS.index(s["gyro_range_dps"])]
        self.handle: int | None = None

    def _configure(self, backend: PinBackend) -> None:
        s = self.spec.settings
        self.handle = backend.i2c_open(self.bus, self.address)
        try:
            who = backend.i2c_read_byte_data(self.handle, mpu.REG_WHO_AM_I)
        except PinError as exc:
            raise RuntimeError(f"device '{self.name}', field 'address': no MPU-6050 answers at "
                               f"0x{self.address:02x} on bus {self.bus} ({exc})") from exc
        if who != mpu.WHO_AM_I_VALUE:
            raise RuntimeError(f"device '{self.name}', field 'address': WHO_AM_I is 0x{who:02x}, "
                               f"expected 0x{mpu.WHO_AM_I_VALUE:02x}")
        backend.i2c_write_byte_data(self.handle, mpu.REG_PWR_MGMT_1, 0x01)  # awake, gyro X clock
        backend.i2c_write_byte_data(self.handle, mpu.REG_ACCEL_CONFIG,
                                    mpu.ACCEL_RANGES_G.index(s["accel_range_g"]) << 3)
        backend.i2c_write_byte_data(self.handle, mpu.REG_GYRO_CONFIG,
                                    mpu.GYRO_RANGES_DPS.index(s["gyro_range_dps"]) << 3)

    def read(self) -> ImuSample:
        data = self._require().i2c_read_block(self.handle, mpu.REG_ACCEL_XOUT_H, 14)
        raw = np.frombuffer(data, dtype=">i2").astype(float)
        return ImuSample(raw[0:3] * self.accel_scale, raw[4:7] * self.gyro_scale,
                         raw[3] / 340.0 + 36.53)

    def close(self) -> list[Exception]:
        errors: list[Exception] = []
        if self.backend is not None and self.handle is not None:
            try:
                self.backend.i2c_write_byte_data(self.handle, mpu.REG_PWR_MGMT_1,
                                                 mpu.PWR_SLEEP_BIT)
                self.backend.i2c_close(self.handle)
            except Exception as exc:
                errors.append(exc)
        self.handle = None
        self.detach()
        return errors


def build_device(spec: DeviceSpec, on_event: Callable[[InputEvent], None] | None = None
                 ) -> Device:
    """The driver for a validated spec."""
    if spec.type == "digital_input":
        return DigitalInput(spec, on_event)
    return {"digital_output": DigitalOutput, "pwm": Pwm, "servo": Servo, "dc_motor": DcMotor,
            "rgb_led": RgbLed, "solenoid": Solenoid, "imu_mpu6050": Mpu6050}[spec.type](spec)
