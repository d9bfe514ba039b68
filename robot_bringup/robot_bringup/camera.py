"""The simulated camera: an OpenCV render of the arm's scene, and the target's schedule.

No rclpy here. The camera looks straight at the arm's plane: a plain light
background, the arm drawn in dark blue-grey, and the target as a saturated red
disc (the colour the detector's colour-blob logic reports as category
`target`). Nothing else in the picture is saturated, so the target is the only
blob there is to find.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from node_kit.checks import require_length
from robot_bringup.arm import ArmGeometry

BACKGROUND_BGR = (214, 214, 210)
ARM_BGR = (90, 70, 60)
JOINT_BGR = (40, 40, 40)
GRIPPER_BGR = (120, 120, 120)
TARGET_BGR = (0, 0, 255)


@dataclass(frozen=True)
class CameraModel:
    """Image size and the window of the world plane (metres) it shows."""

    width_px: int = 320
    height_px: int = 240
    x_min_m: float = -1.0
    x_max_m: float = 1.0
    y_min_m: float = -0.5
    y_max_m: float = 1.0

    def __post_init__(self) -> None:
        if self.width_px < 16 or self.height_px < 16:
            raise ValueError(f"camera image must be at least 16x16 px, got "
                             f"{self.width_px}x{self.height_px}")
        if not (self.x_min_m < self.x_max_m and self.y_min_m < self.y_max_m):
            raise ValueError("camera window: x_min_m < x_max_m and y_min_m < y_max_m needed")

    @property
    def px_per_m(self) -> tuple[float, float]:
        return (self.width_px / (self.x_max_m - self.x_min_m),
                self.height_px / (self.y_max_m - self.y_min_m))

    def world_to_pixel(self, xy_m: np.ndarray) -> np.ndarray:
        """World (x, y) in metres → pixel (u right, v down), float; any leading shape."""
        xy = np.asarray(xy_m, dtype=float)
        sx, sy = self.px_per_m
        u = (xy[..., 0] - self.x_min_m) * sx
        v = (self.y_max_m - xy[..., 1]) * sy
        return np.stack([u, v], axis=-1)

    def pixel_to_world(self, uv_px: np.ndarray) -> np.ndarray:
        """Pixel (u, v) → world (x, y) in metres; inverse of world_to_pixel."""
        uv = np.asarray(uv_px, dtype=float)
        sx, sy = self.px_per_m
        x = uv[..., 0] / sx + self.x_min_m
        y = self.y_max_m - uv[..., 1] / sy
        return np.stack([x, y], axis=-1)


def declare_camera(params: Any) -> CameraModel:
    """The CameraModel of a node's read-only `camera.*` parameters (the sim's camera, as
    the arm and the reward node see it); `params` is the node's node_kit Params. Raises
    ValueError naming the parameters."""
    width = params.declare(
        "camera.width_px", 320, "Camera image width (px).", low=16, high=4096)
    height = params.declare(
        "camera.height_px", 240, "Camera image height (px).", low=16, high=4096)
    window = require_length("camera.window_m", params.declare(
        "camera.window_m", [-1.0, 1.0, -0.5, 1.0],
        "World window the camera shows: x_min, x_max, y_min, y_max (m)."), 4)
    try:
        return CameraModel(width, height, *window)
    except ValueError as error:
        raise ValueError(f"parameters camera.*: {error}") from None


def render(camera: CameraModel, arm_points_m: np.ndarray, gripper: float,
           target_xy_m: Sequence[float] | None, target_radius_m: float) -> np.ndarray:
    """The camera image (H, W, 3) uint8 BGR of the arm (base, elbow, tip) and the target."""
    image = np.empty((camera.height_px, camera.width_px, 3), dtype=np.uint8)
    image[:] = BACKGROUND_BGR
    sx, _ = camera.px_per_m
    # Draw in 1/16 px fixed point for smooth motion at small resolutions.
    shift = 4
    scale = 1 << shift
    points = camera.world_to_pixel(arm_points_m)
    fixed = np.round(points * scale).astype(np.int32)
    thickness = max(2, int(round(0.04 * sx)))
    cv2.polylines(image, [fixed.reshape(-1, 1, 2)], False, ARM_BGR, thickness,
                  lineType=cv2.LINE_AA, shift=shift)
    for p in fixed:
        cv2.circle(image, (int(p[0]), int(p[1])), int(thickness * 0.8 * scale), JOINT_BGR,
                   thickness=-1, lineType=cv2.LINE_AA, shift=shift)
    # Gripper: two fingers at the tip, spread wide when open (closure 0).
    tip, elbow = arm_points_m[2], arm_points_m[1]
    heading = math.atan2(tip[1] - elbow[1], tip[0] - elbow[0])
    spread = 0.15 + 0.6 * (1.0 - float(np.clip(gripper, 0.0, 1.0)))
    for side in (-1.0, 1.0):
        angle = heading + side * spread
        finger = np.array([tip[0] + 0.07 * math.cos(angle), tip[1] + 0.07 * math.sin(angle)])
        a, b = camera.world_to_pixel(np.stack([tip, finger]))
        cv2.line(image, (int(a[0] * scale), int(a[1] * scale)),
                 (int(b[0] * scale), int(b[1] * scale)), GRIPPER_BGR,
                 max(1, thickness // 2), lineType=cv2.LINE_AA, shift=shift)
    # The target last, over the arm: a tip on the target must not hide part of the disc,
    # or the detector's centre of the red blob moves away from the tip, and the target the
    # reward and the brain's input see runs ahead of the arm.
    if target_xy_m is not None:
        centre = camera.world_to_pixel(np.asarray(target_xy_m, dtype=float))
        cv2.circle(image, tuple(int(round(c * scale)) for c in centre),
                   max(scale, int(round(target_radius_m * sx * scale))), TARGET_BGR,
                   thickness=-1, lineType=cv2.LINE_AA, shift=shift)
    return image


class TargetSchedule:
    """Where the target is: a fixed list visited in turn or random reachable points,
    switching every `period_s` (0 = never); `set` overrides until the next switch."""

    def __init__(self, geometry: ArmGeometry, period_s: float,
                 positions_m: Sequence[Sequence[float]] = (), seed: int = 0,
                 min_height_m: float = 0.1) -> None:
        if period_s < 0:
            raise ValueError(f"target period_s must be >= 0, got {period_s}")
        self.geometry = geometry
        self.period_s = period_s
        self.positions = [np.asarray(p, dtype=float) for p in positions_m]
        for p in self.positions:
            if p.shape != (2,) or not np.all(np.isfinite(p)):
                raise ValueError(f"target position must be a finite (x, y), got {p.tolist()}")
        self.seed = seed
        self.min_height_m = min_height_m
        self.switch_count = 0
        self.reset()

    def reset(self) -> None:
        """Start over: the first position (the same random sequence again) from the next update."""
        self.rng = np.random.default_rng(self.seed)
        self.index = 0
        self.position = self.positions[0] if self.positions else self._random()
        self.switched_at_s: float | None = None

    def _random(self) -> np.ndarray:
        l1, l2 = self.geometry.link_lengths_m
        r_lo, r_hi = max(abs(l1 - l2) + 0.1, 0.3), 0.92 * (l1 + l2)
        while True:
            r = self.rng.uniform(r_lo, r_hi)
            angle = self.rng.uniform(0.15, math.pi - 0.15)
            p = np.array([r * math.cos(angle), r * math.sin(angle)])
            if p[1] >= self.min_height_m:
                return p

    def next(self) -> np.ndarray:
        """Move the target to its next position now."""
        if self.positions:
            self.index = (self.index + 1) % len(self.positions)
            self.position = self.positions[self.index]
        else:
            self.position = self._random()
        self.switch_count += 1
        return self.position

    def set(self, xy_m: Sequence[float]) -> None:
        p = np.asarray(xy_m, dtype=float)
        if p.shape != (2,) or not np.all(np.isfinite(p)):
            raise ValueError(f"target position must be a finite (x, y), got {list(xy_m)}")
        self.position = p
        self.switch_count += 1

    def update(self, now_s: float) -> np.ndarray:
        """The target position at `now_s`, switching when a period has passed."""
        if self.switched_at_s is None:
            self.switched_at_s = now_s
        elif self.period_s > 0 and now_s - self.switched_at_s >= self.period_s:
            self.switched_at_s = now_s
            self.next()
        return self.position
