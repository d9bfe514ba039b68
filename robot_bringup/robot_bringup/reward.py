"""Reward and deviation from where the arm's tip is and where the target was seen.

No rclpy here. The target comes from the detector (box centres of category
`target`, converted from pixels to the world plane by the camera model) and,
when no detection is fresh, optionally from the simulator's ground truth.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robot_bringup.arm import ArmGeometry, forward_kinematics, inverse_kinematics
from robot_bringup.camera import CameraModel


@dataclass(frozen=True)
class Box:
    """A detection box in pixels (x, y top-left), as the detector reports it."""

    category: str
    x: float
    y: float
    width: float
    height: float
    confidence: float


@dataclass(frozen=True)
class RewardSample:
    """One judgement: reward in [0, 1], tip-to-target distance, and where the target came from."""

    reward: float
    distance_m: float
    source: str  # "detection" or "ground_truth"
    joint_error: tuple[float, float]  # (target joints - joints) / pi, each in [-1, 1]
    # Per joint, how much nearer (rad) to the target the joint came since `before` (the
    # joints before the command being judged), both measured against the same target;
    # zeros when judge() had no `before`.
    joint_progress_rad: tuple[float, float] = (0.0, 0.0)


REWARD_SHAPES = ("linear", "exp")


def distance_reward(distance_m: float, scale_m: float, shape: str = "linear") -> float:
    """Reward in [0, 1], 1 on the target: `linear` 1 - distance / scale (0 from one scale
    away: the same gain per metre everywhere), `exp` exp(-distance / scale)."""
    if scale_m <= 0:
        raise ValueError(f"reward scale_m must be positive, got {scale_m}")
    distance_m = max(distance_m, 0.0)
    if shape == "linear":
        return float(max(0.0, 1.0 - distance_m / scale_m))
    if shape == "exp":
        return float(math.exp(-distance_m / scale_m))
    raise ValueError(f"reward shape must be one of {REWARD_SHAPES}, got {shape!r}")


def target_from_boxes(boxes: Sequence[Box], camera: CameraModel, category: str,
                      min_confidence: float) -> np.ndarray | None:
    """World (x, y) of the most confident box of `category`, or None."""
    best = None
    for box in boxes:
        if box.category != category or box.confidence < min_confidence:
            continue
        if box.width <= 0 or box.height <= 0:
            continue
        if best is None or box.confidence > best.confidence:
            best = box
    if best is None:
        return None
    centre = np.array([best.x + best.width / 2.0, best.y + best.height / 2.0])
    return camera.pixel_to_world(centre)


class RewardEstimator:
    """Keeps the latest joints and target sightings; `judge` turns them into a RewardSample."""

    def __init__(self, geometry: ArmGeometry, scale_m: float, detection_timeout_s: float,
                 use_ground_truth: bool, shape: str = "linear") -> None:
        if scale_m <= 0:
            raise ValueError(f"scale_m must be positive, got {scale_m}")
        if shape not in REWARD_SHAPES:
            raise ValueError(f"shape must be one of {REWARD_SHAPES}, got {shape!r}")
        self.shape = shape
        if detection_timeout_s <= 0:
            raise ValueError(f"detection_timeout_s must be positive, got {detection_timeout_s}")
        self.geometry = geometry
        self.scale_m = scale_m
        self.detection_timeout_s = detection_timeout_s
        self.use_ground_truth = use_ground_truth
        self.joints_rad: np.ndarray | None = None
        self.detected: tuple[np.ndarray, float] | None = None
        self.ground_truth: tuple[np.ndarray, float] | None = None

    def set_joints(self, joints_rad: Sequence[float]) -> None:
        self.joints_rad = np.asarray(joints_rad[:2], dtype=float)

    def set_detection(self, xy_m: np.ndarray, now_s: float) -> None:
        self.detected = (np.asarray(xy_m, dtype=float), now_s)

    def set_ground_truth(self, xy_m: Sequence[float], now_s: float) -> None:
        self.ground_truth = (np.asarray(xy_m, dtype=float), now_s)

    def target(self, now_s: float) -> tuple[np.ndarray, str] | None:
        if self.detected is not None and now_s - self.detected[1] <= self.detection_timeout_s:
            return self.detected[0], "detection"
        if self.use_ground_truth and self.ground_truth is not None:
            return self.ground_truth[0], "ground_truth"
        return None

    def judge(self, now_s: float, before_rad: Sequence[float] | None = None
              ) -> RewardSample | None:
        """The reward now, or None while the joints or the target are unknown.
        `before_rad`: the joints before the command being judged, for joint_progress_rad."""
        target = self.target(now_s)
        if target is None or self.joints_rad is None:
            return None
        xy, source = target
        tip = forward_kinematics(self.geometry, self.joints_rad)[2]
        distance = float(np.hypot(*(tip - xy)))
        # One joint-space goal for both: of the two elbow solutions, the one nearest to
        # where the command started.
        start = self.joints_rad if before_rad is None else np.asarray(before_rad[:2], float)
        wanted = inverse_kinematics(self.geometry, xy, near_rad=start)
        error = np.clip((wanted - self.joints_rad) / math.pi, -1.0, 1.0)
        progress = np.abs(wanted - start) - np.abs(wanted - self.joints_rad)
        return RewardSample(distance_reward(distance, self.scale_m, self.shape), distance, source,
                            (float(error[0]), float(error[1])),
                            (float(progress[0]), float(progress[1])))


def target_error_input(sample: RewardSample, error_scale_rad: float) -> list[float]:
    """The brain's `target` input: each joint's error to the target / error_scale_rad,
    clipped to [-1, 1]."""
    return [float(min(1.0, max(-1.0, e * math.pi / error_scale_rad)))
            for e in sample.joint_error]


def deviation_values(sample: RewardSample, reach_m: float, timestep_count: int) -> list[float]:
    """A deviation raster row: the tip's distance as a fraction of the reach, per timestep."""
    value = float(np.clip(sample.distance_m / reach_m, 0.0, 1.0))
    return [value] * timestep_count


def joint_rewards(sample: RewardSample, layer_ids: Sequence[str],
                  progress_scale_rad: float) -> dict[str, float]:
    """Per-joint rewards in [0, 1] for the brain's output layers (layer i drives joint i),
    for what the judged command did: 0.5 + 0.5 × (joint i's progress toward the target /
    progress_scale_rad), clipped. 0.5 is no progress, 1 a step of progress_scale_rad toward
    the target, 0 one away from it.

    Each joint is credited for its own move, and only for its move: the reward is a
    difference of one potential (−|joint-space error|) before and after the command, so a
    jump of the target between two commands, which no command caused, shows in neither
    (potential-based shaping: it keeps the task's best policy the best one)."""
    if not progress_scale_rad > 0:
        raise ValueError(f"progress_scale_rad must be positive, got {progress_scale_rad}")
    if len(layer_ids) > len(sample.joint_progress_rad):
        raise ValueError(f"{len(layer_ids)} layers for {len(sample.joint_progress_rad)} joints")
    return {layer: float(0.5 + 0.5 * np.clip(progress / progress_scale_rad, -1.0, 1.0))
            for layer, progress in zip(layer_ids, sample.joint_progress_rad, strict=False)}
