"""Channel specifications for ROS topics (ROS-free: messages are read duck-typed).

A sensor channel reads one number from a topic, given as a mapping:
    {channel: "joint:0", topic: joint_states, field: position, index: 0, low: -3.1416, high: 3.1416}
`index` is a position (JointState.position[0], Float32MultiArray.data[0]), a joint name
("shoulder": the joint of that name), or absent for scalars (std_msgs/Float32.data);
`field` may be dotted (geometry_msgs/PointStamped: `point.x`).

An actuator channel is a channel of ab_interfaces/ActuatorCommand:
    {channel: "joint:0", low: -0.1, high: 0.1}   (a delta per step)

Topic types: a mapping {topic: type}, each type one of TOPIC_TYPES.

The nodes take all three as structured parameters (inline YAML or a file's path,
node_kit.config); `sensor_specs`, `actuator_specs` and `topic_types_of` check them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from node_kit.checks import did_you_mean
from rl_agents.environment import Channel
from rl_agents.tasks import ArmReach, arm_fingertip

TOPIC_TYPES = ("sensor_msgs/JointState", "std_msgs/Float32MultiArray",
               "std_msgs/Float64MultiArray", "std_msgs/Float32", "std_msgs/Float64",
               "geometry_msgs/PointStamped")


_SENSOR_KEYS = ("channel", "topic", "field", "index", "low", "high")
_ACTUATOR_KEYS = ("channel", "low", "high")


def _fields(entry: Any, keys: tuple[str, ...], optional: tuple[str, ...], what: str
            ) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ValueError(f"{what} {entry!r:.80} must be a mapping with {', '.join(keys)}")
    unknown = sorted(set(entry) - set(keys))
    if unknown:
        raise ValueError(f"{what} {entry!r:.80}: unknown field {unknown[0]!r}"
                         f"{did_you_mean(unknown[0], keys)} (fields: {', '.join(keys)})")
    missing = [k for k in keys if k not in entry and k not in optional]
    if missing:
        raise ValueError(f"{what} {entry!r:.80} needs {', '.join(missing)}")
    return entry


def _range(entry: dict[str, Any], what: str) -> tuple[float, float]:
    bounds = []
    for key in ("low", "high"):
        value = entry[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{what} {entry['channel']!r}: {key} {value!r} is not a number")
        bounds.append(float(value))
    if bounds[0] > bounds[1]:
        raise ValueError(f"{what} {entry['channel']!r}: low {bounds[0]} > high {bounds[1]}")
    return bounds[0], bounds[1]


@dataclass(frozen=True)
class SensorChannelSpec:
    name: str
    topic: str
    field: str
    index: int | str | None
    low: float
    high: float

    @classmethod
    def of(cls, entry: Any) -> SensorChannelSpec:
        """The sensor channel of a mapping (see the module docstring)."""
        entry = _fields(entry, _SENSOR_KEYS, ("index",), "sensor channel")
        index = entry.get("index")
        if isinstance(index, bool) or not isinstance(index, (int, str, type(None))):
            raise ValueError(f"sensor channel {entry['channel']!r}: index {index!r} must be a "
                             f"position, a joint name or absent")
        for key in ("channel", "topic", "field"):
            if not isinstance(entry[key], str) or not entry[key]:
                raise ValueError(f"sensor channel {entry!r:.80}: {key} must be a non-empty "
                                 f"string")
        low, high = _range(entry, "sensor channel")
        return cls(entry["channel"], entry["topic"], entry["field"], index, low, high)

    def channel(self) -> Channel:
        return Channel(self.name, (self.low, self.high))

    def extract(self, msg: Any) -> float | None:
        """The channel's value in `msg`, or None when the message does not carry it."""
        values = msg
        for part in self.field.split("."):
            values = getattr(values, part, None)
            if values is None:
                return None
        if self.index is None:
            return float(values)
        if isinstance(self.index, str):
            names = list(getattr(msg, "name", []))
            if self.index not in names:
                return None
            at = names.index(self.index)
        else:
            at = self.index
        if at >= len(values):
            return None
        return float(values[at])


@dataclass(frozen=True)
class ActuatorChannelSpec:
    name: str
    low: float
    high: float

    @classmethod
    def of(cls, entry: Any) -> ActuatorChannelSpec:
        """The actuator channel of a mapping {channel, low, high}."""
        entry = _fields(entry, _ACTUATOR_KEYS, (), "actuator channel")
        if not isinstance(entry["channel"], str) or not entry["channel"]:
            raise ValueError(f"actuator channel {entry!r:.80}: channel must be a non-empty "
                             f"string")
        low, high = _range(entry, "actuator channel")
        return cls(entry["channel"], low, high)

    def channel(self) -> Channel:
        return Channel(self.name, (self.low, self.high))


def sensor_specs(entries: Any) -> list[SensorChannelSpec]:
    """The sensor channels of a list of mappings."""
    if not isinstance(entries, list):
        raise ValueError(f"must be a list of sensor channels, got {entries!r:.80}")
    return [SensorChannelSpec.of(e) for e in entries]


def actuator_specs(entries: Any) -> list[ActuatorChannelSpec]:
    """The actuator channels of a list of mappings."""
    if not isinstance(entries, list):
        raise ValueError(f"must be a list of actuator channels, got {entries!r:.80}")
    return [ActuatorChannelSpec.of(e) for e in entries]


def topic_types_of(mapping: Any) -> dict[str, str]:
    """{topic: type} checked: each type one of TOPIC_TYPES."""
    if not isinstance(mapping, dict):
        raise ValueError(f"must be a mapping {{topic: type}}, got {mapping!r:.80}")
    for topic, kind in mapping.items():
        if kind not in TOPIC_TYPES:
            raise ValueError(f"topic {topic!r}: type {kind!r} is not one of "
                             f"{list(TOPIC_TYPES)}{did_you_mean(kind, TOPIC_TYPES)}")
    return {str(topic): str(kind) for topic, kind in mapping.items()}


def arm_reach_reward(s_signal: dict[str, float],
                     links_m: tuple[float, float] = ArmReach.links_m) -> float:
    """Minus the fingertip-target distance (m), from joint:0, joint:1, target:x, target:y."""
    try:
        q = np.array([s_signal["joint:0"], s_signal["joint:1"]])
        target = np.array([s_signal["target:x"], s_signal["target:y"]])
    except KeyError as exc:
        raise ValueError(f"reward 'arm_reach' needs sensor channel {exc.args[0]!r}") from None
    return -float(np.linalg.norm(arm_fingertip(q, links_m) - target))


REWARD_FUNCTIONS = {"arm_reach": arm_reach_reward}


def reward_function(name: str):
    try:
        return REWARD_FUNCTIONS[name]
    except KeyError:
        raise ValueError(f"unknown reward function {name!r}; known: "
                         f"{sorted(REWARD_FUNCTIONS)}") from None

