"""Control tasks written here, as Environments: pendulum swing-up and 2-joint arm reaching.

- `Pendulum`: a torque-limited pendulum that must be swung up and held
  upright (the classic formulation: g 10, m 1, l 1, dt 0.05 s, |torque| <= 2,
  |velocity| <= 8, reward -(angle^2 + 0.1 velocity^2 + 0.001 torque^2),
  200 steps). A random policy scores about -1200 per episode.
- `ArmReach`: a planar arm with two joints (links 0.5 m and 0.4 m, the same
  geometry as the robot_bringup sim) that must bring its fingertip to a
  target. Motor channels are joint deltas `joint:0`, `joint:1` (rad per step,
  clipped to +-max_delta_rad); sensory channels the joint positions and the
  target (`target:x`, `target:y`). Reward: minus the fingertip-target
  distance, in metres. 50 steps per episode.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rl_agents.environment import Assessment, Channel, Environment


def angle_normalize(x: float) -> float:
    return ((x + math.pi) % (2 * math.pi)) - math.pi


class Pendulum(Environment):
    """Swing-up pendulum; angle 0 is upright."""

    m_channels = [Channel("torque", (-2.0, 2.0), unit="N m")]
    s_channels = [Channel("angle", (-math.pi, math.pi), unit="rad"),
                  Channel("velocity", (-8.0, 8.0), unit="rad/s")]

    def __init__(self, cfg: dict[str, Any] | None = None) -> None:
        super().__init__(cfg)
        self.episode_steps = int(self.cfg.get("episode_steps", 200))
        self.rng = np.random.default_rng(self.cfg.get("seed"))
        self.theta, self.theta_dot, self.t = math.pi, 0.0, 0
        self._cost = 0.0

    def reset(self, seed: int | None = None) -> dict[str, float]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.theta = float(self.rng.uniform(-math.pi, math.pi))
        self.theta_dot = float(self.rng.uniform(-1.0, 1.0))
        self.t = 0
        return self._observe()

    def _observe(self) -> dict[str, float]:
        return {"angle": angle_normalize(self.theta), "velocity": self.theta_dot}

    def _execute(self, m_signal: dict[str, float], meta: dict[str, Any] | None = None
                 ) -> dict[str, float]:
        u = min(max(float(m_signal["torque"]), -2.0), 2.0)
        th = angle_normalize(self.theta)
        self._cost = th * th + 0.1 * self.theta_dot ** 2 + 0.001 * u * u
        g, m, length, dt = 10.0, 1.0, 1.0, 0.05
        self.theta_dot += (3 * g / (2 * length) * math.sin(self.theta)
                           + 3.0 / (m * length * length) * u) * dt
        self.theta_dot = min(max(self.theta_dot, -8.0), 8.0)
        self.theta += self.theta_dot * dt
        self.t += 1
        return self._observe()

    def _assess(self, m_signal: dict[str, float], s_signal: dict[str, float]) -> Assessment:
        return Assessment(reward=-self._cost, done=self.t >= self.episode_steps)


def arm_fingertip(q: np.ndarray, links_m: tuple[float, float] = (0.5, 0.4)) -> np.ndarray:
    """Forward kinematics of the planar 2-joint arm: fingertip (x, y) for joint angles q."""
    q = np.asarray(q, dtype=np.float64)
    l0, l1 = links_m
    return np.array([l0 * np.cos(q[..., 0]) + l1 * np.cos(q[..., 0] + q[..., 1]),
                     l0 * np.sin(q[..., 0]) + l1 * np.sin(q[..., 0] + q[..., 1])])


class ArmReach(Environment):
    """Kinematic 2-joint arm; joint deltas in, joint angles and target out."""

    m_channels = [Channel("joint:0", (-0.1, 0.1), unit="rad"),
                  Channel("joint:1", (-0.1, 0.1), unit="rad")]
    s_channels = [Channel("joint:0", (-math.pi, math.pi), unit="rad"),
                  Channel("joint:1", (-math.pi, math.pi), unit="rad"),
                  Channel("target:x", (-0.9, 0.9), unit="m"),
                  Channel("target:y", (-0.9, 0.9), unit="m")]
    links_m = (0.5, 0.4)

    def __init__(self, cfg: dict[str, Any] | None = None) -> None:
        super().__init__(cfg)
        self.episode_steps = int(self.cfg.get("episode_steps", 50))
        self.max_delta_rad = float(self.cfg.get("max_delta_rad", 0.1))
        self.rng = np.random.default_rng(self.cfg.get("seed"))
        self.q = np.zeros(2)
        self.target = np.array([0.9, 0.0])
        self.t = 0
        self._distance = 0.0

    def reset(self, seed: int | None = None) -> dict[str, float]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.q = self.rng.uniform([-math.pi / 2, -2.0], [math.pi / 2, 2.0])
        # a reachable target: random joint angles (elbow kept away from the singular stretch)
        goal_q = self.rng.uniform([-math.pi, 0.4], [math.pi, 2.5])
        goal_q[1] *= self.rng.choice([-1.0, 1.0])
        self.target = arm_fingertip(goal_q, self.links_m)
        self.t = 0
        return self._observe()

    def _observe(self) -> dict[str, float]:
        q = (self.q + math.pi) % (2 * math.pi) - math.pi
        return {"joint:0": float(q[0]), "joint:1": float(q[1]),
                "target:x": float(self.target[0]), "target:y": float(self.target[1])}

    def _execute(self, m_signal: dict[str, float], meta: dict[str, Any] | None = None
                 ) -> dict[str, float]:
        delta = np.array([m_signal["joint:0"], m_signal["joint:1"]], dtype=np.float64)
        self.q = self.q + np.clip(delta, -self.max_delta_rad, self.max_delta_rad)
        self._distance = float(np.linalg.norm(arm_fingertip(self.q, self.links_m) - self.target))
        self.t += 1
        return self._observe()

    def _assess(self, m_signal: dict[str, float], s_signal: dict[str, float]) -> Assessment:
        return Assessment(reward=-self._distance, done=self.t >= self.episode_steps)
