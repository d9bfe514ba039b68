"""`muscle`: an agent's muscle acting on ROS topics, learning through its brain.

Every 1/rate_hz s it reads the configured sensor channels, finishes the
previous step (reward from the reward function or the `reward` topic,
the Objective's value, the step sent to the brain), proposes actions and
publishes them on `actuator_command` (ab_interfaces/ActuatorCommand, source
"muscle"). The brain is reached over ZeroMQ (`brain_endpoint`, see the `brain`
node) or, with `brain_endpoint` "", runs inside this node. Brain traffic runs
on a worker thread: the timer never waits for it. On shutdown a hold command
(all-zero deltas) is published.

    ros2 run rl_agents muscle --ros-args --params-file rl_agents/config/arm_reach_muscle.yaml
"""

from __future__ import annotations

from typing import Any

import numpy as np
import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile
from std_msgs.msg import Float64

from rl_agents.agent import FileBrainDumper, Mode, Step
from rl_agents.information import flat_values
from rl_agents.loop import InProcessBrainLink
from rl_agents.registry import make_brain, make_muscle, make_objective
from rl_agents.ros_environment import RosTopicEnvironment
from rl_agents.ros_params import declare_agent_parameters, parse_mapping
from rl_agents.transport import AsyncBrainLink, BrainClient, ProtocolVersionError


