"""Parameters the `muscle` and `brain` nodes share: the agent and its channels.

Every parameter of both nodes is read once at start and declared read-only
(`ros2 param set` is refused with the reason, never "successful" and ignored):
`declare_read_only` is how they are declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from rl_agents.channels import ActuatorChannelSpec, SensorChannelSpec, parse_topic_types
from rl_agents.information import ActuatorInformation, SensorInformation
from rl_agents.registry import check_algorithm, parse_mapping

READ_ONLY_REASON = "read at start: restart the node to change it"


def declare_read_only(node: Node, name: str, default: Any, description: str,
                      **ranges: Any) -> Any:
    """Declare a parameter that is read once at start (read-only descriptor)."""
    return node.declare_parameter(name, default, ParameterDescriptor(
        description=f"{description} ({READ_ONLY_REASON}.)", read_only=True, **ranges)).value


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


def declare_agent_parameters(node: Node) -> AgentParameters:
    """Declare, read and validate the agent parameters; errors name the parameter."""
    def declare(name: str, default: Any, description: str) -> Any:
        return declare_read_only(node, name, default, description)

    algorithm = declare("algorithm", "dummy", "Learning algorithm: dummy, tile_q, cem, or a "
                        "class 'pkg.module:Class' (the brain node's Brain, the muscle node's "
                        "Muscle).")
    agent_params = declare("agent_params", "",
                           "Algorithm parameters as a YAML mapping, e.g. '{features: arm_reach}'.")
    brain_params = declare("brain_params", "", "The brain's own parameters (YAML mapping); "
                           "'' = agent_params.")
    muscle_params = declare("muscle_params", "", "The muscle's own parameters (YAML mapping); "
                            "'' = agent_params.")
    sensors = declare("sensors", ["joint:0 joint_states position joint0 -3.35 3.35"],
                      "Sensor channels: '<channel> <topic> <field> <index> <low> <high>'.")
    actuators = declare("actuators", ["joint:0 -0.1 0.1"],
                        "Actuator channels of actuator_command: '<channel> <low> <high>'.")
    topic_types = declare("topic_types", ["joint_states sensor_msgs/JointState"],
                          "Message type per sensor topic: '<topic> <pkg/Type>'.")
    seed = declare("seed", 0, "Random seed.")
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


def spin_until_signal(make_node: Any, args: list[str] | None = None) -> int:
    """Run one node until SIGINT or SIGTERM, then destroy it while its context is still
    valid (a final hold command still goes out) and shut down: exit code 0, no traceback.
    `make_node()` errors (a bad parameter) are printed as one line; exit code 2."""
    import signal
    import threading

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    context = rclpy.Context()
    rclpy.init(args=args, context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = None
    try:
        try:
            node = make_node(context)
        except ValueError as exc:
            print(f"error: {exc}", flush=True)
            return 2
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        while not stop.is_set() and context.ok():
            executor.spin_once(timeout_sec=0.1)
        executor.remove_node(node)
        executor.shutdown()
        return 0
    finally:
        if node is not None:
            node.destroy_node()
        context.try_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
