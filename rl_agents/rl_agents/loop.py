"""The agent loop: a muscle acts in an environment, its brain learns from the steps.

The brain is reached through a *link* with one method,
`think(muscle_id, data_from_muscle, step) -> update` — `InProcessBrainLink`
calls the brain directly, `rl_agents.transport.BrainClient` goes over ZeroMQ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from rl_agents.agent import Brain, Mode, Muscle, Objective, Step
from rl_agents.environment import Environment
from rl_agents.information import flat_values


class BrainLink(Protocol):
    def think(self, muscle_id: str, data_from_muscle: Any, step: Step | None) -> Any: ...


class InProcessBrainLink:
    """The brain in this process: `think` is a plain call."""

    def __init__(self, brain: Brain) -> None:
        self.brain = brain

    def think(self, muscle_id: str, data_from_muscle: Any, step: Step | None) -> Any:
        return self.brain.think(muscle_id, data_from_muscle, step)


def is_update(update: Any) -> bool:
    """A brain's answer counts as an update unless it is None or falsy (an empty array too)."""
    if update is None:
        return False
    if isinstance(update, np.ndarray):
        return update.size > 0
    return bool(update)


@dataclass
class EpisodeResult:
    reward_return: float = 0.0      # sum of the environment rewards
    objective_return: float = 0.0   # sum of the objective's values
    steps: int = 0
    statistics: list[dict[str, Any]] = field(default_factory=list)


def run_episode(env: Environment, muscle: Muscle, objective: Objective, link: BrainLink,
                seed: int | None = None, max_steps: int | None = None,
                keep_statistics: bool = False) -> EpisodeResult:
    """One episode from `env.reset(seed)` until the environment says done (or max_steps)."""
    result = EpisodeResult()
    sensors = env.sensors(env.reset(seed))
    actuators = env.actuators()
    muscle.reset()
    while max_steps is None or result.steps < max_steps:
        actuators, data = muscle.propose_actions(sensors, actuators)
        actuators = list(actuators)
        feedback = env.execute(env.m_signal_from(actuators))
        next_sensors = env.sensors(feedback["s_signal"])
        reward = feedback.get("reward")
        rewards = np.array([0.0 if reward is None else float(reward)])
        done = bool(feedback.get("done")) or (max_steps is not None
                                                 and result.steps + 1 >= max_steps)
        sensor_vec = flat_values(sensors)
        actuator_vec = flat_values(actuators)
        muscle.memory.append(sensor_vec, actuator_vec, rewards, done, muscle_id=muscle.uid)
        value = objective.internal_reward(muscle.memory)
        muscle.memory.set_objective(None if value is None else float(np.sum(value)))
        result.reward_return += float(rewards.sum())
        result.steps += 1
        if value is not None:
            result.objective_return += float(np.sum(value))
            if muscle.mode is Mode.TRAIN:
                step = Step(sensor_vec, actuator_vec, rewards, float(np.sum(value)),
                            flat_values(next_sensors), done, bool(feedback.get("terminal")))
                update = link.think(muscle.uid, data, step)
                if is_update(update):
                    muscle.update(update)
        stats = muscle.pop_statistics()
        if keep_statistics:
            result.statistics.append(stats)
        sensors = next_sensors
        if done:
            break
    return result