class MuscleNode(Node):
    """Acts with a Muscle on the configured channels; see the module docstring."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("muscle", **kwargs)
        agent = declare_agent_parameters(self)

        def declare(name: str, default: Any, description: str, **ranges: Any) -> Any:
            return self.declare_parameter(
                name, default, ParameterDescriptor(description=description, **ranges)).value

        self.rate_hz = float(declare("rate_hz", 10.0, "Steps per second.",
                                     floating_point_range=[FloatingPointRange(
                                         from_value=0.1, to_value=1000.0)]))
        self.episode_steps = int(declare("episode_steps", 100, "Steps per episode.",
                                         integer_range=[IntegerRange(
                                             from_value=1, to_value=10**9, step=1)]))
        mode = declare("mode", "train", "'train' (learn through the brain) or 'test' "
                       "(act with the stored model, no learning).")
        self.brain_endpoint = declare("brain_endpoint", "tcp://127.0.0.1:5599",
                                      "ZeroMQ endpoint of the brain; '' runs the brain in "
                                      "this node.")
        timeout_s = float(declare("brain_timeout_s", 2.0, "Wait for a brain reply (s).",
                                  floating_point_range=[FloatingPointRange(
                                      from_value=0.001, to_value=600.0)]))
        self.model_dir = declare("model_dir", "", "Directory of stored brain states: loaded "
                                 "in test mode; the in-process brain also stores there.")
        reward = declare("reward_function", "arm_reach",
                         "Reward from the sensory signal ('arm_reach'), or '' to use reward_topic.")
        reward_topic = declare("reward_topic", "", "ab_interfaces/Reward topic to take the "
                               "environment reward from (when reward_function is '').")
        objective = declare("objective", "dummy", "Objective: 'dummy' (sum of rewards) or "
                            "'scaled_reward'.")
        objective_params = declare("objective_params", "", "Objective parameters (YAML mapping).")
        muscle_id = declare("muscle_id", "", "Muscle id towards the brain (default: node name).")
        try:
            self.mode = Mode.parse(mode)
        except ValueError as exc:
            raise ValueError(f"parameter 'mode': {exc}") from None
        if self.mode is Mode.TEST and not self.model_dir:
            raise ValueError("parameter 'model_dir' is needed in mode 'test'")

        self.muscle = make_muscle(agent.algorithm, muscle_id or self.get_name(),
                                  agent.agent_params)
        loaders = [FileBrainDumper(self.model_dir)] if self.model_dir else []
        self.muscle.configure(agent.seed, self.mode, loaders)
        self.objective = make_objective(objective, parse_mapping("objective_params",
                                                                 objective_params))
        self.env = RosTopicEnvironment(self, agent.sensors, agent.actuators, agent.topic_types,
                                       reward=reward, reward_topic=reward_topic,
                                       episode_steps=self.episode_steps,
                                       step_dt_s=1.0 / self.rate_hz, source="muscle")
        self.brain = None
        if self.mode is Mode.TEST:
            if not self.muscle.prepare_model():
                raise ValueError(f"parameter 'model_dir': no stored model for "
                                 f"'{agent.algorithm}' in {self.model_dir!r}")
            self.link = None
        elif self.brain_endpoint:
            self.link = AsyncBrainLink(BrainClient(self.brain_endpoint, timeout_s=timeout_s))
        else:
            self.brain = make_brain(agent.algorithm, agent.agent_params)
            self.brain.configure(agent.sensor_infos(), agent.actuator_infos(), agent.seed,
                                 [FileBrainDumper(self.model_dir)] if self.model_dir else [])
            self.brain.load()
            self.link = AsyncBrainLink(InProcessBrainLink(self.brain))
        if self.link is not None:
            self.link.submit(self.muscle.uid, None, None)   # hello: get the first update

        self.return_publisher = self.create_publisher(Float64, "~/episode_return",
                                                      QoSProfile(depth=10))
        self.previous: tuple[np.ndarray, np.ndarray, Any] | None = None
        self.episode = 0
        self.steps = 0
        self.episode_return = 0.0
        self.timer = self.create_timer(1.0 / self.rate_hz, self.tick)
        self.get_logger().info(
            f"muscle '{self.muscle.uid}' ({agent.algorithm}, {self.mode.value}) on "
            f"{[c.name for c in self.env.s_channels]} -> {[c.name for c in self.env.m_channels]}, "
            f"brain {'in-process' if self.brain is not None else self.brain_endpoint or 'none'}")

    def tick(self) -> None:
        if self.link is not None:
            for update in self.link.updates():
                try:
                    self.muscle.update(update)
                except (KeyError, TypeError, ValueError) as exc:
                    self.get_logger().error(f"update from the brain rejected: {exc}",
                                            throttle_duration_sec=5.0)
            if self.link.error is not None:
                self.get_logger().error(f"brain link: {self.link.error}",
                                        throttle_duration_sec=10.0)
                if not isinstance(self.link.error, ProtocolVersionError):
                    self.link.error = None   # a brain error is per request; a version one stays
        s_signal = self.env.observe()
        if s_signal is None:
            self.get_logger().info(f"waiting for sensor channels {self.env.missing()}",
                                   throttle_duration_sec=5.0)
            return
        sensors = self.env.sensors(s_signal)
        if self.previous is not None:
            self._finish_step(flat_values(sensors), s_signal)
        actuators, data = self.muscle.propose_actions(sensors, self.env.actuators())
        actuators = list(actuators)
        self.env.command(self.env.m_signal_from(actuators))
        self.previous = (flat_values(sensors), flat_values(actuators), data)

    def _finish_step(self, next_sensors: np.ndarray, s_signal: dict[str, float]) -> None:
        sensor_vec, actuator_vec, data = self.previous
        assessment = self.env.assess(s_signal)
        if assessment.reward is None:   # no reward heard yet on reward_topic
            return
        rewards = np.array([assessment.reward])
        self.muscle.memory.append(sensor_vec, actuator_vec, rewards, assessment.done,
                                  muscle_id=self.muscle.uid)
        value = self.objective.internal_reward(self.muscle.memory)
        self.muscle.memory.set_objective(None if value is None else float(np.sum(value)))
        self.episode_return += float(rewards.sum())
        self.steps += 1
        if value is not None and self.link is not None:
            self.link.submit(self.muscle.uid, data, Step(
                sensor_vec, actuator_vec, rewards, float(np.sum(value)), next_sensors,
                assessment.done, False))
        self.muscle.pop_statistics()
        if assessment.done:
            self.return_publisher.publish(Float64(data=self.episode_return))
            self.get_logger().info(f"episode {self.episode}: return {self.episode_return:.3f}")
            self.episode += 1
            self.episode_return = 0.0
            self.env.t = 0
            self.muscle.reset()

    def destroy_node(self) -> None:
        if getattr(self, "timer", None) is not None:
            self.destroy_timer(self.timer)
            self.timer = None
        if getattr(self, "env", None) is not None:
            self.env.close()   # publishes a hold command
        if getattr(self, "link", None) is not None:
            self.link.close()
            self.link = None
        if getattr(self, "brain", None) is not None and self.model_dir:
            self.brain.store()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    try:
        with rclpy.init(args=args):
            node = MuscleNode()
            try:
                rclpy.spin(node)
            finally:
                node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
