"""The `pilot` node over real DDS: actuator_command channels drive outputs, edges and IMU
samples are published, timed pulses are served, diagnostics report the link."""

from __future__ import annotations

import time

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from pilot_test_helpers import wait_for
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Imu

from ab_interfaces.msg import ActuatorCommand, GpioEdge
from ab_interfaces.srv import TimedPulse
from pilot_hw.pilot_node import PilotNode
from pilot_hw.virtual_pi import VirtualPi

pytestmark = pytest.mark.timeout(120)

DEVICES = """
devices:
  - {name: gripper, type: servo, pin: 18, min_pulse_us: 1000, max_pulse_us: 2000,
     safe_pulse_us: 1000, channel: gripper, command_timeout_s: 60}
  - {name: led, type: digital_output, pin: 17, channel: led, command_timeout_s: 60}
  - {name: button, type: digital_input, pin: 27, pull: up}
  - {name: wheel, type: dc_motor, pwm_pin: 12, in1_pin: 5, in2_pin: 6, channel: "wheel:left",
     channel_range: [-0.5, 0.5]}
  - {name: valve, type: solenoid, pin: 25, max_pulse_us: 100000}
  - {name: imu, type: imu_mpu6050, rate_hz: 50, frame_id: arm_imu}
"""


@pytest.fixture
def pilot(ros_context, executor, vpi: VirtualPi):
    node = PilotNode(context=ros_context, parameter_overrides=[
        Parameter("port", value=vpi.port), Parameter("devices", value=DEVICES),
        Parameter("command_timeout_s", value=0.3), Parameter("diagnostics_period_s", value=0.2),
        Parameter("heartbeat_period_s", value=0.05)])
    executor.add_node(node)
    return node


@pytest.fixture
def peer(ros_context, executor):
    node = rclpy.create_node("peer", context=ros_context)
    executor.add_node(node)
    return node


def command(channels: list[str], deltas: list[float], steps: int = 1) -> ActuatorCommand:
    return ActuatorCommand(source="test", channels=channels, step_count=steps, step_dt_s=0.01,
                           deltas=deltas)


def test_commands_move_servo_led_and_motor(pilot, peer, executor, spin_until,
                                           vpi: VirtualPi) -> None:
    publisher = peer.create_publisher(ActuatorCommand, "actuator_command", 10)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    # deltas of each channel over its steps add up: gripper +0.5, led +1, joint:0 not ours
    publisher.publish(command(["gripper", "led", "joint:0"], [0.2, 0.3, 0.5, 0.5, 1.0, 1.0], 2))
    assert spin_until(executor, lambda: vpi.pin_state(18).servo_pulse_us == 1500)
    assert vpi.level(17) == 1
    publisher.publish(command(["gripper"], [5.0]))  # clamped at the channel's top
    assert spin_until(executor, lambda: vpi.pin_state(18).servo_pulse_us == 2000)
    publisher.publish(command(["gripper"], [1.0, 2.0], 3))  # malformed: ignored
    publisher.publish(command(["wheel:left"], [0.25]))  # half of +-0.5 m/s
    assert spin_until(executor, lambda: vpi.pin_state(12).pwm_duty == 500)
    assert (vpi.level(5), vpi.level(6)) == (1, 0)
    assert vpi.pin_state(18).servo_pulse_us == 2000


def test_motor_stops_when_commands_stop(pilot, peer, executor, spin_until,
                                        vpi: VirtualPi) -> None:
    publisher = peer.create_publisher(ActuatorCommand, "actuator_command", 10)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    publisher.publish(command(["wheel:left"], [-0.5]))
    assert spin_until(executor, lambda: vpi.pin_state(12).pwm_duty == 1000)
    for _ in range(8):  # "hold" commands keep it running past the 0.3 s timeout
        publisher.publish(command(["wheel:left"], [0.0]))
        deadline = time.monotonic() + 0.1
        while time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.02)
    assert vpi.pin_state(12).pwm_duty == 1000
    assert spin_until(executor, lambda: vpi.pin_state(12).pwm_duty == 0, timeout_s=5)
    assert pilot.hardware.status().command_timeouts == 1


