import math

import numpy as np
import pytest

from robot_bringup.arm import ArmGeometry, ArmState, forward_kinematics, inverse_kinematics


def test_inverse_kinematics_reaches_reachable_points():
    geometry = ArmGeometry()
    rng = np.random.default_rng(1)
    for _ in range(200):
        r = rng.uniform(0.3, 0.85)  # inside the reach the joint limits allow
        a = rng.uniform(0.1, math.pi - 0.1)
        target = np.array([r * math.cos(a), r * math.sin(a)])
        q = inverse_kinematics(geometry, target, near_rad=[1.0, 0.5])
        assert np.allclose(forward_kinematics(geometry, q)[2], target, atol=1e-6)


def test_inverse_kinematics_of_an_unreachable_point_points_at_it():
    geometry = ArmGeometry()
    q = inverse_kinematics(geometry, [0.0, 5.0])
    tip = forward_kinematics(geometry, q)[2]
    assert tip[1] > 0.85 and abs(tip[0]) < 0.05


def test_deltas_add_per_channel_and_stop_at_the_limits():
    arm = ArmState(ArmGeometry(max_delta_rad=10.0), np.array([1.0, 0.0]))
    # Two channels x 3 steps, channel-major.
    arm.apply(["joint:0", "joint:1"], [0.1, 0.1, 0.1, -0.2, 0.0, 0.0], 3)
    assert np.allclose(arm.joints_rad, [1.3, -0.2])
    arm.apply(["joint:1"], [-9.0], 1)
    assert arm.joints_rad[1] == pytest.approx(arm.geometry.joint_min_rad[1])


def test_one_command_moves_a_joint_at_most_max_delta():
    arm = ArmState(ArmGeometry(max_delta_rad=0.1), np.array([1.0, 0.0]))
    arm.apply(["joint:0"], [1.0], 1)
    assert arm.joints_rad[0] == pytest.approx(1.1)


def test_gripper_stays_between_open_and_closed():
    arm = ArmState()
    assert arm.gripper == 0.0  # starts open
    arm.apply(["gripper"], [3.0], 1)
    assert arm.gripper == 1.0
    arm.apply(["gripper"], [-0.25, -0.25], 2)
    assert arm.gripper == pytest.approx(0.5)


def test_unknown_channels_are_reported_and_the_rest_applied():
    arm = ArmState(joints_rad=np.array([1.0, 0.0]))
    unknown = arm.apply(["wheel:left", "joint:0"], [1.0, 0.05], 1)
    assert unknown == ["wheel:left"]
    assert arm.joints_rad[0] == pytest.approx(1.05)


@pytest.mark.parametrize("channels, deltas, steps, words", [
    (["joint:0"], [0.1, 0.2], 1, "expected 1"),
    (["joint:0"], [float("nan")], 1, "NaN"),
    (["joint:0"], [0.1], 0, "step_count"),
])
def test_bad_commands_are_refused_and_change_nothing(channels, deltas, steps, words):
    arm = ArmState(joints_rad=np.array([1.0, 0.5]))
    with pytest.raises(ValueError, match=words):
        arm.apply(channels, deltas, steps)
    assert np.allclose(arm.joints_rad, [1.0, 0.5])


def test_bad_geometry_names_the_field():
    with pytest.raises(ValueError, match="link_lengths_m"):
        ArmGeometry(link_lengths_m=(0.5, -1.0))
    with pytest.raises(ValueError, match="joint 1"):
        ArmGeometry(joint_min_rad=(0.0, 1.0), joint_max_rad=(1.0, 0.5))
