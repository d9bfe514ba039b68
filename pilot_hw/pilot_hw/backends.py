"""Pin backends: what devices need from a GPIO library, apart from the devices.

As gpiozero's pin factories separate its devices from pigpio, RPi.GPIO or lgpio, the
drivers in `pilot_hw.devices` talk only to a `PinBackend`: modes and pulls, levels, soft
PWM, hardware PWM, servo pulses, edge callbacks with watchdog and glitch filter, I2C, and
one timed pulse. Two backends:

- `PigpioBackend(pi)`: a `pigpio.pi` connection (a pigpiod on a Pi 1-4, or the virtual Pi).
- `MemoryBackend()`: pins in memory, for testing devices without a daemon; inputs are
  driven with `set_input()`, outputs read back from `pin()` and `history`.

A backend for another GPIO library implements PinBackend's methods (README: "Which Pi").
Levels are 0/1, ticks microseconds wrapping at 2^32, pins BCM numbers. Refusals by the GPIO
library raise PinError; a lost connection raises OSError (what PilotHardware reconnects on).
"""

from __future__ import annotations

import struct
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

import pigpio

EDGES = ("rising", "falling", "either")
PULLS = ("up", "down", "off")
TIMEOUT = 2  # the level a watch callback gets for a watchdog timeout (pigpio's TIMEOUT)
TICK_MASK = 0xFFFFFFFF

EdgeCallback = Callable[[int, int, int], None]  # (pin, level 0/1/TIMEOUT, tick_us)


class PinError(RuntimeError):
    """The GPIO library refused a request (bad pin for the function, bad value...)."""


class Watch(Protocol):
    def cancel(self) -> None: ...


class I2cDevice(Protocol):
    """A register-addressed I2C device model (MemoryBackend), e.g. sim_mpu6050.Mpu6050Model."""

    def read(self, register: int, count: int) -> bytes: ...

    def write(self, register: int, data: bytes) -> None: ...


class PinBackend(ABC):
    """What pilot_hw's devices use of a GPIO library."""

    name = "backend"

    @abstractmethod
    def set_output(self, pin: int) -> None: ...

    @abstractmethod
    def set_input(self, pin: int, pull: str) -> None:
        """Make `pin` an input with pull 'up', 'down' or 'off'."""

    @abstractmethod
    def write(self, pin: int, level: int) -> None: ...

    @abstractmethod
    def read(self, pin: int) -> int: ...

    @abstractmethod
    def set_pwm(self, pin: int, frequency_hz: int, range_: int) -> int:
        """Soft PWM settings of `pin`; returns the frequency the library chose."""

    @abstractmethod
    def pwm_duty(self, pin: int, duty: int) -> None:
        """Soft PWM duty, 0..range."""

    @abstractmethod
    def hardware_pwm(self, pin: int, frequency_hz: int, duty_ppm: int) -> None:
        """Hardware PWM, duty in millionths (frequency 0 stops it)."""

    @abstractmethod
    def servo_pulse(self, pin: int, pulse_us: int) -> None:
        """Servo pulses of pulse_us every 20 ms (0: none, the servo goes limp)."""

    @abstractmethod
    def watch(self, pin: int, edge: str, callback: EdgeCallback, *, glitch_us: int = 0,
              watchdog_ms: int = 0) -> Watch:
        """Call `callback(pin, level, tick_us)` on each `edge` of `pin` (in tick order);
        level TIMEOUT when `watchdog_ms` passes without an edge; edges shorter than
        `glitch_us` are ignored."""

    @abstractmethod
    def timed_pulse(self, pin: int, level: int, duration_us: int) -> int:
        """Drive `pin` to `level` for exactly duration_us, then to the other level, timed by
        the hardware; returns the tick it was queued at. PinBusy while one is running."""

    @abstractmethod
    def pulse_busy(self) -> bool: ...

    @abstractmethod
    def halt_pulse(self) -> None: ...

    @abstractmethod
    def i2c_open(self, bus: int, address: int) -> int: ...

    @abstractmethod
    def i2c_read_byte_data(self, handle: int, register: int) -> int: ...

    @abstractmethod
    def i2c_write_byte_data(self, handle: int, register: int, value: int) -> None: ...

    @abstractmethod
    def i2c_read_block(self, handle: int, register: int, count: int) -> bytes: ...

    @abstractmethod
    def i2c_close(self, handle: int) -> None: ...

    @abstractmethod
    def tick(self) -> int: ...


class PinBusy(RuntimeError):
    """A timed pulse is still running."""


