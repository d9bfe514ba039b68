"""Inputs listed in `fresh_inputs` get, every cycle, a message no earlier cycle was served
(waiting for it up to `fresh_wait_ms`); the other inputs are served as they are."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ab_bridge.inputs import Need
from ab_bridge.ros_inputs import LatestMessages

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("ab_interfaces")

from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402

from ab_bridge.brain_session_node import BrainSession  # noqa: E402

INPUTS = """
camera: {topic: camera/image_raw, type: sensor_msgs/Image, format: raw}
joints: {topic: joint_states, type: sensor_msgs/JointState}
"""


def test_wait_newer_returns_a_message_not_seen_yet() -> None:
    latest = LatestMessages()
    assert latest.wait_newer("camera", 0, 0.01) == (None, 0)     # nothing yet: timeout
    latest.put("camera", "frame1")
    assert latest.wait_newer("camera", 0, 5.0) == ("frame1", 1)  # newer than none seen
    assert latest.wait_newer("camera", 1, 0.01) == ("frame1", 1)  # timeout: the latest there is
    latest.put("joints", "q")                                     # other inputs do not count
    assert latest.wait_newer("camera", 1, 0.01) == ("frame1", 1)
    timer = threading.Timer(0.05, latest.put, args=("camera", "frame2"))
    timer.start()
    try:
        assert latest.wait_newer("camera", 1, 30.0) == ("frame2", 2)
    finally:
        timer.cancel()
    assert latest.get_counted("camera") == ("frame2", 2)


def image(value: int) -> Image:
    pixels = np.full((4, 6, 3), value, np.uint8)
    msg = Image(height=4, width=6, encoding="bgr8", step=18, data=pixels.tobytes())
    msg.header.stamp.sec = value
    return msg


@pytest.mark.timeout(60)
def test_each_cycle_is_served_a_camera_frame_of_its_own(ros_context, executor, spin_until,
                                                         ros_namespace) -> None:
    node = BrainSession(context=ros_context, namespace=ros_namespace, parameter_overrides=[
        Parameter("inputs", value=INPUTS), Parameter("fresh_inputs", value="camera"),
        Parameter("fresh_wait_ms", value=1000.0)])
    probe = rclpy.create_node("fresh_probe", context=ros_context, namespace=ros_namespace)
    executor.add_node(node)
    executor.add_node(probe)
    image_pub = probe.create_publisher(Image, "camera/image_raw", qos_profile_sensor_data)
    joints_pub = probe.create_publisher(JointState, "joint_states", qos_profile_sensor_data)
    # What the session does on io:need, on its realtime thread.
    serve = node.session.streamer.serve
    camera, joints = Need("camera", "Image"), Need("joints", "JointState")

    def published(pub, msg, input_id) -> bool:
        pub.publish(msg)
        return node.latest.get(input_id) is not None \
            and node.latest.get(input_id).header.stamp == msg.header.stamp

    assert spin_until(executor, lambda: published(image_pub, image(1), "camera"))
    joint_state = JointState(name=["a"], position=[0.5], velocity=[0.0])
    assert spin_until(executor, lambda: published(joints_pub, joint_state, "joints"))
    spin_until(executor, lambda: False, timeout_s=0.5)   # repeats still in flight land
    chunks, errors = serve("run", 0, [camera, joints], 0.0)
    assert errors == [] and [c["inputId"] for c in chunks] == ["camera", "joints"]
    assert chunks[0]["data"][0] == 1 and node.last_served["camera"].header.stamp.sec == 1

    # The next cycle's camera chunk waits for a frame that was not served yet.
    served: list = []
    worker = threading.Thread(target=lambda: served.append(serve("run", 1, [camera], 0.0)))
    worker.start()
    assert spin_until(executor, lambda: published(image_pub, image(2), "camera"))
    worker.join(10)
    (chunks, errors), = served
    assert errors == [] and chunks[0]["data"][0] == 2
    assert node.last_served["camera"].header.stamp.sec == 2

    # joints is not a fresh input: the same message again, at once.
    chunks, errors = serve("run", 2, [joints], 0.0)
    assert errors == [] and chunks[0]["inputId"] == "joints"
    assert node.last_served["joints"] is node.latest.get("joints")


def test_fresh_inputs_must_be_inputs(ros_context) -> None:
    with pytest.raises(ValueError, match="'fresh_inputs'.*'cam'"):
        BrainSession(context=ros_context, parameter_overrides=[
            Parameter("inputs", value=INPUTS), Parameter("fresh_inputs", value="camera, cam")])


def test_loop_timing_notes_the_frame_served(ros_context) -> None:
    """robot_bringup's FrameTiming reads the frame the session served (after a wait), not
    the newest one when the need arrived."""
    loop_timing = pytest.importorskip("robot_bringup.loop_timing")
    node = BrainSession(context=ros_context, parameter_overrides=[
        Parameter("inputs", value=INPUTS), Parameter("fresh_inputs", value="camera"),
        Parameter("fresh_wait_ms", value=1000.0)])
    try:
        timing = loop_timing.FrameTiming.attach(node)
        node.latest.put("camera", image(1))
        node.session.streamer.serve("run", 0, [Need("camera", "Image")], 0.0)
        timer = threading.Timer(0.05, node.latest.put, args=("camera", image(2)))
        timer.start()
        node.session.streamer.serve("run", 1, [Need("camera", "Image")], 0.0)
        timer.join()
        total, _ = timing.answered(1, arrived_ns=2_500_000_000)
        assert total == pytest.approx(500.0)     # from frame 2 (stamp 2 s), not frame 1
    finally:
        node.destroy_node()