def test_edges_are_published_in_order(pilot, peer, executor, spin_until,
                                      vpi: VirtualPi) -> None:
    edges: list[GpioEdge] = []
    peer.create_subscription(GpioEdge, "gpio/edges", edges.append, 10)
    assert spin_until(executor, lambda: pilot.edge_publisher.get_subscription_count() > 0)
    t0 = vpi.tick()
    for i in range(6):  # press/release, 5 ms apart, paced so no depth-10 queue overflows
        vpi.set_input(27, i % 2, t0 + 5000 * i)
    assert spin_until(executor, lambda: len(edges) == 6)
    assert [(e.device, e.pin, e.level, e.seq) for e in edges] == [
        ("button", 27, i % 2, i) for i in range(6)]
    assert [e.tick_us for e in edges] == [t0 + 5000 * i for i in range(6)]


def test_imu_samples_are_published(pilot, peer, executor, spin_until, vpi: VirtualPi) -> None:
    samples: list[Imu] = []
    peer.create_subscription(Imu, "imu", samples.append, qos_profile_sensor_data)
    vpi.set_imu_motion((0.0, 0.0, -9.80665), (0.0, 0.0, 1.0))
    assert spin_until(executor, lambda: any(s.angular_velocity.z > 0.9 for s in samples))
    last = samples[-1]
    assert last.header.frame_id == "arm_imu"
    assert last.linear_acceleration.z == pytest.approx(-9.80665, abs=0.01)
    assert last.angular_velocity.z == pytest.approx(1.0, abs=0.01)
    assert last.orientation_covariance[0] == -1.0


def call(executor, spin_until, client, request):
    assert client.wait_for_service(timeout_sec=10)
    future = client.call_async(request)
    assert spin_until(executor, future.done)
    return future.result()


def test_timed_pulse_service(pilot, peer, executor, spin_until, vpi: VirtualPi) -> None:
    client = peer.create_client(TimedPulse, "pilot/timed_pulse")
    result = call(executor, spin_until, client,
                  TimedPulse.Request(device="valve", duration_us=30_000, level=1))
    assert result.success, result.message
    assert wait_for(lambda: len(vpi.history(25, "level")) == 2)
    rise, fall = vpi.history(25, "level")
    assert fall.tick_us - rise.tick_us == 30_000
    assert (rise.tick_us - result.start_tick_us) & 0xFFFFFFFF < 1_000_000
    for request, reason in [
            (TimedPulse.Request(device="valve", duration_us=200_000), "out of range"),
            (TimedPulse.Request(device="nope", duration_us=10), "no device named 'nope'"),
            (TimedPulse.Request(device="led", duration_us=10), "need a solenoid")]:
        result = call(executor, spin_until, client, request)
        assert not result.success and reason in result.message


def test_diagnostics_report_the_link(pilot, peer, executor, spin_until, vpi: VirtualPi) -> None:
    reports: list[DiagnosticArray] = []
    peer.create_subscription(DiagnosticArray, "diagnostics", reports.append, 10)
    assert spin_until(executor, lambda: len(reports) > 0)
    link = reports[-1].status[0]
    assert link.level == DiagnosticStatus.OK and link.message == "connected"
    vpi.stop()
    assert spin_until(executor, lambda: reports[-1].status[0].level == DiagnosticStatus.ERROR)
    assert "lost pigpio link" in reports[-1].status[0].message


def test_destroy_node_leaves_outputs_safe(pilot, peer, executor, spin_until,
                                          vpi: VirtualPi) -> None:
    pilot.hardware.apply_channel_deltas({"gripper": 1.0, "led": 1.0})
    assert vpi.pin_state(18).servo_pulse_us == 2000
    executor.remove_node(pilot)
    pilot.destroy_node()
    assert vpi.pin_state(18).servo_pulse_us == 1000 and vpi.level(17) == 0
    assert vpi.script_statuses() == {}
