"""Parameters the `muscle` and `brain` nodes share: the agent and its channels.

Every parameter of both nodes is read once at start and declared read-only
through the node's node_kit Params (`ros2 param set` is refused with the reason,
never "successful" and ignored); unknown parameters fail the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node_kit import Params
from node_kit.checks import ParameterError
from node_kit.config import load_structured
from rl_agents.channels import (
    ActuatorChannelSpec,
    SensorChannelSpec,
    actuator_specs,
    sensor_specs,
    topic_types_of,
)
from rl_agents.information import ActuatorInformation, SensorInformation
from rl_agents.registry import check_algorithm


@dataclass
class AgentParameters:
    algorithm: str
    agent_params: dict[str, Any]
    sensors: list[SensorChannelSpec]
    actuators: list[ActuatorChannelSpec]
    topic_types: dict[str, str]
    seed: int
    brain_params: dict[str, Any] | None = None    # None: agent_params
    muscle_params: dict[str, Any] | None = None

    def sensor_infos(self) -> list[SensorInformation]:
        return [SensorInformation(0.0, s.channel().space(), s.name) for s in self.sensors]

    def actuator_infos(self) -> list[ActuatorInformation]:
        return [ActuatorInformation(None, a.channel().space(), a.name) for a in self.actuators]


#: The arm-reach channels (robot_bringup's sim arm), the defaults of both nodes.
DEFAULT_SENSORS = """\
- {channel: "joint:0", topic: joint_states, field: position, index: joint0, low: -3.35, high: 3.35}
"""
DEFAULT_ACTUATORS = '[{channel: "joint:0", low: -0.1, high: 0.1}]'
DEFAULT_TOPIC_TYPES = "{joint_states: sensor_msgs/JointState}"


def declare_agent_parameters(params: Params) -> AgentParameters:
    """Declare (read-only), read and validate the agent parameters; errors name the
    parameter."""
    algorithm = params.declare(
        "algorithm", "dummy", "Learning algorithm: dummy, tile_q, cem, or a class "
        "'pkg.module:Class' (the brain node's Brain, the muscle node's Muscle).")
    agent_params = params.declare(
        "agent_params", "", "Algorithm parameters (YAML mapping, inline or a file's path), "
        "e.g. '{features: arm_reach}'.")
    own_params = {side: params.declare(
        f"{side}_params", "", f"The {side}'s own parameters (YAML mapping, inline or a "
        f"file's path); '' = agent_params.") for side in ("brain", "muscle")}
    sensors = params.declare(
        "sensors", DEFAULT_SENSORS, "Sensor channels (YAML list, inline or a file's path): "
        "{channel, topic, field, index (position, joint name or absent), low, high} each.")
    actuators = params.declare(
        "actuators", DEFAULT_ACTUATORS, "Actuator channels of actuator_command (YAML list, "
        "inline or a file's path): {channel, low, high} each.")
    topic_types = params.declare(
        "topic_types", DEFAULT_TOPIC_TYPES, "Message type per sensor topic (YAML mapping, "
        "inline or a file's path): {topic: pkg/Type}.")
    seed = params.declare("seed", 0, "Random seed.")
    try:
        check_algorithm(algorithm)
    except ValueError as exc:
        raise ValueError(f"parameter 'algorithm': {exc}") from None
    mapping = load_structured("agent_params", agent_params, dict, default={})
    own_brain, own_muscle = (load_structured(f"{side}_params", text, dict)
                             for side, text in own_params.items())
    channels = {}
    for name, text, read in (("sensors", sensors, sensor_specs),
                             ("actuators", actuators, actuator_specs),
                             ("topic_types", topic_types, topic_types_of)):
        try:
            channels[name] = read(load_structured(name, text))
        except ParameterError:
            raise
        except ValueError as exc:
            raise ValueError(f"parameter {name!r}: {exc}") from None
    if not channels["sensors"] or not channels["actuators"]:
        raise ValueError("parameters 'sensors' and 'actuators' must each list a channel")
    return AgentParameters(algorithm, mapping, channels["sensors"], channels["actuators"],
                           channels["topic_types"], int(seed), own_brain, own_muscle)
