"""Names for brains, muscles, objectives and environments, as used in experiment files,
node parameters and command lines: one place that maps configuration to classes.

A name is a built-in (`dummy`, `tile_q`, `cem`; `pendulum`, `arm_reach`; ...) or
a class anywhere on the Python path, `pkg.mod:Class` (as palaestrAI's experiment
files name them). Classes are made as palaestrAI makes them: `Class(**params)`.
"""

from __future__ import annotations

import importlib
from typing import Any

from node_kit.config import load_structured
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
        return float(self.params.get("scale", 1.0)) * float(shard.rewards.values.sum())


OBJECTIVES: dict[str, type[Objective]] = {
    "dummy": DummyObjective,
    "scaled_reward": NegativeDistanceObjective,
}

ENVIRONMENTS: dict[str, type[Environment]] = {
    "pendulum": Pendulum,
    "arm_reach": ArmReach,
}


def parse_mapping(name: str, text: str) -> dict[str, Any]:
    """A YAML mapping parameter, inline (e.g. "{features: arm_reach}") or a file's path;
    "" is {}."""
    return load_structured(name, text, dict, default={})


def is_class_path(name: str) -> bool:
    return isinstance(name, str) and ":" in name


def load_class(path: str, kind: str = "class") -> type:
    """The class named `pkg.mod:Class` (or `pkg.mod.Class`); errors name what is wrong.
    palaestrAI's and environments' import names are answered by rl_agents when those
    packages are not installed (rl_agents.palaestrai_names)."""
    from rl_agents import palaestrai_names

    if ":" in path:
        module_name, _, attr = path.partition(":")
    elif "." in path:
        module_name, _, attr = path.rpartition(".")
    else:
        raise ValueError(f"{kind} {path!r}: expected 'pkg.module:Class'")
    if not module_name or not attr:
        raise ValueError(f"{kind} {path!r}: expected 'pkg.module:Class'")
    palaestrai_names.install()
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{kind} {path!r}: cannot import {module_name!r}: {exc}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"{kind} {path!r}: module {module_name!r} has no "
                             f"{attr!r}") from None
    if not isinstance(obj, type):
        raise ValueError(f"{kind} {path!r} is not a class")
    return obj


def _construct(cls: type, kind: str, name: str, params: dict[str, Any]) -> Any:
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"{kind} {name!r}: {cls.__name__}(**{sorted(params)}) failed: "
                         f"{exc}") from None


def _lookup(table: dict[str, Any], kind: str, name: str) -> Any:
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}; known: {sorted(table)} "
                         f"or a class as 'pkg.module:Class'") from None


def brain_class(name: str) -> type[Brain]:
    cls = load_class(name, "brain") if is_class_path(name) else _lookup(AGENTS, "algorithm",
                                                                         name)[0]
    if not issubclass(cls, Brain):
        raise ValueError(f"brain {name!r} is not a Brain (rl_agents.agent.Brain)")
    return cls


def muscle_class(name: str) -> type[Muscle]:
    cls = load_class(name, "muscle") if is_class_path(name) else _lookup(AGENTS, "algorithm",
                                                                          name)[1]
    if not issubclass(cls, Muscle):
        raise ValueError(f"muscle {name!r} is not a Muscle (rl_agents.agent.Muscle)")
    return cls


def check_algorithm(name: str) -> None:
    """Refuse a name that is neither built in nor an importable Brain or Muscle class."""
    if is_class_path(name):
        cls = load_class(name, "algorithm")
        if not issubclass(cls, (Brain, Muscle)):
            raise ValueError(f"algorithm {name!r} is neither a Brain nor a Muscle")
    else:
        _lookup(AGENTS, "algorithm", name)


def make_brain(algorithm: str, params: dict[str, Any] | None = None) -> Brain:
    return _construct(brain_class(algorithm), "brain", algorithm, dict(params or {}))


def make_muscle(algorithm: str, uid: str, params: dict[str, Any] | None = None) -> Muscle:
    muscle = _construct(muscle_class(algorithm), "muscle", algorithm, dict(params or {}))
    muscle.uid = uid
    return muscle


def make_objective(name: str, params: dict[str, Any] | None = None) -> Objective:
    cls = load_class(name, "objective") if is_class_path(name) else _lookup(
        OBJECTIVES, "objective", name)
    if not issubclass(cls, Objective):
        raise ValueError(f"objective {name!r} is not an Objective")
    return _construct(cls, "objective", name, dict(params or {}))


def environment_class(name: str) -> type[Environment]:
    cls = load_class(name, "environment") if is_class_path(name) else _lookup(
        ENVIRONMENTS, "environment", name)
    if not issubclass(cls, Environment):
        raise ValueError(f"environment {name!r} is not an Environment")
    return cls


def make_environment(name: str, cfg: dict[str, Any] | None = None) -> Environment:
    return environment_class(name)(dict(cfg or {}))
