"""A small agent written for palaestrAI 3.5, as a palaestrAI user writes one.

Nothing here knows rl_agents: the same file runs in palaestrAI and, unchanged,
in rl_agents (tests compare the two step for step). A linear muscle with
exploration noise, a random-search brain that keeps the best weights and
stores them through palaestrAI's BrainDumper, and an objective reading the
environment reward from memory.
"""

import io

import numpy as np
from palaestrai.agent import Brain, BrainDumper, Muscle, Objective
from palaestrai.types import Mode

# What the muscle did and what the objective said, in order (for comparisons).
TRACE: list = []


def width(info) -> int:
    return int(np.prod(info.space.shape))   # (len() of a shape-() Box fails in palaestrAI)


def features(sensors) -> np.ndarray:
    values = [np.atleast_1d(np.asarray(s(), dtype=np.float64)).reshape(-1) for s in sensors]
    return np.concatenate(values + [np.ones(1)])


class LinearMuscle(Muscle):
    def __init__(self, noise: float = 0.05, seed: int = 0):
        super().__init__()
        self.noise = noise
        self.rng = np.random.default_rng(seed)
        self.weights = None

    def propose_actions(self, sensors, actuators_available):
        x = features(sensors)
        n_out = sum(width(a) for a in actuators_available)
        if self.weights is None:
            self.weights = np.zeros((n_out, len(x)))
        action = self.weights @ x
        if self.mode == Mode.TRAIN:
            action = action + self.rng.normal(0.0, self.noise, size=n_out)
        at = 0
        for actuator in actuators_available:
            n = width(actuator)
            part = np.clip(action[at:at + n], actuator.space.low.reshape(-1),
                           actuator.space.high.reshape(-1))
            actuator(actuator.space.reshape_to_space(part))
            at += n
        TRACE.append(["act", self.mode.value, [float(v) for v in action]])
        return actuators_available, {"step": len(TRACE)}

    def update(self, update):
        self.weights = np.array(update["weights"], dtype=np.float64)

    def prepare_model(self):
        bio = self.load("policy")
        if bio is not None:
            data = bio.read()
            if data:
                self.weights = np.load(io.BytesIO(data), allow_pickle=False)


class RandomSearchBrain(Brain):
    def __init__(self, step_size: float = 0.2):
        super().__init__()
        self.step_size = step_size

    def setup(self):
        self.rng = np.random.default_rng(self.seed)
        n_in = sum(width(s) for s in self.sensors) + 1
        n_out = sum(width(a) for a in self.actuators)
        if getattr(self, "best", None) is None:   # load() may have run before setup()
            self.best = np.zeros((n_out, n_in))
        self.best_return = -np.inf
        self.candidate = self.best.copy()
        self.episode_return = 0.0

    def thinking(self, muscle_id, data_from_muscle):
        if self.mode != Mode.TRAIN:
            return {"weights": self.best} if data_from_muscle is None else None
        if data_from_muscle is None:   # an episode starts
            return {"weights": self.candidate}
        shard = self.memory.tail(1, include_only=[muscle_id])
        self.episode_return += float(shard.objective[-1])
        if not shard.dones[-1]:
            return None
        if self.episode_return > self.best_return:
            self.best, self.best_return = self.candidate, self.episode_return
        self.candidate = self.best + self.rng.normal(0.0, self.step_size, self.best.shape)
        self.episode_return = 0.0
        return {"weights": self.candidate}

    def store(self):
        bio = io.BytesIO()
        np.save(bio, self.best, allow_pickle=False)
        BrainDumper.store_brain_dump(bio, self._dumpers, "policy")

    def load(self):
        bio = BrainDumper.load_brain_dump(self._dumpers, "policy")
        data = bio.read() if bio is not None else b""
        if data:
            self.best = np.load(io.BytesIO(data), allow_pickle=False)


class RewardObjective(Objective):
    def __init__(self, params=None):
        super().__init__(params or {})

    def internal_reward(self, memory, **kwargs):
        rewards = memory.tail(1).rewards
        if len(rewards) == 0:
            return None
        value = float(rewards["reward"].iloc[-1]) * float(self.params.get("scale", 1.0))
        TRACE.append(["objective", value])
        return value
