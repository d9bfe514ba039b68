"""`muscle`: an agent's muscle acting on ROS topics, learning through its brain.

Built on `rl_agents.muscle_runner.MuscleRunner` (the plain-Python muscle
process): every 1/rate_hz s the node reads the configured sensor channels,
hands them with the reward of the previous action (reward function or the
`reward` topic) to `MuscleRunner.act` — which remembers the step, asks the
Objective, sends the step to the brain and calls `propose_actions`, in
palaestrAI's order — and publishes the setpoints on `actuator_command`
(ab_interfaces/ActuatorCommand, source "muscle"). The brain is reached over
ZeroMQ (`brain_endpoint`, see the `brain` node) or, with `brain_endpoint`
"", runs inside this node. Brain traffic runs on a worker thread: the timer
never waits for it (an update arrives a step or more later). On shutdown
(SIGINT, SIGTERM) a hold command (all-zero deltas) is published, the muscle's
`teardown()` runs and the process exits 0. Every parameter is read-only.

    ros2 run rl_agents muscle --ros-args --params-file rl_agents/config/arm_reach_muscle.yaml
"""

from __future__ import annotations

import sys
from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSProfile
from std_msgs.msg import Float64

from node_kit import Params, run_node
from rl_agents.agent import FileBrainDumper, Mode
from rl_agents.loop import InProcessBrainLink
from rl_agents.muscle_runner import MuscleRunner
from rl_agents.registry import make_brain, make_muscle, make_objective, parse_mapping
from rl_agents.ros_environment import RosTopicEnvironment
from rl_agents.ros_params import declare_agent_parameters
from rl_agents.transport import AsyncBrainLink, BrainClient, ProtocolVersionError


