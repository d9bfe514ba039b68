"""Inputs listed in `fresh_inputs` get, every cycle, a message no earlier cycle was served:
the answer to io:need waits for it (up to `fresh_wait_ms`) and goes out as it arrives; the
other inputs are served as they are."""

from __future__ import annotations

import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float32MultiArray

import embedded_brain.graph as graphs
import embedded_brain.server as embedded
from ab_bridge.brain_session_node import BrainSessionNode
from ab_bridge.decoding import CycleRasters
from ab_bridge.inputs import Need
from ab_bridge.ros_inputs import LatestMessages
from ab_bridge.session import CycleResult
from ab_interfaces.msg import ActuatorCommand
from ab_interfaces.srv import StartRun

INPUTS = """
camera: {topic: camera/image_raw, type: sensor_msgs/Image, format: raw}
joints: {topic: joint_states, type: sensor_msgs/JointState}
target: {topic: target_error, type: std_msgs/Float32MultiArray}
"""


def test_latest_messages_are_counted_per_input() -> None:
    latest = LatestMessages()
    assert latest.get_counted("camera") == (None, 0)
    latest.put("camera", "frame1")
    latest.put("joints", "q")
    latest.put("camera", "frame2")
    assert latest.get_counted("camera") == ("frame2", 2)
    assert latest.get_counted("joints") == ("q", 1)


def image(value: int) -> Image:
    pixels = np.full((4, 6, 3), value, np.uint8)
    msg = Image(height=4, width=6, encoding="bgr8", step=18, data=pixels.tobytes())
    msg.header.stamp.sec = value
    return msg


@pytest.mark.timeout(120)
def test_each_cycle_is_served_a_camera_frame_of_its_own(ros_context, executor, spin_until,
                                                         ros_namespace, tmp_path) -> None:
    """On an embedded brain paced by inputs, every cycle waits for a camera frame no
    earlier cycle had and runs on it; joints (not fresh) are served as they are."""
    thread = embedded.ServerThread(embedded.BrainServer(
        [graphs.load_graph(graphs.bundled_graph_path("demo_arm"))], tmp_path / "state",
        seed=1, deadline_ms=5000))
    thread.start()
    node = BrainSessionNode(context=ros_context, namespace=ros_namespace, parameter_overrides=[
        Parameter("url", value=thread.url), Parameter("inputs", value=INPUTS),
        Parameter("fresh_inputs", value="camera"), Parameter("fresh_wait_ms", value=1000.0)])
    probe = rclpy.create_node("fresh_probe", context=ros_context, namespace=ros_namespace)
    executor.add_node(node)
    executor.add_node(probe)
    image_pub = probe.create_publisher(Image, "camera/image_raw", qos_profile_sensor_data)
    joints_pub = probe.create_publisher(JointState, "joint_states", qos_profile_sensor_data)
    target_pub = probe.create_publisher(Float32MultiArray, "target_error",
                                        qos_profile_sensor_data)
    served: list[tuple[int, int]] = []      # (cycle, camera stamp) per answered need
    commands: list[ActuatorCommand] = []
    probe.create_subscription(ActuatorCommand, "actuator_command", commands.append, 50)
    serve = node.session.streamer.serve

    def serve_and_note(run_id, cycle, needs, now_s):
        result = serve(run_id, cycle, needs, now_s)
        served.append((cycle, node.last_served["camera"].header.stamp.sec))
        return result

    def arrived(input_id: str, stamp: int | None = None) -> bool:
        msg = node.latest.get(input_id)
        return msg is not None and (stamp is None or msg.header.stamp.sec == stamp)

    def deliver(shot: int) -> None:
        """Publish frame `shot` once, again only if it was lost (best-effort QoS)."""
        while not (image_pub.publish(image(shot)) or
                   spin_until(executor, lambda: arrived("camera", shot), timeout_s=1.0)):
            pass

    node.session.streamer.serve = serve_and_note
    try:
        joint_state = JointState(name=["a", "b"], position=[0.5, 0.1], velocity=[0.0, 0.0])
        assert spin_until(executor, lambda: (
            joints_pub.publish(joint_state), target_pub.publish(Float32MultiArray(data=[0.1])),
            image_pub.publish(image(0)),
            arrived("joints") and arrived("target") and arrived("camera", 0))[-1])
        spin_until(executor, lambda: False, timeout_s=0.5)   # repeats still in flight land
        start = probe.create_client(StartRun, "brain_session/start_run")
        assert start.wait_for_service(timeout_sec=10)
        future = start.call_async(StartRun.Request(options_json='{"pace": "inputs"}'))
        assert spin_until(executor, future.done, timeout_s=30) and future.result().success
        # The first need gets the frame that is there; every later one waits for its own.
        assert spin_until(executor, lambda: len(served) >= 1, timeout_s=30)
        for shot in range(1, 6):
            assert not spin_until(executor, lambda shot=shot: len(served) > shot,
                                  timeout_s=0.2)
            deliver(shot)
            assert spin_until(executor, lambda shot=shot: len(served) > shot, timeout_s=30)
            assert served[-1] == (shot, shot)
        assert served == [(n, n) for n in range(6)]
        assert spin_until(executor, lambda: node.session.stats.cycles >= 5, timeout_s=30)
        assert node.last_served["joints"] is node.latest.get("joints")
        # Each cycle's command names the frame that cycle was served (cycle n: frame n).
        assert spin_until(executor, lambda: {c.cycle for c in commands} >= set(range(1, 5)),
                          timeout_s=30)
        assert all(c.input_stamp.sec == c.cycle for c in commands if c.cycle < 6)
    finally:
        node.destroy_node()
        probe.destroy_node()
        thread.stop()


