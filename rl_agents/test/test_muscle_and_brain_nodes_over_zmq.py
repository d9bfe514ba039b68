import signal

import pytest
from rclpy.parameter import Parameter
from rl_arm_peer import ARM_ACTUATORS, ARM_SENSORS, ARM_TOPIC_TYPES, ArmPeer
from support import free_port

from rl_agents import palaestrai_names
from rl_agents.brain_node import BrainNode
from rl_agents.muscle_node import MuscleNode

pytestmark = pytest.mark.timeout(120)


def agent_params(algorithm: str, agent: str = "") -> dict:
    return {"algorithm": algorithm, "agent_params": agent, "sensors": ARM_SENSORS,
            "actuators": ARM_ACTUATORS, "topic_types": ARM_TOPIC_TYPES}


def overrides(values: dict) -> list[Parameter]:
    return [Parameter(k, value=v) for k, v in values.items()]


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
    assert spin_until(executor, lambda: (tmp_path / "policy.bin").exists(), timeout_s=10)


def channel_args(folder) -> list[str]:
    """The channel parameters for a node's command line, as files (their paths)."""
    args = []
    for name, text in (("sensors", ARM_SENSORS), ("actuators", ARM_ACTUATORS),
                       ("topic_types", ARM_TOPIC_TYPES)):
        path = folder / f"{name}.yaml"
        path.write_text(text)
        args += ["-p", f"{name}:={path}"]
    return args


def test_muscle_keeps_acting_while_the_brain_process_restarts(ros_context, executor,
                                                              spin_until, start_process,
                                                              tmp_path):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    brain_args = ["python", "-m", "rl_agents.brain_node", "--ros-args",
                  "-p", "algorithm:=dummy", "-p", f"endpoint:={endpoint}",
                  *channel_args(tmp_path)]
    brain = start_process(brain_args)
    arm = ArmPeer(context=ros_context)
    muscle = MuscleNode(context=ros_context, parameter_overrides=overrides({
        **agent_params("dummy"), "brain_endpoint": endpoint, "rate_hz": 50.0,
        "episode_steps": 10, "brain_timeout_s": 0.3}))
    executor.add_node(arm)
    executor.add_node(muscle)
    updates = []
    apply = muscle.muscle.update
    muscle.muscle.update = lambda update: (updates.append(update), apply(update))
    assert spin_until(executor, lambda: len(updates) >= 20, timeout_s=40)
    brain.send_signal(signal.SIGINT)
    assert brain.wait(timeout=15) == 0          # a quiet, clean exit
    assert "Traceback" not in brain.stdout.read()
    assert spin_until(executor, lambda: muscle.link.link.timeouts >= 1, timeout_s=20)
    commands = len(arm.commands)   # (updates that arrived before the end are applied first)
    assert spin_until(executor, lambda: len(arm.commands) >= commands + 5, timeout_s=20)
    stalled = len(updates)
    commands = len(arm.commands)
    assert spin_until(executor, lambda: len(arm.commands) >= commands + 20, timeout_s=20)
    assert muscle.link.error is None            # the muscle kept acting, nothing raised
    assert len(updates) == stalled              # ... without updates

    start_process(brain_args)                   # a fresh brain: updates flow again
    assert spin_until(executor, lambda: muscle.link.link.brain_up
                      and len(updates) >= stalled + 10, timeout_s=40)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_nodes_end_cleanly_on_sigint_and_sigterm(sig, ros_context, executor, spin_until,
                                                 start_process, tmp_path):
    """Exit code 0, no traceback; the muscle's last command is a hold (all-zero deltas)."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    common = channel_args(tmp_path)
    brain = start_process(["python", "-m", "rl_agents.brain_node", "--ros-args",
                           "-p", "algorithm:=dummy", "-p", f"endpoint:={endpoint}", *common])
    muscle = start_process(["python", "-m", "rl_agents.muscle_node", "--ros-args",
                            "-p", "algorithm:=dummy", "-p", f"brain_endpoint:={endpoint}",
                            "-p", "rate_hz:=50.0", *common])
    arm = ArmPeer(context=ros_context)
    executor.add_node(arm)
    assert spin_until(executor, lambda: len(arm.commands) >= 20, timeout_s=40)
    for child in (muscle, brain):
        child.send_signal(sig)
        assert child.wait(timeout=20) == 0
        output = child.stdout.read()
        assert "Traceback" not in output and "Error" not in output, output
    # and a node that cannot start says why in one line
    bad = start_process(["python", "-m", "rl_agents.brain_node", "--ros-args",
                         "-p", "algorithm:=no_such:Brain", *common])
    assert bad.wait(timeout=20) == 1
    output = bad.stdout.read()
    assert "cannot import 'no_such'" in output and "Traceback" not in output, output
    assert spin_until(executor, lambda: list(arm.commands[-1].deltas) == [0.0, 0.0],
                      timeout_s=5)


def test_parameters_are_read_only_and_say_why(ros_context, tmp_path):
    brain = BrainNode(context=ros_context, parameter_overrides=overrides({
        **agent_params("dummy"), "endpoint": "tcp://127.0.0.1:0"}))
    muscle = MuscleNode(context=ros_context, parameter_overrides=overrides({
        **agent_params("dummy"), "brain_endpoint": brain.endpoint}))
    try:
        for node in (brain, muscle):
            names = sorted(node._parameters)
            assert {"algorithm", "agent_params", "sensors", "seed"} <= set(names)
            for name in names:
                if name in ("use_sim_time", "start_type_description_service"):
                    continue   # rclpy's own
                value = node.get_parameter(name).value
                result = node.set_parameters([Parameter(name, value=value)])[0]
                assert not result.successful, name
                assert "read-only" in result.reason or "read only" in result.reason, name
                descriptor = node.describe_parameter(name)
                assert descriptor.read_only, name
                assert "restart the node" in descriptor.additional_constraints, name
    finally:
        muscle.destroy_node()
        brain.destroy_node()


def test_custom_classes_are_named_by_module_and_class(ros_context):
    brain = BrainNode(context=ros_context, parameter_overrides=overrides({
        **agent_params("rl_agents.agent:DummyBrain"), "endpoint": "tcp://127.0.0.1:0"}))
    try:
        assert type(brain.brain).__name__ == "DummyBrain"
    finally:
        brain.destroy_node()
    muscle = MuscleNode(context=ros_context, parameter_overrides=overrides({
        **agent_params("palaestrai.agent.dummy_muscle:DummyMuscle"), "brain_endpoint": "",
        "muscle_params": "{count_upwards: true}",
        "brain_class": "palaestrai.agent.dummy_brain:DummyBrain"}))
    try:
        assert type(muscle.muscle).__name__ == "DummyMuscle" and muscle.muscle.count_upwards
        assert type(muscle.brain).__name__ == "DummyBrain"
    finally:
        muscle.destroy_node()
        palaestrai_names.uninstall()
    with pytest.raises(ValueError, match="parameter 'algorithm'.*cannot import 'no_such'"):
        BrainNode(context=ros_context, parameter_overrides=overrides({
            **agent_params("no_such:Brain"), "endpoint": "tcp://127.0.0.1:0"}))
