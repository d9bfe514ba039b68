"""The pilot's hardware: devices on one pigpio connection, kept safe on every exit.

PilotHardware owns the `pigpio.pi` connection and the drivers built from a
PilotConfig. A supervisor thread feeds the in-daemon dead-man switch, puts every
output whose commands stopped arriving into its safe state (per-device command
timeout), and notices a lost connection; it then reconnects and re-attaches every
device in its safe state. `close()` (also
run at interpreter exit and by `with`) is the one shutdown path: every driver's
`safe()`, then the dead-man script is removed and the connection closed.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pigpio

from pilot_hw.backends import PigpioBackend, PinError
from pilot_hw.config import PilotConfig
from pilot_hw.deadman import DeadmanSwitch, remove_stale_scripts
from pilot_hw.devices import (
    ChannelTarget,
    Device,
    ImuSample,
    InputEvent,
    Mpu6050,
    Solenoid,
    build_device,
)

# What a broken daemon link raises inside the pigpio client.
LINK_ERRORS = (OSError, struct.error)


class DeviceSetupError(RuntimeError):
    """A device could not be set up on a live daemon (wrong hardware, refused settings)."""


@dataclass
class ChannelBinding:
    """An actuator channel: its value in channel units, mapped linearly onto a device output."""

    device: Device
    target: ChannelTarget
    low: float
    high: float
    value: float = 0.0

    def normalised(self, value: float) -> float:
        t = self.target
        return t.low + (value - self.low) / (self.high - self.low) * (t.high - t.low)

    def safe_value(self) -> float:
        t = self.target
        return self.low + (t.safe_value - t.low) / (t.high - t.low) * (self.high - self.low)


@dataclass
class HardwareStatus:
    connected: bool = False
    connects: int = 0
    link_losses: int = 0
    deadman_trips: int = 0
    command_timeouts: int = 0
    last_error: str = ""
    devices: dict[str, str] = field(default_factory=dict)


def _open_client(host: str, port: int, io_timeout_s: float) -> pigpio.pi | None:
    """A pigpio client whose shutdown this package owns (not the client's own atexit hook,
    which would close the link before the outputs are made safe)."""
    pi = pigpio.pi(host, port, show_errors=False)
    atexit.unregister(pi.stop)
    if not pi.connected:
        return None
    pi.sl.s.settimeout(io_timeout_s)
    return pi


def _close_client(pi: pigpio.pi) -> None:
    """Close a pigpio client even when its daemon is gone (pi.stop() alone may raise)."""
    notify = getattr(pi, "_notify", None)
    if notify is not None:
        notify.go = False
        with contextlib.suppress(OSError):
            notify.sl.s.shutdown(socket.SHUT_RDWR)  # wakes its thread from recv()
    with contextlib.suppress(Exception):
        pi.stop()
    with contextlib.suppress(Exception):
        if pi.sl.s is not None:
            pi.sl.s.close()
            pi.sl.s = None
    pi.connected = False


class PilotHardware:
    """Devices of a PilotConfig on the pigpio daemon at host:port."""

    def __init__(self, config: PilotConfig, host: str = "127.0.0.1", port: int = 8888, *,
                 on_event: Callable[[InputEvent], None] | None = None,
                 heartbeat_period_s: float = 0.1, deadman_timeout_ms: int = 500,
                 command_timeout_s: float = 0.5, reconnect_period_s: float = 0.5,
                 reconnect_max_period_s: float = 5.0, io_timeout_s: float = 2.0,
                 logger: Any = None) -> None:
        """`logger`: anything with info/warning/error(str) - a logging.Logger or a ROS node's
        logger; default logging.getLogger("pilot_hw")."""
        self.config = config
        self.host = host
        self.port = port
        self.on_event = on_event
        self.heartbeat_period_s = heartbeat_period_s
        self.deadman_timeout_ms = deadman_timeout_ms
        self.command_timeout_s = command_timeout_s
        self.reconnect_period_s = reconnect_period_s
        self.reconnect_max_period_s = reconnect_max_period_s
        self._tries = 0  # failed connection attempts since the last success
        self._last_try_s = 0.0  # of the last attempt, or when the link was lost
        self.io_timeout_s = io_timeout_s
        self.log = logger or logging.getLogger("pilot_hw")
        self._lock = threading.RLock()  # one pigpio conversation at a time, connection changes
        self.devices: dict[str, Device] = {
            spec.name: build_device(spec, self._emit) for spec in config.devices}
        self.channels: dict[str, ChannelBinding] = {}
        for spec in config.devices:
            if not spec.channel:
                continue
            for target in self.devices[spec.name].channel_targets():
                low, high = spec.channel_range
                binding = ChannelBinding(self.devices[spec.name], target, low, high)
                binding.value = binding.safe_value()
                self.channels[target.channel] = binding
        self._last_command_s: dict[str, float] = {}
        self.pi: pigpio.pi | None = None
        self._deadman: DeadmanSwitch | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._status = HardwareStatus()

    # ------------------------------------------------------------ lifecycle
    def start(self) -> bool:
        """Connect (once) and start supervising; returns whether the daemon answered.

        Without a daemon the supervisor keeps trying, from reconnect_period_s apart doubling
        up to reconnect_max_period_s, one log line per try; until then nothing is driven
        and the devices are attached in their safe state when it answers. Raises
        DeviceSetupError when the daemon answers but a device cannot be set up.
        """
        atexit.register(self.close)
        connected = self._attempt()
        self._thread = threading.Thread(target=self._supervise, name="pilot_hw-supervisor",
                                        daemon=True)
        self._thread.start()
        return connected

    def __enter__(self) -> PilotHardware:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self.pi is not None

    def close(self) -> list[Exception]:
        """Drive every output to its safe state, remove the dead-man script, disconnect."""
        if self._closed:
            return []
        self._closed = True
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        errors: list[Exception] = []
        with self._lock:
            for device in self.devices.values():
                errors += device.close()
            if self._deadman is not None:
                try:
                    self._deadman.disarm()
                except Exception as exc:
                    errors.append(exc)
                self._deadman = None
            if self.pi is not None:
                _close_client(self.pi)
                self.pi = None
            self._status.connected = False
        atexit.unregister(self.close)
        for exc in errors:
            self.log.warning(f"while making outputs safe: {exc}")
        return errors

    def _prepare(self) -> bool:
        pi = _open_client(self.host, self.port, self.io_timeout_s)
        if pi is None:
            return False
        try:
            backend = PigpioBackend(pi)
            for device in self.devices.values():
                device.prepare(backend)
        except LINK_ERRORS:
            return False
        finally:
            _close_client(pi)
        return True

    def _connect(self) -> bool:
        if not self._prepare():
            self._status.last_error = f"no pigpio daemon at {self.host}:{self.port}"
            return False
        pi = _open_client(self.host, self.port, self.io_timeout_s)
        if pi is None:
            self._status.last_error = f"no pigpio daemon at {self.host}:{self.port}"
            return False
        with self._lock:
            try:
                backend = PigpioBackend(pi)
                for device in self.devices.values():
                    device.attach(backend)
                deadman = None
                safe_ops = [op for d in self.devices.values() for op in d.safe_ops()]
                if self.deadman_timeout_ms > 0 and safe_ops:
                    stale = remove_stale_scripts(pi)
                    if stale:
                        self.log.warning(f"removed {stale} fired dead-man script(s) of an "
                                         "earlier pilot")
                    deadman = DeadmanSwitch(pi, safe_ops, self.deadman_timeout_ms)
                    deadman.arm()
            except LINK_ERRORS as exc:
                self._detach_all()
                _close_client(pi)
                self._status.last_error = f"link lost during setup: {exc}"
                return False
            except (PinError, pigpio.error, RuntimeError) as exc:
                self._detach_all()
                _close_client(pi)
                self._status.last_error = str(exc)
                raise DeviceSetupError(str(exc)) from exc
            self.pi = pi
            self._deadman = deadman
            self._reset_channels()
            self._status.connected = True
            self._status.connects += 1
            self._status.last_error = ""
        self.log.info(f"connected to pigpio at {self.host}:{self.port}; "
                      f"{len(self.devices)} device(s) in their safe state")
        return True

    def _attempt(self) -> bool:
        """One connection attempt; a failure is logged with when the next one comes (a
        device that fails to set up raises DeviceSetupError, and is tried again as late)."""
        self._last_try_s = time.monotonic()
        try:
            connected = self._connect()
        except DeviceSetupError:
            self._tries += 1
            raise
        if connected:
            if self._tries:
                self.log.info(f"pigpio at {self.host}:{self.port} answered after "
                              f"{self._tries} failed tr{'y' if self._tries == 1 else 'ies'}")
            self._tries = 0
            return True
        self._tries += 1
        self.log.warning(f"{self._status.last_error} (try {self._tries}); outputs undriven, "
                         f"next try in {self._retry_delay_s():.3g} s")
        return False

    def _retry_delay_s(self) -> float:
        """reconnect_period_s, doubling with each failed try, at most reconnect_max_period_s."""
        return min(self.reconnect_period_s * 2 ** min(max(self._tries - 1, 0), 30),
                   max(self.reconnect_max_period_s, self.reconnect_period_s))

    def set_deadman_timeout_ms(self, timeout_ms: int) -> None:
        """Re-arm the dead-man script with a new timeout (0: none) on the live link."""
        with self._lock:
            previous_ms, self.deadman_timeout_ms = self.deadman_timeout_ms, timeout_ms
            if self.pi is None:
                return  # the next connection arms it
            try:
                if self._deadman is not None:
                    self._deadman.disarm()
                    self._deadman = None
                safe_ops = [op for d in self.devices.values() for op in d.safe_ops()]
                if timeout_ms > 0 and safe_ops:
                    deadman = DeadmanSwitch(self.pi, safe_ops, timeout_ms)
                    deadman.arm()
                    self._deadman = deadman
            except LINK_ERRORS as exc:
                self.deadman_timeout_ms = previous_ms  # the reconnection arms the old one
                self._lost(exc)
                raise ConnectionError(f"lost pigpio at {self.host}:{self.port}") from exc

    def _detach_all(self) -> None:
        for device in self.devices.values():
            device.detach()

    def _lost(self, exc: BaseException) -> None:
        """The link broke: forget the connection; the supervisor reconnects."""
        with self._lock:
            pi, self.pi = self.pi, None
            if pi is None:
                return
            pi.connected = False
            self._deadman = None
            self._detach_all()
            _close_client(pi)
            # the daemon's dead-man script (or its restart) leaves the outputs safe
            for device in self.devices.values():
                device.mark_safe()
            self._reset_channels()
            self._status.connected = False
            self._tries = 0
            self._last_try_s = time.monotonic()  # the first try comes reconnect_period_s later
            self._status.link_losses += 1
            self._status.last_error = f"lost pigpio link: {exc!r}"
        self.log.error(f"lost the pigpio daemon at {self.host}:{self.port} ({exc!r}); "
                       "its dead-man script makes the outputs safe; reconnecting")

    def _supervise(self) -> None:
        while not self._stop.wait(self.heartbeat_period_s):
            if self.pi is None:
                if time.monotonic() - self._last_try_s < self._retry_delay_s():
                    continue
                try:
                    self._attempt()
                except DeviceSetupError as exc:
                    self.log.error(f"reconnected but a device failed: {exc}")
                continue
            try:
                with self._lock:
                    if self.pi is None or self._stop.is_set():
                        continue
                    if self._deadman is not None and not self._deadman.beat():
                        self._status.deadman_trips += 1
                        self.log.error("the dead-man script fired (heartbeats were late): "
                                       "outputs are in their safe state; re-arming")
                        for device in self.devices.values():
                            device.mark_safe()
                        self._reset_channels()
                        self._deadman.arm()
                    self._expire_commands()
            except LINK_ERRORS as exc:
                self._lost(exc)
            except Exception as exc:  # the supervisor must outlive any one bad round
                self._status.last_error = repr(exc)
                self.log.error(f"supervisor: {exc!r}")

    def command_timeout_of(self, device: Device) -> float:
        """Seconds without a command before `device` goes safe (0: never)."""
        own = device.spec.command_timeout_s
        return self.command_timeout_s if own is None else own

    def _expire_commands(self) -> None:
        """Every output not at its safe value whose channels got no command for its command
        timeout goes to its safe state."""
        now = time.monotonic()
        for device in self.devices.values():
            bindings = [b for b in self.channels.values() if b.device is device]
            timeout_s = self.command_timeout_of(device)
            if not bindings or timeout_s <= 0:
                continue
            if all(b.value == b.safe_value() for b in bindings):
                continue
            if now - self._last_command_s.get(device.name, 0.0) <= timeout_s:
                continue
            errors = device.safe()
            for binding in bindings:
                binding.value = binding.safe_value()
            self._status.command_timeouts += 1
            self.log.warning(f"{device.kind} '{device.name}': no command for {timeout_s} s, "
                             "now in its safe state")
            if errors:
                raise errors[0]

    def _reset_channels(self) -> None:
        for binding in self.channels.values():
            binding.value = binding.safe_value()

    def _emit(self, event: InputEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    # ------------------------------------------------------------- commands
    def _io(self, fn: Callable, *args: object) -> object:
        with self._lock:
            if self.pi is None:
                raise ConnectionError(f"not connected to pigpio at {self.host}:{self.port}")
            try:
                return fn(*args)
            except LINK_ERRORS as exc:
                self._lost(exc)
                raise ConnectionError(f"lost pigpio at {self.host}:{self.port}") from exc

    def device(self, name: str) -> Device:
        try:
            return self.devices[name]
        except KeyError:
            raise ValueError(f"no device named '{name}'; devices: "
                             f"{', '.join(self.devices) or '(none)'}") from None

    def run(self, fn: Callable, *args: object) -> object:
        """Call a driver method under the connection lock, turning a broken link into
        ConnectionError (and a reconnect)."""
        return self._io(fn, *args)

    def apply_channel_deltas(self, deltas: Mapping[str, float]) -> list[str]:
        """Add each channel's delta to its value (clamped to its range) and drive the device.

        Returns the channels this pilot does not drive. A command keeps its devices from
        their command timeout even when its delta is zero ("hold").
        """
        unknown = []
        now = time.monotonic()
        with self._lock:
            for channel, delta in deltas.items():
                binding = self.channels.get(channel)
                if binding is None:
                    unknown.append(channel)
                    continue
                self._last_command_s[binding.device.name] = now
                value = float(np.clip(binding.value + delta, binding.low, binding.high))
                if value != binding.value:
                    self._io(binding.target.apply, binding.normalised(value))
                    binding.value = value
        return unknown

    def set_channel(self, channel: str, value: float) -> None:
        """Set a channel to an absolute value (in channel units)."""
        binding = self.channels[channel]
        with self._lock:
            delta = value - binding.value
        self.apply_channel_deltas({channel: delta})

    def timed_pulse(self, name: str, duration_us: int, level: int = 1) -> int:
        """A us-exact pulse on a solenoid; returns the tick it was queued at."""
        device = self.device(name)
        if not isinstance(device, Solenoid):
            raise ValueError(f"device '{name}' is a {device.kind}; timed pulses need a solenoid")
        return self._io(device.pulse, duration_us, level)  # type: ignore[return-value]

    def read_imu(self, name: str) -> ImuSample:
        device = self.device(name)
        if not isinstance(device, Mpu6050):
            raise ValueError(f"device '{name}' is a {device.kind}, not an IMU")
        return self._io(device.read)  # type: ignore[return-value]

    def status(self) -> HardwareStatus:
        with self._lock:
            s = HardwareStatus(**{k: getattr(self._status, k) for k in
                                  ("connected", "connects", "link_losses", "deadman_trips",
                                   "command_timeouts", "last_error")})
            for name, binding in self.channels.items():
                s.devices[f"channel {name}"] = f"{binding.value:.4g}"
            for name, device in self.devices.items():
                s.devices[name] = (f"{device.kind} "
                                   f"{'attached' if device.backend else 'detached'}")
        return s
