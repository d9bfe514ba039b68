"""Channel specifications for ROS topics (ROS-free: messages are read duck-typed).

A sensor channel reads one number from a topic:
    "<channel> <topic> <field> <index> <low> <high>"
e.g. "joint:0 joint_states position 0 -3.1416 3.1416" (JointState.position[0]),
"joint:0 joint_states position shoulder -3.1416 3.1416" (the joint named
"shoulder"), "target:x target data 0 -0.9 0.9" (Float32MultiArray.data[0]),
"speed odom_speed data - 0 2" (std_msgs/Float32.data; index "-" for scalars),
"target:x sim/target point.x - -0.9 0.9" (geometry_msgs/PointStamped; dotted fields).

An actuator channel is a channel of ab_interfaces/ActuatorCommand:
    "<channel> <low> <high>", e.g. "joint:0 -0.1 0.1" (a delta per step).

Topic types: "<topic> <type>", type one of TOPIC_TYPES.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rl_agents.environment import Channel
from rl_agents.tasks import ArmReach, arm_fingertip

TOPIC_TYPES = ("sensor_msgs/JointState", "std_msgs/Float32MultiArray",
               "std_msgs/Float64MultiArray", "std_msgs/Float32", "std_msgs/Float64",
               "geometry_msgs/PointStamped")


def _float(text: str, what: str, spec: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} in channel spec {spec!r} is not a number") from None


@dataclass(frozen=True)
class SensorChannelSpec:
    name: str
    topic: str
    field: str
    index: int | str | None
    low: float
    high: float

    @classmethod
    def parse(cls, spec: str) -> SensorChannelSpec:
        parts = spec.split()
        if len(parts) != 6:
            raise ValueError(f"sensor channel spec {spec!r} needs 6 fields: "
                             "<channel> <topic> <field> <index> <low> <high>")
        name, topic, field, index_text, low, high = parts
        index: int | str | None
        if index_text == "-":
            index = None
        else:
            try:
                index = int(index_text)
            except ValueError:
                index = index_text   # a joint name
        lo, hi = _float(low, "low", spec), _float(high, "high", spec)
        if lo > hi:
            raise ValueError(f"channel spec {spec!r}: low {lo} > high {hi}")
        return cls(name, topic, field, index, lo, hi)

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
    def parse(cls, spec: str) -> ActuatorChannelSpec:
        parts = spec.split()
        if len(parts) != 3:
            raise ValueError(f"actuator channel spec {spec!r} needs 3 fields: "
                             "<channel> <low> <high>")
        lo, hi = _float(parts[1], "low", spec), _float(parts[2], "high", spec)
        if lo > hi:
            raise ValueError(f"channel spec {spec!r}: low {lo} > high {hi}")
        return cls(parts[0], lo, hi)

    def channel(self) -> Channel:
        return Channel(self.name, (self.low, self.high))


def parse_topic_types(specs: list[str]) -> dict[str, str]:
    out = {}
    for spec in specs:
        parts = spec.split()
        if len(parts) != 2 or parts[1] not in TOPIC_TYPES:
            raise ValueError(f"topic type spec {spec!r} must be '<topic> <type>' with type "
                             f"one of {list(TOPIC_TYPES)}")
        out[parts[0]] = parts[1]
    return out


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