def test_fresh_inputs_must_be_inputs(ros_context) -> None:
    with pytest.raises(ValueError, match="'fresh_inputs'.*'cam'"):
        BrainSessionNode(context=ros_context, parameter_overrides=[
            Parameter("inputs", value=INPUTS), Parameter("fresh_inputs", value="camera, cam")])


def test_each_command_carries_the_stamp_of_the_frame_its_cycle_was_served(
        ros_context, executor, spin_until, ros_namespace) -> None:
    """ActuatorCommand.input_stamp is the stamp of the camera frame served for the command's
    cycle, not of the newest frame when the command goes out (robot_bringup.loop_timing
    times the loop from it)."""
    node = BrainSessionNode(context=ros_context, namespace=ros_namespace, parameter_overrides=[
        Parameter("inputs", value=INPUTS), Parameter("fresh_inputs", value="camera"),
        Parameter("fresh_wait_ms", value=1000.0), Parameter("decoder_mapping", value=(
            "[{node_id: out, channel: 'joint:0', scheme: addition, per_step_max: 1.0}]"))])
    probe = rclpy.create_node("stamp_probe", context=ros_context, namespace=ros_namespace)
    commands: list[ActuatorCommand] = []
    probe.create_subscription(ActuatorCommand, "actuator_command", commands.append, 10)
    executor.add_node(node)
    executor.add_node(probe)
    assert node.stamp_input == "camera"
    node.latest.put("camera", image(1))
    node.session.streamer.serve("run", 0, [Need("camera", "Image")], 0.0)
    node.latest.put("camera", image(2))
    node.session.streamer.serve("run", 1, [Need("camera", "Image")], 0.0)
    node.latest.put("camera", image(3))      # arrived after cycle 1 was served
    rasters = CycleRasters(np.arange(2), ["out"], [np.ones((2, 4), np.uint8)])
    for cycle in (1, 5):                     # cycle 5 was never served a frame
        node.on_cycle(CycleResult("run", cycle, rasters, node.session.decoder.decode(rasters),
                                  0.001, 0.0, 0.0, None))
    assert spin_until(executor, lambda: len(commands) == 2)
    assert [(c.cycle, c.input_stamp.sec) for c in commands] == [(1, 2), (5, 0)]
