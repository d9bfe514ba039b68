"""The `inputs` parameter is checked entry by entry, and ROS messages become the frames
the brain gets: images (JPEG or raw, scaled down to `max_width_px`), joints, scalars."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float32MultiArray

from ab_bridge.inputs import InputError
from ab_bridge.ros_inputs import frame_of, image_pixels, parse_inputs


def image(width: int = 320, height: int = 240, encoding: str = "bgr8") -> Image:
    channels = 1 if encoding == "mono8" else 3
    pixels = np.zeros((height, width, channels), np.uint8)
    pixels[: height // 2, : width // 2] = 200          # a bright top-left quarter
    return Image(height=height, width=width, encoding=encoding, step=width * channels,
                 data=pixels.tobytes())


def test_entries_are_checked_and_named() -> None:
    (camera,) = parse_inputs({"camera": {"topic": "cam", "type": "sensor_msgs/msg/Image",
                                         "format": "raw", "max_width_px": 64}})
    assert (camera.type_name, camera.format, camera.max_width_px) == \
        ("sensor_msgs/Image", "raw", 64)
    with pytest.raises(ValueError, match=r"inputs.camera: max_width_px must be a non-negative"):
        parse_inputs({"camera": {"topic": "cam", "type": "sensor_msgs/Image",
                                 "max_width_px": -1}})
    with pytest.raises(ValueError, match=r"inputs.camera: format must be jpeg or raw"):
        parse_inputs({"camera": {"topic": "cam", "type": "sensor_msgs/Image", "format": "png"}})
    with pytest.raises(ValueError, match=r"inputs.eye: unsupported type 'sensor_msgs/Foo'"):
        parse_inputs({"eye": {"topic": "x", "type": "sensor_msgs/Foo"}})
    with pytest.raises(ValueError, match=r"inputs.eye: needs 'topic' and 'type'"):
        parse_inputs({"eye": {"type": "sensor_msgs/Image"}})


def test_images_are_scaled_down_to_max_width_keeping_their_aspect() -> None:
    (raw,) = parse_inputs({"camera": {"topic": "c", "type": "sensor_msgs/Image",
                                      "format": "raw", "max_width_px": 64}})
    frame = frame_of(raw, image())
    assert frame.format == "bgr8" and (frame.meta["width"], frame.meta["height"]) == (64, 48)
    pixels = np.frombuffer(frame.data, np.uint8).reshape(48, 64, 3)
    assert pixels[:24, :32].min() == 200 and pixels[24:, :].max() == 0   # area-averaged
    small = frame_of(raw, image(40, 30))                                 # never scaled up
    assert (small.meta["width"], small.meta["height"]) == (40, 30)
    (jpeg,) = parse_inputs({"camera": {"topic": "c", "type": "sensor_msgs/Image",
                                       "max_width_px": 64}})
    frame = frame_of(jpeg, image())
    assert frame.format == "jpeg" and frame.data[:2] == b"\xff\xd8"
    assert (frame.meta["width"], frame.meta["height"]) == (64, 48)
    full = frame_of(parse_inputs({"c": {"topic": "c", "type": "sensor_msgs/Image",
                                        "format": "raw"}})[0], image())
    assert (full.meta["width"], full.meta["height"]) == (320, 240)


def test_image_data_of_any_sequence_type_and_bad_sizes() -> None:
    msg = image(8, 6, "mono8")
    as_list = Image(height=6, width=8, encoding="mono8", step=8, data=list(msg.data))
    assert np.array_equal(image_pixels(msg)[0], image_pixels(as_list)[0])
    short = Image(height=6, width=8, encoding="mono8", step=8, data=bytes(40))
    with pytest.raises(InputError, match="8x6 mono8 with step 8 does not match 40 bytes"):
        image_pixels(short)
    with pytest.raises(InputError, match="encoding 'yuv422' not supported"):
        image_pixels(Image(height=1, width=1, encoding="yuv422", step=2, data=bytes(2)))


def test_joints_and_scalars() -> None:
    joints, target = parse_inputs({
        "joints": {"topic": "joint_states", "type": "sensor_msgs/JointState"},
        "target": {"topic": "t", "type": "std_msgs/Float32MultiArray"}})
    frame = frame_of(joints, JointState(name=["a", "b"], position=[0.5, -0.25],
                                        velocity=[0.0, 0.0]))
    assert frame.format == "f32" and frame.meta["names"] == ["a", "b"]
    assert np.frombuffer(frame.data, "<f4").tolist() == [0.5, -0.25, 0.0, 0.0]
    frame = frame_of(target, Float32MultiArray(data=[0.5, -0.5]))
    assert np.frombuffer(frame.data, "<f4").tolist() == [0.5, -0.5]
