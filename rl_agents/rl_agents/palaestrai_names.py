"""The import names of palaestrAI and `environments`, answered by rl_agents.

An agent or environment written for palaestrAI 3.5 (`from palaestrai.agent
import Brain, Muscle`, `from palaestrai.types import Box, Mode`) or for the
`environments` 1.0 package (`from environments import Environment, Channel`)
runs unchanged in rl_agents: `install()` registers those module names
(`palaestrai`, `palaestrai.agent`, `palaestrai.agent.brain`, ...,
`palaestrai.types`, `palaestrai.util.exception`, `environments`,
`environments.environment`, `environments.tools`, and `scicfg.SciConfig`,
the config class environments take) as views of rl_agents' classes —
only for a name whose real package is not installed, so the real
palaestrAI, when present, always wins. `rl_agents.registry.load_class` (how
experiment files and `--algorithm pkg.mod:Class` load custom classes) calls it
before importing the named module.
"""

from __future__ import annotations

import importlib.util
import sys
import types

from rl_agents import agent, config, environment, envtools, information, memory, spaces

_PALAESTRAI = {
    "palaestrai": {},
    "palaestrai.agent": {
        "Brain": agent.Brain, "Muscle": agent.Muscle, "Objective": agent.Objective,
        "Memory": memory.Memory, "MemoryShard": memory.MemoryShard,
        "BrainDumper": agent.BrainDumper, "BrainLocation": agent.BrainLocation,
        "FileBrainDumper": agent.FileBrainDumper,
        "SensorInformation": information.SensorInformation,
        "ActuatorInformation": information.ActuatorInformation,
        "RewardInformation": information.RewardInformation,
        "DummyBrain": agent.DummyBrain, "DummyMuscle": agent.DummyMuscle,
        "DummyObjective": agent.DummyObjective,
    },
    "palaestrai.agent.brain": {"Brain": agent.Brain},
    "palaestrai.agent.muscle": {"Muscle": agent.Muscle},
    "palaestrai.agent.objective": {"Objective": agent.Objective},
    "palaestrai.agent.memory": {"Memory": memory.Memory, "MemoryShard": memory.MemoryShard},
    "palaestrai.agent.brain_dumper": {
        "BrainDumper": agent.BrainDumper, "BrainLocation": agent.BrainLocation,
        "NoBrainFoundError": agent.NoBrainFoundError,
        "NoBrainLocatorError": agent.NoBrainLocatorError},
    "palaestrai.agent.sensor_information": {"SensorInformation": information.SensorInformation},
    "palaestrai.agent.actuator_information": {
        "ActuatorInformation": information.ActuatorInformation},
    "palaestrai.agent.reward_information": {"RewardInformation": information.RewardInformation},
    "palaestrai.agent.dummy_brain": {"DummyBrain": agent.DummyBrain},
    "palaestrai.agent.dummy_muscle": {"DummyMuscle": agent.DummyMuscle},
    "palaestrai.agent.dummy_objective": {"DummyObjective": agent.DummyObjective},
    "palaestrai.types": {
        "Box": spaces.Box, "Discrete": spaces.Discrete, "MultiBinary": spaces.MultiBinary,
        "MultiDiscrete": spaces.MultiDiscrete, "Tuple": spaces.Tuple, "Space": spaces.Space,
        "Mode": agent.Mode},
    "palaestrai.types.space": {"Space": spaces.Space},
    "palaestrai.types.box": {"Box": spaces.Box},
    "palaestrai.types.discrete": {"Discrete": spaces.Discrete},
    "palaestrai.types.multi_binary": {"MultiBinary": spaces.MultiBinary},
    "palaestrai.types.multi_discrete": {"MultiDiscrete": spaces.MultiDiscrete},
    "palaestrai.types.tuple": {"Tuple": spaces.Tuple},
    "palaestrai.types.mode": {"Mode": agent.Mode},
    "palaestrai.util": {},
    "palaestrai.util.exception": {"OutOfActionSpaceError": information.OutOfActionSpaceError},
}

_ENVIRONMENTS = {
    "environments": {
        "Environment": environment.Environment, "Channel": environment.Channel,
        "OrderNotExecutableError": environment.OrderNotExecutableError,
        "tools": envtools},
    "environments.environment": {
        "Environment": environment.Environment, "Channel": environment.Channel,
        "OrderNotExecutableError": environment.OrderNotExecutableError,
        "defcfg": environment.defcfg},
}

_SCICFG = {"scicfg": {"SciConfig": config.Config}}


def _installed(top: str) -> bool:
    module = sys.modules.get(top)
    if module is not None:
        return not getattr(module, "__rl_agents_view__", False)
    return importlib.util.find_spec(top) is not None


def _register(table: dict[str, dict[str, object]]) -> None:
    for name, attrs in table.items():
        if name in sys.modules:
            continue
        module = types.ModuleType(name, f"rl_agents' view of {name} (rl_agents.palaestrai_names)")
        module.__path__ = []   # a package, so submodules import
        module.__rl_agents_view__ = True
        for attr, value in attrs.items():
            setattr(module, attr, value)
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)


def install() -> list[str]:
    """Register the names whose real packages are missing; returns the tops registered."""
    done = []
    for top, table in (("palaestrai", _PALAESTRAI), ("environments", _ENVIRONMENTS),
                       ("scicfg", _SCICFG)):
        if not _installed(top):
            _register(table)
            if top == "environments":
                sys.modules.setdefault("environments.tools", envtools)
                sys.modules["environments"].tools = envtools
            done.append(top)
    return done


def uninstall() -> None:
    """Remove the views `install()` registered (tests)."""
    for name in [n for n, m in sys.modules.items()
                 if getattr(m, "__rl_agents_view__", False)]:
        del sys.modules[name]
    if sys.modules.get("environments.tools") is envtools:
        del sys.modules["environments.tools"]
