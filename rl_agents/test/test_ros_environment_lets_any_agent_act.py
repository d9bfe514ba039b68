import uuid

import pytest
from rclpy.node import Node
from rl_arm_peer import ArmPeer

from rl_agents.agent import DummyBrain, DummyMuscle, DummyObjective
from rl_agents.channels import ActuatorChannelSpec, SensorChannelSpec, parse_topic_types
from rl_agents.loop import InProcessBrainLink, run_episode
from rl_agents.ros_environment import RosTopicEnvironment

pytestmark = pytest.mark.timeout(60)

SENSORS = ["joint:0 joint_states position joint0 -3.2 3.2",
           "joint:1 joint_states position 1 -3.2 3.2",
           "target:x sim/target point.x - -0.9 0.9",
           "target:y sim/target point.y - -0.9 0.9"]


def make_env(node: Node, executor, **kw) -> RosTopicEnvironment:
    return RosTopicEnvironment(
        node, [SensorChannelSpec.parse(s) for s in SENSORS],
        [ActuatorChannelSpec.parse(a) for a in ("joint:0 -0.1 0.1", "joint:1 -0.1 0.1")],
        parse_topic_types(["joint_states sensor_msgs/JointState",
                           "sim/target geometry_msgs/PointStamped"]),
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
        assert feedback["s_signal"]["joint:0"] == pytest.approx(0.55, abs=1e-6)
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
        RosTopicEnvironment(node, [SensorChannelSpec.parse(SENSORS[0])],
                            [ActuatorChannelSpec.parse("joint:0 -1 1")], {}, reward="arm_reach")
    with pytest.raises(ValueError, match="unknown reward function 'speed'"):
        RosTopicEnvironment(node, [SensorChannelSpec.parse(SENSORS[0])],
                            [ActuatorChannelSpec.parse("joint:0 -1 1")],
                            {"joint_states": "sensor_msgs/JointState"}, reward="speed")
    node.destroy_node()
