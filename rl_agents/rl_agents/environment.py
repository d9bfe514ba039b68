"""Channel-described environments (the `environments` 1.0 package's API).

An Environment has motor channels `m_channels` and sensory channels
`s_channels`; signals are dicts keyed by channel name, `{"x": 4, "y": 11}`.
`Environment(cfg)` takes an attribute-style config (`cfg.foo`; a dict is
turned into one), completed from the class's `defcfg`;
`Environment.create(cfg)` makes the class named by `cfg.classname`
("pkg.mod.Class" or "pkg.mod:Class"). `execute(m_signal, meta)` calls the
subclass's `_execute` and returns the feedback `{"m_signal", "s_signal",
"uuid"}`; an environment that cannot carry an order out raises
`OrderNotExecutableError`. Signal helpers are in `rl_agents.envtools`
(`environment.tools`: to_vector, to_signal, random_signal, in_bounds).

rl_agents adds, for learning: `"reward"`, `"done"` and `"terminal"` in the
feedback (from `_assess`, or a sensory channel named by `cfg.reward_channel`),
`reset(seed)`, checks of the motor signal's channel names, fixed channels
filled in, and the agent's view (`sensors`, `actuators`, `rewards`).
Channel bounds describe, they do not enforce: a value outside them is passed
on unchanged. `close()` releases ports and stops motors; use the environment
as a context manager (or call close() in a `finally`) so it always runs.
"""

from __future__ import annotations

import math
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from rl_agents import envtools as tools
from rl_agents.config import Config
from rl_agents.information import ActuatorInformation, RewardInformation, SensorInformation
from rl_agents.spaces import Box

__all__ = ["Assessment", "Channel", "Config", "Environment", "OrderNotExecutableError",
           "defcfg", "tools"]


class OrderNotExecutableError(Exception):
    """The environment cannot carry out this motor signal."""


defcfg = Config()
defcfg._describe("classname", instanceof=str,
                 docstring="The environment class, 'pkg.mod.Class' or 'pkg.mod:Class'; "
                           "used by Environment.create().")
defcfg._describe("reward_channel", instanceof=str, default="",
                 docstring="rl_agents: a sensory channel whose value is the reward ('' = none).")


@dataclass(frozen=True)
class Channel:
    """A named scalar channel; `bounds` (lo, hi) say where its values are expected."""

    name: str
    bounds: tuple[float, float] = (-math.inf, math.inf)
    fixed: float | None = None
    unit: str = ""

    def space(self) -> Box:
        lo, hi = self.bounds
        return Box(low=lo, high=hi, shape=(), dtype=np.float64)


@dataclass(frozen=True)
class Assessment:
    """How a step went, for learning: reward, episode over, absorbing state reached."""

    reward: float | None = None
    done: bool = False
    terminal: bool = False


