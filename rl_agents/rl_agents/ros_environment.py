"""An Environment over ROS topics, so any agent can act on the robot or the simulator.

Sensory channels are read from topics (see `rl_agents.channels` for the
spec strings); motor channels go out as one ab_interfaces/ActuatorCommand per
step on `actuator_command` (deltas, step_count 1). Rewards come from a
reward function of the sensory signal (e.g. "arm_reach") or from the
`reward` topic (ab_interfaces/Reward, global_reward).

Two ways to use it:
- non-blocking, from a node's timer: `observe()` then `command(m_signal)`;
- blocking, as a plain Environment (`reset` / `execute`) from a script: pass
  `spin=lambda timeout_s: executor.spin_once(timeout_sec=timeout_s)`;
  `execute` then waits until every sensor topic has published after the
  command (or `fresh_timeout_s` passed).
`close()` publishes a hold command (all-zero deltas) and drops the topics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data

from ab_interfaces.msg import ActuatorCommand, Reward
from rl_agents.channels import ActuatorChannelSpec, SensorChannelSpec, reward_function
from rl_agents.environment import Assessment, Environment


def message_class(type_name: str) -> type:
    """The rclpy message class for 'pkg/Type' (one of rl_agents.channels.TOPIC_TYPES)."""
    if type_name == "sensor_msgs/JointState":
        from sensor_msgs.msg import JointState
        return JointState
    if type_name == "geometry_msgs/PointStamped":
        from geometry_msgs.msg import PointStamped
        return PointStamped
    if type_name.startswith("std_msgs/"):
        import std_msgs.msg
        return getattr(std_msgs.msg, type_name.split("/", 1)[1])
    raise ValueError(f"unsupported topic type {type_name!r}")


class RosTopicEnvironment(Environment):
    """Channels on ROS topics; see the module docstring."""

    def __init__(self, node: Node, sensors: list[SensorChannelSpec],
                 actuators: list[ActuatorChannelSpec], topic_types: dict[str, str],
                 reward: str = "", reward_topic: str = "", episode_steps: int = 100,
                 step_dt_s: float = 0.1, source: str = "muscle",
                 spin: Callable[[float], None] | None = None,
                 fresh_timeout_s: float = 2.0) -> None:
        super().__init__({})
        if not sensors:
            raise ValueError("at least one sensor channel is needed")
        if not actuators:
            raise ValueError("at least one actuator channel is needed")
        self.node = node
        self.sensor_specs = list(sensors)
        self.actuator_specs = list(actuators)
        self.s_channels = [s.channel() for s in sensors]
        self.m_channels = [a.channel() for a in actuators]
        self.episode_steps = int(episode_steps)
        self.step_dt_s = float(step_dt_s)
        self.source = source
        self.spin = spin
        self.fresh_timeout_s = float(fresh_timeout_s)
        self.reward_fn = reward_function(reward) if reward else None
        self.values: dict[str, float] = {}
        self.received: dict[str, int] = {}
        self.reward_value: float | None = None
        self.t = 0
        self._closed = False

        topics = sorted({s.topic for s in sensors})
        for topic in topics:
            if topic not in topic_types:
                raise ValueError(f"topic {topic!r} of a sensor channel has no entry in "
                                 f"topic_types (e.g. '{{{topic}: sensor_msgs/JointState}}')")
        self._subscriptions = []
        for topic in topics:
            cls = message_class(topic_types[topic])
            qos = qos_profile_sensor_data if cls.__name__ in ("JointState",) else QoSProfile(
                depth=10)
            specs = [s for s in sensors if s.topic == topic]
            self.received[topic] = 0
            self._subscriptions.append(node.create_subscription(
                cls, topic, lambda msg, t=topic, sp=specs: self._on_sensor(t, sp, msg), qos))
        if reward_topic:
            self._subscriptions.append(node.create_subscription(
                Reward, reward_topic, self._on_reward, QoSProfile(depth=10)))
        elif self.reward_fn is None:
            raise ValueError("either a reward function or a reward topic is needed")
        self.publisher = node.create_publisher(ActuatorCommand, "actuator_command",
                                               QoSProfile(depth=10))

    def _on_sensor(self, topic: str, specs: list[SensorChannelSpec], msg: Any) -> None:
        for spec in specs:
            value = spec.extract(msg)
            if value is not None:
                self.values[spec.name] = value
        self.received[topic] += 1

    def _on_reward(self, msg: Reward) -> None:
        self.reward_value = float(msg.global_reward)

    def missing(self) -> list[str]:
        return [c.name for c in self.s_channels if c.name not in self.values]

    def observe(self) -> dict[str, float] | None:
        """The latest sensory signal, or None until every channel has a value."""
        if self.missing():
            return None
        return {c.name: self.values[c.name] for c in self.s_channels}

    def command(self, m_signal: dict[str, float]) -> None:
        msg = ActuatorCommand()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.source = self.source
        msg.channels = [a.name for a in self.actuator_specs]
        msg.step_count = 1
        msg.step_dt_s = self.step_dt_s
        msg.deltas = [float(m_signal.get(a.name, 0.0)) for a in self.actuator_specs]
        self.publisher.publish(msg)

    def hold(self) -> None:
        self.command({})

    def assess(self, s_signal: dict[str, float]) -> Assessment:
        """Reward for reaching `s_signal`; counts the step towards the episode's end."""
        self.t += 1
        if self.reward_fn is not None:
            reward = self.reward_fn(s_signal)
        else:
            reward = self.reward_value
        return Assessment(reward=reward, done=self.t >= self.episode_steps)

    def _wait(self, predicate: Callable[[], bool], what: str) -> None:
        if self.spin is None:
            raise RuntimeError("blocking use of RosTopicEnvironment needs a spin function")
        deadline = time.monotonic() + self.fresh_timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} within {self.fresh_timeout_s} s "
                                   f"(missing channels: {self.missing()})")
            self.spin(0.02)

    def reset(self, seed: int | None = None) -> dict[str, float]:
        self.t = 0
        self._wait(lambda: not self.missing(), "sensor data")
        return self.observe()

    def _execute(self, m_signal: dict[str, float], meta: dict[str, Any] | None = None
                 ) -> dict[str, float]:
        before = dict(self.received)
        self.command(m_signal)
        self._wait(lambda: all(self.received[t] > n for t, n in before.items()),
                   "fresh sensor data after the command")
        return self.observe()

    def _assess(self, m_signal: dict[str, float], s_signal: dict[str, float]) -> Assessment:
        return self.assess(s_signal)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.hold()
            # reliable QoS: wait (briefly) until subscribers have the hold, so it is not
            # lost when the process ends right after
            self.publisher.wait_for_all_acked(Duration(seconds=0.5))
        finally:
            for sub in self._subscriptions:
                self.node.destroy_subscription(sub)
            self.node.destroy_publisher(self.publisher)
