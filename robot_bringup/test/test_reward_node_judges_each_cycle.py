"""RewardFromDetectionsNode on a real ROS graph: one reward and deviation per brain cycle."""

import math

import numpy as np
import pytest
import rclpy
from geometry_msgs.msg import PointStamped
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import Float32MultiArray

from ab_interfaces.msg import (
    ActuatorCommand,
    BoxDetection,
    Detections,
    Deviation,
    JointMotion,
    Reward,
)
from robot_bringup.arm import ArmGeometry, forward_kinematics, inverse_kinematics
from robot_bringup.camera import CameraModel
from robot_bringup.reward_from_detections_node import RewardFromDetectionsNode

pytestmark = pytest.mark.timeout(60)
RELIABLE = QoSProfile(depth=10)


def judge_graph(ros_context, executor, spin_until, judge_from):
    node = RewardFromDetectionsNode(context=ros_context, parameter_overrides=[
        rclpy.parameter.Parameter("shape", value="exp"),
        rclpy.parameter.Parameter("scale_m", value=0.25),
        rclpy.parameter.Parameter("judge_from", value=judge_from)])
    probe = rclpy.create_node("probe", context=ros_context)
    executor.add_node(node)
    executor.add_node(probe)
    got = {"reward": [], "deviation": [], "target_error": []}
    probe.create_subscription(Reward, "reward", got["reward"].append, RELIABLE)
    probe.create_subscription(Deviation, "deviation", got["deviation"].append, RELIABLE)
    probe.create_subscription(Float32MultiArray, "target_error", got["target_error"].append,
                              RELIABLE)
    pubs = {
        "joints": probe.create_publisher(JointState, "joint_states", qos_profile_sensor_data),
        "truth": probe.create_publisher(PointStamped, "sim/target", RELIABLE),
        "detections": probe.create_publisher(Detections, "detections", RELIABLE),
    }
    if judge_from == "commands":
        pubs["command"] = probe.create_publisher(ActuatorCommand, "actuator_command", RELIABLE)
    else:
        pubs["motion"] = probe.create_publisher(JointMotion, "joint_motion", RELIABLE)
    assert spin_until(executor, lambda: all(p.get_subscription_count() for p in pubs.values()))
    return node, pubs, got


@pytest.fixture
def graph(ros_context, executor, spin_until):
    """The node judging from actuator_command arrivals (judge_from: commands)."""
    return judge_graph(ros_context, executor, spin_until, "commands")


@pytest.fixture
def motion_graph(ros_context, executor, spin_until):
    """The node judging from the sim's joint_motion (the default)."""
    return judge_graph(ros_context, executor, spin_until, "joint_motion")


def joints_msg(q):
    msg = JointState()
    msg.name = ["joint0", "joint1", "gripper"]
    msg.position = [float(q[0]), float(q[1]), 1.0]
    return msg


def cycle(n, source="brain_session"):
    msg = ActuatorCommand()
    msg.source = source
    msg.cycle = n
    return msg


def test_rewards_follow_the_ground_truth_distance(graph, executor, spin_until):
    node, pubs, got = graph
    q = [math.pi / 2, 0.0]
    tip = forward_kinematics(ArmGeometry(), q)[2]
    truth = PointStamped()
    truth.point.x, truth.point.y = float(tip[0] + 0.25), float(tip[1])
    pubs["joints"].publish(joints_msg(q))
    pubs["truth"].publish(truth)
    assert spin_until(executor, lambda: node.estimator.ground_truth is not None and
                      node.estimator.joints_rad is not None)
    pubs["command"].publish(cycle(7))
    pubs["command"].publish(cycle(8, source="sim_arm"))  # not a brain cycle
    assert spin_until(executor, lambda: node.pending_cycle == 7)
    assert got["reward"] == []  # judged on the joints that show what cycle 7 did
    # Cycle 7's command moved each joint 0.02 rad toward the target.
    wanted = inverse_kinematics(ArmGeometry(), [truth.point.x, truth.point.y], near_rad=q)
    moved = [a + math.copysign(0.02, w - a) for a, w in zip(q, wanted, strict=True)]
    pubs["joints"].publish(joints_msg(moved))
    assert spin_until(executor, lambda: got["reward"] and got["deviation"] and
                      got["target_error"])
    executor.spin_once(timeout_sec=0.2)
    assert [r.cycle for r in got["reward"]] == [7]
    tip_after = forward_kinematics(ArmGeometry(), moved)[2]
    distance = math.dist(tip_after, (truth.point.x, truth.point.y))
    assert got["reward"][0].global_reward == pytest.approx(math.exp(-distance / 0.25), rel=1e-3)
    # Each joint's layer is rewarded for its own progress: 0.02 rad of progress_scale_rad.
    reward = got["reward"][0]
    assert list(reward.layer_ids) == ["hidden_to_joint0", "hidden_to_joint1"]
    expected = [0.5 + 0.5 * 0.02 / 0.05 if abs(w - a) > 0.02 else None
                for a, w in zip(q, wanted, strict=True)]
    assert expected[0] is not None
    for got_reward, want in zip(reward.layer_rewards, expected, strict=True):
        if want is not None:
            assert got_reward == pytest.approx(want, abs=1e-4)
    deviation = got["deviation"][0]
    assert deviation.feedback_id == "arm_error" and len(deviation.values) == 20
    assert deviation.values[0] == pytest.approx(distance / 0.9, rel=1e-3)
    assert all(-1.0 <= e <= 1.0 for e in got["target_error"][-1].data)
    assert len(got["target_error"][-1].data) == 2