class Environment(ABC):
    """Motor and sensory channels, and `execute` to send one motor signal."""

    m_channels: list[Channel] = []
    s_channels: list[Channel] = []
    defcfg = defcfg
    OrderNotExecutableError = OrderNotExecutableError

    def __init__(self, cfg: Config | dict[str, Any] | None = None, **kwargs: Any) -> None:
        cfg = Config(cfg) if not isinstance(cfg, Config) else cfg
        cfg._update(type(self).defcfg, overwrite=False)
        self.cfg = cfg

    @classmethod
    def create(cls, cfg: Config | dict[str, Any], **kwargs: Any) -> Environment:
        """An instance of the class named by `cfg.classname`."""
        from rl_agents.registry import load_class  # (registry imports this module)

        cfg = Config(cfg) if not isinstance(cfg, Config) else cfg
        if "classname" not in cfg:
            raise ValueError("Environment.create needs cfg.classname, e.g. 'pkg.mod.Class'")
        return load_class(cfg.classname, kind="environment")(cfg, **kwargs)

    def execute(self, m_signal: dict[str, float], meta: dict[str, Any] | None = None
                ) -> dict[str, Any]:
        """Send `m_signal`; the feedback carries m_signal, s_signal, uuid (and reward, done)."""
        names = {c.name for c in self.m_channels}
        unknown = sorted(set(m_signal) - names)
        if unknown:
            raise ValueError(f"unknown motor channel(s) {unknown}; known: {sorted(names)}")
        missing = sorted(names - set(m_signal) - {c.name for c in self.m_channels
                                                    if c.fixed is not None})
        if missing:
            raise ValueError(f"motor signal lacks channel(s) {missing}")
        m_signal = {**{c.name: c.fixed for c in self.m_channels if c.fixed is not None},
                    **m_signal}
        s_signal = self._execute(m_signal, meta=meta)
        assessment = self._assess(m_signal, s_signal)
        return {"m_signal": dict(m_signal), "s_signal": s_signal, "uuid": uuid.uuid4(),
                "reward": assessment.reward, "done": assessment.done,
                "terminal": assessment.terminal}

    @abstractmethod
    def _execute(self, m_signal: dict[str, float], meta: dict[str, Any] | None = None
                 ) -> dict[str, float]:
        """Carry out the motor signal; return the sensory signal."""

    def _assess(self, m_signal: dict[str, float], s_signal: dict[str, float]) -> Assessment:
        """Reward and episode end of the last execute (tasks override; by default the
        reward is the sensory channel `cfg.reward_channel`, if one is named)."""
        channel = self.cfg.get("reward_channel", "")
        if channel:
            try:
                return Assessment(reward=float(s_signal[channel]))
            except KeyError:
                raise ValueError(f"reward_channel {channel!r} is not in the sensory signal "
                                 f"{sorted(s_signal)}") from None
        return Assessment()

    def reset(self, seed: int | None = None) -> dict[str, float]:
        """Start an episode; return the first sensory signal."""
        raise NotImplementedError(f"{type(self).__name__} has no episodes (no reset)")

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release ports, stop motors. Override; must be safe to call twice."""

    def __enter__(self) -> Environment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # The agent's view of the channels.
    def _channel_spaces(self) -> tuple[list[Box], list[Box]]:
        cached = self.__dict__.get("_channel_space_cache")
        if cached is None:
            cached = ([c.space() for c in self.s_channels], [c.space() for c in self.m_channels])
            self.__dict__["_channel_space_cache"] = cached
        return cached

    def sensors(self, s_signal: dict[str, float]) -> list[SensorInformation]:
        """The sensory signal as one SensorInformation per sensory channel."""
        try:
            return [SensorInformation(np.float64(s_signal[c.name]), space, c.name)
                    for c, space in zip(self.s_channels, self._channel_spaces()[0], strict=True)]
        except KeyError as exc:
            raise ValueError(f"sensory signal lacks channel {exc.args[0]!r}") from None

    reward_space = Box(low=-np.inf, high=np.inf, shape=(), dtype=np.float64)

    def rewards(self, feedback: dict[str, Any]) -> list[RewardInformation] | None:
        """The feedback's reward as palaestrAI's rewards list (uid "reward"); None when
        the environment gave none."""
        reward = feedback.get("reward")
        if reward is None:
            return None
        return [RewardInformation(np.float64(reward), self.reward_space, "reward")]

    def actuators(self) -> list[ActuatorInformation]:
        """One (unset) ActuatorInformation per motor channel that is not fixed."""
        return [ActuatorInformation(None, space, c.name)
                for c, space in zip(self.m_channels, self._channel_spaces()[1], strict=True)
                if c.fixed is None]

    @staticmethod
    def m_signal_from(actuators: list[ActuatorInformation]) -> dict[str, float]:
        signal = {}
        for a in actuators:
            if a.value is None:
                raise ValueError(f"actuator {a.uid!r} has no setpoint")
            signal[a.uid] = float(np.asarray(a.value).reshape(-1)[0])
        return signal
