"""SimArmNode on a real ROS graph: commands move it, it publishes every stream, bad input is survived."""

import numpy as np
import pytest
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, qos_profile_sensor_data

from ab_interfaces.msg import ActuatorCommand, JointMotion
from robot_bringup.sim_arm_node import SimArmNode

pytestmark = pytest.mark.timeout(60)


def command(channels, deltas, steps=1, source="test"):
    msg = ActuatorCommand()
    msg.source = source
    msg.channels = channels
    msg.step_count = steps
    msg.step_dt_s = 0.001
    msg.deltas = [float(d) for d in deltas]
    return msg


@pytest.fixture
def sim(ros_context, executor):
    node = SimArmNode(context=ros_context, parameter_overrides=[
        Parameter("camera.rate_hz", value=20.0),
        Parameter("target.mode", value="list"),
        Parameter("target.positions_m", value=[0.4, 0.5, -0.4, 0.5]),
        Parameter("target.period_s", value=0.0),
        Parameter("initial_joints_rad", value=[1.5, 0.5]),
    ])
    executor.add_node(node)
    return node


def test_it_publishes_joints_images_markers_and_target(ros_context, executor, spin_until, sim):
    from geometry_msgs.msg import PointStamped
    from sensor_msgs.msg import Image, JointState
    from visualization_msgs.msg import MarkerArray

    probe = __import__("rclpy").create_node("probe", context=ros_context)
    executor.add_node(probe)
    got = {"joints": [], "images": [], "markers": [], "target": []}
    probe.create_subscription(JointState, "joint_states", got["joints"].append,
                              qos_profile_sensor_data)
    probe.create_subscription(Image, "camera/image_raw", got["images"].append,
                              qos_profile_sensor_data)
    probe.create_subscription(MarkerArray, "markers", got["markers"].append, QoSProfile(depth=10))
    probe.create_subscription(PointStamped, "sim/target", got["target"].append,
                              QoSProfile(depth=10))
    assert spin_until(executor, lambda: all(len(v) >= 2 for v in got.values()), 20)
    joints = got["joints"][-1]
    assert list(joints.name) == ["joint0", "joint1", "gripper"]
    assert joints.position[0] == pytest.approx(1.5)
    image = got["images"][-1]
    assert (image.encoding, image.width, image.height) == ("bgr8", 320, 240)
    assert len(image.data) == 320 * 240 * 3
    assert all(m.header.frame_id == "world" for m in got["markers"][-1].markers)
    assert (got["target"][-1].point.x, got["target"][-1].point.y) == pytest.approx((0.4, 0.5))


def test_commands_move_the_joints_and_bad_ones_are_survived(ros_context, executor, spin_until,
                                                             sim):
    probe = __import__("rclpy").create_node("commander", context=ros_context)
    executor.add_node(probe)
    motions = []
    probe.create_subscription(JointMotion, "joint_motion", motions.append, QoSProfile(depth=50))
    publisher = probe.create_publisher(ActuatorCommand, "actuator_command", QoSProfile(depth=10))
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0, 10)
    cmd = command(["joint:0", "joint:1"], [0.01] * 10 + [-0.02] * 10, steps=10)
    cmd.cycle = 42
    publisher.publish(cmd)
    assert spin_until(executor, lambda: sim.commands_applied >= 1, 10)
    assert np.allclose(sim.arm.joints_rad, [1.6, 0.3])
    # What the command did: the joints just before and after it, with its cycle.
    assert spin_until(executor, lambda: motions, 10)
    assert (motions[0].cycle, motions[0].source) == (42, "test")
    assert list(motions[0].name) == ["joint0", "joint1", "gripper"]
    assert motions[0].position_before[:2] == pytest.approx([1.5, 0.5])
    assert motions[0].position_after[:2] == pytest.approx([1.6, 0.3])
    publisher.publish(command(["joint:0"], [0.1, 0.2], steps=1))  # wrong length
    publisher.publish(command(["joint:0"], [float("nan")]))
    publisher.publish(command(["joint:0"], [0.0]))  # a hold command
    publisher.publish(command(["joint:1"], [0.1]))
    assert spin_until(executor, lambda: sim.commands_applied >= 3, 10)
    assert np.allclose(sim.arm.joints_rad, [1.6, 0.4])


def test_the_target_moves_by_parameter_and_by_service(ros_context, executor, spin_until, sim):
    from rclpy.parameter import Parameter as P
    from std_srvs.srv import Trigger

    result = sim.set_parameters([P("target_xy_m", value=[0.1, 0.7])])[0]
    assert result.successful
    assert np.allclose(sim.target(), [0.1, 0.7])
    bad = sim.set_parameters([P("target_xy_m", value=[0.1])])[0]
    assert not bad.successful and "target_xy_m" in bad.reason

    probe = __import__("rclpy").create_node("caller", context=ros_context)
    executor.add_node(probe)
    client = probe.create_client(Trigger, "sim_arm/next_target")
    assert spin_until(executor, client.service_is_ready, 10)
    future = client.call_async(Trigger.Request())
    assert spin_until(executor, future.done, 10)
    assert future.result().success
    assert np.allclose(sim.target(), [-0.4, 0.5])


def test_reaching_the_target_closes_the_gripper_through_the_command_topic(
        ros_context, executor, spin_until, sim):
    from robot_bringup.arm import inverse_kinematics

    probe = __import__("rclpy").create_node("listener", context=ros_context)
    executor.add_node(probe)
    own = []
    probe.create_subscription(ActuatorCommand, "actuator_command",
                              lambda m: own.append(m) if m.source == "sim_arm" else None,
                              QoSProfile(depth=10))
    sim.arm.joints_rad = inverse_kinematics(sim.geometry, sim.target())
    assert spin_until(executor, lambda: own and sim.arm.gripper == 1.0, 10)
    assert list(own[-1].channels) == ["gripper", "led"]
    assert own[-1].deltas[1] == 1.0


@pytest.mark.parametrize("name, value, words", [
    ("link_lengths_m", [0.5], "link_lengths_m"),
    ("target.mode", "circle", "target.mode"),
    ("target.positions_m", [0.1, 0.2, 0.3], "target.positions_m"),
    ("camera.rate_hz", 0.0, "camera.rate_hz"),
])
def test_bad_parameters_fail_at_start_naming_the_parameter(ros_context, name, value, words):
    with pytest.raises(ValueError, match=words.replace(".", r"\.")):
        SimArmNode(context=ros_context, parameter_overrides=[Parameter(name, value=value)])
