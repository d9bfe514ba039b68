"""pigpio 1.78's own client calls against the virtual Pi, beyond the drivers' needs: what it
simulates answers as pigpiod does; what it does not simulate (SPI, serial, files, shell,
bit-banging, clocks, pads) answers "unknown command" and leaves the stream in sync, extension
data included."""

from __future__ import annotations

import threading

import pigpio
import pytest
from pilot_test_helpers import wait_for

from pilot_hw.virtual_pi import PIGPIO_VERSION, VirtualPi

pytestmark = pytest.mark.timeout(120)


def test_bank_2_version_and_tick(client: pigpio.pi, vpi: VirtualPi) -> None:
    assert client.get_pigpio_version() == PIGPIO_VERSION
    assert client.set_bank_2(1 << 3) == 0 and client.clear_bank_2(1 << 3) == 0
    assert client.read_bank_2() >= 0
    first = client.get_current_tick()
    assert wait_for(lambda: client.get_current_tick() != first)


def test_wave_sizes_repeat_and_modes(client: pigpio.pi, vpi: VirtualPi) -> None:
    client.set_mode(20, pigpio.OUTPUT)
    assert client.wave_add_new() == 0
    client.wave_add_generic([pigpio.pulse(1 << 20, 0, 300), pigpio.pulse(0, 1 << 20, 700)])
    assert (client.wave_get_micros(), client.wave_get_pulses()) == (1000, 2)
    assert client.wave_get_max_pulses() >= client.wave_get_pulses()
    assert client.wave_get_max_micros() > 0 and client.wave_get_max_cbs() > 0
    wave = client.wave_create()
    assert client.wave_send_repeat(wave) > 0
    assert wait_for(lambda: len(vpi.history(20, "level")) >= 6)  # three cycles at least
    rises = [e.tick_us for e in vpi.history(20, "level") if e.value == 1]
    assert {b - a for a, b in zip(rises, rises[1:], strict=False)} == {1000}
    client.wave_tx_stop()
    assert client.wave_tx_busy() == 0
    assert client.wave_send_using_mode(wave, pigpio.WAVE_MODE_ONE_SHOT) > 0
    assert wait_for(lambda: client.wave_tx_busy() == 0)
    client.wave_clear()
    with pytest.raises(pigpio.error):
        client.wave_send_once(wave)


def test_scripts_update_and_stop(client: pigpio.pi, vpi: VirtualPi) -> None:
    script = client.store_script(b"tag 1 w 26 1 mils 2 w 26 0 mils 2 jmp 1")
    client.run_script(script)
    assert wait_for(lambda: client.script_status(script)[0] in (pigpio.PI_SCRIPT_RUNNING,
                                                               pigpio.PI_SCRIPT_WAITING))
    assert client.update_script(script, [7, 8]) == 0
    assert list(client.script_status(script)[1][:2]) == [7, 8]
    assert client.stop_script(script) == 0
    assert client.script_status(script)[0] == pigpio.PI_SCRIPT_HALTED
    assert client.delete_script(script) == 0
    assert client.script_status(script)[0] == pigpio.PI_BAD_SCRIPT_ID  # a status, not raised


def test_i2c_byte_and_word_calls(client: pigpio.pi, vpi: VirtualPi) -> None:
    handle = client.i2c_open(1, 0x68)
    assert client.i2c_write_byte(handle, 0x75) == 0  # set the register pointer
    assert client.i2c_read_byte(handle) == 0x68
    client.i2c_write_word_data(handle, 0x6B, 0x0000)
    assert client.i2c_read_byte_data(handle, 0x6B) == 0
    client.i2c_write_i2c_block_data(handle, 0x1B, [0x08, 0x10])  # gyro then accel config
    assert client.i2c_read_i2c_block_data(handle, 0x1B, 2) == (2, bytearray([0x08, 0x10]))
    assert client.i2c_close(handle) == 0
    with pytest.raises(pigpio.error, match="unknown handle"):
        client.i2c_read_byte(handle)


def test_events_and_waits(client: pigpio.pi, vpi: VirtualPi) -> None:
    seen = threading.Event()
    callback = client.event_callback(5, lambda event, tick: seen.set())
    assert client.event_trigger(5) == 0
    assert seen.wait(5)
    callback.cancel()
    client.set_mode(9, pigpio.INPUT)
    timer = threading.Timer(0.1, lambda: vpi.set_input(9, 1))
    timer.start()
    assert client.wait_for_edge(9, pigpio.RISING_EDGE, 5.0) is True
    timer.join()
    assert client.wait_for_edge(9, pigpio.FALLING_EDGE, 0.05) is False


UNSIMULATED = {
    "spi_open": lambda pi: pi.spi_open(0, 500_000),
    "spi_xfer": lambda pi: pi.spi_xfer(0, b"\x01\x02\x03"),
    "serial_open": lambda pi: pi.serial_open("/dev/ttyAMA0", 9600),
    "serial_write": lambda pi: pi.serial_write(0, b"hello"),
    "file_open": lambda pi: pi.file_open("/tmp/x", pigpio.FILE_READ),
    "shell": lambda pi: pi.shell("true"),
    "bb_i2c_open": lambda pi: pi.bb_i2c_open(2, 3, 100_000),
    "bb_i2c_zip": lambda pi: pi.bb_i2c_zip(2, [4, 0x68, 2, 7, 1, 0x75, 3, 0]),
    "i2c_zip": lambda pi: pi.i2c_zip(0, [4, 0x68, 0]),
    "bsc_xfer": lambda pi: pi.bsc_xfer(0, b"data"),
    "wave_add_serial": lambda pi: pi.wave_add_serial(4, 9600, b"abc"),
    "wave_chain": lambda pi: pi.wave_chain([0, 1, 255, 0, 0, 0]),
    "hardware_clock": lambda pi: pi.hardware_clock(4, 5000),
    "set_pad_strength": lambda pi: pi.set_pad_strength(0, 8),
}


@pytest.mark.parametrize("name", sorted(UNSIMULATED))
def test_unsimulated_calls_answer_unknown_command_in_sync(client: pigpio.pi, vpi: VirtualPi,
                                                          name: str) -> None:
    client.write(17, 1)
    with pytest.raises(pigpio.error, match="unknown command"):
        result = UNSIMULATED[name](client)
        if isinstance(result, tuple):  # the data-returning calls give the error as a count
            result = result[0]
        if result < 0:
            raise pigpio.error(pigpio.error_text(result))
    assert client.read(17) == 1 and client.get_mode(17) == pigpio.OUTPUT  # still in step
