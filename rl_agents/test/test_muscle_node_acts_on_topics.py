import numpy as np
import pytest
import yaml
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile
from rl_arm_peer import ARM_ACTUATORS, ARM_SENSORS, ARM_TOPIC_TYPES, ArmPeer
from std_msgs.msg import Float64

from rl_agents.agent import FileBrainDumper
from rl_agents.algorithms import CEMBrain
from rl_agents.channels import actuator_specs, arm_reach_reward, sensor_specs
from rl_agents.muscle_node import MuscleNode
from rl_agents.ros_params import AgentParameters

pytestmark = pytest.mark.timeout(90)
CEM = "{features: arm_reach, population: 4, episodes_per_candidate: 1, init_std: 1.0}"


def muscle_params(**extra):
    base = {"algorithm": "cem", "agent_params": CEM, "sensors": ARM_SENSORS,
            "actuators": ARM_ACTUATORS, "topic_types": ARM_TOPIC_TYPES,
            "reward_function": "arm_reach", "rate_hz": 50.0, "episode_steps": 10,
            "brain_endpoint": ""}
    base.update(extra)
    return [Parameter(k, value=v) for k, v in base.items()]


def test_muscle_learns_in_process_and_holds_the_arm_when_it_stops(ros_context, executor,
                                                                   spin_until):
    arm = ArmPeer(context=ros_context)
    muscle = MuscleNode(context=ros_context, parameter_overrides=muscle_params())
    returns = []
    muscle.create_subscription(Float64, "muscle/episode_return",
                               lambda m: returns.append(m.data), QoSProfile(depth=10))
    executor.add_node(arm)
    executor.add_node(muscle)
    assert spin_until(executor, lambda: len(returns) >= 3, timeout_s=40)
    mine = [c for c in arm.commands if c.source == "muscle"]
    assert len(mine) >= 30
    assert all(list(c.channels) == ["joint:0", "joint:1"] and c.step_count == 1 for c in mine)
    assert all(len(c.deltas) == 2 and max(abs(d) for d in c.deltas) <= 0.1 for c in mine)
    assert any(any(d != 0.0 for d in c.deltas) for c in mine)
    assert all(r < 0.0 for r in returns)              # minus a distance, summed
    assert len(muscle.brain.memory) >= 20             # the brain got the steps
    assert muscle.brain.generation >= 0 and muscle.muscle.tag   # a candidate was handed out
    executor.remove_node(muscle)
    before = len(arm.commands)
    muscle.destroy_node()
    # commands still in flight arrive first; the last one is the hold
    assert spin_until(executor, lambda: any(list(c.deltas) == [0.0, 0.0]
                                            for c in arm.commands[before:]), timeout_s=5)
    assert list(arm.commands[-1].deltas) == [0.0, 0.0]


def test_test_mode_acts_with_the_stored_policy(ros_context, executor, spin_until, tmp_path):
    specs = AgentParameters("cem", {"features": "arm_reach"},
                            sensor_specs(yaml.safe_load(ARM_SENSORS)),
                            actuator_specs(yaml.safe_load(ARM_ACTUATORS)), {}, 0)
    brain = CEMBrain(features="arm_reach")
    brain.configure(specs.sensor_infos(), specs.actuator_infos(), 0, [FileBrainDumper(tmp_path)])
    brain.mean = np.array([0.5, 0.4, 0.0, 0.4]) * 2.0     # a Jacobian-transpose reacher
    brain.store()
    arm = ArmPeer(context=ros_context)
    muscle = MuscleNode(context=ros_context, parameter_overrides=muscle_params(
        mode="test", model_dir=str(tmp_path), agent_params="{features: arm_reach}"))
    executor.add_node(arm)
    executor.add_node(muscle)
    # as in palaestrAI the brain still thinks in test mode, but learns nothing and
    # sends no update: the muscle acts with the stored mean
    stored = muscle.muscle.mean.copy()

    def distance() -> float:
        return -arm_reach_reward({"joint:0": arm.q[0], "joint:1": arm.q[1],
                                  "target:x": 0.3, "target:y": 0.6})

    start = distance()
    assert start > 0.2
    assert spin_until(executor, lambda: distance() < 0.03, timeout_s=30)   # it reaches
    assert len(muscle.brain.memory) >= 1 and muscle.brain.generation == 0
    assert np.array_equal(muscle.muscle.mean, stored)


@pytest.mark.parametrize("override, name", [
    ({"algorithm": "nope"}, "'algorithm'"),
    ({"sensors": "[{channel: 'joint:0', topic: joint_states, field: position}]"},
     "'sensors'.*needs low, high"),
    ({"sensors": "[{channel: 'joint:0', topic: joint_states, field: position, low: 0, "
                 "high: 1, idx: 0}]"}, "'sensors'.*unknown field 'idx'; did you mean 'index'"),
    ({"actuators": "[{channel: 'joint:0', low: low, high: high}]"},
     "'actuators'.*low 'low' is not a number"),
    ({"actuators": "joint:0 -0.1 0.1"}, "'actuators'.*must be a list"),
    ({"topic_types": "{joint_states: sensor_msgs/Foo}"},
     "'topic_types'.*'sensor_msgs/Foo' is not one of"),
    ({"topic_types": "missing_types.yaml"}, "'topic_types': file 'missing_types.yaml' not found"),
    ({"mode": "play"}, "'mode'"),
    ({"mode": "test"}, "'model_dir'"),
    ({"agent_params": "[1, 2]"}, "'agent_params'"),
])
def test_bad_parameters_are_named(ros_context, override, name):
    with pytest.raises(ValueError, match=name):
        MuscleNode(context=ros_context, parameter_overrides=muscle_params(**override))
