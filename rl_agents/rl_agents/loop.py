"""The agent loop, in palaestrAI's order: a muscle acts, its brain learns from the steps.

`MuscleWorker` is palaestrAI's RolloutWorker without the broker: one `act()`
per environment step, given the sensor readings, the rewards of the previous
action and whether the episode is done. It

1. remembers the previous step (readings, setpoints, these rewards, done) in
   the muscle's memory and asks the Objective for its value;
2. sends the brain the previous step (flat vectors; none at an episode's
   start) with the data the muscle returned with it — so `thinking` is called
   once at each episode's start with no data, and in TEST/EVALUATE modes too;
3. applies the brain's answer unless it is None (`muscle.update`);
4. calls `propose_actions` (also on the terminal step, whose setpoints no
   environment takes, as palaestrAI does).

The brain is reached through a *link*: `think(muscle_id, data, step, mode) ->
update` (`InProcessBrainLink`, `rl_agents.transport.BrainClient`), or one with
`submit(...)` / `updates()` (`rl_agents.transport.AsyncBrainLink`: the update
arrives a step or more later, the caller never waits).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from rl_agents.agent import Brain, Mode, Muscle, Objective, Step
from rl_agents.environment import Environment
from rl_agents.information import (
    ActuatorInformation,
    RewardInformation,
    SensorInformation,
    flat_rewards,
    flat_values,
)

LOG = logging.getLogger(__name__)


class BrainLink(Protocol):
    def think(self, muscle_id: str, data_from_muscle: Any, step: Step | None,
              mode: Mode | None = None) -> Any: ...


class InProcessBrainLink:
    """The brain in this process: `think` is a plain call."""

    def __init__(self, brain: Brain) -> None:
        self.brain = brain

    def think(self, muscle_id: str, data_from_muscle: Any, step: Step | None,
              mode: Mode | None = None) -> Any:
        return self.brain.think(muscle_id, data_from_muscle, step, mode)


def is_update(update: Any) -> bool:
    """palaestrAI applies every answer that is not None (0 and empty containers too)."""
    return update is not None


def _objective_value(value: Any) -> float | None:
    """The objective's answer as one float; None (or an empty array) discards the step."""
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 0:
        return None
    return float(arr.sum())


class MuscleWorker:
    """Runs one muscle step by step in palaestrAI's order (see the module docstring)."""

    def __init__(self, muscle: Muscle, objective: Objective, link: Any = None,
                 mode: Mode | str | None = None) -> None:
        self.muscle = muscle
        self.objective = objective
        self.link = link
        self.mode = Mode.parse(mode) if mode is not None else muscle.mode
        self._async = link is not None and hasattr(link, "submit")
        self._previous: tuple[list[SensorInformation], list[ActuatorInformation], Any,
                              np.ndarray, np.ndarray] | None = None
        self.last_objective: float | None = None

    def _send(self, data: Any, step: Step | None) -> None:
        if self.link is None:
            return
        if self._async:
            for update in self.link.updates():
                self.muscle.update(update)
            self.link.submit(self.muscle.uid, data, step, self.mode)
            return
        update = self.link.think(self.muscle.uid, data, step, self.mode)
        if is_update(update):
            self.muscle.update(update)

    def act(self, sensors: list[SensorInformation], actuators: list[ActuatorInformation],
            rewards: list[RewardInformation] | None, done: bool = False,
            terminal: bool = False) -> tuple[list[ActuatorInformation], dict[str, Any]]:
        """One environment step; returns the setpoints and the muscle's statistics."""
        step = None
        self.last_objective = None
        data = None
        sensor_now = flat_values(sensors)
        if self._previous is not None:
            prev_sensors, prev_setpoints, data, sensor_vec, actuator_vec = self._previous
            if rewards is not None:
                reward_vec = flat_rewards(rewards)
                memory = self.muscle.memory
                if "rewards" not in memory._names and rewards:
                    memory.set_columns(prev_sensors, prev_setpoints, rewards)
                memory.append_vectors(sensor_vec, actuator_vec, reward_vec, done,
                                      muscle_id=self.muscle.uid)
                try:
                    value = _objective_value(self.objective.internal_reward(memory))
                except Exception as exc:   # user code: palaestrAI substitutes 0.0
                    LOG.error("objective %s failed: %s; using 0.0", self.objective, exc)
                    value = 0.0
                memory.set_objective(value)
                self.last_objective = value
                if value is not None:
                    step = Step(sensor_vec, actuator_vec, reward_vec, value,
                                sensor_now, bool(done), bool(terminal),
                                [r.uid for r in rewards])
        self._send(data, step)
        muscle = self.muscle
        muscle.mode = self.mode.acting
        try:
            proposed = muscle.propose_actions(sensors, actuators)
        finally:
            muscle.mode = self.mode
        if isinstance(proposed, tuple):
            setpoints, data = proposed
        else:
            setpoints, data = proposed, None
        setpoints = list(setpoints)
        stats = muscle.pop_statistics()
        if done:
            self._previous = None
        else:
            self._previous = (sensors, setpoints, data, sensor_now, flat_values(setpoints))
        return setpoints, stats


@dataclass
class EpisodeResult:
    reward_return: float = 0.0      # sum of the environment rewards
    objective_return: float = 0.0   # sum of the objective's values
    steps: int = 0
    statistics: list[dict[str, Any]] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)      # per step
    objectives: list[float] = field(default_factory=list)   # per step (nan: discarded)


def run_episode(env: Environment, muscle: Muscle, objective: Objective, link: Any,
                seed: int | None = None, max_steps: int | None = None,
                keep_statistics: bool = False, mode: Mode | str | None = None,
                worker: MuscleWorker | None = None) -> EpisodeResult:
    """One episode from `env.reset(seed)` until the environment says done (or max_steps).

    `muscle.reset()` is called at the start of every episode but a muscle's first
    (palaestrAI notifies muscles of an environment reset, not of the first start).
    """
    worker = worker or MuscleWorker(muscle, objective, link, mode)
    result = EpisodeResult()
    sensors = env.sensors(env.reset(seed))
    if getattr(muscle, "_rl_episodes", 0) > 0:
        muscle.reset()
    muscle._rl_episodes = getattr(muscle, "_rl_episodes", 0) + 1
    rewards: list[RewardInformation] | None = None
    done = terminal = False
    while True:
        setpoints, stats = worker.act(sensors, env.actuators(), rewards, done, terminal)
        if result.steps:
            value = worker.last_objective
            result.objectives.append(np.nan if value is None else value)
            if value is not None:
                result.objective_return += value
            if keep_statistics:
                result.statistics.append(stats)
        if done:
            break
        feedback = env.execute(env.m_signal_from(setpoints))
        sensors = env.sensors(feedback["s_signal"])
        rewards = env.rewards(feedback)
        reward = float(flat_rewards(rewards).sum()) if rewards else 0.0
        result.rewards.append(reward)
        result.reward_return += reward
        result.steps += 1
        terminal = bool(feedback.get("terminal"))
        done = bool(feedback.get("done")) or (max_steps is not None
                                              and result.steps >= max_steps)
    return result
