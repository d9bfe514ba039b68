"""brain_session with `protocol: device` against the embedded brain's device API: input
topics posted into their populations as they arrive, actuator commands per step from the
output stream, rewards into the reward populations, stop/start services, diagnostics, a
hold on stop; `protocol` is read-only and checked."""

from __future__ import annotations

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from session_helpers import DEVICE_KEY as KEY
from std_msgs.msg import Float32MultiArray

from ab_bridge.brain_session_node import BrainSessionNode
from ab_interfaces.msg import ActuatorCommand, Reward
from ab_interfaces.srv import StopRun

MAPPING = """
- {node_id: JOINT0, channel: "joint:0", scheme: bipolarSplit, per_step_max: 0.004, n: 32}
- {node_id: JOINT1, channel: "joint:1", scheme: bipolarSplit, per_step_max: 0.004, n: 32}
"""
INPUTS = """
target: {topic: target_error, type: std_msgs/Float32MultiArray,
         population: [E0_POS, E0_NEG, E1_POS, E1_NEG], sign_split: true, n: 16,
         mode: positive_scalar_cumulative_population, vmax: 1.0}
"""


@pytest.mark.timeout(90)
def test_session_node_runs_a_device(device, ros_context, executor, spin_until, ros_namespace):
    node = BrainSessionNode(context=ros_context, namespace=ros_namespace, parameter_overrides=[
        Parameter("protocol", value="device"), Parameter("url", value=device.url),
        Parameter("api_key", value=KEY), Parameter("project_id", value="demo_arm"),
        Parameter("decoder_mapping", value=MAPPING), Parameter("inputs", value=INPUTS),
        Parameter("auto_start", value=True), Parameter("diagnostics_period_s", value=0.2)])
    probe = rclpy.create_node("probe", context=ros_context, namespace=ros_namespace)
    executor.add_node(node)
    executor.add_node(probe)
    commands, diagnostics = [], []
    probe.create_subscription(ActuatorCommand, "actuator_command", commands.append, 10)
    probe.create_subscription(DiagnosticArray, "diagnostics", diagnostics.append, 10)
    target_pub = probe.create_publisher(Float32MultiArray, "target_error",
                                        qos_profile_sensor_data)
    reward_pub = probe.create_publisher(Reward, "reward", 10)
    brain = device.server.device

    assert spin_until(executor, lambda: brain.state == "RUNNING" and len(commands) > 5, 20)
    posts = brain.stats.sensor_posts
    for _ in range(5):
        target_pub.publish(Float32MultiArray(data=[0.5, -1.0]))
        executor.spin_once(timeout_sec=0.02)
    stats = node.session.stats
    assert spin_until(executor, lambda: brain.stats.sensor_posts > posts and 4 * (
        brain.stats.sensor_posts - posts) + stats.inputs_superseded == 4 * 5, 10)
    assert brain.values["E0_POS"].sum() == 9 and brain.values["E1_NEG"].sum() == 16
    command = commands[-1]
    assert command.channels == ["joint:0", "joint:1"] and command.step_count == 10
    assert len(command.deltas) == 20 and command.step_dt_s == 0.001

    rewards = brain.stats.rewards
    reward_pub.publish(Reward(cycle=1, global_reward=0.7, layer_ids=["REWARD_J0"],
                              layer_rewards=[0.9]))
    assert spin_until(executor, lambda: brain.stats.rewards == rewards + 2, 10)
    assert spin_until(executor, lambda: any(
        kv.key == "steps_lost" for d in diagnostics for s in d.status for kv in s.values), 5)

    def latest() -> dict[str, str]:
        return {kv.key: kv.value for kv in diagnostics[-1].status[0].values}

    # A report comes every 0.2 s: wait for one made after the stream's first steps.
    assert spin_until(executor, lambda: latest().get("link") == "connected"
                      and int(latest().get("steps", "0")) > 0, 5), latest()
    values = latest()
    assert values["protocol"] == "device"
    assert values["steps_lost"] == "0", values

    # protocol is fixed at start: refused with a reason when set.
    client = probe.create_client(SetParameters, f"{ros_namespace}/brain_session/set_parameters")
    assert client.wait_for_service(timeout_sec=5)
    future = client.call_async(SetParameters.Request(parameters=[
        Parameter("protocol", value="realtime").to_parameter_msg()]))
    assert spin_until(executor, future.done, 5)
    assert not future.result().results[0].successful

    stop = probe.create_client(StopRun, f"{ros_namespace}/brain_session/stop_run")
    future = stop.call_async(StopRun.Request())
    assert spin_until(executor, future.done, 30)
    assert future.result().success and brain.state == "STOPPED" and not brain.busy
    assert spin_until(executor, lambda: not any(commands[-1].deltas), 5)


def test_unknown_protocol_and_realtime_only_parameters_are_refused(device, ros_context) -> None:
    with pytest.raises(ValueError, match="'protocol'.*not one of"):
        BrainSessionNode(context=ros_context,
                     parameter_overrides=[Parameter("protocol", value="carrier-pigeon")])
    with pytest.raises(RuntimeError, match="fresh_inputs"):
        BrainSessionNode(context=ros_context, parameter_overrides=[
            Parameter("protocol", value="device"), Parameter("url", value=device.url),
            Parameter("api_key", value=KEY), Parameter("decoder_mapping", value=MAPPING),
            Parameter("inputs", value=INPUTS), Parameter("fresh_inputs", value="target")])