# ------------------------------------------------------------------------------ pigpio
_EDGE_CODES = {"rising": pigpio.RISING_EDGE, "falling": pigpio.FALLING_EDGE,
               "either": pigpio.EITHER_EDGE}
_PULL_CODES = {"up": pigpio.PUD_UP, "down": pigpio.PUD_DOWN, "off": pigpio.PUD_OFF}


def _pigpio(fn: Callable, *args: object) -> object:
    try:
        return fn(*args)
    except pigpio.error as exc:
        raise PinError(str(exc)) from exc


class _PigpioWatch:
    def __init__(self, pi: pigpio.pi, pin: int, callback: object) -> None:
        self._pi, self._pin, self._callback = pi, pin, callback

    def cancel(self) -> None:
        if self._callback is None or not self._pi.connected:
            return
        callback, self._callback = self._callback, None
        try:
            callback.cancel()
            self._pi.set_watchdog(self._pin, 0)
        except (OSError, struct.error, pigpio.error):
            pass  # the link is gone (pigpio: a short reply is a struct.error): so is the callback


class PigpioBackend(PinBackend):
    """Pins of a pigpio daemon through a `pigpio.pi` connection.

    Timed pulses are pigpio waves (DMA-timed, microsecond-exact); the daemon has one wave
    engine, shared by every device on this backend."""

    name = "pigpio"

    def __init__(self, pi: pigpio.pi) -> None:
        self.pi = pi
        self._wave_lock = threading.Lock()
        self._wave_id: int | None = None

    @property
    def connected(self) -> bool:
        return bool(self.pi.connected)

    def set_output(self, pin: int) -> None:
        _pigpio(self.pi.set_mode, pin, pigpio.OUTPUT)

    def set_input(self, pin: int, pull: str) -> None:
        _pigpio(self.pi.set_mode, pin, pigpio.INPUT)
        _pigpio(self.pi.set_pull_up_down, pin, _PULL_CODES[pull])

    def write(self, pin: int, level: int) -> None:
        _pigpio(self.pi.write, pin, level)

    def read(self, pin: int) -> int:
        return int(_pigpio(self.pi.read, pin))  # type: ignore[arg-type]

    def set_pwm(self, pin: int, frequency_hz: int, range_: int) -> int:
        _pigpio(self.pi.set_mode, pin, pigpio.OUTPUT)
        chosen = _pigpio(self.pi.set_PWM_frequency, pin, frequency_hz)
        _pigpio(self.pi.set_PWM_range, pin, range_)
        return int(chosen)  # type: ignore[arg-type]

    def pwm_duty(self, pin: int, duty: int) -> None:
        _pigpio(self.pi.set_PWM_dutycycle, pin, duty)

    def hardware_pwm(self, pin: int, frequency_hz: int, duty_ppm: int) -> None:
        _pigpio(self.pi.hardware_PWM, pin, frequency_hz, duty_ppm)

    def servo_pulse(self, pin: int, pulse_us: int) -> None:
        _pigpio(self.pi.set_servo_pulsewidth, pin, pulse_us)

    def watch(self, pin: int, edge: str, callback: EdgeCallback, *, glitch_us: int = 0,
              watchdog_ms: int = 0) -> Watch:
        _pigpio(self.pi.set_glitch_filter, pin, glitch_us)
        _pigpio(self.pi.set_watchdog, pin, watchdog_ms)
        return _PigpioWatch(self.pi, pin, _pigpio(self.pi.callback, pin, _EDGE_CODES[edge],
                                                  callback))

    def timed_pulse(self, pin: int, level: int, duration_us: int) -> int:
        bit = 1 << pin
        on, off = (bit, 0) if level else (0, bit)
        with self._wave_lock:
            if self.pi.wave_tx_busy():
                raise PinBusy("a pigpio wave is still transmitting; try again after it ends")
            if self._wave_id is not None:
                _pigpio(self.pi.wave_delete, self._wave_id)
                self._wave_id = None
            _pigpio(self.pi.wave_add_new)
            _pigpio(self.pi.wave_add_generic, [pigpio.pulse(on, off, duration_us),
                                               pigpio.pulse(off, on, 0)])
            wave_id = int(_pigpio(self.pi.wave_create))  # type: ignore[arg-type]
            start_tick = self.pi.get_current_tick()
            _pigpio(self.pi.wave_send_once, wave_id)
            self._wave_id = wave_id
        return start_tick

    def pulse_busy(self) -> bool:
        return bool(self.pi.wave_tx_busy())

    def halt_pulse(self) -> None:
        _pigpio(self.pi.wave_tx_stop)

    def i2c_open(self, bus: int, address: int) -> int:
        return int(_pigpio(self.pi.i2c_open, bus, address))  # type: ignore[arg-type]

    def i2c_read_byte_data(self, handle: int, register: int) -> int:
        return int(_pigpio(self.pi.i2c_read_byte_data, handle, register))  # type: ignore

    def i2c_write_byte_data(self, handle: int, register: int, value: int) -> None:
        _pigpio(self.pi.i2c_write_byte_data, handle, register, value)

    def i2c_read_block(self, handle: int, register: int, count: int) -> bytes:
        got, data = _pigpio(self.pi.i2c_read_i2c_block_data, handle, register, count)  # type: ignore
        if got != count:
            raise PinError(f"I2C block read of {count} bytes returned {got}")
        return bytes(data)

    def i2c_close(self, handle: int) -> None:
        _pigpio(self.pi.i2c_close, handle)

    def tick(self) -> int:
        return int(self.pi.get_current_tick())


