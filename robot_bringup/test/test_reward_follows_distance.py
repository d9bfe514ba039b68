import math

import numpy as np
import pytest

from robot_bringup.arm import ArmGeometry, forward_kinematics
from robot_bringup.camera import CameraModel
from robot_bringup.reward import (
    Box,
    RewardEstimator,
    deviation_values,
    distance_reward,
    joint_rewards,
    target_from_boxes,
)


@pytest.mark.parametrize("shape", ["linear", "exp"])
def test_reward_is_one_on_target_and_falls_with_distance(shape):
    assert distance_reward(0.0, 0.25, shape) == 1.0
    values = [distance_reward(d, 2.5, shape) for d in np.linspace(0, 2, 20)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    assert all(0.0 <= distance_reward(d, 0.5, shape) <= 1.0 for d in np.linspace(0, 3, 30))
    with pytest.raises(ValueError, match="scale_m"):
        distance_reward(0.1, 0.0, shape)
    with pytest.raises(ValueError, match="shape"):
        distance_reward(0.1, 1.0, "cubic")


def test_the_most_confident_target_box_wins_and_others_are_ignored():
    camera = CameraModel()
    uv = camera.world_to_pixel(np.array([0.3, 0.4]))
    boxes = [Box("target", uv[0] - 5, uv[1] - 5, 10, 10, 0.9),
             Box("target", 0, 0, 10, 10, 0.5),
             Box("cup", 100, 100, 10, 10, 0.99),
             Box("target", 50, 50, 10, 10, 0.1)]
    xy = target_from_boxes(boxes, camera, "target", min_confidence=0.3)
    assert np.allclose(xy, [0.3, 0.4])
    assert target_from_boxes(boxes[2:], camera, "target", 0.3) is None


def test_detections_win_while_fresh_then_ground_truth_takes_over():
    geometry = ArmGeometry()
    estimator = RewardEstimator(geometry, 0.25, detection_timeout_s=0.5, use_ground_truth=True)
    assert estimator.judge(0.0) is None
    joints = [math.pi / 2, 0.0]
    estimator.set_joints(joints)
    tip = forward_kinematics(geometry, joints)[2]
    estimator.set_ground_truth(tip + [0.5, 0.0], 0.0)
    estimator.set_detection(tip, 0.0)
    near = estimator.judge(0.1)
    assert near.source == "detection" and near.reward == pytest.approx(1.0)
    far = estimator.judge(1.0)
    assert far.source == "ground_truth" and far.distance_m == pytest.approx(0.5)
    assert far.reward == pytest.approx(0.0)  # linear: 1 - 0.5 / 0.25, clipped
    assert far.reward < near.reward


def test_joint_error_points_toward_the_target():
    geometry = ArmGeometry()
    estimator = RewardEstimator(geometry, 0.25, 0.5, use_ground_truth=True)
    estimator.set_joints([math.pi / 2, 0.5])
    target = forward_kinematics(geometry, [math.pi / 2 - 0.4, 0.5])[2]
    estimator.set_ground_truth(target, 0.0)
    sample = estimator.judge(0.0)
    assert sample.joint_error[0] == pytest.approx(-0.4 / math.pi, abs=1e-6)
    assert sample.joint_error[1] == pytest.approx(0.0, abs=1e-6)


def test_deviation_is_distance_over_reach_per_timestep():
    estimator = RewardEstimator(ArmGeometry(), 0.25, 0.5, use_ground_truth=True)
    estimator.set_joints([math.pi / 2, 0.0])
    estimator.set_ground_truth([0.0, 0.45], 0.0)
    values = deviation_values(estimator.judge(0.0), 0.9, 20)
    assert len(values) == 20 and values[0] == pytest.approx(0.5)


def test_each_joint_is_rewarded_for_its_own_move():
    estimator = RewardEstimator(ArmGeometry(), 1.0, 0.5, use_ground_truth=True)
    estimator.set_ground_truth([0.45, 0.55], 0.0)      # joints (0.306, 1.331) reach it
    before = [0.306 - 0.5, 1.331 + 0.6]
    # Joint 0 moves 0.03 rad toward the target, joint 1 0.01 rad away from it.
    estimator.set_joints([before[0] + 0.03, before[1] + 0.01])
    sample = estimator.judge(0.0, before_rad=before)
    assert sample.joint_progress_rad == pytest.approx((0.03, -0.01), abs=1e-6)
    rewards = joint_rewards(sample, ["a", "b"], progress_scale_rad=0.05)
    assert rewards["a"] == pytest.approx(0.5 + 0.5 * 0.03 / 0.05)
    assert rewards["b"] == pytest.approx(0.5 - 0.5 * 0.01 / 0.05)
    # A step larger than the scale is clipped; no move is neutral.
    estimator.set_joints([before[0] + 0.2, before[1]])
    big = joint_rewards(estimator.judge(0.0, before_rad=before), ["a", "b"], 0.05)
    assert big == pytest.approx({"a": 1.0, "b": 0.5})
    with pytest.raises(ValueError, match="3 layers for 2 joints"):
        joint_rewards(sample, ["a", "b", "c"], 0.05)
    with pytest.raises(ValueError, match="progress_scale_rad must be positive"):
        joint_rewards(sample, ["a", "b"], 0.0)


def test_a_target_jump_between_commands_is_no_ones_fault():
    """Progress is measured against one target: the jump shows in the global reward (the
    tip is now far) but not in the joints' rewards for a command that did not move."""
    estimator = RewardEstimator(ArmGeometry(), 1.0, 0.5, use_ground_truth=True)
    estimator.set_ground_truth([0.45, 0.55], 0.0)
    estimator.set_joints([0.306, 1.331])
    on_target = estimator.judge(0.0, before_rad=[0.306, 1.331])
    estimator.set_ground_truth([-0.45, 0.55], 0.0)
    after_jump = estimator.judge(0.0, before_rad=[0.306, 1.331])
    assert after_jump.reward < on_target.reward - 0.5
    assert joint_rewards(after_jump, ["a", "b"], 0.05) == pytest.approx({"a": 0.5, "b": 0.5})
