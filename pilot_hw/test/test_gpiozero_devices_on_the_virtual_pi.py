"""gpiozero 2.0.1 on pigpio 1.78 (both unmodified, from PyPI, in a venv of their own) drives
the virtual Pi through `PiGPIOFactory` as it drives a Pi: every device class users reach for,
checked at the daemon (the virtual Pi's own pin state, and a second pigpio client)."""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pigpio
import pytest
from pilot_test_helpers import wait_for

from pilot_hw.virtual_pi import PinEvent, VirtualPi

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # slow: the first run makes the venv

GPIOZERO_PINS = ["gpiozero==2.0.1", "pigpio==1.78", "colorzero==2.0"]
CHILD = Path(__file__).with_name("gpiozero_child.py")
SPEED_OF_SOUND_MPS = 343.26  # gpiozero's DistanceSensor default


class GpiozeroSession:
    """A gpiozero process: `run(code)` executes statements, `value(expr)` evaluates one."""

    def __init__(self, python: Path, port: int) -> None:
        self.child = subprocess.Popen([str(python), str(CHILD), "127.0.0.1", str(port)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
        ready = self._answer()
        assert (ready.get("ready"), ready.get("pigpio")) == ("2.0.1", "1.78"), ready

    def _answer(self) -> dict:
        line = self.child.stdout.readline()
        if not line:
            raise AssertionError(f"gpiozero process ended: {self.child.stderr.read()}")
        return json.loads(line)

    def _ask(self, request: dict) -> dict:
        self.child.stdin.write(json.dumps(request) + "\n")
        self.child.stdin.flush()
        return self._answer()

    def run(self, code: str) -> None:
        answer = self._ask({"exec": code})
        if "error" in answer:
            raise AssertionError(f"{code!r} raised {answer['error']}\n{answer['traceback']}")

    def value(self, expression: str) -> object:
        answer = self._ask({"eval": expression})
        if "error" in answer:
            raise AssertionError(f"{expression!r} raised {answer['error']}\n"
                                 f"{answer['traceback']}")
        return answer["value"]

    def close(self) -> None:
        self.child.stdin.close()
        try:
            self.child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()


@pytest.fixture(scope="module")
def vpi() -> Iterator[VirtualPi]:
    pi = VirtualPi("127.0.0.1", 0).start()
    try:
        yield pi
    finally:
        pi.stop()


BUTTON_PIN = 27


@pytest.fixture(scope="module")
def gz(vpi: VirtualPi, reference_python) -> Iterator[GpiozeroSession]:
    # The button's pull-up is set at boot, as `gpio=27=ip,pu` in config.txt does: pigpio's
    # client takes its "previous levels" when it connects and learns levels only from reports
    # of pins it watches, so a pull that gpiozero sets later makes a clean (bounce-free) first
    # press invisible - on a real pigpiod as here.
    boot = pigpio.pi("127.0.0.1", vpi.port, show_errors=False)
    boot.set_pull_up_down(BUTTON_PIN, pigpio.PUD_UP)
    boot.stop()
    session = GpiozeroSession(reference_python("gpiozero", GPIOZERO_PINS), vpi.port)
    try:
        yield session
    finally:
        session.close()


@pytest.fixture(scope="module")
def second(vpi: VirtualPi) -> Iterator[pigpio.pi]:
    """Another pigpio client of the same daemon, reading back what gpiozero set."""
    pi = pigpio.pi("127.0.0.1", vpi.port, show_errors=False)
    assert pi.connected
    try:
        yield pi
    finally:
        pi.stop()


def test_led_on_off_and_close(gz: GpiozeroSession, vpi: VirtualPi, second: pigpio.pi) -> None:
    gz.run("led = LED(17)")
    assert vpi.level(17) == 0 and vpi.pin_state(17).mode == pigpio.OUTPUT
    gz.run("led.on()")
    assert vpi.level(17) == 1 and second.read(17) == 1
    assert gz.value("led.is_lit") is True
    gz.run("led.off()")
    assert vpi.level(17) == 0
    gz.run("led.close()")
    assert vpi.pin_state(17).mode == pigpio.INPUT  # gpiozero hands the pin back as an input


def test_pwmled_duty_cycles(gz: GpiozeroSession, vpi: VirtualPi, second: pigpio.pi) -> None:
    gz.run("pwmled = PWMLED(12)")  # constructing needs get_PWM_dutycycle after duty 0 to be 0
    state = vpi.pin_state(12)
    assert (state.pwm_duty, state.pwm_range, state.pwm_frequency_hz) == (0, 10000, 100)
    assert second.get_PWM_dutycycle(12) == 0
    gz.run("pwmled.value = 0.25")
    assert vpi.pin_state(12).pwm_duty == 2500 and second.get_PWM_dutycycle(12) == 2500
    assert gz.value("pwmled.value") == 0.25
    gz.run("pwmled.on()")
    assert vpi.pin_state(12).pwm_duty == 10000 and vpi.level(12) == 1
    gz.run("pwmled.off()")
    assert vpi.pin_state(12).pwm_duty == 0 and vpi.level(12) == 0
    gz.run("pwmled.close()")
    assert vpi.pin_state(12).mode == pigpio.INPUT
    with pytest.raises(pigpio.error):  # no longer a PWM pin
        second.get_PWM_dutycycle(12)


def test_rgbled_colour_channels(gz: GpiozeroSession, vpi: VirtualPi) -> None:
    gz.run("rgb = RGBLED(22, 23, 24)")
    assert [vpi.pin_state(p).pwm_duty for p in (22, 23, 24)] == [0, 0, 0]
    gz.run("rgb.color = (1, 0.5, 0)")
    assert [vpi.pin_state(p).pwm_duty for p in (22, 23, 24)] == [10000, 5000, 0]
    assert gz.value("tuple(rgb.color)") == [1.0, 0.5, 0.0]
    gz.run("rgb.close()")


def test_button_when_pressed(gz: GpiozeroSession, vpi: VirtualPi) -> None:
    gz.run(f"button = Button({BUTTON_PIN})\npresses = []\n"
           "button.when_pressed = lambda: presses.append('down')\n"
           "button.when_released = lambda: presses.append('up')")
    assert vpi.pin_state(BUTTON_PIN).pull == pigpio.PUD_UP and vpi.level(BUTTON_PIN) == 1
    assert gz.value("button.is_pressed") is False
    vpi.set_input(BUTTON_PIN, 0)
    assert wait_for(lambda: gz.value("presses") == ["down"])
    assert gz.value("button.is_pressed") is True
    vpi.set_input(BUTTON_PIN, 1)
    assert wait_for(lambda: gz.value("presses") == ["down", "up"])
    gz.run("button.close()")
    vpi.clear_input(BUTTON_PIN)


def test_servo_pulse_widths(gz: GpiozeroSession, vpi: VirtualPi, second: pigpio.pi) -> None:
    # gpiozero drives servos with 50 Hz soft PWM (range 10000 = 20 ms), not servo pulses
    gz.run("servo = Servo(18)")
    state = vpi.pin_state(18)
    assert (state.pwm_frequency_hz, state.pwm_range, state.pwm_duty) == (50, 10000, 750)
    for call, duty in [("servo.min()", 500), ("servo.max()", 1000), ("servo.mid()", 750),
                       ("servo.value = -0.5", 625)]:
        gz.run(call)
        assert vpi.pin_state(18).pwm_duty == duty, call
        assert second.get_PWM_dutycycle(18) == duty
    assert gz.value("servo.pulse_width") == pytest.approx(0.00125)
    gz.run("servo.detach()")  # no pulses: the PWM duty goes to 0, and it reads back as 0
    assert vpi.pin_state(18).pwm_duty == 0 and gz.value("servo.value") is None
    gz.run("servo.close()")


def test_angular_servo(gz: GpiozeroSession, vpi: VirtualPi) -> None:
    gz.run("arm = AngularServo(13, min_angle=-90, max_angle=90)")
    gz.run("arm.angle = 45")
    assert vpi.pin_state(13).pwm_duty == 875  # 1.75 ms of 20 ms
    gz.run("arm.angle = -90")
    assert vpi.pin_state(13).pwm_duty == 500
    assert gz.value("arm.angle") == pytest.approx(-90)
    gz.run("arm.close()")


def test_pwm_motor_speed_and_direction(gz: GpiozeroSession, vpi: VirtualPi) -> None:
    gz.run("motor = Motor(forward=5, backward=6, pwm=True)")
    assert [vpi.pin_state(p).pwm_duty for p in (5, 6)] == [0, 0]
    gz.run("motor.forward(0.5)")
    assert [vpi.pin_state(p).pwm_duty for p in (5, 6)] == [5000, 0]
    gz.run("motor.backward(0.8)")
    assert [vpi.pin_state(p).pwm_duty for p in (5, 6)] == [0, 8000]
    assert gz.value("motor.value") == pytest.approx(-0.8)
    gz.run("motor.stop()")
    assert [vpi.pin_state(p).pwm_duty for p in (5, 6)] == [0, 0]
    gz.run("motor.close()")


def test_motor_with_enable_pin(gz: GpiozeroSession, vpi: VirtualPi) -> None:
    gz.run("plain = Motor(forward=20, backward=21, enable=26, pwm=False)")
    assert vpi.level(26) == 1
    gz.run("plain.forward()")
    assert (vpi.level(20), vpi.level(21)) == (1, 0)
    gz.run("plain.backward()")
    assert (vpi.level(20), vpi.level(21)) == (0, 1)
    gz.run("plain.close()")


def test_distance_sensor(gz: GpiozeroSession, vpi: VirtualPi) -> None:
    """An HC-SR04 at the edge of the world: each trigger pulse's fall answers with an echo
    pulse as long as the sound's round trip to an object 0.42 m away."""
    trigger, echo, distance_m = 16, 19, 0.42

    def sensor(event: PinEvent) -> None:
        if event.pin == trigger and event.kind == "level" and event.value == 0:
            width_us = round(2 * distance_m / SPEED_OF_SOUND_MPS * 1e6)
            rise = event.tick_us + 200
            vpi.set_inputs([(echo, 1, rise), (echo, 0, rise + width_us)])

    vpi.add_listener(sensor)
    gz.run(f"sonar = DistanceSensor(echo={echo}, trigger={trigger}, max_distance=1)")
    distance = gz.value("sonar.distance")
    assert math.isclose(distance, distance_m, abs_tol=1e-3), distance
    pulses = [e for e in vpi.history(trigger, "level") if e.value == 1]
    assert pulses  # the distance came from trigger pulses on the pin
    gz.run("sonar.close()")
