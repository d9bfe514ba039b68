"""Each driver moves its pins as declared: output devices on both backends (in memory, and
pigpio on the virtual Pi, read back at the daemon); inputs, waves and I2C, where pigpio's
protocol is the point, on the virtual Pi."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pigpio
import pytest
from pilot_test_helpers import wait_for

from pilot_hw.backends import MemoryBackend, PigpioBackend, PinBackend
from pilot_hw.config import load_config
from pilot_hw.devices import (
    DcMotor,
    DeviceBusy,
    DigitalInput,
    DigitalOutput,
    InputEvent,
    Mpu6050,
    Pwm,
    RgbLed,
    Servo,
    Solenoid,
    build_device,
    tick_diff_us,
)
from pilot_hw.sim_mpu6050 import Mpu6050Model
from pilot_hw.virtual_pi import VirtualPi

pytestmark = pytest.mark.timeout(120)


def attach(target: pigpio.pi | PinBackend, yaml_device: str, **kwargs):
    spec = load_config(f"devices: [{yaml_device}]").devices[0]
    device = build_device(spec, **kwargs)
    device.attach(PigpioBackend(target) if isinstance(target, pigpio.pi) else target)
    return device


@dataclass
class Pins:
    """A backend for devices and a read-back of its pins that does not go through it."""

    backend: PinBackend
    level: object
    pwm_duty: object
    servo_us: object
    hw_duty: object
    pwm_frequency_hz: object
    pwm_duties: object  # pin -> every duty set, in order


@pytest.fixture(params=["memory", "pigpio"])
def pins(request) -> Iterator[Pins]:
    if request.param == "memory":
        m = MemoryBackend()
        yield Pins(m, m.level, lambda p: m.pin(p).pwm_duty, lambda p: m.pin(p).servo_pulse_us,
                   lambda p: m.pin(p).hw_pwm_duty_ppm, lambda p: m.pin(p).pwm_frequency_hz,
                   lambda p: [v for _, pin, what, v in m.history if pin == p and what == "pwm"])
        return
    vpi = VirtualPi("127.0.0.1", 0).start()
    client = pigpio.pi("127.0.0.1", vpi.port, show_errors=False)
    try:
        yield Pins(PigpioBackend(client), vpi.level, lambda p: vpi.pin_state(p).pwm_duty,
                   lambda p: vpi.pin_state(p).servo_pulse_us,
                   lambda p: vpi.pin_state(p).hw_pwm_duty,
                   lambda p: vpi.pin_state(p).pwm_frequency_hz,
                   lambda p: [e.value for e in vpi.history(p, "pwm")])
    finally:
        client.stop()
        vpi.stop()


def test_digital_output_polarity_and_safe_state(pins: Pins) -> None:
    led = attach(pins.backend, "{name: led, type: digital_output, pin: 17, active_high: false}")
    assert isinstance(led, DigitalOutput)
    assert pins.level(17) == 1  # active low: off (safe) is high
    led.set(True)
    assert pins.level(17) == 0
    led.safe()
    assert pins.level(17) == 1 and not led.on_state


def test_digital_input_events_are_numbered_in_tick_order(client: pigpio.pi,
                                                         vpi: VirtualPi) -> None:
    events: list[InputEvent] = []
    # (PilotHardware sets pulls before the client that watches opens; see README)
    button = attach(client, "{name: button, type: digital_input, pin: 27, pull: down}",
                    on_event=events.append)
    assert isinstance(button, DigitalInput) and button.read() == 0
    t0 = vpi.tick()
    vpi.set_inputs([(27, (i + 1) % 2, t0 + 7 * i) for i in range(200)])
    assert wait_for(lambda: len(events) == 200)
    assert [e.seq for e in events] == list(range(200))
    assert all(tick_diff_us(a.tick_us, b.tick_us) == 7 for a, b in zip(events, events[1:],
                                                                          strict=False))
    assert {e.device for e in events} == {"button"}
    button.detach()


def test_digital_input_glitch_filter_and_watchdog(client: pigpio.pi, vpi: VirtualPi) -> None:
    events: list[InputEvent] = []
    attach(client, "{name: lick, type: digital_input, pin: 23, edge: rising, glitch_us: 500,"
                   " watchdog_ms: 30}", on_event=events.append)
    t0 = vpi.tick()
    vpi.set_inputs([(23, 1, t0), (23, 0, t0 + 100), (23, 1, t0 + 1000)])
    assert wait_for(lambda: any(e.level == 1 for e in events))
    assert wait_for(lambda: any(e.level == 2 for e in events))  # then silence: a timeout
    rises = [e for e in events if e.level == 1]
    assert [e.tick_us for e in rises] == [t0 + 1500]


def test_software_and_hardware_pwm(pins: Pins) -> None:
    soft = attach(pins.backend, "{name: buzzer, type: pwm, pin: 16, frequency_hz: 2000,"
                                " range: 100, active_high: false}")
    hard = attach(pins.backend, "{name: fan, type: pwm, pin: 13, hardware: true,"
                                " frequency_hz: 25000, safe_duty: 0.2}")
    assert isinstance(soft, Pwm) and isinstance(hard, Pwm)
    assert pins.pwm_duty(16) == 100 and pins.level(16) == 1  # active low, safe 0: fully high
    assert pins.pwm_frequency_hz(16) == 2000
    soft.set_duty(0.3)
    assert pins.pwm_duty(16) == 70
    assert pins.hw_duty(13) == 200_000
    hard.set_duty(1.5)  # clamped
    assert pins.hw_duty(13) == 1_000_000 and hard.duty == 1.0


def test_servo_clamps_to_its_pulse_limits(pins: Pins) -> None:
    servo = attach(pins.backend, "{name: gripper, type: servo, pin: 18, min_pulse_us: 1100,"
                                 " max_pulse_us: 1900, safe_pulse_us: 1500}")
    assert isinstance(servo, Servo)
    assert pins.servo_us(18) == 1500
    assert servo.set_pulse_us(2400) == 1900
    assert servo.set_fraction(-1.0) == 1100
    assert servo.set_fraction(0.25) == 1300
    assert pins.servo_us(18) == 1300


def test_dc_motor_direction_speed_and_brake(pins: Pins) -> None:
    motor = attach(pins.backend, "{name: wheel, type: dc_motor, pwm_pin: 12, in1_pin: 5,"
                                 " in2_pin: 6, max_speed: 0.8, brake_on_stop: true}")
    assert isinstance(motor, DcMotor)
    assert (pins.level(5), pins.level(6), pins.pwm_duty(12)) == (1, 1, 0)  # braked
    motor.set_speed(0.5)
    assert (pins.level(5), pins.level(6), pins.pwm_duty(12)) == (1, 0, 500)
    assert motor.set_speed(-1.0) == -0.8
    assert (pins.level(5), pins.level(6), pins.pwm_duty(12)) == (0, 1, 800)
    # reversing passes through zero duty before the direction pins swap
    assert pins.pwm_duties(12)[-3:] == [500, 0, 800]
    motor.set_speed(0.0)
    assert (pins.level(5), pins.level(6), pins.pwm_duty(12)) == (1, 1, 0)


def test_rgb_led_common_anode(pins: Pins) -> None:
    led = attach(pins.backend, "{name: status, type: rgb_led, red_pin: 22, green_pin: 23,"
                               " blue_pin: 24, common_anode: true}")
    assert isinstance(led, RgbLed)
    assert [pins.pwm_duty(p) for p in (22, 23, 24)] == [255, 255, 255]  # dark
    led.set_color(1.0, 0.5, 0.0)
    assert [pins.pwm_duty(p) for p in (22, 23, 24)] == [0, 128, 255]


def test_memory_backend_input_and_imu_without_a_daemon() -> None:
    memory = MemoryBackend(i2c_devices={(1, 0x68): Mpu6050Model()})
    events: list[InputEvent] = []
    button = attach(memory, "{name: button, type: digital_input, pin: 27, pull: up,"
                            " edge: falling}", on_event=events.append)
    assert button.read() == 1
    memory.set_input_level(27, 0)
    memory.set_input_level(27, 1)
    memory.set_input_level(27, 0)
    assert [(e.level, e.seq) for e in events] == [(0, 0), (0, 1)]  # falling edges only
    imu = attach(memory, "{name: imu, type: imu_mpu6050}")
    memory.i2c_devices[(1, 0x68)].set_motion((0.0, 0.0, 9.80665), (0.0, 0.0, 1.0), 25.0)
    sample = imu.read()
    assert np.allclose(sample.accel_mps2, [0, 0, 9.80665], atol=1e-3)
    assert np.allclose(sample.gyro_rad_s, [0, 0, 1.0], atol=1e-3)
    imu.close()
    assert memory.i2c_devices[(1, 0x68)].asleep
    with pytest.raises(RuntimeError, match="device 'ghost', field 'address'"):
        attach(memory, "{name: ghost, type: imu_mpu6050, address: 0x69}")


def test_solenoid_pulse_is_exact_and_exclusive(client: pigpio.pi, vpi: VirtualPi) -> None:
    valve = attach(client, "{name: valve, type: solenoid, pin: 25, max_pulse_us: 200000}")
    assert isinstance(valve, Solenoid) and vpi.level(25) == 0
    queued = valve.pulse(20_000)
    with pytest.raises(DeviceBusy):
        valve.pulse(100)
    assert wait_for(lambda: client.wave_tx_busy() == 0)
    rise, fall = vpi.history(25, "level")
    assert (rise.value, fall.value) == (1, 0)
    assert fall.tick_us - rise.tick_us == 20_000
    assert 0 <= tick_diff_us(queued, rise.tick_us) < 1_000_000
    valve.pulse(1234, level=1)
    assert wait_for(lambda: client.wave_tx_busy() == 0)
    rise, fall = vpi.history(25, "level")[-2:]
    assert fall.tick_us - rise.tick_us == 1234
    with pytest.raises(ValueError, match="out of range"):
        valve.pulse(300_000)


def test_solenoid_safe_state_halts_a_running_pulse(client: pigpio.pi, vpi: VirtualPi) -> None:
    valve = attach(client, "{name: valve, type: solenoid, pin: 25, max_pulse_us: 10000000}")
    valve.pulse(5_000_000)
    assert wait_for(lambda: vpi.level(25) == 1)
    valve.safe()
    assert vpi.level(25) == 0 and client.wave_tx_busy() == 0


@pytest.mark.parametrize("accel_g, gyro_dps", [(2, 250), (8, 2000)])
def test_mpu6050_scaling(client: pigpio.pi, vpi: VirtualPi, accel_g: int, gyro_dps: int) -> None:
    imu = attach(client, f"{{name: imu, type: imu_mpu6050, accel_range_g: {accel_g},"
                         f" gyro_range_dps: {gyro_dps}}}")
    assert isinstance(imu, Mpu6050)
    accel = np.array([1.5, -3.0, 9.80665])
    gyro = np.array([0.5, -1.0, 2.0])
    vpi.set_imu_motion(tuple(accel), tuple(gyro), temperature_c=30.0)
    sample = imu.read()
    # one LSB of the chosen full scale is the resolution
    assert np.allclose(sample.accel_mps2, accel, atol=9.80665 * accel_g / 32768)
    assert np.allclose(sample.gyro_rad_s, gyro, atol=math.radians(gyro_dps / 32768 * 1.01))
    assert sample.temperature_c == pytest.approx(30.0, abs=0.01)
    imu.close()
    assert vpi.imu().asleep


def test_imu_setup_names_the_device_when_nothing_answers(client: pigpio.pi) -> None:
    with pytest.raises(RuntimeError, match="device 'imu', field 'address'"):
        attach(client, "{name: imu, type: imu_mpu6050, address: 0x69}")


def test_memory_backend_timed_pulse_and_a_lost_link() -> None:
    memory = MemoryBackend()
    valve = attach(memory, "{name: valve, type: solenoid, pin: 25, max_pulse_us: 200000}")
    start = valve.pulse(150_000)
    assert [h for h in memory.history if h[2] == "pulse"] == [
        (start, 25, "pulse", 1), ((start + 150_000) & 0xFFFFFFFF, 25, "pulse", 0)]
    with pytest.raises(DeviceBusy):
        valve.pulse(100)
    valve.safe()  # halts the pulse, closes the valve
    assert not memory.pulse_busy() and memory.level(25) == 0
    memory.fail_with = ConnectionResetError("link gone")
    with pytest.raises(ConnectionResetError):
        valve.set_open(True)
