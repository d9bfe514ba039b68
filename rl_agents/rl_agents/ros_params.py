"""Parameters the `muscle` and `brain` nodes share: the agent and its channels.

Every parameter of both nodes is read once at start and declared read-only
through the node's node_kit Params (`ros2 param set` is refused with the reason,
never "successful" and ignored); unknown parameters fail the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node_kit import Params
from rl_agents.channels import ActuatorChannelSpec, SensorChannelSpec, parse_topic_types
from rl_agents.information import ActuatorInformation, SensorInformation
from rl_agents.registry import check_algorithm, parse_mapping


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


def declare_agent_parameters(params: Params) -> AgentParameters:
    """Declare (read-only), read and validate the agent parameters; errors name the
    parameter."""
    algorithm = params.declare("algorithm", "dummy", "Learning algorithm: dummy, tile_q, cem, or a "
                        "class 'pkg.module:Class' (the brain node's Brain, the muscle node's "
                        "Muscle).")
    agent_params = params.declare("agent_params", "",
                           "Algorithm parameters as a YAML mapping, e.g. '{features: arm_reach}'.")
    brain_params = params.declare("brain_params", "", "The brain's own parameters (YAML mapping); "
                           "'' = agent_params.")
    muscle_params = params.declare("muscle_params", "", "The muscle's own parameters (YAML mapping); "
                            "'' = agent_params.")
    sensors = params.declare("sensors", ["joint:0 joint_states position joint0 -3.35 3.35"],
                      "Sensor channels: '<channel> <topic> <field> <index> <low> <high>'.")
    actuators = params.declare("actuators", ["joint:0 -0.1 0.1"],
                        "Actuator channels of actuator_command: '<channel> <low> <high>'.")
    topic_types = params.declare("topic_types", ["joint_states sensor_msgs/JointState"],
                          "Message type per sensor topic: '<topic> <pkg/Type>'.")
    seed = params.declare("seed", 0, "Random seed.")
    try:
        check_algorithm(algorithm)
    except ValueError as exc:
        raise ValueError(f"parameter 'algorithm': {exc}") from None
    params = parse_mapping("agent_params", agent_params)
    own_brain = parse_mapping("brain_params", brain_params) if brain_params.strip() else None
    own_muscle = parse_mapping("muscle_params", muscle_params) if muscle_params.strip() else None
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
    return AgentParameters(algorithm, params, sensor_specs, actuator_specs, types, int(seed),
                           own_brain, own_muscle)

