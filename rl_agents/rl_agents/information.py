"""Sensor readings, actuator setpoints and rewards, each with its space and uid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rl_agents.spaces import Space


class OutOfActionSpaceError(ValueError):
    """A setpoint that is not in its actuator's space."""


class SensorInformation:
    """One sensor reading: `value` in `space`, named `uid`; calling it returns the value.

    Signature as palaestrAI's: `SensorInformation(value=None, space=..., uid=...,
    value_ids=None)`.
    """

    def __init__(self, value: Any = None, space: Space | None = None, uid: str | None = None,
                 value_ids: Sequence[str] | None = None) -> None:
        if space is None:
            raise TypeError("SensorInformation needs a space")
        if uid is None:
            raise TypeError("SensorInformation needs a uid")
        self.value = value
        self.space = space
        self.uid = uid
        self.value_ids = list(value_ids) if value_ids is not None else None

    def __call__(self, **kwargs: Any) -> Any:
        return self.value

    def __len__(self) -> int:
        return len(self.space)

    def flat_value(self) -> np.ndarray:
        return self.space.flatten(self.value)

    def __repr__(self) -> str:
        return f"SensorInformation(value={self.value!r}, space={self.space}, uid={self.uid!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, SensorInformation) and self.uid == other.uid
                and self.space == other.space
                and np.array_equal(np.asarray(self.value), np.asarray(other.value)))

    __hash__ = None  # mutable


class ActuatorInformation:
    """One actuator: its `space`, `uid` and current setpoint `value`; calling it sets the value.

    Signature as palaestrAI's: `ActuatorInformation(value=None, space=..., uid=...,
    value_ids=None)`; the value may be left unset and set later (refused outside
    the space with OutOfActionSpaceError).
    """

    def __init__(self, value: Any = None, space: Space | None = None, uid: str | None = None,
                 value_ids: Sequence[str] | None = None) -> None:
        if space is None:
            raise TypeError("ActuatorInformation needs a space")
        if uid is None:
            raise TypeError("ActuatorInformation needs a uid")
        self.space = space
        self.uid = uid
        self.value_ids = list(value_ids) if value_ids is not None else None
        self._value = None
        if value is not None:
            self(value)

    @property
    def value(self) -> Any:
        return self._value

    @value.setter
    def value(self, setpoint: Any) -> None:
        self(setpoint)

    def __call__(self, setpoint: Any) -> None:
        if not self.space.contains(setpoint):
            raise OutOfActionSpaceError(
                f"setpoint {setpoint!r} for actuator {self.uid!r} is not in {self.space}")
        self._value = setpoint

    def __len__(self) -> int:
        return len(self.space)

    def flat_value(self) -> np.ndarray:
        """The setpoint as a flat float64 vector (zeros when unset)."""
        if self._value is None:
            return np.zeros(self.space.flat_size)
        return self.space.flatten(self._value)

    def __repr__(self) -> str:
        return f"ActuatorInformation(value={self._value!r}, space={self.space}, uid={self.uid!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ActuatorInformation) and self.uid == other.uid
                and self.space == other.space
                and np.array_equal(np.asarray(self._value), np.asarray(other._value)))

    __hash__ = None  # mutable


class RewardInformation:
    """One reward from the environment: `value` in `space`, named `uid`."""

    def __init__(self, value: Any = None, space: Space | None = None,
                 uid: str | None = None) -> None:
        if space is None:
            raise TypeError("RewardInformation needs a space")
        if uid is None:
            raise TypeError("RewardInformation needs a uid")
        self.value = value
        self.space = space
        self.uid = uid

    def __call__(self) -> Any:
        return self.value

    def __len__(self) -> int:
        return len(self.space)

    def __repr__(self) -> str:
        return f"RewardInformation(value={self.value!r}, space={self.space}, uid={self.uid!r})"


def flat_values(infos: Sequence[SensorInformation | ActuatorInformation]) -> np.ndarray:
    """The values of several sensors (or actuators) as one flat float64 vector."""
    if not infos:
        return np.zeros(0)
    values = [i.value for i in infos]
    # common case: one scalar per channel
    if all(isinstance(v, (float, int, np.number)) and i.space.flat_size == 1
           for v, i in zip(values, infos, strict=True)):
        return np.array(values, dtype=np.float64)
    return np.concatenate([i.flat_value() for i in infos])


def flat_rewards(rewards: Sequence[RewardInformation]) -> np.ndarray:
    if not rewards:
        return np.zeros(0)
    return np.concatenate([np.asarray(r.value, dtype=np.float64).reshape(-1) for r in rewards])
