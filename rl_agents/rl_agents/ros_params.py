"""Parameters the `muscle` and `brain` nodes share: the agent and its channels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from rl_agents.channels import ActuatorChannelSpec, SensorChannelSpec, parse_topic_types
from rl_agents.information import ActuatorInformation, SensorInformation
from rl_agents.registry import AGENTS


@dataclass
class AgentParameters:
    algorithm: str
    agent_params: dict[str, Any]
    sensors: list[SensorChannelSpec]
    actuators: list[ActuatorChannelSpec]
    topic_types: dict[str, str]
    seed: int

    def sensor_infos(self) -> list[SensorInformation]:
        return [SensorInformation(0.0, s.channel().space(), s.name) for s in self.sensors]

    def actuator_infos(self) -> list[ActuatorInformation]:
        return [ActuatorInformation(None, a.channel().space(), a.name) for a in self.actuators]


def parse_mapping(name: str, text: str) -> dict[str, Any]:
    """A YAML/JSON mapping parameter (e.g. "{features: arm_reach}"); "" is {}."""
    if not text.strip():
        return {}
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"parameter '{name}' is not YAML: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"parameter '{name}' must be a mapping, got {text!r}")
    return value


def declare_agent_parameters(node: Node) -> AgentParameters:
    """Declare, read and validate the agent parameters; errors name the parameter."""
    def declare(name: str, default: Any, description: str) -> Any:
        return node.declare_parameter(name, default,
                                      ParameterDescriptor(description=description)).value

    algorithm = declare("algorithm", "dummy", f"Learning algorithm: one of {sorted(AGENTS)}.")
    agent_params = declare("agent_params", "",
                           "Algorithm parameters as a YAML mapping, e.g. '{features: arm_reach}'.")
    sensors = declare("sensors", ["joint:0 joint_states position joint0 -3.35 3.35"],
                      "Sensor channels: '<channel> <topic> <field> <index> <low> <high>'.")
    actuators = declare("actuators", ["joint:0 -0.1 0.1"],
                        "Actuator channels of actuator_command: '<channel> <low> <high>'.")
    topic_types = declare("topic_types", ["joint_states sensor_msgs/JointState"],
                          "Message type per sensor topic: '<topic> <pkg/Type>'.")
    seed = declare("seed", 0, "Random seed.")
    if algorithm not in AGENTS:
        raise ValueError(f"parameter 'algorithm' must be one of {sorted(AGENTS)}, "
                         f"got {algorithm!r}")
    params = parse_mapping("agent_params", agent_params)
    try:
        sensor_specs = [SensorChannelSpec.parse(s) for s in sensors]
    except ValueError as exc:
        raise ValueError(f"parameter 'sensors': {exc}") from None
    try:
        actuator_specs = [ActuatorChannelSpec.parse(a) for a in actuators]
    except ValueError as exc:
        raise ValueError(f"parameter 'actuators': {exc}") from None
    try:
        types = parse_topic_types(list(topic_types))
    except ValueError as exc:
        raise ValueError(f"parameter 'topic_types': {exc}") from None
    if not sensor_specs or not actuator_specs:
        raise ValueError("parameters 'sensors' and 'actuators' must each list a channel")
    return AgentParameters(algorithm, params, sensor_specs, actuator_specs, types, int(seed))
