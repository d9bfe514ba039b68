"""A point that must reach a target, written against the `environments` 1.0 API.

Runs with the real `environments` package and, unchanged, in rl_agents. Motor
channels `push:x`, `push:y` move the point (clipped to +-0.2 per step, the
point to +-3);
sensory channels are the point, the target and `reward` (minus the distance
after the move; `cfg.reward_channel` names it for rl_agents). `reset(seed)`
(an addition the original API lacks) starts an episode.
"""

import math
import random

from environments import Channel, Environment


class PointReach(Environment):
    def __init__(self, cfg, **kwargs):
        super().__init__(cfg, **kwargs)
        self.m_channels = [Channel("push:x", (-0.2, 0.2)), Channel("push:y", (-0.2, 0.2))]
        self.s_channels = [Channel("x", (-3.0, 3.0)), Channel("y", (-3.0, 3.0)),
                           Channel("tx", (-1.0, 1.0)), Channel("ty", (-1.0, 1.0)),
                           Channel("reward", (-10.0, 0.0))]
        self.rng = random.Random(0)
        self.x = self.y = self.tx = self.ty = 0.0

    def _signal(self):
        return {"x": self.x, "y": self.y, "tx": self.tx, "ty": self.ty,
                "reward": -math.hypot(self.tx - self.x, self.ty - self.y)}

    def reset(self, seed=None):
        self.rng = random.Random(seed)
        self.x, self.y = 0.0, 0.0
        self.tx, self.ty = self.rng.uniform(-1.0, 1.0), self.rng.uniform(-1.0, 1.0)
        return self._signal()

    def _execute(self, m_signal, meta=None):
        if any(not -10.0 < m_signal[c.name] < 10.0 for c in self.m_channels):
            raise self.OrderNotExecutableError(f"push out of range: {m_signal}")
        self.x = max(-3.0, min(3.0, self.x + max(-0.2, min(0.2, m_signal["push:x"]))))
        self.y = max(-3.0, min(3.0, self.y + max(-0.2, min(0.2, m_signal["push:y"]))))
        return self._signal()