def test_a_detection_of_the_target_overrides_the_ground_truth(graph, executor, spin_until):
    node, pubs, got = graph
    q = [math.pi / 2, 0.0]
    tip = forward_kinematics(ArmGeometry(), q)[2]
    truth = PointStamped()
    truth.point.x, truth.point.y = 0.5, 0.1
    pubs["joints"].publish(joints_msg(q))
    pubs["truth"].publish(truth)
    u, v = CameraModel().world_to_pixel(tip)
    detections = Detections()
    detections.boxes = [BoxDetection(category_name="target", x=int(round(u)) - 6,
                                     y=int(round(v)) - 6, width=12, height=12, confidence=0.9)]
    pubs["detections"].publish(detections)
    assert spin_until(executor, lambda: node.detections_seen and
                      node.estimator.joints_rad is not None)
    pubs["command"].publish(cycle(1))
    pubs["command"].publish(cycle(2))  # no joints in between: cycle 1 is judged now
    assert spin_until(executor, lambda: got["reward"])
    assert got["reward"][0].cycle == 1
    assert node.last_sample.source == "detection"
    assert got["reward"][0].global_reward > 0.9
    assert np.isfinite(got["reward"][0].global_reward)


def test_no_reward_before_the_target_is_known(graph, executor, spin_until):
    node, pubs, got = graph
    pubs["joints"].publish(joints_msg([1.0, 0.5]))
    assert spin_until(executor, lambda: node.estimator.joints_rad is not None)
    pubs["command"].publish(cycle(1))
    spin_until(executor, lambda: False, 0.5)
    assert got["reward"] == []


def test_each_command_is_credited_with_the_moves_until_the_next(graph, executor, spin_until):
    node, pubs, got = graph
    q = [math.pi / 2, 0.0]
    truth = PointStamped()
    truth.point.x, truth.point.y = 0.3, 0.5
    pubs["truth"].publish(truth)
    pubs["joints"].publish(joints_msg(q))
    assert spin_until(executor, lambda: node.estimator.ground_truth is not None and
                      node.estimator.joints_rad is not None)
    wanted = inverse_kinematics(ArmGeometry(), [0.3, 0.5], near_rad=q)
    toward = [a + math.copysign(0.01, w - a) for a, w in zip(q, wanted, strict=True)]
    away = [a - math.copysign(0.02, w - a) for a, w in zip(q, wanted, strict=True)]
    pubs["command"].publish(cycle(1))
    assert spin_until(executor, lambda: node.pending_cycle == 1)
    pubs["joints"].publish(joints_msg(toward))          # cycle 1's doing ...
    assert spin_until(executor, lambda: node.estimator.joints_rad[0] == toward[0])
    pubs["command"].publish(cycle(2))                   # ... judged when cycle 2 arrives
    assert spin_until(executor, lambda: len(got["reward"]) == 1)
    pubs["joints"].publish(joints_msg(away))            # cycle 2's doing, judged on timeout
    assert spin_until(executor, lambda: len(got["reward"]) == 2)
    first, second = got["reward"]
    assert (first.cycle, second.cycle) == (1, 2)
    assert first.layer_rewards[0] == pytest.approx(0.5 + 0.5 * 0.01 / 0.05, abs=1e-4)
    assert second.layer_rewards[0] == pytest.approx(0.5 - 0.5 * 0.03 / 0.05, abs=1e-4)


def motion(n, before, after, source="brain_session"):
    msg = JointMotion(source=source, cycle=n, name=["joint0", "joint1", "gripper"])
    msg.position_before = [float(before[0]), float(before[1]), 0.0]
    msg.position_after = [float(after[0]), float(after[1]), 0.0]
    return msg


def test_joint_motion_credits_each_cycle_with_its_own_move(motion_graph, executor,
                                                            spin_until):
    node, pubs, got = motion_graph
    q = [math.pi / 2, 0.0]
    truth = PointStamped()
    truth.point.x, truth.point.y = 0.3, 0.5
    pubs["truth"].publish(truth)
    # A stale joint_states tick arriving late changes nothing: joint_motion says it all.
    pubs["joints"].publish(joints_msg([0.0, 0.0]))
    assert spin_until(executor, lambda: node.estimator.ground_truth is not None)
    wanted = inverse_kinematics(ArmGeometry(), [0.3, 0.5], near_rad=q)
    toward = [a + math.copysign(0.01, w - a) for a, w in zip(q, wanted, strict=True)]
    away = [a - math.copysign(0.02, w - a) for a, w in zip(toward, wanted, strict=True)]
    pubs["motion"].publish(motion(4, q, toward))
    pubs["motion"].publish(motion(5, toward, away))
    pubs["motion"].publish(motion(6, away, q, source="sim_arm"))   # not a brain cycle
    pubs["motion"].publish(JointMotion(source="brain_session", cycle=7, name=["joint0"]))
    assert spin_until(executor, lambda: len(got["reward"]) == 2)
    spin_until(executor, lambda: False, 0.3)
    assert [r.cycle for r in got["reward"]] == [4, 5]
    first, second = got["reward"]
    assert first.layer_rewards[0] == pytest.approx(0.5 + 0.5 * 0.01 / 0.05, abs=1e-4)
    assert second.layer_rewards[0] == pytest.approx(0.5 - 0.5 * 0.02 / 0.05, abs=1e-4)
    tip = forward_kinematics(ArmGeometry(), away)[2]
    assert second.global_reward == pytest.approx(
        math.exp(-math.dist(tip, (0.3, 0.5)) / 0.25), rel=1e-3)


def test_judge_from_must_be_known(ros_context):
    with pytest.raises(ValueError, match="judge_from"):
        RewardFromDetectionsNode(context=ros_context, parameter_overrides=[
            rclpy.parameter.Parameter("judge_from", value="vibes")])