class MuscleNode(Node):
    """Acts with a Muscle on the configured channels; see the module docstring."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("muscle", **kwargs)
        params = Params(self)
        agent = declare_agent_parameters(params)
        self.rate_hz = float(params.declare("rate_hz", 10.0, "Steps per second.",
                                            low=0.1, high=1000.0))
        self.episode_steps = int(params.declare("episode_steps", 100, "Steps per episode.",
                                                low=1, high=10**9))
        mode = params.declare("mode", "train", "'train' (learn through the brain), 'test' or "
                              "'evaluate' (act with the stored model; the brain does not learn).")
        self.brain_endpoint = params.declare("brain_endpoint", "tcp://127.0.0.1:5599",
                                             "ZeroMQ endpoint of the brain; '' runs the brain "
                                             "in this node.")
        timeout_s = float(params.declare("brain_timeout_s", 2.0, "Wait for a brain reply (s).",
                                         low=0.001, high=600.0))
        self.model_dir = params.declare("model_dir", "", "Directory of stored brain states: "
                                        "loaded in test mode; the in-process brain also stores "
                                        "there.")
        reward = params.declare("reward_function", "arm_reach", "Reward from the sensory signal "
                                "('arm_reach'), or '' to use reward_topic.")
        reward_topic = params.declare("reward_topic", "", "ab_interfaces/Reward topic to take "
                                      "the environment reward from (when reward_function is '').")
        objective = params.declare("objective", "dummy", "Objective: 'dummy' (sum of rewards), "
                                   "'scaled_reward', or a class 'pkg.module:Class'.")
        objective_params = params.declare("objective_params", "",
                                          "Objective parameters (YAML mapping).")
        muscle_id = params.declare("muscle_id", "",
                                   "Muscle id towards the brain (default: node name).")
        brain_class = params.declare("brain_class", "", "The in-process brain (brain_endpoint "
                                     "''): an algorithm or 'pkg.module:Class'; '' = algorithm.")
        params.refuse_unknown()
        try:
            self.mode = Mode.parse(mode)
        except ValueError as exc:
            raise ValueError(f"parameter 'mode': {exc}") from None
        if self.mode is not Mode.TRAIN and not self.model_dir:
            raise ValueError(f"parameter 'model_dir' is needed in mode '{self.mode.value}'")

        muscle_params = (agent.agent_params if agent.muscle_params is None
                         else agent.muscle_params)
        muscle = make_muscle(agent.algorithm, muscle_id or self.get_name(), muscle_params)
        loaders = [FileBrainDumper(self.model_dir)] if self.model_dir else []
        prepared = muscle.configure(agent.seed, self.mode, loaders)
        if self.mode is not Mode.TRAIN and prepared is False:
            raise ValueError(f"parameter 'model_dir': no stored model for "
                             f"'{agent.algorithm}' in {self.model_dir!r}")
        objective_obj = make_objective(objective, parse_mapping("objective_params",
                                                                objective_params))
        self.env = RosTopicEnvironment(self, agent.sensors, agent.actuators, agent.topic_types,
                                       reward=reward, reward_topic=reward_topic,
                                       episode_steps=self.episode_steps,
                                       step_dt_s=1.0 / self.rate_hz, source="muscle")
        self.brain = None
        if self.brain_endpoint:
            link = AsyncBrainLink(BrainClient(self.brain_endpoint, timeout_s=timeout_s))
        else:
            self.brain = make_brain(brain_class or agent.algorithm, agent.agent_params
                                    if agent.brain_params is None else agent.brain_params)
            self.brain.configure(agent.sensor_infos(), agent.actuator_infos(), agent.seed,
                                 loaders, name=self.get_name(), load=bool(loaders))
            link = AsyncBrainLink(InProcessBrainLink(self.brain))
        self.link = link
        self.runner = MuscleRunner(muscle, objective_obj, link, self.mode)
        self.muscle = muscle

        self.return_publisher = self.create_publisher(Float64, "~/episode_return",
                                                      QoSProfile(depth=10))
        self.acted = False
        self.episode = 0
        self.steps = 0
        self.episode_return = 0.0
        self.timer = self.create_timer(1.0 / self.rate_hz, self.tick)
        self.get_logger().info(
            f"muscle '{muscle.uid}' ({agent.algorithm}, {self.mode.value}) on "
            f"{[c.name for c in self.env.s_channels]} -> {[c.name for c in self.env.m_channels]}, "
            f"brain {'in-process' if self.brain is not None else self.brain_endpoint}")

    def tick(self) -> None:
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
        rewards, done = None, False
        if self.acted:   # the reward of the previous action, and whether the episode ended
            assessment = self.env.assess(s_signal)
            done = assessment.done
            if assessment.reward is not None:
                rewards = self.env.rewards({"reward": assessment.reward})
                self.episode_return += float(assessment.reward)
            self.steps += 1
        try:
            setpoints, _ = self.runner.act(sensors, self.env.actuators(), rewards, done)
        except (KeyError, TypeError, ValueError) as exc:   # a bad update or setpoint
            self.get_logger().error(f"muscle step failed: {exc}", throttle_duration_sec=5.0)
            return
        if done:
            self.return_publisher.publish(Float64(data=self.episode_return))
            self.get_logger().info(f"episode {self.episode}: return {self.episode_return:.3f}")
            self.episode += 1
            self.episode_return = 0.0
            self.env.t = 0
            self.acted = False
            self.muscle.reset()   # the next episode starts at the next tick
            return
        self.env.command(self.env.m_signal_from(setpoints))
        self.acted = True

    def destroy_node(self) -> None:
        if getattr(self, "timer", None) is not None:
            self.destroy_timer(self.timer)
            self.timer = None
        if getattr(self, "env", None) is not None:
            self.env.close()   # publishes a hold command
        if getattr(self, "runner", None) is not None:
            self.runner.close()   # Muscle.teardown(), then the brain link
            self.runner = None
        if getattr(self, "brain", None) is not None and self.model_dir:
            self.brain.store()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Act until SIGINT or SIGTERM; then hold, tear down, exit 0."""
    return run_node(MuscleNode, args)


if __name__ == "__main__":
    sys.exit(main())
