"""A 2-joint planar arm with a gripper: kinematics, joint limits, actuator deltas.

No rclpy here. Lengths in metres, angles in radians, the base at the world
origin, x to the right, y up; joint 0 rotates the upper arm from the +x axis,
joint 1 the forearm relative to the upper arm. The gripper is a closure
fraction in [0, 1] (0 open, 1 closed), as pilot_hw's gripper servo channel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

JOINT_CHANNELS = ("joint:0", "joint:1")
GRIPPER_CHANNEL = "gripper"


@dataclass(frozen=True)
class ArmGeometry:
    """Link lengths and joint limits of the arm."""

    link_lengths_m: tuple[float, float] = (0.5, 0.4)
    joint_min_rad: tuple[float, float] = (-0.2, -2.6)
    joint_max_rad: tuple[float, float] = (math.pi + 0.2, 2.6)
    # Largest change one command may make to a joint (a velocity limit per cycle).
    max_delta_rad: float = 0.5

    def __post_init__(self) -> None:
        if len(self.link_lengths_m) != 2 or any(not (v > 0) for v in self.link_lengths_m):
            raise ValueError(f"link_lengths_m must be two positive lengths, got "
                             f"{self.link_lengths_m}")
        for i, (lo, hi) in enumerate(zip(self.joint_min_rad, self.joint_max_rad, strict=True)):
            if not lo < hi:
                raise ValueError(f"joint {i}: joint_min_rad {lo} must be below joint_max_rad {hi}")
        if not self.max_delta_rad > 0:
            raise ValueError(f"max_delta_rad must be positive, got {self.max_delta_rad}")

    @property
    def reach_m(self) -> float:
        return self.link_lengths_m[0] + self.link_lengths_m[1]

    def clip(self, joints_rad: np.ndarray) -> np.ndarray:
        return np.clip(joints_rad, self.joint_min_rad, self.joint_max_rad)


def forward_kinematics(geometry: ArmGeometry, joints_rad: Sequence[float]) -> np.ndarray:
    """Positions [base, elbow, end effector] as a (3, 2) array of world x, y."""
    l1, l2 = geometry.link_lengths_m
    q0, q1 = float(joints_rad[0]), float(joints_rad[1])
    elbow = (l1 * math.cos(q0), l1 * math.sin(q0))
    tip = (elbow[0] + l2 * math.cos(q0 + q1), elbow[1] + l2 * math.sin(q0 + q1))
    return np.array([(0.0, 0.0), elbow, tip])


def inverse_kinematics(geometry: ArmGeometry, target_xy: Sequence[float],
                       near_rad: Sequence[float] | None = None) -> np.ndarray:
    """Joint angles that put the end effector at `target_xy` (or as near as reachable).

    Of the two elbow solutions inside the joint limits the one closest to
    `near_rad` (default: elbow bent positively) is returned; when neither is
    inside, the nearest clipped to the limits.
    """
    l1, l2 = geometry.link_lengths_m
    x, y = float(target_xy[0]), float(target_xy[1])
    r = math.hypot(x, y)
    r = min(max(r, abs(l1 - l2) + 1e-6), l1 + l2 - 1e-6)
    cos_q1 = (r * r - l1 * l1 - l2 * l2) / (2 * l1 * l2)
    q1_abs = math.acos(max(-1.0, min(1.0, cos_q1)))
    heading = math.atan2(y, x)
    solutions = []
    for q1 in (q1_abs, -q1_abs):
        q0 = heading - math.atan2(l2 * math.sin(q1), l1 + l2 * math.cos(q1))
        # Bring q0 into the range the limits describe.
        while q0 < geometry.joint_min_rad[0] - math.pi:
            q0 += 2 * math.pi
        while q0 > geometry.joint_max_rad[0] + math.pi:
            q0 -= 2 * math.pi
        solutions.append(np.array([q0, q1]))
    # Prefer solutions inside the joint limits; clip only when neither is.
    inside = [s for s in solutions if np.array_equal(geometry.clip(s), s)]
    candidates = inside or [geometry.clip(s) for s in solutions]
    if near_rad is None:
        return candidates[0]
    near = np.asarray(near_rad, dtype=float)
    return min(candidates, key=lambda s: float(np.abs(s - near).sum()))


@dataclass
class ArmState:
    """The arm's joints and gripper; `apply` moves them by a command's deltas."""

    geometry: ArmGeometry = field(default_factory=ArmGeometry)
    joints_rad: np.ndarray = field(default_factory=lambda: np.array([math.pi / 2, 0.8]))
    gripper: float = 0.0

    def __post_init__(self) -> None:
        self.joints_rad = self.geometry.clip(np.asarray(self.joints_rad, dtype=float).copy())

    def apply(self, channels: Sequence[str], deltas: Sequence[float] | np.ndarray,
              step_count: int) -> list[str]:
        """Add a command's deltas (channel-major, `step_count` per channel).

        Returns the channels this arm does not have (they are ignored). Raises
        ValueError, changing nothing, when the shape or values are bad.
        """
        values = np.asarray(deltas, dtype=float)
        if step_count < 1:
            raise ValueError(f"step_count must be at least 1, got {step_count}")
        if values.size != len(channels) * step_count:
            raise ValueError(f"{values.size} deltas for {len(channels)} channels x "
                             f"{step_count} steps (expected {len(channels) * step_count})")
        if not np.all(np.isfinite(values)):
            raise ValueError("deltas contain NaN or infinity")
        per_channel = values.reshape(len(channels), step_count).sum(axis=1) if channels else values
        unknown = []
        joints = self.joints_rad.copy()
        gripper = self.gripper
        limit = self.geometry.max_delta_rad
        for name, total in zip(channels, per_channel, strict=True):
            if name in JOINT_CHANNELS:
                i = JOINT_CHANNELS.index(name)
                joints[i] += max(-limit, min(limit, float(total)))
            elif name == GRIPPER_CHANNEL:
                gripper = min(1.0, max(0.0, gripper + float(total)))
            else:
                unknown.append(name)
        self.joints_rad = self.geometry.clip(joints)
        self.gripper = gripper
        return unknown

    def end_effector(self) -> np.ndarray:
        return forward_kinematics(self.geometry, self.joints_rad)[2]

    def points(self) -> np.ndarray:
        return forward_kinematics(self.geometry, self.joints_rad)
