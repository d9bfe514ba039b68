"""The ROS path: camera images in on `camera/image_raw`, `detections` and
`detections/image` out, the detector services, bad frames and bad parameters."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from datetime import datetime

import pytest
import requests
from diagnostic_msgs.msg import DiagnosticArray
from dn_helpers import jpeg_bytes, red_disc_bgr, wait_for
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from ab_interfaces.msg import Detections
from ab_interfaces.srv import SetModelVersionMode, SetOutboxMode
from detector_node.detector_node import DetectorNode


def image_msg(bgr, encoding: str = "bgr8") -> Image:
    msg = Image(height=bgr.shape[0], width=bgr.shape[1], encoding=encoding, is_bigendian=0,
                step=bgr.shape[1] * 3)
    msg.header.frame_id = "camera"
    msg.data = bgr.tobytes()
    return msg


class Camera(Node):
    """Publishes frames and collects what the detector publishes."""

    def __init__(self, context) -> None:
        super().__init__("test_camera", context=context)
        self.image_pub = self.create_publisher(Image, "camera/image_raw", qos_profile_sensor_data)
        self.compressed_pub = self.create_publisher(CompressedImage, "camera/image_raw/compressed",
                                                    qos_profile_sensor_data)
        self.detections: list[Detections] = []
        self.annotated: list[Image] = []
        self.create_subscription(Detections, "detections", self.detections.append, 10)
        self.create_subscription(Image, "detections/image", self.annotated.append, qos_profile_sensor_data)


def make_detector(ros_context, tmp_path, **params) -> DetectorNode:
    values = {"data_folder": str(tmp_path / "data"), "http_port": 0, "autoupload": "disabled",
              "camera_id": "front"}
    values.update(params)
    return DetectorNode(context=ros_context,
                        parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])


def publish_until(executor, spin_until, publish, predicate, timeout_s: float = 15.0) -> bool:
    """Publish repeatedly (sensor QoS is best effort; discovery takes a moment) until predicate."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        publish()
        if spin_until(executor, predicate, timeout_s=0.3):
            return True
    return predicate()


@pytest.mark.timeout(60)
def test_camera_image_gives_detections_and_annotated_image(ros_context, executor, spin_until, tmp_path):
    detector = make_detector(ros_context, tmp_path)
    camera = Camera(ros_context)
    executor.add_node(detector)
    executor.add_node(camera)
    frame = image_msg(red_disc_bgr(centre=(400, 120), radius=35))
    assert publish_until(executor, spin_until, lambda: camera.image_pub.publish(frame),
                         lambda: camera.detections and camera.annotated)
    msg = camera.detections[-1]
    assert msg.camera_id == "front" and msg.model_version == "builtin"
    assert (msg.image_width, msg.image_height) == (640, 480)
    assert msg.header.frame_id == "camera"
    [found] = msg.boxes
    assert found.category_name == "target" and found.category_id == "target"
    assert abs(found.x + found.width / 2 - 400) <= 2 and abs(found.y + found.height / 2 - 120) <= 2
    annotated = camera.annotated[-1]
    assert annotated.encoding == "bgr8" and (annotated.width, annotated.height) == (640, 480)
    assert bytes(annotated.data) != bytes(frame.data)

    # Diagnostics say what the node runs.
    diagnostics = []
    camera.create_subscription(DiagnosticArray, "diagnostics", diagnostics.append, 10)
    assert spin_until(executor, lambda: diagnostics, timeout_s=5)
    values = {kv.key: kv.value for kv in diagnostics[-1].status[0].values}
    assert values["model_version"] == "builtin" and int(values["frames_processed"]) >= 1

    # The API is served from the node's process too.
    about = requests.get(f"http://127.0.0.1:{detector.host.port}/about", timeout=10).json()
    assert about["model_info"]["version"] == "builtin"


@pytest.mark.timeout(60)
def test_compressed_images_and_a_bad_frame(ros_context, executor, spin_until, tmp_path):
    detector = make_detector(ros_context, tmp_path, compressed=True, autoupload="all")
    camera = Camera(ros_context)
    executor.add_node(detector)
    executor.add_node(camera)
    bad = CompressedImage(format="jpeg", data=b"not a jpeg at all")
    good = CompressedImage(format="jpeg", data=jpeg_bytes(red_disc_bgr(centre=(100, 100), radius=30)))
    camera.compressed_pub.publish(bad)
    assert publish_until(executor, spin_until, lambda: camera.compressed_pub.publish(good),
                         lambda: any(m.boxes for m in camera.detections))
    assert detector.frames_processed >= 1
    # autoupload: all keeps the camera's JPEG bytes for the Loop.
    assert wait_for(lambda: detector.service.outbox.stats().normal_queued >= 1)


