"""A virtual Raspberry Pi: a daemon speaking the pigpio socket protocol on loopback.

The unmodified `pigpio` client connects to it (command socket + notification
socket). It keeps pin modes, pulls, levels, soft/hardware PWM, servo pulses,
watchdogs, glitch filters, waves (with microsecond-exact output history),
scripts, and a simulated MPU-6050 on I2C bus 1. Tests and the simulator drive
inputs with `set_input()` and read outputs with `level()`, `pin_state()` and
`history()`.

    vpi = VirtualPi("127.0.0.1", 0).start()
    pi = pigpio.pi("127.0.0.1", vpi.port)
    vpi.set_input(17, 1)

Run as a process: `python -m pilot_hw.virtual_pi --host 127.0.0.1 --port 8888`.
Another process drives it through the daemon's custom-command hook:
`pi.custom_1(CF1_SET_INPUT, pin, [level])`, `pi.custom_1(CF1_CLEAR_INPUT, pin)`, and
`pi.custom_1(CF1_INPUT_BURST, pin, struct.pack("<II", edges, spacing_us))` (toggles) and
`pi.custom_1(CF1_SET_IMU, 0x68, struct.pack("<7f", ax, ay, az, gx, gy, gz, temp_c))` (bus 1).

Ticks are microseconds of the host's monotonic clock since start (plus an
optional offset), wrapping at 2^32. Wave and trigger edges are recorded at the
tick the pigpio DMA engine would produce them (start tick + pulse delays), so a
wave's pulse lengths in `history()` are exact; the visible level follows in
(approximate) real time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import shutil
import struct
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from node_kit.checks import is_loopback_host
from node_kit.loop_thread import LoopThread
from node_kit.signals import ignore_signals, stop_on_signals
from pilot_hw import pigpio_wire as w
from pilot_hw.pigpio_script import ScriptError, ScriptState, parse_script, start_script
from pilot_hw.pigpio_wire import Cmd, Err
from pilot_hw.sim_mpu6050 import Mpu6050Model

GPIO_COUNT = 54
USER_GPIO_COUNT = 32
HARDWARE_REVISION = 0xA02082  # a Raspberry Pi 3 Model B
PIGPIO_VERSION = 79
MAX_WAVES = 250
MAX_WAVE_PULSES = 12000
MAX_SCRIPTS = 32
MAX_NOTIFY_HANDLES = 32
MAX_I2C_HANDLES = 64
HISTORY_LENGTH = 200_000
MAX_EXTENSION = 1 << 16  # pigpiod drops a connection announcing a longer extension
HW_PWM_RANGE = 1_000_000
HW_PWM_MAX_FREQUENCY_HZ = 125_000_000
PLLD_CLOCK_HZ = 500_000_000  # the hardware PWM clock of the Pi 3 this virtual Pi claims to be
KEEPALIVE_S = 60.0  # a notification handle with nothing to report gets a keep-alive this often

CF1_SET_INPUT = 1  # custom_1(CF1_SET_INPUT, pin, [level])
CF1_CLEAR_INPUT = 2  # custom_1(CF1_CLEAR_INPUT, pin)
CF1_INPUT_BURST = 3  # custom_1(CF1_INPUT_BURST, pin, struct.pack("<II", edges, spacing_us))
CF1_SET_IMU = 4  # custom_1(CF1_SET_IMU, address, struct.pack("<7f", ax, ay, az, gx, gy, gz, temp_c))



@dataclass(frozen=True)
class PinState:
    """What the virtual Pi holds for one GPIO."""

    mode: int = w.MODE_INPUT
    pull: int = w.PUD_OFF
    output_level: int = 0
    external_level: int | None = None
    pwm_duty: int = 0
    pwm_range: int = 255
    pwm_frequency_hz: int = 800
    servo_pulse_us: int = 0
    hw_pwm_frequency_hz: int = 0
    hw_pwm_duty: int = 0
    glitch_us: int = 0
    watchdog_ms: int = 0
    function: str = ""  # what pigpiod last made of it: "", "write", "pwm", "servo", "hw_pwm"


@dataclass(frozen=True)
class PinEvent:
    """A change on a GPIO: kind is 'level', 'pwm', 'servo', 'hw_pwm' or 'mode'."""

    tick_us: int
    pin: int
    kind: str
    value: int
    source: str


@dataclass
class _NotifyHandle:
    """A notification handle: in-band on a client socket (NOIB, what pigpio's callbacks use)
    or a FIFO (NO, `notify_open`), as pigpiod keeps them."""

    session: _Session | None = None
    fifo_fd: int | None = None
    fifo_path: str = ""
    running: bool = False  # NB makes it run; NP pauses it
    bits: int = 0
    event_bits: int = 0
    seq: int = 0
    last_report_s: float = 0.0


@dataclass
class _Pending:
    level: int
    tick: int
    timer: asyncio.TimerHandle | None


class _Session(asyncio.Protocol):
    """One client socket: parses 16-byte requests (+ extensions) and answers in order.

    As in pigpiod, a nonzero p3 is the length of an extension that follows, whatever the
    command (so an unknown command's data is skipped and the stream stays in sync), and an
    extension of MAX_EXTENSION bytes or more drops the connection.
    """

    def __init__(self, vpi: VirtualPi) -> None:
        self.vpi = vpi
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.notify_handle: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.vpi._allowed(transport.get_extra_info("peername")):
            self.vpi.refused_clients += 1
            transport.abort()  # as pigpiod -n: a client not on the list gets no session
            return
        self.vpi._sessions.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.vpi._sessions.discard(self)
        self.vpi._close_orphaned_notifications(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out = bytearray()
        while len(self.buffer) >= 16:
            cmd, p1, p2, p3 = w.REQUEST.unpack_from(self.buffer)
            if p3 >= MAX_EXTENSION:
                self.buffer.clear()
                if self.transport is not None:
                    self.transport.abort()
                self.vpi._close_orphaned_notifications(self)
                return
            if len(self.buffer) < 16 + p3:
                break
            ext = bytes(self.buffer[16:16 + p3])
            del self.buffer[:16 + p3]
            result = self.vpi._execute(self, cmd, p1, p2, p3, ext)
            payload = b""
            if isinstance(result, tuple):
                result, payload = result
            out += struct.pack("<IIII", cmd, p1, p2, result & w.TICK_MASK) + payload
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(bytes(out))


class VirtualPi:
    """A pigpio daemon look-alike on `host:port` (port 0: pick a free one)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8888, *,
                 tick_offset_us: int = 0,
                 imu_addresses: Iterable[tuple[int, int]] = ((1, 0x68),),
                 notify_dir: str | None = None, keepalive_s: float = KEEPALIVE_S,
                 allow: Iterable[str] = ()) -> None:
        """`notify_dir`: where `notify_open` makes its FIFOs (pigpiod: /dev; default: a
        temporary folder removed at stop). `keepalive_s`: pigpiod's 60 s keep-alive period.
        `allow`: client addresses or networks that may connect (pigpiod's -n); empty: any
        client that reaches `host` (loopback by default)."""
        self.host = host
        self.allow = [ipaddress.ip_network(a, strict=False) for a in allow]
        self.refused_clients = 0
        self._notify_dir_given = notify_dir
        self.notify_dir = notify_dir or ""
        self.keepalive_s = keepalive_s
        self.notify_reports_dropped = 0
        self._requested_port = port
        self._port: int | None = None
        self._tick_offset_us = tick_offset_us
        self._boot_us = time.monotonic_ns() // 1000
        self._loop: asyncio.AbstractEventLoop | None = None
        self._host: LoopThread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._sessions: set[_Session] = set()
        self._pins = [PinState() for _ in range(GPIO_COUNT)]
        self._levels = 0  # raw levels of gpios 0..31
        self._reported = 0  # levels as notifications see them (after glitch filters)
        self._levels_bank2 = 0
        self._pending: dict[int, _Pending] = {}
        self._watchdog_timers: dict[int, asyncio.TimerHandle] = {}
        self._notify: dict[int, _NotifyHandle] = {}
        self._history: deque[PinEvent] = deque(maxlen=HISTORY_LENGTH)
        self._wave_pending: list[tuple[int, int, int]] = []
        self._waves: dict[int, list[tuple[int, int, int]]] = {}
        self._wave_task: asyncio.Task | None = None
        self._keepalive_task: asyncio.Task | None = None
        self._scripts: dict[int, ScriptState] = {}
        self._i2c_devices: dict[tuple[int, int], Mpu6050Model] = {
            (bus, addr): Mpu6050Model() for bus, addr in imu_addresses}
        self._i2c_handles: dict[int, tuple[int, int]] = {}
        self._listeners: list[Callable[[PinEvent], None]] = []
        self._handlers: dict[int, Callable] = self._build_handlers()

    # ---------------------------------------------------------------- lifecycle
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("VirtualPi not started")
        return self._port

    def start(self) -> VirtualPi:
        """Start serving in a background thread; returns self once listening (the error
        of a failed start, such as a port in use, is raised here)."""
        if not self._notify_dir_given:
            self.notify_dir = tempfile.mkdtemp(prefix="virtual_pi-")

        async def serve() -> None:
            self._server = await asyncio.get_running_loop().create_server(
                lambda: _Session(self), self.host, self._requested_port)
            self._port = self._server.sockets[0].getsockname()[1]
            self._keepalive_task = asyncio.get_running_loop().create_task(self._keepalive())

        self._host = LoopThread(f"virtual_pi:{self._requested_port}")
        self._host.start(serve, timeout_s=10)
        self._loop = self._host.loop
        return self

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.abort()
        for handle, entry in list(self._notify.items()):
            del self._notify[handle]
            self._release_notify(entry)
        if not self._notify_dir_given and self.notify_dir:
            shutil.rmtree(self.notify_dir, ignore_errors=True)
        for task in [self._wave_task, self._keepalive_task,
                     *(s.task for s in self._scripts.values())]:
            if task is not None and not task.done():
                task.cancel()
        await asyncio.sleep(0)
        if self._server is not None:
            await self._server.wait_closed()

    def stop(self) -> None:
        """Close every connection and the listening socket; state is dropped (like a restart)."""
        if self._host is None:
            return
        self._host.stop(self._shutdown, timeout_s=10)
        self._host = None

    def __enter__(self) -> VirtualPi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, fn: Callable, *args: object) -> object:
        """Run fn on the daemon's loop (where all state lives) and return its result."""
        if self._host is None or not self._host.running:
            raise RuntimeError("VirtualPi not running")
        return self._host.run(fn, *args, timeout_s=10)

    # ---------------------------------------------------------- public test API
    def tick(self) -> int:
        """Current tick, in microseconds, wrapping at 2^32."""
        return (time.monotonic_ns() // 1000 - self._boot_us + self._tick_offset_us) & w.TICK_MASK

    def set_input(self, pin: int, level: int, tick_us: int | None = None) -> None:
        """Drive input `pin` externally to `level` (as a button or sensor would), at `tick_us`."""
        self.set_inputs([(pin, level, tick_us)])

    def set_inputs(self, changes: Iterable[tuple[int, int, int | None]]) -> None:
        """Apply several (pin, level, tick_us or None) input changes in order, atomically."""
        changes = list(changes)
        for pin, level, _ in changes:
            if not 0 <= pin < USER_GPIO_COUNT or level not in (0, 1):
                raise ValueError(f"bad input change pin={pin} level={level}")
        self._call(self._apply_inputs, changes)

    def clear_input(self, pin: int) -> None:
        """Stop driving `pin` externally: it floats to its pull."""
        self._call(self._apply_external, pin, None, None)

    def level(self, pin: int) -> int:
        return self._call(self._level_of, pin)  # type: ignore[return-value]

    def pin_state(self, pin: int) -> PinState:
        return self._call(lambda: self._pins[pin])  # type: ignore[return-value]

    def history(self, pin: int | None = None, kind: str | None = None) -> list[PinEvent]:
        """Recorded changes, oldest first, optionally for one pin and/or one kind."""
        events = self._call(lambda: list(self._history))
        return [e for e in events  # type: ignore[union-attr]
                if (pin is None or e.pin == pin) and (kind is None or e.kind == kind)]

    def clear_history(self) -> None:
        self._call(self._history.clear)

    def add_listener(self, listener: Callable[[PinEvent], None]) -> None:
        """Call `listener(event)` for every recorded change, on the daemon's thread (so it
        must return quickly), e.g. for a simulator that moves a gripper with its servo."""
        self._listeners.append(listener)

    def set_imu_motion(self, accel_mps2: tuple[float, float, float],
                       gyro_rad_s: tuple[float, float, float], temperature_c: float = 25.0,
                       bus: int = 1, address: int = 0x68) -> None:
        """Set what the simulated IMU at (bus, address) senses."""
        self._call(self._i2c_devices[(bus, address)].set_motion, accel_mps2, gyro_rad_s,
                   temperature_c)

    def imu(self, bus: int = 1, address: int = 0x68) -> Mpu6050Model:
        return self._i2c_devices[(bus, address)]

    def script_statuses(self) -> dict[int, int]:
        return self._call(lambda: {i: s.status for i, s in self._scripts.items()})  # type: ignore

    def _allowed(self, peer: object) -> bool:
        if not self.allow:
            return True
        try:
            address = ipaddress.ip_address(peer[0])  # type: ignore[index]
        except (TypeError, ValueError, IndexError):
            return False
        return any(address in network for network in self.allow)

    def notify_path(self, handle: int) -> str:
        """The FIFO of a `notify_open` handle (pigpiod's /dev/pigpio<handle>)."""
        return os.path.join(self.notify_dir, f"pigpio{handle}")

    def client_count(self) -> int:
        return self._call(lambda: len(self._sessions))  # type: ignore[return-value]

    def drop_clients(self) -> None:
        """Cut every client connection (a network loss); the daemon's state and scripts stay."""
        def drop() -> None:
            for session in list(self._sessions):
                if session.transport is not None:
                    session.transport.abort()
        self._call(drop)

    # ------------------------------------------------------------- pin model
    def _level_of(self, pin: int) -> int:
        p = self._pins[pin]
        if p.mode == w.MODE_INPUT:
            if p.external_level is not None:
                return p.external_level
            return 1 if p.pull == w.PUD_UP else 0
        return p.output_level

    def _record(self, tick: int, pin: int, kind: str, value: int, source: str) -> None:
        event = PinEvent(tick, pin, kind, value, source)
        self._history.append(event)
        for listener in self._listeners:
            listener(event)

    def _set_pin(self, pin: int, **changes: object) -> None:
        self._pins[pin] = replace(self._pins[pin], **changes)

    def _refresh(self, pin: int, tick: int, source: str) -> None:
        """Recompute pin's level after a change; record and report it if it changed."""
        level = self._level_of(pin)
        if pin >= USER_GPIO_COUNT:
            bit = 1 << (pin - USER_GPIO_COUNT)
            self._levels_bank2 = (self._levels_bank2 | bit) if level else (self._levels_bank2 & ~bit)
            return
        bit = 1 << pin
        if bool(self._levels & bit) == bool(level):
            return
        self._levels ^= bit
        self._record(tick, pin, "level", level, source)
        self._sample(pin, level, tick)

    def _sample(self, pin: int, level: int, tick: int) -> None:
        """Pass a raw level change through the pin's glitch filter to the notifications."""
        steady = self._pins[pin].glitch_us
        if steady == 0:
            self._report_edge(pin, level, tick)
            return
        pending = self._pending.pop(pin, None)
        if pending is not None:
            if pending.timer is not None:
                pending.timer.cancel()
            if (tick - pending.tick) & w.TICK_MASK >= steady:
                self._report_edge(pin, pending.level, (pending.tick + steady) & w.TICK_MASK)
        if bool(self._reported & (1 << pin)) == bool(level):
            return  # a glitch came back before it was steady
        delay_us = ((tick + steady) - self.tick()) & w.TICK_MASK
        delay_s = delay_us / 1e6 if delay_us < (1 << 31) else 0.0
        entry = _Pending(level, tick, None)
        entry.timer = self._loop.call_later(delay_s, self._filter_expired, pin, entry)
        self._pending[pin] = entry

    def _filter_expired(self, pin: int, entry: _Pending) -> None:
        if self._pending.get(pin) is entry:
            del self._pending[pin]
            self._report_edge(pin, entry.level,
                              (entry.tick + self._pins[pin].glitch_us) & w.TICK_MASK)

    def _report_edge(self, pin: int, level: int, tick: int) -> None:
        bit = 1 << pin
        if bool(self._reported & bit) == bool(level):
            return
        self._reported ^= bit
        self._send_report(bit, 0, tick)
        if self._pins[pin].watchdog_ms:
            self._arm_watchdog(pin)

    def _send_report(self, bit: int, flags: int, tick: int, event: bool = False) -> None:
        """One report to every handle that wants it: level changes and watchdog timeouts to
        running handles watching the gpio, events to handles with the event selected."""
        for handle, entry in list(self._notify.items()):
            if event:
                wanted = entry.event_bits & bit
            else:
                wanted = entry.running and entry.bits & bit
            if wanted:
                self._emit(handle, entry, flags, tick)

    def _emit(self, handle: int, entry: _NotifyHandle, flags: int, tick: int) -> None:
        report = w.REPORT.pack(entry.seq & 0xFFFF, flags, tick & w.TICK_MASK, self._reported)
        entry.seq += 1
        entry.last_report_s = time.monotonic()
        if entry.session is not None:
            transport = entry.session.transport
            if transport is not None and not transport.is_closing():
                transport.write(report)
            return
        if entry.fifo_fd is None:
            return
        try:
            os.write(entry.fifo_fd, report)
        except BlockingIOError:
            self.notify_reports_dropped += 1  # nobody reads the FIFO: pigpiod drops it too
        except OSError:
            self._notify.pop(handle, None)
            self._release_notify(entry)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.keepalive_s / 4))
            now = time.monotonic()
            for handle, entry in list(self._notify.items()):
                if now - entry.last_report_s >= self.keepalive_s:
                    self._emit(handle, entry, w.NTFY_FLAGS_ALIVE, self.tick())

    def _arm_watchdog(self, pin: int) -> None:
        timer = self._watchdog_timers.pop(pin, None)
        if timer is not None:
            timer.cancel()
        timeout_ms = self._pins[pin].watchdog_ms
        if timeout_ms:
            self._watchdog_timers[pin] = self._loop.call_later(
                timeout_ms / 1000.0, self._watchdog_fired, pin)

    def _watchdog_fired(self, pin: int) -> None:
        self._watchdog_timers.pop(pin, None)
        self._send_report(1 << pin, w.NTFY_FLAGS_WDOG | pin, self.tick())
        self._arm_watchdog(pin)

    def _apply_inputs(self, changes: list[tuple[int, int, int | None]]) -> None:
        for pin, level, tick in changes:
            self._apply_external(pin, level, tick)

    def _apply_external(self, pin: int, level: int | None, tick: int | None) -> None:
        self._set_pin(pin, external_level=level)
        self._refresh(pin, self.tick() if tick is None else tick & w.TICK_MASK, "input")

    def _drive(self, pin: int, level: int, tick: int, source: str) -> None:
        """Set an output latch (a write, wave, trigger or bank set/clear)."""
        self._set_pin(pin, output_level=level)
        self._refresh(pin, tick, source)

    def _switch_function_off(self, pin: int, tick: int) -> None:
        """Stop what the pin did (pigpiod's switchFunctionOff): soft PWM, servo pulses or
        hardware PWM end; the pin's function becomes undefined."""
        p = self._pins[pin]
        if p.function == "pwm" and p.pwm_duty:
            self._record(tick, pin, "pwm", 0, "switch")
        if p.function == "servo" and p.servo_pulse_us:
            self._record(tick, pin, "servo", 0, "switch")
        if p.function == "hw_pwm" and p.hw_pwm_frequency_hz:
            self._record(tick, pin, "hw_pwm", 0, "switch")
        self._set_pin(pin, pwm_duty=0, servo_pulse_us=0, hw_pwm_frequency_hz=0, hw_pwm_duty=0,
                      function="")

    def _take_function(self, pin: int, function: str, tick: int) -> bool:
        """Make `function` the pin's function; returns whether it was something else."""
        if self._pins[pin].function == function:
            return False
        self._switch_function_off(pin, tick)
        self._set_pin(pin, function=function)
        return True

    def _set_mode(self, pin: int, mode: int, tick: int) -> None:
        if self._pins[pin].mode != mode:
            self._set_pin(pin, mode=mode)
            self._record(tick, pin, "mode", mode, "mode")
            self._refresh(pin, tick, "mode")

    # ------------------------------------------------------------- commands
    def _execute(self, session: _Session, cmd: int, p1: int, p2: int, p3: int,
                 ext: bytes) -> object:
        handler = self._handlers.get(cmd)
        if handler is None:
            return Err.UNKNOWN_COMMAND
        try:
            return handler(session, p1, p2, ext)
        except struct.error:
            return Err.BAD_PARAM

    def _build_handlers(self) -> dict[int, Callable]:
        return {
            Cmd.MODES: self._cmd_modes, Cmd.MODEG: self._cmd_modeg, Cmd.PUD: self._cmd_pud,
            Cmd.READ: self._cmd_read, Cmd.WRITE: self._cmd_write, Cmd.PWM: self._cmd_pwm,
            Cmd.PRS: self._cmd_prs, Cmd.PFS: self._cmd_pfs, Cmd.SERVO: self._cmd_servo,
            Cmd.WDOG: self._cmd_wdog, Cmd.BR1: lambda s, a, b, e: self._levels,
            Cmd.BR2: lambda s, a, b, e: self._levels_bank2,
            Cmd.BC1: self._cmd_bank_clear, Cmd.BS1: self._cmd_bank_set,
            Cmd.BC2: lambda s, a, b, e: 0, Cmd.BS2: lambda s, a, b, e: 0,
            Cmd.TICK: lambda s, a, b, e: self.tick(),
            Cmd.HWVER: lambda s, a, b, e: HARDWARE_REVISION,
            Cmd.PIGPV: lambda s, a, b, e: PIGPIO_VERSION,
            Cmd.NO: self._cmd_no,
            Cmd.NOIB: self._cmd_noib, Cmd.NB: self._cmd_nb, Cmd.NP: self._cmd_np,
            Cmd.NC: self._cmd_nc, Cmd.EVM: self._cmd_evm, Cmd.EVT: self._cmd_evt,
            Cmd.PRG: self._cmd_prg, Cmd.PFG: self._cmd_pfg, Cmd.PRRG: self._cmd_prrg,
            Cmd.GDC: self._cmd_gdc, Cmd.GPW: self._cmd_gpw, Cmd.HP: self._cmd_hp,
            Cmd.FG: self._cmd_fg, Cmd.FN: self._cmd_fn, Cmd.TRIG: self._cmd_trig,
            Cmd.WVCLR: self._cmd_wvclr, Cmd.WVNEW: self._cmd_wvnew, Cmd.WVAG: self._cmd_wvag,
            Cmd.WVCRE: self._cmd_wvcre, Cmd.WVDEL: self._cmd_wvdel,
            Cmd.WVTX: lambda s, a, b, e: self._wave_send(a, repeat=False),
            Cmd.WVTXR: lambda s, a, b, e: self._wave_send(a, repeat=True),
            Cmd.WVTXM: lambda s, a, b, e: self._wave_send(a, repeat=b in (1, 3)),
            Cmd.WVBSY: lambda s, a, b, e: int(self._wave_busy()),
            Cmd.WVHLT: lambda s, a, b, e: self._wave_halt(),
            Cmd.WVSM: self._cmd_wvsm, Cmd.WVSP: self._cmd_wvsp, Cmd.WVSC: self._cmd_wvsc,
            Cmd.PROC: self._cmd_proc, Cmd.PROCR: self._cmd_procr, Cmd.PROCU: self._cmd_procu,
            Cmd.PROCS: self._cmd_procs, Cmd.PROCD: self._cmd_procd, Cmd.PROCP: self._cmd_procp,
            Cmd.I2CO: self._cmd_i2co, Cmd.I2CC: self._cmd_i2cc,
            Cmd.I2CRB: self._cmd_i2crb, Cmd.I2CWB: self._cmd_i2cwb,
            Cmd.I2CRW: self._cmd_i2crw, Cmd.I2CWW: self._cmd_i2cww,
            Cmd.I2CRI: self._cmd_i2cri, Cmd.I2CWI: self._cmd_i2cwi,
            Cmd.I2CRK: self._cmd_i2crk, Cmd.I2CWK: self._cmd_i2cwk,
            Cmd.I2CRD: self._cmd_i2crd, Cmd.I2CWD: self._cmd_i2cwd,
            Cmd.I2CRS: self._cmd_i2crs, Cmd.I2CWS: self._cmd_i2cws,
            Cmd.CF1: self._cmd_cf1,
        }

    @staticmethod
    def _bad_gpio(pin: int) -> bool:
        return not 0 <= pin < GPIO_COUNT

    @staticmethod
    def _bad_user_gpio(pin: int) -> bool:
        return not 0 <= pin < USER_GPIO_COUNT

    def _cmd_modes(self, s: _Session, pin: int, mode: int, ext: bytes) -> int:
        if self._bad_gpio(pin):
            return Err.BAD_GPIO
        if mode > 7:
            return Err.BAD_MODE
        tick = self.tick()
        if self._pins[pin].mode != mode:
            self._switch_function_off(pin, tick)
        self._set_mode(pin, mode, tick)
        return 0

    def _cmd_modeg(self, s: _Session, pin: int, _: int, ext: bytes) -> int:
        return Err.BAD_GPIO if self._bad_gpio(pin) else self._pins[pin].mode

    def _cmd_pud(self, s: _Session, pin: int, pud: int, ext: bytes) -> int:
        if self._bad_gpio(pin):
            return Err.BAD_GPIO
        if pud > 2:
            return Err.BAD_PUD
        self._set_pin(pin, pull=pud)
        self._refresh(pin, self.tick(), "pull")
        return 0

    def _cmd_read(self, s: _Session, pin: int, _: int, ext: bytes) -> int:
        return Err.BAD_GPIO if self._bad_gpio(pin) else self._level_of(pin)

    def _cmd_write(self, s: _Session, pin: int, level: int, ext: bytes) -> int:
        if self._bad_gpio(pin):
            return Err.BAD_GPIO
        if level > 1:
            return Err.BAD_LEVEL
        tick = self.tick()
        self._take_function(pin, "write", tick)
        self._set_mode(pin, w.MODE_OUTPUT, tick)
        self._drive(pin, level, tick, "write")
        return 0

    def _cmd_pwm(self, s: _Session, pin: int, duty: int, ext: bytes) -> int:
        if self._bad_user_gpio(pin):
            return Err.BAD_USER_GPIO
        if duty > self._pins[pin].pwm_range:
            return Err.BAD_DUTYCYCLE
        tick = self.tick()
        self._take_function(pin, "pwm", tick)
        self._set_mode(pin, w.MODE_OUTPUT, tick)
        self._set_pin(pin, pwm_duty=duty)
        self._record(tick, pin, "pwm", duty, "pwm")
        # a fully-on or fully-off PWM is a steady level
        if duty == 0 or duty == self._pins[pin].pwm_range:
            self._drive(pin, int(duty > 0), tick, "pwm")
        return 0

    def _cmd_prs(self, s: _Session, pin: int, range_: int, ext: bytes) -> int:
        if self._bad_user_gpio(pin):
            return Err.BAD_USER_GPIO
        if not 25 <= range_ <= 40000:
            return Err.BAD_DUTYRANGE
        p = self._pins[pin]
        if p.function == "pwm" and p.pwm_duty:  # the duty keeps its fraction of the range
            duty = range_ * p.pwm_duty // p.pwm_range
            self._set_pin(pin, pwm_duty=duty)
            self._record(self.tick(), pin, "pwm", duty, "range")
        self._set_pin(pin, pwm_range=range_)
        return self._real_range(pin)

    def _real_range(self, pin: int) -> int:
        return 1_000_000 // w.PWM_SAMPLE_US // self._pins[pin].pwm_frequency_hz

    def _cmd_pfs(self, s: _Session, pin: int, frequency: int, ext: bytes) -> int:
        if self._bad_user_gpio(pin):
            return Err.BAD_USER_GPIO
        chosen = min(w.PWM_FREQUENCIES_HZ, key=lambda f: (abs(f - frequency), -f))
        self._set_pin(pin, pwm_frequency_hz=chosen)
        return chosen

    # The getters answer from the pin's function, as pigpiod does: a PWM pin at duty 0 is
    # still a PWM pin (0), a pin that was never one is not (PI_NOT_PWM_GPIO).
    def _cmd_prg(self, s: _Session, pin: int, _: int, ext: bytes) -> int:
        if self._bad_user_gpio(pin):
            return Err.BAD_USER_GPIO
        p = self._pins[pin]
        return HW_PWM_RANGE if p.function == "hw_pwm" else p.pwm_range

    def _cmd_pfg(self, s: _Session, pin: int, _: int, ext: bytes) -> int:
        if self._bad_user_gpio(pin):
            return Err.BAD_USER_GPIO
        p = self._pins[pin]
        return p.hw_pwm_frequency_hz if p.function == "hw_pwm" else p.pwm_frequency_hz

    def _cmd_prrg(self, s: _Session, pin: int, _: int, ext: bytes) -> int:
        if self._bad_user_gpio(pin):
            return Err.BAD_USER_GPIO
        p = self._pins[pin]
        if p.function == "hw_pwm":
            return self._hw_real_range(p.hw_pwm_frequency_hz)
        return self._real_range(pin)

    def _cmd_gdc(self, s: _Session, pin: int, _: int, ext: bytes) -> int:
        if self._bad_user_gpio(pin):
            return Err.BAD_USER_GPIO
        p = self._pins[pin]
        if p.function == "pwm":
            return p.pwm_duty
        if p.function == "hw_pwm":
            return p.hw_pwm_duty
        return Err.NOT_PWM_GPIO

    def _cmd_gpw(self, s: _Session, pin: int, _: int, ext: bytes) -> int:
        if self._bad_user_gpio(pin):
            return Err.BAD_USER_GPIO
        p = self._pins[pin]
        return p.servo_pulse_us if p.function == "servo" else Err.NOT_SERVO_GPIO

    def _cmd_servo(self, s: _Session, pin: int, pulse_us: int, ext: bytes) -> int:
        if self._bad_user_gpio(pin):
            return Err.BAD_USER_GPIO
        if pulse_us != 0 and not 500 <= pulse_us <= 2500:
            return Err.BAD_PULSEWIDTH
        tick = self.tick()
        self._take_function(pin, "servo", tick)
        self._set_mode(pin, w.MODE_OUTPUT, tick)
        self._set_pin(pin, servo_pulse_us=pulse_us)
        self._record(tick, pin, "servo", pulse_us, "servo")
        if pulse_us == 0:
            self._drive(pin, 0, tick, "servo")
        return 0

    @staticmethod
    def _hw_real_range(frequency_hz: int) -> int:
        return int(PLLD_CLOCK_HZ / (2.0 * frequency_hz) + 0.5)

    def _cmd_hp(self, s: _Session, pin: int, frequency: int, ext: bytes) -> int:
        (duty,) = struct.unpack("<I", ext[:4])
        if self._bad_gpio(pin):
            return Err.BAD_GPIO
        if pin not in w.HARDWARE_PWM_GPIOS:
            return Err.NOT_HPWM_GPIO
        if duty > HW_PWM_RANGE:
            return Err.BAD_HPWM_DUTY
        if frequency != 0 and not 1 <= frequency <= HW_PWM_MAX_FREQUENCY_HZ:
            return Err.BAD_HPWM_FREQ
        tick = self.tick()
        if frequency == 0:
            if self._pins[pin].function == "hw_pwm":
                self._switch_function_off(pin, tick)
                self._drive(pin, 0, tick, "hw_pwm")
            return 0
        # the frequency the PWM clock divider really gives, as pigpiod reports it
        real_range = self._hw_real_range(frequency)
        achieved_hz = int(PLLD_CLOCK_HZ / (2.0 * real_range) + 0.5)
        if self._take_function(pin, "hw_pwm", tick):
            self._set_mode(pin, w.MODE_ALT5 if pin in (18, 19) else w.MODE_ALT0, tick)
        self._set_pin(pin, hw_pwm_frequency_hz=achieved_hz, hw_pwm_duty=duty)
        self._record(tick, pin, "hw_pwm", duty, "hw_pwm")
        if duty in (0, HW_PWM_RANGE):
            self._drive(pin, int(duty > 0), tick, "hw_pwm")
        return 0

    def _cmd_wdog(self, s: _Session, pin: int, timeout_ms: int, ext: bytes) -> int:
        if self._bad_user_gpio(pin):
            return Err.BAD_USER_GPIO
        if timeout_ms > 60000:
            return Err.BAD_WDOG_TIMEOUT
        self._set_pin(pin, watchdog_ms=timeout_ms)
        self._arm_watchdog(pin)
        return 0

    def _cmd_fg(self, s: _Session, pin: int, steady_us: int, ext: bytes) -> int:
        if self._bad_user_gpio(pin):
            return Err.BAD_USER_GPIO
        if steady_us > 300_000:
            return Err.BAD_FILTER
        self._set_pin(pin, glitch_us=steady_us)
        return 0

    def _cmd_fn(self, s: _Session, pin: int, steady_us: int, ext: bytes) -> int:
        return Err.BAD_USER_GPIO if self._bad_user_gpio(pin) else Err.BAD_FILTER

    def _bank(self, bits: int, level: int) -> int:
        tick = self.tick()
        for pin in range(USER_GPIO_COUNT):
            if bits >> pin & 1 and self._pins[pin].mode == w.MODE_OUTPUT:
                self._drive(pin, level, tick, "bank")
        return 0

    def _cmd_bank_clear(self, s: _Session, bits: int, _: int, ext: bytes) -> int:
        return self._bank(bits, 0)

    def _cmd_bank_set(self, s: _Session, bits: int, _: int, ext: bytes) -> int:
        return self._bank(bits, 1)

    def _cmd_trig(self, s: _Session, pin: int, pulse_us: int, ext: bytes) -> int:
        (level,) = struct.unpack("<I", ext[:4])
        if self._bad_user_gpio(pin):
            return Err.BAD_USER_GPIO
        if not 1 <= pulse_us <= 100:
            return Err.BAD_PULSELEN
        if level > 1:
            return Err.BAD_LEVEL
        tick = self.tick()
        self._drive(pin, level, tick, "trig")
        self._drive(pin, 1 - level, (tick + pulse_us) & w.TICK_MASK, "trig")
        return 0

    # notifications
    def _free_notify_slot(self) -> int | None:
        return next((h for h in range(MAX_NOTIFY_HANDLES) if h not in self._notify), None)

    def _cmd_noib(self, s: _Session, a: int, b: int, ext: bytes) -> int:
        slot = self._free_notify_slot()
        if slot is None:
            return Err.NO_HANDLE
        self._close_orphaned_notifications(s)  # one in-band handle per socket, as in pigpiod
        self._notify[slot] = _NotifyHandle(session=s, last_report_s=time.monotonic())
        s.notify_handle = slot
        return slot

    def _cmd_no(self, s: _Session, a: int, b: int, ext: bytes) -> int:
        """notify_open: a FIFO `<notify_dir>/pigpio<handle>` (pigpiod's is /dev/pigpio<handle>)."""
        slot = self._free_notify_slot()
        if slot is None:
            return Err.NO_HANDLE
        path = self.notify_path(slot)
        try:
            if os.path.exists(path):
                os.unlink(path)
            os.mkfifo(path, 0o664)
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        except OSError:
            return Err.BAD_PATHNAME
        self._notify[slot] = _NotifyHandle(fifo_fd=fd, fifo_path=path,
                                           last_report_s=time.monotonic())
        return slot

    def _cmd_nb(self, s: _Session, handle: int, bits: int, ext: bytes) -> int:
        entry = self._notify.get(handle)
        if entry is None:
            return Err.BAD_HANDLE
        entry.bits, entry.running = bits, True
        return 0

    def _cmd_np(self, s: _Session, handle: int, _: int, ext: bytes) -> int:
        entry = self._notify.get(handle)
        if entry is None:
            return Err.BAD_HANDLE
        entry.bits, entry.running = 0, False
        return 0

    def _cmd_nc(self, s: _Session, handle: int, _: int, ext: bytes) -> int:
        entry = self._notify.pop(handle, None)
        if entry is None:
            return Err.BAD_HANDLE
        self._release_notify(entry)
        return 0  # on an in-band socket too: the client stops reading and closes it

    def _release_notify(self, entry: _NotifyHandle) -> None:
        if entry.session is not None and entry.session.notify_handle is not None:
            if self._notify.get(entry.session.notify_handle) is None:
                entry.session.notify_handle = None
        if entry.fifo_fd is not None:
            with contextlib.suppress(OSError):
                os.close(entry.fifo_fd)
            with contextlib.suppress(OSError):
                os.unlink(entry.fifo_path)
            entry.fifo_fd = None

    def _close_orphaned_notifications(self, session: _Session) -> None:
        for handle, entry in list(self._notify.items()):
            if entry.session is session:
                del self._notify[handle]
                self._release_notify(entry)
        session.notify_handle = None

    def _cmd_evm(self, s: _Session, handle: int, bits: int, ext: bytes) -> int:
        if handle not in self._notify:
            return Err.BAD_HANDLE
        self._notify[handle].event_bits = bits
        return 0

    def _cmd_evt(self, s: _Session, event: int, _: int, ext: bytes) -> int:
        if event > 31:
            return Err.BAD_EVENT_ID
        self._send_report(1 << event, w.NTFY_FLAGS_EVENT | event, self.tick(), event=True)
        return 0

    # waves
    def _cmd_wvclr(self, s: _Session, a: int, b: int, ext: bytes) -> int:
        self._wave_halt()
        self._wave_pending.clear()
        self._waves.clear()
        return 0

    def _cmd_wvnew(self, s: _Session, a: int, b: int, ext: bytes) -> int:
        self._wave_pending.clear()
        return 0

    @staticmethod
    def _timeline(pulses: list[tuple[int, int, int]]) -> tuple[list[tuple[int, int, int]], int]:
        """Pulses (on, off, delay) -> ([(offset_us, on, off)], total_us)."""
        events, t = [], 0
        for on, off, delay in pulses:
            events.append((t, on, off))
            t += delay
        return events, t

    def _cmd_wvag(self, s: _Session, a: int, b: int, ext: bytes) -> int:
        added = [struct.unpack_from("<III", ext, i) for i in range(0, len(ext) - len(ext) % 12, 12)]
        old, old_total = self._timeline(self._wave_pending)
        new, new_total = self._timeline(added)
        merged: dict[int, list[int]] = {}
        for t, on, off in old + new:  # pulses at the same moment merge their masks
            masks = merged.setdefault(t, [0, 0])
            masks[0] |= on
            masks[1] |= off
        total = max(old_total, new_total)
        times = sorted(merged)
        pulses = [(merged[t][0], merged[t][1], (times[i + 1] if i + 1 < len(times) else total) - t)
                  for i, t in enumerate(times)]
        if len(pulses) > MAX_WAVE_PULSES:
            return Err.TOO_MANY_PULSES
        self._wave_pending = pulses
        return len(pulses)

    def _cmd_wvcre(self, s: _Session, a: int, b: int, ext: bytes) -> int:
        if not self._wave_pending:
            return Err.EMPTY_WAVEFORM
        free = [i for i in range(MAX_WAVES) if i not in self._waves]
        if not free:
            return Err.NO_WAVEFORM_ID
        self._waves[free[0]] = self._wave_pending
        self._wave_pending = []
        return free[0]

    def _cmd_wvdel(self, s: _Session, wave_id: int, b: int, ext: bytes) -> int:
        if self._waves.pop(wave_id, None) is None:
            return Err.BAD_WAVE_ID
        return 0

    def _wave_busy(self) -> bool:
        return self._wave_task is not None and not self._wave_task.done()

    def _wave_halt(self) -> int:
        if self._wave_busy():
            self._wave_task.cancel()
        self._wave_task = None
        return 0

    def _wave_send(self, wave_id: int, repeat: bool) -> int:
        pulses = self._waves.get(wave_id)
        if pulses is None:
            return Err.BAD_WAVE_ID
        self._wave_halt()
        self._wave_task = self._loop.create_task(self._transmit(pulses, repeat, self.tick()))
        return 2 * len(pulses)  # DMA control blocks used

    async def _transmit(self, pulses: list[tuple[int, int, int]], repeat: bool,
                        start_tick: int) -> None:
        events, total_us = self._timeline(pulses)
        start_s = time.monotonic()
        cycle = 0
        while True:
            for offset_us, on, off in events:
                at_us = cycle * total_us + offset_us
                delay = start_s + at_us / 1e6 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tick = (start_tick + at_us) & w.TICK_MASK
                for pin in range(USER_GPIO_COUNT):
                    if (on | off) >> pin & 1 and self._pins[pin].mode == w.MODE_OUTPUT:
                        self._drive(pin, 1 if on >> pin & 1 else 0, tick, "wave")
            cycle += 1
            if not repeat or total_us == 0:
                break
        delay = start_s + cycle * total_us / 1e6 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def _cmd_wvsm(self, s: _Session, which: int, b: int, ext: bytes) -> int:
        return 1_800_000_000 if which == 2 else self._timeline(self._wave_pending)[1]

    def _cmd_wvsp(self, s: _Session, which: int, b: int, ext: bytes) -> int:
        return MAX_WAVE_PULSES if which == 2 else len(self._wave_pending)

    def _cmd_wvsc(self, s: _Session, which: int, b: int, ext: bytes) -> int:
        return 25016 if which == 2 else 2 * len(self._wave_pending)

    # scripts
    def _script_gpio(self) -> dict[str, Callable[..., int]]:
        none = None
        return {
            "W": lambda g, lv: self._cmd_write(none, g, lv, b""),
            "R": lambda g: self._cmd_read(none, g, 0, b""),
            "S": lambda g, pw: self._cmd_servo(none, g, pw, b""),
            "P": lambda g, d: self._cmd_pwm(none, g, d, b""),
            "HP": lambda g, f, d: self._cmd_hp(none, g, f, struct.pack("<I", d & w.TICK_MASK)),
            "WVHLT": self._wave_halt,
            "TICK": self.tick,
            "PUD": lambda g, p: self._cmd_pud(none, g, p, b""),
        }

    def _cmd_proc(self, s: _Session, a: int, b: int, ext: bytes) -> int:
        try:
            program = parse_script(ext.decode("latin-1"))
        except ScriptError:
            return Err.BAD_SCRIPT
        free = [i for i in range(MAX_SCRIPTS) if i not in self._scripts]
        if not free:
            return Err.BAD_SCRIPT_ID
        self._scripts[free[0]] = ScriptState(program)
        return free[0]

    @staticmethod
    def _params(ext: bytes) -> list[int]:
        return list(struct.unpack(f"<{len(ext) // 4}I", ext[:len(ext) // 4 * 4]))

    def _cmd_procr(self, s: _Session, sid: int, b: int, ext: bytes) -> int:
        state = self._scripts.get(sid)
        if state is None:
            return Err.BAD_SCRIPT_ID
        start_script(state, self._script_gpio(), self._params(ext))
        return 0

    def _cmd_procu(self, s: _Session, sid: int, b: int, ext: bytes) -> int:
        state = self._scripts.get(sid)
        if state is None:
            return Err.BAD_SCRIPT_ID
        for i, value in enumerate(self._params(ext)[:10]):
            state.params[i] = value - (1 << 32) if value & 0x80000000 else value
        return 0

    def _cmd_procs(self, s: _Session, sid: int, b: int, ext: bytes) -> int:
        state = self._scripts.get(sid)
        if state is None:
            return Err.BAD_SCRIPT_ID
        if state.task is not None and not state.task.done():
            state.task.cancel()
        state.status = w.SCRIPT_HALTED
        return 0

    def _cmd_procd(self, s: _Session, sid: int, b: int, ext: bytes) -> int:
        if sid not in self._scripts:
            return Err.BAD_SCRIPT_ID
        self._cmd_procs(s, sid, b, ext)
        del self._scripts[sid]
        return 0

    def _cmd_procp(self, s: _Session, sid: int, b: int, ext: bytes) -> object:
        state = self._scripts.get(sid)
        if state is None:
            return Err.BAD_SCRIPT_ID
        return 44, struct.pack("<11i", state.status, *state.params)

    # I2C
    def _cmd_i2co(self, s: _Session, bus: int, address: int, ext: bytes) -> int:
        (flags,) = struct.unpack("<I", ext[:4])
        if bus > 1:
            return Err.BAD_I2C_BUS
        if address > 0x7F:
            return Err.BAD_I2C_ADDR
        if flags != 0:
            return Err.BAD_FLAGS
        free = [h for h in range(MAX_I2C_HANDLES) if h not in self._i2c_handles]
        if not free:
            return Err.NO_HANDLE
        self._i2c_handles[free[0]] = (bus, address)
        return free[0]

    def _cmd_i2cc(self, s: _Session, handle: int, b: int, ext: bytes) -> int:
        return 0 if self._i2c_handles.pop(handle, None) is not None else Err.BAD_HANDLE

    def _device(self, handle: int) -> Mpu6050Model | int:
        key = self._i2c_handles.get(handle)
        if key is None:
            return Err.BAD_HANDLE
        return self._i2c_devices.get(key, Err.I2C_READ_FAILED)

    def _i2c_read(self, handle: int, register: int | None, count: int) -> bytes | int:
        device = self._device(handle)
        if isinstance(device, int):
            return device
        return device.read(device.pointer if register is None else register & 0xFF, count)

    def _i2c_write(self, handle: int, register: int | None, data: bytes) -> int:
        device = self._device(handle)
        if isinstance(device, int):
            return Err.I2C_WRITE_FAILED if device == Err.I2C_READ_FAILED else device
        if register is None:
            if not data:
                return 0
            register, data = data[0], data[1:]
            device.pointer = register
        device.write(register & 0xFF, data)
        return 0

    def _cmd_i2crb(self, s: _Session, h: int, reg: int, ext: bytes) -> int:
        data = self._i2c_read(h, reg, 1)
        return data if isinstance(data, int) else data[0]

    def _cmd_i2cwb(self, s: _Session, h: int, reg: int, ext: bytes) -> int:
        (value,) = struct.unpack("<I", ext[:4])
        return self._i2c_write(h, reg, bytes([value & 0xFF]))

    def _cmd_i2crw(self, s: _Session, h: int, reg: int, ext: bytes) -> int:
        data = self._i2c_read(h, reg, 2)
        return data if isinstance(data, int) else data[0] | data[1] << 8  # SMBus: low byte first

    def _cmd_i2cww(self, s: _Session, h: int, reg: int, ext: bytes) -> int:
        (value,) = struct.unpack("<I", ext[:4])
        return self._i2c_write(h, reg, bytes([value & 0xFF, value >> 8 & 0xFF]))

    def _cmd_i2cri(self, s: _Session, h: int, reg: int, ext: bytes) -> object:
        (count,) = struct.unpack("<I", ext[:4])
        if not 1 <= count <= 32:
            return Err.BAD_I2C_RLEN
        data = self._i2c_read(h, reg, count)
        return data if isinstance(data, int) else (len(data), data)

    def _cmd_i2cwi(self, s: _Session, h: int, reg: int, ext: bytes) -> int:
        if not 1 <= len(ext) <= 32:
            return Err.BAD_I2C_WLEN
        return self._i2c_write(h, reg, ext)

    def _cmd_i2crk(self, s: _Session, h: int, reg: int, ext: bytes) -> object:
        head = self._i2c_read(h, reg, 1)
        if isinstance(head, int):
            return head
        count = min(head[0], 32)
        if count == 0:
            return 0
        data = self._i2c_read(h, reg + 1, count)
        return data if isinstance(data, int) else (len(data), data)

    def _cmd_i2cwk(self, s: _Session, h: int, reg: int, ext: bytes) -> int:
        if not 1 <= len(ext) <= 32:
            return Err.BAD_I2C_WLEN
        return self._i2c_write(h, reg, bytes([len(ext)]) + ext)  # SMBus block: count, data

    def _cmd_i2crd(self, s: _Session, h: int, count: int, ext: bytes) -> object:
        if not 1 <= count <= 65535:
            return Err.BAD_I2C_RLEN
        data = self._i2c_read(h, None, count)
        return data if isinstance(data, int) else (len(data), data)

    def _cmd_i2cwd(self, s: _Session, h: int, b: int, ext: bytes) -> int:
        return self._i2c_write(h, None, ext)

    def _cmd_i2crs(self, s: _Session, h: int, b: int, ext: bytes) -> int:
        data = self._i2c_read(h, None, 1)
        return data if isinstance(data, int) else data[0]

    def _cmd_i2cws(self, s: _Session, h: int, value: int, ext: bytes) -> int:
        device = self._device(h)
        if isinstance(device, int):
            return Err.I2C_WRITE_FAILED if device == Err.I2C_READ_FAILED else device
        device.pointer = value & 0x7F
        return 0

    # simulation control from another process (the daemon's custom-command hook)
    def _cmd_cf1(self, s: _Session, sub: int, pin: int, ext: bytes) -> int:
        if sub == CF1_SET_IMU:
            device = self._i2c_devices.get((1, pin))
            if device is None or len(ext) < 28:
                return Err.BAD_PARAM
            values = struct.unpack_from("<7f", ext)
            device.set_motion(values[0:3], values[3:6], values[6])
            return 0
        if self._bad_user_gpio(pin):
            return Err.BAD_USER_GPIO
        if sub == CF1_SET_INPUT and ext and ext[0] in (0, 1):
            self._apply_external(pin, ext[0], None)
            return 0
        if sub == CF1_CLEAR_INPUT:
            self._apply_external(pin, None, None)
            return 0
        if sub == CF1_INPUT_BURST and len(ext) >= 8:
            edges, spacing_us = struct.unpack_from("<II", ext)
            start, level = self.tick(), self._level_of(pin)
            for i in range(edges):
                level ^= 1
                self._apply_external(pin, level, (start + i * spacing_us) & w.TICK_MASK)
            return edges
        return Err.BAD_PARAM


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A virtual Raspberry Pi speaking the pigpio "
                                                 "daemon protocol.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--tick-offset-us", type=int, default=0,
                        help="start the tick counter here (e.g. near 2^32 to test wrapping)")
    parser.add_argument("--allow", action="append", default=[], metavar="ADDRESS",
                        help="a client address or network that may connect (as pigpiod -n; "
                             "repeatable); required when --host is not a loopback address")
    args = parser.parse_args(argv)
    try:
        allow = [str(ipaddress.ip_network(a, strict=False)) for a in args.allow]
    except ValueError as exc:
        parser.error(f"--allow: {exc}")
    if not allow and not is_loopback_host(args.host):
        parser.error(f"--host {args.host} would let anyone on the network drive the pins (the "
                     "pigpio protocol has no authentication): name the clients with --allow")
    vpi = VirtualPi(args.host, args.port, tick_offset_us=args.tick_offset_us,
                    allow=allow).start()
    print(f"virtual_pi listening on {args.host}:{vpi.port}", flush=True)
    stop = threading.Event()
    stop_on_signals(stop.set)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        vpi.stop()
        ignore_signals()     # (a late second SIGINT must not end us by SIGINT at exit)


if __name__ == "__main__":
    main()
