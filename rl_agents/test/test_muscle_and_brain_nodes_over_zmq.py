import signal
import socket

import pytest
from rclpy.parameter import Parameter
from rl_arm_peer import ARM_ACTUATORS, ARM_SENSORS, ARM_TOPIC_TYPES, ArmPeer

from rl_agents.brain_node import BrainNode
from rl_agents.muscle_node import MuscleNode

pytestmark = pytest.mark.timeout(120)


def agent_params(algorithm: str, agent: str = "") -> dict:
    return {"algorithm": algorithm, "agent_params": agent, "sensors": ARM_SENSORS,
            "actuators": ARM_ACTUATORS, "topic_types": ARM_TOPIC_TYPES}


def overrides(values: dict) -> list[Parameter]:
    return [Parameter(k, value=v) for k, v in values.items()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_brain_node_serves_the_muscle_node_over_zmq(ros_context, executor, spin_until,
                                                    tmp_path):
    cem = "{features: arm_reach, population: 4, episodes_per_candidate: 1}"
    brain = BrainNode(context=ros_context, parameter_overrides=overrides({
        **agent_params("cem", cem), "endpoint": "tcp://127.0.0.1:0",
        "model_dir": str(tmp_path), "store_period_s": 0.5}))
    arm = ArmPeer(context=ros_context)
    muscle = MuscleNode(context=ros_context, parameter_overrides=overrides({
        **agent_params("cem", cem), "brain_endpoint": brain.endpoint, "rate_hz": 50.0,
        "episode_steps": 5, "reward_function": "arm_reach"}))
    for node in (brain, arm, muscle):
        executor.add_node(node)
    assert spin_until(executor, lambda: brain.brain.generation >= 1, timeout_s=60)
    assert brain.server.muscles == {"muscle"}
    assert muscle.muscle.tag["generation"] >= 0
    assert spin_until(executor, lambda: (tmp_path / "policy.npz").exists(), timeout_s=10)


def test_muscle_keeps_acting_while_the_brain_process_restarts(ros_context, executor,
                                                              spin_until, start_process):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    brain_args = ["python", "-m", "rl_agents.brain_node", "--ros-args",
                  "-p", "algorithm:=dummy", "-p", f"endpoint:={endpoint}",
                  "-p", "sensors:=" + "[" + ",".join(f"'{s}'" for s in ARM_SENSORS) + "]",
                  "-p", "actuators:=" + "[" + ",".join(f"'{a}'" for a in ARM_ACTUATORS) + "]"]
    brain = start_process(brain_args)
    arm = ArmPeer(context=ros_context)
    muscle = MuscleNode(context=ros_context, parameter_overrides=overrides({
        **agent_params("dummy"), "brain_endpoint": endpoint, "rate_hz": 50.0,
        "episode_steps": 10, "brain_timeout_s": 0.3}))
    executor.add_node(arm)
    executor.add_node(muscle)
    # DummyBrain answers with a per-muscle counter: updates are flowing when it grows
    assert spin_until(executor, lambda: muscle.muscle.iter >= 20, timeout_s=40)
    brain.send_signal(signal.SIGINT)
    assert brain.wait(timeout=15) == 0          # a quiet, clean exit
    commands = len(arm.commands)
    assert spin_until(executor, lambda: muscle.link.link.timeouts >= 1, timeout_s=20)
    assert spin_until(executor, lambda: len(arm.commands) >= commands + 20, timeout_s=20)
    assert muscle.link.error is None            # the muscle kept acting, nothing raised

    start_process(brain_args)                   # a fresh brain: its counter starts over
    assert spin_until(executor, lambda: muscle.link.link.brain_up and 0 < muscle.muscle.iter < 20,
                      timeout_s=40)
    assert spin_until(executor, lambda: muscle.muscle.iter >= 10, timeout_s=30)
