"""`reward_from_detections`: the arm's reward from where the detector sees the target.

Subscribes `detections` (the target's box), `joint_states` (the arm's tip by
forward kinematics), `sim/target` (the simulator's ground truth, used when no
detection is fresh and `use_ground_truth` is true) and what each brain command did:
with `judge_from: joint_motion` (the sim) the `joint_motion` the simulator publishes
for every command it applies (joints just before and after it, and its cycle), so each
cycle is credited with exactly its own move; with `judge_from: commands` (a robot whose
driver does not report that) `actuator_command`, each command judged when the next one
arrives or `judge_after_s` after it (the joints at two arrivals bracket one command as
far as joint_states keep up). For each judged cycle it publishes `reward` (1 - distance /
scale_m, or exp(-distance / scale_m), in [0, 1]; with `per_joint_rewards` also one
reward per joint for the layer that drives it: 0.5 + 0.5 x the joint's progress toward
the target during the command / progress_scale_rad, clipped to [0, 1]), `deviation` (feedback `arm_error`: the
distance as a fraction of the reach, per timestep) and `target_error`
(std_msgs/Float32MultiArray: joint-space error to the target / error_scale_rad,
clipped to [-1, 1], the brain's `target` input, at the joint_states rate).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from geometry_msgs.msg import PointStamped
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import Float32MultiArray

from ab_interfaces.msg import ActuatorCommand, Detections, Deviation, JointMotion, Reward
from node_kit import Params, run_node
from node_kit.checks import require_length
from robot_bringup.arm import ArmGeometry
from robot_bringup.camera import declare_camera
from robot_bringup.reward import (
    Box,
    RewardEstimator,
    deviation_values,
    joint_rewards,
    target_error_input,
    target_from_boxes,
)


def arm_joints(names: Sequence[str], positions: Sequence[float]) -> list[float] | None:
    """The positions of joint0 and joint1 (by name, else the first two), or None when
    there are not both."""
    names = list(names)
    index = [names.index("joint0"), names.index("joint1")] \
        if "joint0" in names and "joint1" in names else [0, 1]
    if max(index) >= len(positions):
        return None
    return [float(positions[i]) for i in index]


class RewardFromDetectionsNode(Node):
    """Judges each brain cycle by the tip-to-target distance."""

    def __init__(self, **kwargs) -> None:
        super().__init__("reward_from_detections", **kwargs)
        params = Params(self)
        lengths = require_length("link_lengths_m", params.declare(
            "link_lengths_m", [0.5, 0.4], "Arm link lengths (m), as the sim's.", low=0.01,
            high=10.0), 2)
        self.camera = declare_camera(params)
        shape = params.declare(
            "shape", "linear", "Reward shape: 'linear' 1 - d / scale_m, 'exp' exp(-d / scale_m).")
        scale = params.declare(
            "scale_m", 1.0, "Distance scale of the reward (m).", low=1e-4, high=100.0)
        timeout = params.declare(
            "detection_timeout_s", 0.5, "Age after which a detection no longer counts (s).",
            low=1e-3, high=60.0)
        use_ground_truth = params.declare(
            "use_ground_truth", True, "Use sim/target when no detection is fresh.")
        self.category = params.declare("category", "target", "Detection category of the target.")
        self.min_confidence = params.declare(
            "min_confidence", 0.3, "Lowest confidence of a usable detection.", low=0.0, high=1.0)
        self.feedback_id = params.declare(
            "feedback_id", "arm_error", "Feedback input id of the deviation.")
        self.feedback_timesteps = params.declare(
            "feedback_timesteps", 20, "Values per deviation (the contract's feedbackT).", low=1,
            high=100000)
        self.error_scale_rad = params.declare(
            "error_scale_rad", 0.75,
            "target_error = joint error / this, clipped to [-1, 1] (rad).", low=1e-3, high=10.0)
        self.per_joint_rewards = params.declare(
            "per_joint_rewards", True,
            "Also reward each joint's output layer for its own joint-space error "
            "(Reward.layer_ids / layer_rewards: 0.5 + 0.5 x progress / progress_scale_rad).")
        self.progress_scale_rad = params.declare(
            "progress_scale_rad", 0.05,
            "A joint's progress toward the target in one command (rad) that earns its layer "
            "a reward of 1 (no progress 0.5, as far away 0).",
            low=1e-4, high=10.0)
        self.joint_layer_ids = list(params.declare(
            "joint_layer_ids", ["hidden_to_joint0", "hidden_to_joint1"],
            "The brain's learning layers driving joint 0 and joint 1, in order."))
        if self.per_joint_rewards and (len(self.joint_layer_ids) != 2
                                       or not all(self.joint_layer_ids)):
            raise ValueError("parameter 'joint_layer_ids' must name two layers (joint 0, "
                             f"joint 1), got {self.joint_layer_ids}")
        self.judge_from = params.declare(
            "judge_from", "joint_motion",
            "What tells a command's effect: 'joint_motion' (joints before/after each applied "
            "command, as the sim publishes) or 'commands' (actuator_command arrivals "
            "bracketing joint_states).")
        if self.judge_from not in ("joint_motion", "commands"):
            raise ValueError("parameter 'judge_from' must be 'joint_motion' or 'commands', "
                             f"got {self.judge_from!r}")
        self.judge_after_s = params.declare(
            "judge_after_s", 0.2,
            "judge_from commands: a brain command not followed by another within this time "
            "is judged then (s).",
            low=0.01, high=10.0)
        self.ignore_sources = list(params.declare(
            "ignore_sources", ["sim_arm"],
            "actuator_command sources that are not brain cycles (not judged)."))
        if not self.category:
            raise ValueError("parameter 'category' must not be empty")
        try:
            self.geometry = ArmGeometry(tuple(lengths))
            self.estimator = RewardEstimator(self.geometry, scale, timeout, use_ground_truth,
                                             shape)
        except ValueError as error:
            raise ValueError(f"reward_from_detections parameters: {error}") from None

        reliable = QoSProfile(depth=10)
        params.refuse_unknown()
        self.reward_publisher = self.create_publisher(Reward, "reward", reliable)
        self.deviation_publisher = self.create_publisher(Deviation, "deviation", reliable)
        self.error_publisher = self.create_publisher(Float32MultiArray, "target_error", reliable)
        self.create_subscription(JointState, "joint_states", self.on_joints,
                                 qos_profile_sensor_data)
        self.create_subscription(Detections, "detections", self.on_detections, reliable)
        self.create_subscription(PointStamped, "sim/target", self.on_ground_truth, reliable)
        self.rewards_published = 0
        # The command waiting to be judged: its cycle, the joints and the time it arrived.
        self.pending_cycle: int | None = None
        self.pending_before = None
        self.pending_since = 0.0
        if self.judge_from == "joint_motion":
            self.create_subscription(JointMotion, "joint_motion", self.on_motion,
                                     QoSProfile(depth=50))
        else:
            self.create_subscription(ActuatorCommand, "actuator_command", self.on_command,
                                     reliable)
            self.create_timer(self.judge_after_s / 4.0, self.judge_overdue)
        self.last_sample = None
        self.detections_seen = 0

    def on_joints(self, msg: JointState) -> None:
        joints = arm_joints(msg.name, msg.position)
        if joints is None:
            self.get_logger().warning("joint_states without positions for joint0/joint1",
                                      throttle_duration_sec=5.0)
            return
        if all(math.isfinite(j) for j in joints):
            self.estimator.set_joints(joints)
            # The brain's `target` input follows the arm at the joint_states rate.
            sample = self.estimator.judge(time.monotonic())
            if sample is not None:
                self.error_publisher.publish(Float32MultiArray(
                    data=target_error_input(sample, self.error_scale_rad)))

    def on_detections(self, msg: Detections) -> None:
        boxes = [Box(b.category_name, b.x, b.y, b.width, b.height, b.confidence)
                 for b in msg.boxes]
        # Point detections count too (a detector logic may report the blob centre only).
        boxes += [Box(p.category_name, p.x - 0.5, p.y - 0.5, 1.0, 1.0, p.confidence)
                  for p in msg.points]
        target = target_from_boxes(boxes, self.camera, self.category, self.min_confidence)
        if target is not None:
            self.detections_seen += 1
            self.estimator.set_detection(target, time.monotonic())

    def on_ground_truth(self, msg: PointStamped) -> None:
        self.estimator.set_ground_truth((msg.point.x, msg.point.y), time.monotonic())

    def on_motion(self, msg: JointMotion) -> None:
        if msg.source in self.ignore_sources:
            return
        before = arm_joints(msg.name, msg.position_before)
        after = arm_joints(msg.name, msg.position_after)
        if before is None or after is None:
            self.get_logger().warning("joint_motion without positions for joint0/joint1",
                                      throttle_duration_sec=5.0)
            return
        if not all(math.isfinite(v) for v in before + after):
            self.get_logger().warning("joint_motion with non-finite positions ignored",
                                      throttle_duration_sec=5.0)
            return
        self.estimator.set_joints(after)
        self.judge(int(msg.cycle), before)

    def on_command(self, msg: ActuatorCommand) -> None:
        if msg.source in self.ignore_sources:
            return
        if self.pending_cycle is not None:
            self.judge(self.pending_cycle, self.pending_before)
        self.pending_cycle = int(msg.cycle)
        joints = self.estimator.joints_rad
        self.pending_before = None if joints is None else joints.copy()
        self.pending_since = time.monotonic()

    def judge_overdue(self) -> None:
        """Judge a command no other followed (the run stopped or stalled)."""
        if self.pending_cycle is not None and \
                time.monotonic() - self.pending_since >= self.judge_after_s:
            cycle, self.pending_cycle = self.pending_cycle, None
            self.judge(cycle, self.pending_before)

    def judge(self, cycle: int, before) -> None:
        sample = self.estimator.judge(time.monotonic(), before_rad=before)
        if sample is None:
            return
        self.last_sample = sample
        stamp = self.get_clock().now().to_msg()
        reward = Reward()
        reward.header.stamp = stamp
        reward.cycle = cycle
        reward.global_reward = sample.reward
        if self.per_joint_rewards:
            layers = joint_rewards(sample, self.joint_layer_ids, self.progress_scale_rad)
            reward.layer_ids = list(layers)
            reward.layer_rewards = list(layers.values())
        self.reward_publisher.publish(reward)
        deviation = Deviation()
        deviation.header.stamp = stamp
        deviation.cycle = cycle
        deviation.feedback_id = self.feedback_id
        deviation.values = deviation_values(sample, self.geometry.reach_m,
                                            self.feedback_timesteps)
        self.deviation_publisher.publish(deviation)
        self.rewards_published += 1


def main(args: list[str] | None = None) -> int:
    return run_node(RewardFromDetectionsNode, args, program="reward_from_detections")


if __name__ == "__main__":
    raise SystemExit(main())
