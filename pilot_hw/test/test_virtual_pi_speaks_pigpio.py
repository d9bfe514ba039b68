"""The unmodified pigpio client works against the virtual Pi: commands, errors,
notifications, waves, scripts and the simulated MPU-6050."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
import time

import pigpio
import pytest
from pilot_test_helpers import free_port, wait_for

from pilot_hw.devices import tick_diff_us
from pilot_hw.virtual_pi import CF1_INPUT_BURST, CF1_SET_IMU, CF1_SET_INPUT, VirtualPi

pytestmark = pytest.mark.timeout(120)


def test_modes_levels_and_banks(client: pigpio.pi, vpi: VirtualPi) -> None:
    client.set_mode(17, pigpio.OUTPUT)
    assert client.get_mode(17) == pigpio.OUTPUT
    client.write(17, 1)
    assert client.read(17) == 1 and vpi.level(17) == 1
    client.set_mode(22, pigpio.OUTPUT)
    client.set_bank_1((1 << 22) | (1 << 4))  # gpio 4 is an input: not driven
    assert client.read_bank_1() & ((1 << 22) | (1 << 17) | (1 << 4)) == (1 << 22) | (1 << 17)
    client.clear_bank_1(1 << 17)
    assert client.read(17) == 0
    client.set_pull_up_down(5, pigpio.PUD_UP)
    assert client.read(5) == 1
    vpi.set_input(5, 0)
    assert client.read(5) == 0
    vpi.clear_input(5)
    assert client.read(5) == 1
    assert client.get_hardware_revision() > 0
    assert [e.value for e in vpi.history(17, "level")] == [1, 0]


@pytest.mark.parametrize("call, code", [
    (lambda pi: pi.set_mode(60, pigpio.OUTPUT), pigpio.PI_BAD_GPIO),
    (lambda pi: pi.set_mode(4, 9), pigpio.PI_BAD_MODE),
    (lambda pi: pi.set_pull_up_down(4, 5), pigpio.PI_BAD_PUD),
    (lambda pi: pi.write(4, 3), pigpio.PI_BAD_LEVEL),
    (lambda pi: pi.set_servo_pulsewidth(18, 3000), pigpio.PI_BAD_PULSEWIDTH),
    (lambda pi: pi.set_servo_pulsewidth(40, 1500), pigpio.PI_BAD_USER_GPIO),
    (lambda pi: pi.set_PWM_dutycycle(4, 300), pigpio.PI_BAD_DUTYCYCLE),
    (lambda pi: pi.set_PWM_range(4, 10), pigpio.PI_BAD_DUTYRANGE),
    (lambda pi: pi.hardware_PWM(17, 1000, 500_000), pigpio.PI_NOT_HPWM_GPIO),
    (lambda pi: pi.hardware_PWM(18, 1000, 2_000_000), pigpio.PI_BAD_HPWM_DUTY),
    (lambda pi: pi.set_watchdog(4, 70_000), pigpio.PI_BAD_WDOG_TIMEOUT),
    (lambda pi: pi.set_glitch_filter(4, 400_000), pigpio.PI_BAD_FILTER),
    (lambda pi: pi.i2c_open(3, 0x68), pigpio.PI_BAD_I2C_BUS),
    (lambda pi: pi.i2c_open(1, 0x68, 1), pigpio.PI_BAD_FLAGS),
    (lambda pi: pi.wave_send_once(77), pigpio.PI_BAD_WAVE_ID),
    (lambda pi: pi.get_servo_pulsewidth(4), pigpio.PI_NOT_SERVO_GPIO),
])
def test_bad_requests_get_pigpio_error_codes(client: pigpio.pi, call, code: int) -> None:
    with pytest.raises(pigpio.error) as info:
        call(client)
    assert info.value.value == pigpio.error_text(code)


def test_pwm_servo_and_hardware_pwm_settings(client: pigpio.pi, vpi: VirtualPi) -> None:
    assert client.set_PWM_frequency(12, 900) == 1000  # the nearest available frequency
    assert client.get_PWM_real_range(12) == 200
    client.set_PWM_range(12, 1000)
    client.set_PWM_dutycycle(12, 250)
    assert client.get_PWM_dutycycle(12) == 250 and vpi.pin_state(12).pwm_duty == 250
    client.set_servo_pulsewidth(18, 1700)
    assert client.get_servo_pulsewidth(18) == 1700
    client.hardware_PWM(13, 25_000, 400_000)
    assert client.get_PWM_frequency(13) == 25_000 and client.get_PWM_dutycycle(13) == 400_000
    client.write(18, 0)  # a write stops servo pulses
    assert vpi.pin_state(18).servo_pulse_us == 0


def test_callbacks_get_edges_with_ticks_in_order(client: pigpio.pi, vpi: VirtualPi) -> None:
    edges: list[tuple[int, int, int]] = []
    client.set_mode(4, pigpio.INPUT)
    callback = client.callback(4, pigpio.EITHER_EDGE, lambda g, lv, t: edges.append((g, lv, t)))
    start = vpi.tick()
    vpi.set_inputs([(4, i % 2 == 0, start + 10 * i) for i in range(50)])
    assert wait_for(lambda: len(edges) == 50)
    assert [lv for _, lv, _ in edges] == [int(i % 2 == 0) for i in range(50)]
    assert [t for _, _, t in edges] == [start + 10 * i for i in range(50)]
    callback.cancel()


def test_ticks_wrap_at_2_pow_32_and_stay_ordered() -> None:
    with VirtualPi("127.0.0.1", 0, tick_offset_us=(1 << 32) - 150_000) as vpi:
        pi = pigpio.pi("127.0.0.1", vpi.port, show_errors=False)
        try:
            ticks: list[int] = []
            pi.set_mode(6, pigpio.INPUT)
            callback = pi.callback(6, pigpio.EITHER_EDGE, lambda g, lv, t: ticks.append(t))
            deadline = time.monotonic() + 2.0
            level = 1
            while vpi.tick() > (1 << 31) and time.monotonic() < deadline:  # until it wraps
                vpi.set_input(6, level)
                level ^= 1
                time.sleep(0.005)
            for _ in range(5):
                vpi.set_input(6, level)
                level ^= 1
            assert wait_for(lambda: len(ticks) >= 10 and ticks[-1] < (1 << 31))
            assert any(a > b for a, b in zip(ticks, ticks[1:], strict=False))  # it did wrap
            assert all(0 < tick_diff_us(a, b) < 1_000_000
                       for a, b in zip(ticks, ticks[1:], strict=False))
            callback.cancel()
        finally:
            pi.stop()


def test_watchdog_reports_timeouts(client: pigpio.pi, vpi: VirtualPi) -> None:
    levels: list[int] = []
    client.set_mode(7, pigpio.INPUT)
    callback = client.callback(7, pigpio.EITHER_EDGE, lambda g, lv, t: levels.append(lv))
    client.set_watchdog(7, 20)
    assert wait_for(lambda: levels.count(pigpio.TIMEOUT) >= 2)
    client.set_watchdog(7, 0)
    callback.cancel()


def test_glitch_filter_drops_short_pulses_and_delays_steady_edges(client: pigpio.pi,
                                                                  vpi: VirtualPi) -> None:
    edges: list[tuple[int, int]] = []
    client.set_mode(8, pigpio.INPUT)
    client.set_glitch_filter(8, 1000)
    callback = client.callback(8, pigpio.EITHER_EDGE, lambda g, lv, t: edges.append((lv, t)))
    t0 = vpi.tick()
    vpi.set_inputs([(8, 1, t0), (8, 0, t0 + 300),  # a 300 us glitch
                    (8, 1, t0 + 2000)])  # a steady rise
    assert wait_for(lambda: len(edges) == 1)
    # A later steady fall: edges arrive in tick order, so once it is here, the rise was
    # reported once, stamped `steady` us after it began.
    vpi.set_inputs([(8, 0, t0 + 10_000)])
    assert wait_for(lambda: len(edges) == 2)
    assert edges == [(1, t0 + 3000), (0, t0 + 11_000)]
    callback.cancel()


def test_wave_pulses_are_microsecond_exact(client: pigpio.pi, vpi: VirtualPi) -> None:
    for pin in (20, 21):
        client.set_mode(pin, pigpio.OUTPUT)
    client.wave_clear()
    client.wave_add_generic([pigpio.pulse(1 << 20, 0, 1500), pigpio.pulse(0, 1 << 20, 0)])
    # added parts are merged in time: 21 rises 500 us in, for 250 us
    client.wave_add_generic([pigpio.pulse(0, 0, 500), pigpio.pulse(1 << 21, 0, 250),
                             pigpio.pulse(0, 1 << 21, 0)])
    wave = client.wave_create()
    assert client.wave_send_once(wave) > 0
    assert client.wave_tx_busy() == 1
    assert wait_for(lambda: client.wave_tx_busy() == 0)
    rise20, fall20 = vpi.history(20, "level")
    rise21, fall21 = vpi.history(21, "level")
    assert fall20.tick_us - rise20.tick_us == 1500
    assert rise21.tick_us - rise20.tick_us == 500 and fall21.tick_us - rise21.tick_us == 250
    client.wave_delete(wave)
    with pytest.raises(pigpio.error):
        client.wave_send_once(wave)


def test_wave_halt_stops_a_long_pulse(client: pigpio.pi, vpi: VirtualPi) -> None:
    client.set_mode(20, pigpio.OUTPUT)
    client.wave_add_generic([pigpio.pulse(1 << 20, 0, 5_000_000), pigpio.pulse(0, 1 << 20, 0)])
    client.wave_send_once(client.wave_create())
    assert wait_for(lambda: vpi.level(20) == 1)
    client.wave_tx_stop()
    assert client.wave_tx_busy() == 0
    assert vpi.level(20) == 1  # halting leaves the level: drivers must write their safe level


def test_trigger_pulse_length(client: pigpio.pi, vpi: VirtualPi) -> None:
    client.set_mode(19, pigpio.OUTPUT)
    client.gpio_trigger(19, 42, 1)
    rise, fall = vpi.history(19, "level")
    assert (rise.value, fall.value, fall.tick_us - rise.tick_us) == (1, 0, 42)


def test_mpu6050_registers_over_i2c(client: pigpio.pi, vpi: VirtualPi) -> None:
    handle = client.i2c_open(1, 0x68)
    assert client.i2c_read_byte_data(handle, 0x75) == 0x68
    assert client.i2c_read_byte_data(handle, 0x6B) == 0x40  # asleep after reset
    client.i2c_write_byte_data(handle, 0x6B, 0x00)
    client.i2c_write_byte_data(handle, 0x1C, 1 << 3)  # +-4 g: 8192 LSB/g
    vpi.set_imu_motion((0.0, 9.80665, -9.80665 / 2), (0.0, 0.0, 0.0))
    count, data = client.i2c_read_i2c_block_data(handle, 0x3B, 6)
    assert count == 6 and struct.unpack(">3h", bytes(data)) == (0, 8192, -4096)
    word = client.i2c_read_word_data(handle, 0x3D)  # SMBus words are low byte first
    assert word == struct.unpack("<H", struct.pack(">h", 8192))[0]
    client.i2c_write_device(handle, [0x75])
    assert client.i2c_read_device(handle, 1) == (1, bytearray([0x68]))
    client.i2c_close(handle)
    other = client.i2c_open(1, 0x50)  # nobody there
    with pytest.raises(pigpio.error):
        client.i2c_read_byte_data(other, 0)


def test_scripts_run_and_report_status(client: pigpio.pi, vpi: VirtualPi) -> None:
    script = client.store_script(b"tag 1 w 26 1 mils 5 w 26 0 mils 5 dcr p0 jnz 1 halt")
    assert client.script_status(script)[0] == pigpio.PI_SCRIPT_HALTED
    client.run_script(script, [3])
    assert wait_for(lambda: client.script_status(script)[0] == pigpio.PI_SCRIPT_HALTED)
    assert [e.value for e in vpi.history(26, "level")] == [1, 0] * 3
    assert client.script_status(script)[1][0] == 0
    client.delete_script(script)
    with pytest.raises(pigpio.error):
        client.store_script(b"jmp 7")  # unknown tag: a bad script


def test_two_clients_and_a_sim_control_command(vpi: VirtualPi) -> None:
    watcher = pigpio.pi("127.0.0.1", vpi.port, show_errors=False)
    driver = pigpio.pi("127.0.0.1", vpi.port, show_errors=False)
    try:
        seen = threading.Event()
        watcher.set_mode(9, pigpio.INPUT)
        callback = watcher.callback(9, pigpio.RISING_EDGE, lambda *a: seen.set())
        assert driver.custom_1(CF1_SET_INPUT, 9, [1]) == 0
        assert seen.wait(5)
        callback.cancel()
        ticks: list[int] = []
        callback = watcher.callback(9, pigpio.EITHER_EDGE, lambda g, lv, t: ticks.append(t))
        assert driver.custom_1(CF1_INPUT_BURST, 9, struct.pack("<II", 100, 3)) == 100
        assert wait_for(lambda: len(ticks) == 100)
        assert {tick_diff_us(a, b) for a, b in zip(ticks, ticks[1:], strict=False)} == {3}
        callback.cancel()
        assert driver.custom_1(CF1_SET_IMU, 0x68, struct.pack("<7f", 1, 2, 3, 0, 0, 0.5, 20)) == 0
        assert vpi.imu().gyro_rad_s[2] == 0.5 and vpi.imu().temperature_c == 20
    finally:
        watcher.stop()
        driver.stop()


def test_runs_as_a_process(start_process) -> None:
    port = free_port()
    child = start_process(["python", "-m", "pilot_hw.virtual_pi", "--port", str(port)])
    assert "listening" in child.stdout.readline()
    pi = pigpio.pi("127.0.0.1", port, show_errors=False)
    try:
        assert pi.connected and pi.get_current_tick() >= 0
    finally:
        pi.stop()


def test_listeners_see_output_changes(client: pigpio.pi, vpi: VirtualPi) -> None:
    seen: list[tuple[int, str, int]] = []
    vpi.add_listener(lambda e: seen.append((e.pin, e.kind, e.value)))
    client.set_servo_pulsewidth(18, 1200)
    client.write(17, 1)
    assert (18, "servo", 1200) in seen and (17, "level", 1) in seen


def test_getters_after_zero_answer_zero_like_pigpiod(client: pigpio.pi, vpi: VirtualPi) -> None:
    """A pin is a PWM (or servo) pin from its first PWM (servo) command, duty 0 included, until
    a write, a mode change or another function takes it; only then do the getters refuse."""
    for pin in (4, 18):
        with pytest.raises(pigpio.error, match="not in use for PWM"):
            client.get_PWM_dutycycle(pin)
        with pytest.raises(pigpio.error, match="not in use for servo"):
            client.get_servo_pulsewidth(pin)
    client.set_PWM_dutycycle(4, 0)
    assert client.get_PWM_dutycycle(4) == 0
    client.set_servo_pulsewidth(18, 0)
    assert client.get_servo_pulsewidth(18) == 0
    client.set_PWM_range(4, 1000)
    client.set_PWM_dutycycle(4, 500)
    client.set_PWM_range(4, 100)  # the duty keeps its fraction, as pigpiod rescales it
    assert client.get_PWM_dutycycle(4) == 50 and client.get_PWM_range(4) == 100
    client.set_servo_pulsewidth(4, 1500)  # servo takes the pin over from PWM
    assert client.get_servo_pulsewidth(4) == 1500
    with pytest.raises(pigpio.error, match="not in use for PWM"):
        client.get_PWM_dutycycle(4)
    assert client.get_PWM_frequency(4) == 800  # pigpiod answers the PWM frequency setting
    client.write(4, 0)
    with pytest.raises(pigpio.error, match="not in use for servo"):
        client.get_servo_pulsewidth(4)
    client.set_PWM_dutycycle(18, 10)
    client.set_mode(18, pigpio.INPUT)  # a mode change switches the function off
    with pytest.raises(pigpio.error, match="not in use for PWM"):
        client.get_PWM_dutycycle(18)
    client.hardware_PWM(13, 30_000, 250_000)
    assert client.get_PWM_dutycycle(13) == 250_000 and client.get_PWM_range(13) == 1_000_000
    # the frequency the PWM clock's divider gives: 500 MHz / (2 x 8333)
    assert client.get_PWM_frequency(13) == 30_001 and client.get_PWM_real_range(13) == 8333
    client.hardware_PWM(13, 0, 0)
    with pytest.raises(pigpio.error, match="not in use for PWM"):
        client.get_PWM_dutycycle(13)


def _raw(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def _reply(sock: socket.socket) -> tuple[int, int, int, int]:
    data = b""
    while len(data) < 16:
        chunk = sock.recv(16 - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    cmd, p1, p2, res = struct.unpack("<IIIi", data)
    return cmd, p1, p2, res


def test_unknown_command_extension_is_skipped(vpi: VirtualPi) -> None:
    with _raw(vpi.port) as sock:
        # command 200 does not exist; its 40 extension bytes look like a WRITE request
        decoy = struct.pack("<IIII", 4, 17, 1, 0) * 2 + b"\x00" * 8
        sock.sendall(struct.pack("<IIII", 200, 1, 2, len(decoy)) + decoy)
        sock.sendall(struct.pack("<IIII", 16, 0, 0, 0))  # TICK
        assert _reply(sock)[::3] == (200, pigpio.PI_UNKNOWN_COMMAND)
        assert _reply(sock)[0] == 16  # in sync: the next reply is the tick's
        # a known command with an extension it does not use is skipped past too
        sock.sendall(struct.pack("<IIII", 4, 17, 1, 5) + b"abcde" + struct.pack("<IIII", 3, 17, 0, 0))
        assert _reply(sock)[::3] == (4, 0) and _reply(sock)[::3] == (3, 1)
    assert vpi.level(17) == 1 and [e.value for e in vpi.history(17, "level")] == [1]


def test_extension_over_64_kib_drops_the_connection(vpi: VirtualPi) -> None:
    with _raw(vpi.port) as sock:
        sock.sendall(struct.pack("<IIII", 57, 0, 0, 0xFFFF) + b"\x00" * 0xFFFF)  # the largest
        assert _reply(sock)[0] == 57
        sock.sendall(struct.pack("<IIII", 57, 0, 0, 0xFFFFFFF0) + b"\x00" * 4096)
        sock.settimeout(5)
        assert sock.recv(16) == b""  # closed, nothing buffered
    assert wait_for(lambda: vpi.client_count() == 0)
    pi = pigpio.pi("127.0.0.1", vpi.port, show_errors=False)  # still serving
    try:
        assert pi.connected and pi.get_current_tick() >= 0
    finally:
        pi.stop()


def test_notify_open_begin_pause_close_through_a_fifo(client: pigpio.pi, vpi: VirtualPi) -> None:
    handle = client.notify_open()
    assert 0 <= handle < 32
    fd = os.open(vpi.notify_path(handle), os.O_RDONLY | os.O_NONBLOCK)
    try:
        client.set_mode(10, pigpio.INPUT)
        client.notify_begin(handle, 1 << 10)
        t0 = vpi.tick()
        vpi.set_inputs([(10, 1, t0), (10, 0, t0 + 25), (11, 1, t0 + 30)])  # 11 is not watched
        reports = _read_reports(fd, 2)
        assert [(seq, flags, tick) for seq, flags, tick, _ in reports] == [(0, 0, t0),
                                                                        (1, 0, t0 + 25)]
        assert reports[0][3] >> 10 & 1 == 1 and reports[1][3] >> 10 & 1 == 0
        client.notify_pause(handle)
        vpi.set_input(10, 1)
        client.set_watchdog(10, 10)
        client.notify_begin(handle, 1 << 10)
        (seq, flags, _, level), = _read_reports(fd, 1)  # a watchdog timeout, not the edge
        assert (seq, flags, level >> 10 & 1) == (2, pigpio.NTFY_FLAGS_WDOG | 10, 1)
        client.set_watchdog(10, 0)
        client.notify_close(handle)
        assert not os.path.exists(vpi.notify_path(handle))
        with pytest.raises(pigpio.error, match="unknown handle"):
            client.notify_begin(handle, 1)
    finally:
        os.close(fd)


def _read_reports(fd: int, count: int) -> list[tuple[int, int, int, int]]:
    data = b""
    deadline = time.monotonic() + 5
    while len(data) < 12 * count and time.monotonic() < deadline:
        try:
            data += os.read(fd, 12 * count - len(data))
        except BlockingIOError:
            time.sleep(0.005)
    assert len(data) == 12 * count, data
    return [struct.unpack_from("<HHII", data, i) for i in range(0, len(data), 12)]


def test_notification_handles_are_shared_and_keep_alive() -> None:
    with VirtualPi("127.0.0.1", 0, keepalive_s=0.2) as vpi:
        pi = pigpio.pi("127.0.0.1", vpi.port, show_errors=False)
        try:
            handle = pi.notify_open()
            assert pi._notify.handle != handle  # the callback thread's NOIB handle is another
            fd = os.open(vpi.notify_path(handle), os.O_RDONLY | os.O_NONBLOCK)
            try:
                (seq, flags, _, _), = _read_reports(fd, 1)
                assert (seq, flags) == (0, pigpio.NTFY_FLAGS_ALIVE)
            finally:
                os.close(fd)
            pi.notify_close(handle)
        finally:
            pi.stop()


def test_in_band_close_answers_like_pigpiod(vpi: VirtualPi) -> None:
    """NC on the notification socket itself gets its 16-byte answer there; the client closes."""
    with _raw(vpi.port) as sock:
        sock.sendall(struct.pack("<IIII", 99, 0, 0, 0))  # NOIB
        cmd, _, _, handle = _reply(sock)
        assert cmd == 99 and handle >= 0
        sock.sendall(struct.pack("<IIII", 21, handle, 0, 0))  # NC
        assert _reply(sock) == (21, handle, 0, 0)
    assert wait_for(lambda: vpi.client_count() == 0)


def test_only_allowed_clients_get_a_session() -> None:
    with VirtualPi("127.0.0.1", 0, allow=["10.9.8.0/24"]) as vpi:
        pi = pigpio.pi("127.0.0.1", vpi.port, show_errors=False)
        assert not pi.connected and vpi.refused_clients >= 1
        pi.stop()
    with VirtualPi("127.0.0.1", 0, allow=["10.9.8.0/24", "127.0.0.1"]) as vpi:
        pi = pigpio.pi("127.0.0.1", vpi.port, show_errors=False)
        try:
            assert pi.connected and pi.get_current_tick() >= 0
        finally:
            pi.stop()


def test_a_network_bind_needs_an_allow_list() -> None:
    done = subprocess.run([sys.executable, "-m", "pilot_hw.virtual_pi", "--host", "0.0.0.0",
                           "--port", str(free_port())], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "--allow" in done.stderr