@pytest.mark.timeout(60)
def test_detector_services(ros_context, executor, spin_until, tmp_path):
    detector = make_detector(ros_context, tmp_path)
    client_node = Node("service_client", context=ros_context)
    executor.add_node(detector)
    executor.add_node(client_node)

    def call(srv_type, name, mode):
        client = client_node.create_client(srv_type, name)
        assert client.wait_for_service(timeout_sec=10)
        future = client.call_async(srv_type.Request(mode=mode))
        assert spin_until(executor, future.done, timeout_s=10)
        return future.result()

    result = call(SetOutboxMode, "detector/set_outbox_mode", "stopped")
    assert result.success and result.mode == "stopped"
    result = call(SetOutboxMode, "detector/set_outbox_mode", "whenever")
    assert not result.success and "not a valid OutboxMode" in result.message and result.mode == "stopped"
    result = call(SetModelVersionMode, "detector/set_model_version_mode", "pause")
    assert result.success and result.version_control == "pause" and result.current_version == "builtin"
    result = call(SetModelVersionMode, "detector/set_model_version_mode", "9.9")
    assert not result.success and "No Model with version 9.9" in result.message


@pytest.mark.timeout(60)
def test_bad_encoding_is_survived(ros_context, executor, spin_until, tmp_path):
    detector = make_detector(ros_context, tmp_path)
    camera = Camera(ros_context)
    executor.add_node(detector)
    executor.add_node(camera)
    bad = image_msg(red_disc_bgr(), encoding="32FC1")
    good = image_msg(red_disc_bgr())

    def publish_both() -> None:
        camera.image_pub.publish(bad)
        camera.image_pub.publish(good)

    assert publish_until(executor, spin_until, publish_both, lambda: camera.detections)


