import uuid

import pytest
from rclpy.node import Node
from rl_arm_peer import ArmPeer

from rl_agents.agent import DummyBrain, DummyMuscle, DummyObjective
from rl_agents.channels import (
    ActuatorChannelSpec,
    SensorChannelSpec,
    actuator_specs,
    sensor_specs,
    topic_types_of,
)
from rl_agents.loop import InProcessBrainLink, run_episode
from rl_agents.ros_environment import RosTopicEnvironment

pytestmark = pytest.mark.timeout(60)

SENSORS = [{"channel": "joint:0", "topic": "joint_states", "field": "position",
            "index": "joint0", "low": -3.2, "high": 3.2},
           {"channel": "joint:1", "topic": "joint_states", "field": "position", "index": 1,
            "low": -3.2, "high": 3.2},
           {"channel": "target:x", "topic": "sim/target", "field": "point.x", "low": -0.9,
            "high": 0.9},
           {"channel": "target:y", "topic": "sim/target", "field": "point.y", "low": -0.9,
            "high": 0.9}]
ACTUATORS = [{"channel": "joint:0", "low": -0.1, "high": 0.1},
             {"channel": "joint:1", "low": -0.1, "high": 0.1}]


def make_env(node: Node, executor, **kw) -> RosTopicEnvironment:
    return RosTopicEnvironment(
        node, sensor_specs(SENSORS), actuator_specs(ACTUATORS),
        topic_types_of({"joint_states": "sensor_msgs/JointState",
                        "sim/target": "geometry_msgs/PointStamped"}),
        spin=lambda t: executor.spin_once(timeout_sec=t), **kw)


def test_a_dummy_agent_runs_episodes_on_the_arm_through_topics(ros_context, executor):
    arm = ArmPeer(context=ros_context)
    node = Node("agent_host", context=ros_context)
    executor.add_node(arm)
    executor.add_node(node)
    env = make_env(node, executor, reward="arm_reach", episode_steps=5)
    with env:
        first = env.reset()
        assert set(first) == {"joint:0", "joint:1", "target:x", "target:y"}
        assert first["target:x"] == pytest.approx(0.3)
        feedback = env.execute({"joint:0": 0.05, "joint:1": 0.0})
        assert isinstance(feedback["uuid"], uuid.UUID)
        assert feedback["m_signal"] == {"joint:0": 0.05, "joint:1": 0.0}
        # The first joint state after the command may still be the one the arm sent
        # before it acted (both nodes share the executor): within a few steps the arm
        # reports the pose the command moved it to.
        seen = [feedback["s_signal"]["joint:0"]]
        while seen[-1] != pytest.approx(0.55, abs=1e-6) and len(seen) < 4:
            seen.append(env.execute({"joint:0": 0.0, "joint:1": 0.0})["s_signal"]["joint:0"])
        assert seen[-1] == pytest.approx(0.55, abs=1e-6), seen
        assert all(x in (pytest.approx(0.5), pytest.approx(0.55)) for x in seen), seen
        assert feedback["reward"] < 0.0

        brain = DummyBrain()
        brain.configure(env.sensors(first), env.actuators(), 0)
        muscle = DummyMuscle("walker")
        muscle.configure(seed=1)
        result = run_episode(env, muscle, DummyObjective(), InProcessBrainLink(brain))
        assert result.steps == 5 and result.reward_return < 0.0
        # palaestrAI's DummyBrain answers data + 1; the muscle's counter ends at 5
        assert muscle.iter == 5 and len(brain.memory) == 5 and brain.memory.tags == {"walker"}
    # close() published a hold command
    executor.spin_once(timeout_sec=0.2)
    assert list(arm.commands[-1].deltas) == [0.0, 0.0]
    assert sum(c.source == "muscle" for c in arm.commands) >= 7


def test_missing_topics_time_out_with_the_channels_named(ros_context, executor):
    node = Node("lonely", context=ros_context)
    executor.add_node(node)
    env = make_env(node, executor, reward="arm_reach", fresh_timeout_s=0.3)
    with pytest.raises(TimeoutError, match="joint:0"):
        env.reset()
    env.close()


def test_configuration_errors_are_clear(ros_context):
    node = Node("cfg", context=ros_context)
    with pytest.raises(ValueError, match="no entry in topic_types"):
        RosTopicEnvironment(node, [SensorChannelSpec.of(SENSORS[0])],
                            [ActuatorChannelSpec(name="joint:0", low=-1, high=1)], {},
                            reward="arm_reach")
    with pytest.raises(ValueError, match="unknown reward function 'speed'"):
        RosTopicEnvironment(node, [SensorChannelSpec.of(SENSORS[0])],
                            [ActuatorChannelSpec(name="joint:0", low=-1, high=1)],
                            {"joint_states": "sensor_msgs/JointState"}, reward="speed")
    node.destroy_node()
