"""Channel-described environments (the `environments` package's semantics).

An Environment has motor channels `m_channels` and sensory channels
`s_channels`; signals are dicts keyed by channel name, `{"x": 4, "y": 11}`.
`execute(m_signal, meta)` calls the subclass's `_execute` and returns the
feedback `{"m_signal", "s_signal", "uuid"}` — plus, for learning tasks,
`"reward"`, `"done"` and `"terminal"` from `_assess`. Channel bounds describe,
they do not enforce: a value outside them is passed on unchanged (a subclass
that must clip does so itself). `close()` releases ports and stops motors;
use the environment as a context manager (or call close() in a `finally`)
so it always runs.
"""

from __future__ import annotations

import math
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from rl_agents.information import ActuatorInformation, SensorInformation
from rl_agents.spaces import Box


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

    def __init__(self, cfg: dict[str, Any] | None = None) -> None:
        self.cfg = dict(cfg or {})

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
        """Reward and episode end of the last execute (tasks override)."""
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