def test_bad_parameters_are_named(ros_context, tmp_path):
    with pytest.raises(ValueError, match="'autoupload'"):
        make_detector(ros_context, tmp_path, autoupload="sometimes")
    with pytest.raises(ValueError, match="'logic'"):
        make_detector(ros_context, tmp_path, logic="magic")
    with pytest.raises(ValueError, match="'autouplod' \\(did you mean 'autoupload'\\?\\)"):
        make_detector(ros_context, tmp_path, autouplod="all")
    with pytest.raises(ValueError, match="needs parameter 'model_folder'"):
        make_detector(ros_context, tmp_path, logic="onnx")
    with pytest.raises(ValueError, match="'model_folder'"):
        make_detector(ros_context, tmp_path, model_folder=str(tmp_path / "nowhere"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(RuntimeError, match="'http_port'"):
            make_detector(ros_context, tmp_path, http_port=taken.getsockname()[1])


@pytest.mark.timeout(90)
def test_detector_executable(ros_context, executor, spin_until, tmp_path, start_process):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    exe = os.path.join(root, "install", "detector_node", "lib", "detector_node", "detector")
    args = [exe] if os.path.exists(exe) else ["python", "-m", "detector_node.detector_node"]
    process = start_process([*args, "--ros-args", "-p", "http_port:=0", "-p", "serve_http:=false",
                             "-p", f"data_folder:={tmp_path / 'data'}", "-p", "autoupload:=disabled"],
                            stdout=subprocess.DEVNULL)
    camera = Camera(ros_context)
    executor.add_node(camera)
    frame = image_msg(red_disc_bgr())
    assert publish_until(executor, spin_until, lambda: camera.image_pub.publish(frame),
                         lambda: camera.detections, timeout_s=40)
    assert camera.detections[-1].boxes[0].category_name == "target"
    assert process.poll() is None


@pytest.mark.timeout(60)
def test_executable_stops_naming_a_bad_parameter(tmp_path, start_process):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    exe = os.path.join(root, "install", "detector_node", "lib", "detector_node", "detector")
    args = [exe] if os.path.exists(exe) else ["python", "-m", "detector_node.detector_node"]
    child = start_process([*args, "--ros-args", "-p", "autoupload:=sometimes", "-p",
                           f"data_folder:={tmp_path / 'data'}", "-p", "http_port:=0"])
    output, _ = child.communicate(timeout=30)
    assert child.returncode != 0
    assert "parameter 'autoupload'" in output


def test_parameters_take_effect_or_are_refused_with_a_reason(ros_context, tmp_path):
    detector = make_detector(ros_context, tmp_path)
    try:
        service = detector.service

        def set_one(name, value):
            [result] = detector.set_parameters([Parameter(name, value=value)])
            return result

        # Taking effect at run time
        assert set_one("autoupload", "all").successful and detector.autoupload == "all"
        frame = image_msg(red_disc_bgr())
        frame.header.stamp.sec, frame.header.stamp.nanosec = 1_700_000_000, 250_000_000
        detector._process(frame)
        assert wait_for(lambda: service.outbox.stats().normal_queued == 1), "autoupload:=all uploads"
        [meta] = (tmp_path / "data" / "outbox" / "normal").rglob("*.json")
        expected = datetime.fromtimestamp(1_700_000_000.25).isoformat(sep="_", timespec="milliseconds")
        assert json.loads(meta.read_text())["created"] == expected, "a frame's creation time is its stamp"
        assert set_one("camera_id", "rear").successful and detector.camera_id == "rear"
        assert set_one("min_confidence", 0.5).successful and detector.min_confidence == 0.5
        assert set_one("publish_annotated", False).successful and not detector.publish_annotated
        assert set_one("max_uncertain_threshold", 0.9).successful
        assert service.relevance.max_uncertain == 0.9
        assert set_one("upload_interval_s", 2.0).successful and service.outbox.interval_s == 2.0
        assert set_one("outbox_fsync", True).successful and service.outbox.fsync is True
        assert set_one("max_outbox_items", 5).successful and service.outbox.max_items == 5
        # Bad values refused, naming the problem; the old value stays
        result = set_one("autoupload", "sometimes")
        assert not result.successful and "parameter 'autoupload' = 'sometimes' is not one of" in result.reason
        assert detector.autoupload == "all"
        result = set_one("min_uncertain_threshold", 0.95)
        assert not result.successful and "must not exceed" in result.reason
        assert not set_one("camera_id", "").successful
        # Read at start only: refused, not "successful and ignored"
        for name, value in (("data_folder", "/elsewhere"), ("http_port", 9), ("loop_url", "http://x"),
                            ("logic", "aruco"), ("compressed", True), ("api_key", "k")):
            result = set_one(name, value)
            assert not result.successful and "read-only" in result.reason, (name, result.reason)
    finally:
        detector.destroy_node()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_executable_ends_cleanly_on_signals(tmp_path, start_process, signal_name):
    import signal

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    exe = os.path.join(root, "install", "detector_node", "lib", "detector_node", "detector")
    args = [exe] if os.path.exists(exe) else ["python", "-m", "detector_node.detector_node"]
    child = start_process([*args, "--ros-args", "-p", "http_port:=0", "-p",
                           f"data_folder:={tmp_path / 'data'}", "-p", "loop_url:=http://127.0.0.1:9/api",
                           "-p", "organization:=o", "-p", "project:=p"])
    lines = []
    for line in child.stdout:  # started, and the Loop (away) tried once
        lines.append(line)
        text = "".join(lines)
        if "detector API on" in text and "Learning Loop unreachable (try 1" in text:
            break
    assert any("detector API on" in line for line in lines), "".join(lines)
    child.send_signal(getattr(signal, signal_name))
    output, _ = child.communicate(timeout=30)
    output = "".join(lines) + output
    assert child.returncode == 0, output
    assert "Traceback" not in output, output
    # the service's lines (here: the Loop, which is away) go through the node's ROS logger
    assert "[detector]: Learning Loop unreachable (try 1, next in 0.5 s)" in output, output


@pytest.mark.timeout(60)
def test_executable_names_an_unusable_data_folder(tmp_path, start_process):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    exe = os.path.join(root, "install", "detector_node", "lib", "detector_node", "detector")
    args = [exe] if os.path.exists(exe) else ["python", "-m", "detector_node.detector_node"]
    (tmp_path / "file").write_text("x")
    child = start_process([*args, "--ros-args", "-p", f"data_folder:={tmp_path / 'file' / 'data'}",
                           "-p", "http_port:=0"])
    output, _ = child.communicate(timeout=30)
    assert child.returncode == 1
    assert f"data_folder '{tmp_path / 'file' / 'data'}' is not usable" in output
    assert "Traceback" not in output