# ------------------------------------------------------------------------------ memory
@dataclass(frozen=True)
class MemoryPin:
    """A pin of the MemoryBackend."""

    mode: str = "input"  # input, output, pwm, hw_pwm, servo
    pull: str = "off"
    level: int = 0
    external_level: int | None = None
    pwm_frequency_hz: int = 800
    pwm_range: int = 255
    pwm_duty: int = 0
    hw_pwm_frequency_hz: int = 0
    hw_pwm_duty_ppm: int = 0
    servo_pulse_us: int = 0


@dataclass
class _MemoryWatch:
    backend: MemoryBackend
    pin: int
    edge: str
    callback: EdgeCallback
    active: bool = True

    def cancel(self) -> None:
        self.active = False


@dataclass
class MemoryBackend(PinBackend):
    """Pins in memory: outputs are recorded, inputs driven by the test; no daemon, no timing.

    `set_input(pin, level)` drives an input (watch callbacks run at once, on the caller's
    thread); `pin(n)` and `history` (tick, pin, what, value) show what devices did;
    `i2c_devices[(bus, address)]` holds register models; `fail_with` makes every call raise
    (a lost connection: OSError). Watchdogs and glitch filters are accepted, not simulated.
    """

    name = "memory"
    pins: dict[int, MemoryPin] = field(default_factory=dict)
    history: list[tuple[int, int, str, int]] = field(default_factory=list)
    i2c_devices: dict[tuple[int, int], I2cDevice] = field(default_factory=dict)
    fail_with: Exception | None = None
    _watches: list[_MemoryWatch] = field(default_factory=list)
    _i2c_handles: dict[int, tuple[int, int]] = field(default_factory=dict)
    _pulse_until_s: float = 0.0
    _start_ns: int = field(default_factory=time.monotonic_ns)

    def pin(self, pin: int) -> MemoryPin:
        return self.pins.get(pin, MemoryPin())

    def _check(self, pin: int | None = None) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        if pin is not None and not 0 <= pin < 28:
            raise PinError(f"GPIO {pin} is not on the 40-pin header")

    def _update(self, pin: int, what: str, value: int, **changes: object) -> None:
        before = self.pin(pin)
        after = replace(before, **changes)
        self.pins[pin] = after
        self.history.append((self.tick(), pin, what, value))
        if self._level(before) != self._level(after):
            self._edge(pin, self._level(after))

    @staticmethod
    def _level(p: MemoryPin) -> int:
        if p.mode == "input":
            return p.external_level if p.external_level is not None else int(p.pull == "up")
        return p.level

    def _edge(self, pin: int, level: int) -> None:
        tick = self.tick()
        for w in list(self._watches):
            wanted = {"rising": level == 1, "falling": level == 0, "either": True}[w.edge]
            if w.active and w.pin == pin and wanted:
                w.callback(pin, level, tick)

    def set_input_level(self, pin: int, level: int | None) -> None:
        """Drive input `pin` from outside (None: let it float to its pull)."""
        self._update(pin, "input", -1 if level is None else level, external_level=level)

    def level(self, pin: int) -> int:
        return self._level(self.pin(pin))

    def set_output(self, pin: int) -> None:
        self._check(pin)
        self._update(pin, "mode", 1, mode="output")

    def set_input(self, pin: int, pull: str) -> None:
        self._check(pin)
        if pull not in PULLS:
            raise PinError(f"pull {pull!r}: one of {PULLS}")
        self._update(pin, "mode", 0, mode="input", pull=pull)

    def write(self, pin: int, level: int) -> None:
        self._check(pin)
        if level not in (0, 1):
            raise PinError(f"level {level}: 0 or 1")
        self._update(pin, "level", level, mode="output", level=level, pwm_duty=0,
                     servo_pulse_us=0)

    def read(self, pin: int) -> int:
        self._check(pin)
        return self.level(pin)

    def set_pwm(self, pin: int, frequency_hz: int, range_: int) -> int:
        self._check(pin)
        if not 25 <= range_ <= 40000:
            raise PinError(f"PWM range {range_}: 25..40000")
        self._update(pin, "pwm_setup", frequency_hz, mode="output",
                     pwm_frequency_hz=frequency_hz, pwm_range=range_)
        return frequency_hz

    def pwm_duty(self, pin: int, duty: int) -> None:
        self._check(pin)
        p = self.pin(pin)
        if not 0 <= duty <= p.pwm_range:
            raise PinError(f"PWM duty {duty}: 0..{p.pwm_range}")
        level = 1 if duty == p.pwm_range else 0 if duty == 0 else p.level
        self._update(pin, "pwm", duty, mode="pwm", pwm_duty=duty, level=level,
                     servo_pulse_us=0)

    def hardware_pwm(self, pin: int, frequency_hz: int, duty_ppm: int) -> None:
        self._check(pin)
        if pin not in (12, 13, 18, 19):
            raise PinError(f"GPIO {pin} has no hardware PWM")
        if not 0 <= duty_ppm <= 1_000_000:
            raise PinError(f"hardware PWM duty {duty_ppm}: 0..1000000")
        level = int(frequency_hz > 0 and duty_ppm == 1_000_000)
        self._update(pin, "hw_pwm", duty_ppm if frequency_hz else 0, mode="hw_pwm",
                     hw_pwm_frequency_hz=frequency_hz, hw_pwm_duty_ppm=duty_ppm, level=level)

    def servo_pulse(self, pin: int, pulse_us: int) -> None:
        self._check(pin)
        if pulse_us != 0 and not 500 <= pulse_us <= 2500:
            raise PinError(f"servo pulse {pulse_us} us: 0 or 500..2500")
        self._update(pin, "servo", pulse_us, mode="servo", servo_pulse_us=pulse_us,
                     pwm_duty=0, level=0 if pulse_us == 0 else self.pin(pin).level)

    def watch(self, pin: int, edge: str, callback: EdgeCallback, *, glitch_us: int = 0,
              watchdog_ms: int = 0) -> Watch:
        self._check(pin)
        if edge not in EDGES:
            raise PinError(f"edge {edge!r}: one of {EDGES}")
        watch = _MemoryWatch(self, pin, edge, callback)
        self._watches.append(watch)
        return watch

    def timed_pulse(self, pin: int, level: int, duration_us: int) -> int:
        self._check(pin)
        if self.pulse_busy():
            raise PinBusy("a timed pulse is still running")
        start = self.tick()
        self.history += [(start, pin, "pulse", level),
                         ((start + duration_us) & TICK_MASK, pin, "pulse", 1 - level)]
        self.pins[pin] = replace(self.pin(pin), mode="output", level=1 - level)
        self._pulse_until_s = time.monotonic() + duration_us / 1e6
        return start

    def pulse_busy(self) -> bool:
        return time.monotonic() < self._pulse_until_s

    def halt_pulse(self) -> None:
        self._check()
        self._pulse_until_s = 0.0

    def i2c_open(self, bus: int, address: int) -> int:
        self._check()
        handle = max(self._i2c_handles, default=-1) + 1
        self._i2c_handles[handle] = (bus, address)
        return handle

    def _i2c(self, handle: int) -> I2cDevice:
        self._check()
        key = self._i2c_handles.get(handle)
        if key is None:
            raise PinError(f"unknown I2C handle {handle}")
        if key not in self.i2c_devices:
            raise PinError(f"no I2C device answers at 0x{key[1]:02x} on bus {key[0]}")
        return self.i2c_devices[key]

    def i2c_read_byte_data(self, handle: int, register: int) -> int:
        return self._i2c(handle).read(register, 1)[0]

    def i2c_write_byte_data(self, handle: int, register: int, value: int) -> None:
        self._i2c(handle).write(register, bytes([value]))

    def i2c_read_block(self, handle: int, register: int, count: int) -> bytes:
        return bytes(self._i2c(handle).read(register, count))

    def i2c_close(self, handle: int) -> None:
        self._check()
        if self._i2c_handles.pop(handle, None) is None:
            raise PinError(f"unknown I2C handle {handle}")

    def tick(self) -> int:
        return ((time.monotonic_ns() - self._start_ns) // 1000) & TICK_MASK
