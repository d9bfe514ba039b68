"""Names for brains, muscles, objectives and environments, as used in experiment files
and node parameters: one place that maps configuration to classes."""

from __future__ import annotations

from typing import Any

from rl_agents.agent import Brain, DummyBrain, DummyMuscle, DummyObjective, Muscle, Objective
from rl_agents.algorithms import CEMBrain, CEMMuscle, TileQBrain, TileQMuscle
from rl_agents.environment import Environment
from rl_agents.memory import Memory
from rl_agents.tasks import ArmReach, Pendulum

AGENTS: dict[str, tuple[type[Brain], type[Muscle]]] = {
    "dummy": (DummyBrain, DummyMuscle),
    "tile_q": (TileQBrain, TileQMuscle),
    "cem": (CEMBrain, CEMMuscle),
}


class NegativeDistanceObjective(Objective):
    """The environment reward of the newest step, scaled by `scale` (default 1)."""

    def internal_reward(self, memory: Memory) -> float | None:
        shard = memory.tail(1)
        if not len(shard):
            return None
        return float(self.params.get("scale", 1.0)) * float(shard.rewards.sum())


OBJECTIVES: dict[str, type[Objective]] = {
    "dummy": DummyObjective,
    "scaled_reward": NegativeDistanceObjective,
}

ENVIRONMENTS: dict[str, type[Environment]] = {
    "pendulum": Pendulum,
    "arm_reach": ArmReach,
}


def _lookup(table: dict[str, Any], kind: str, name: str) -> Any:
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}; known: {sorted(table)}") from None


def make_brain(algorithm: str, params: dict[str, Any] | None = None) -> Brain:
    return _lookup(AGENTS, "algorithm", algorithm)[0](**(params or {}))


def make_muscle(algorithm: str, uid: str, params: dict[str, Any] | None = None) -> Muscle:
    return _lookup(AGENTS, "algorithm", algorithm)[1](uid, **(params or {}))


def make_objective(name: str, params: dict[str, Any] | None = None) -> Objective:
    return _lookup(OBJECTIVES, "objective", name)(**(params or {}))


def make_environment(name: str, cfg: dict[str, Any] | None = None) -> Environment:
    return _lookup(ENVIRONMENTS, "environment", name)(cfg or {})
