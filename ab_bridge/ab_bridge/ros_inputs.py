"""ROS messages as brain inputs: the `inputs` parameter and message-to-frame conversions.

The `inputs` parameter (YAML, a file path or inline) maps brain input ids to
ROS topics:

    camera: {topic: camera/image_raw, type: sensor_msgs/Image, format: jpeg, max_width_px: 64}
    joints: {topic: joint_states, type: sensor_msgs/JointState}
    target: {topic: target, type: std_msgs/Float32MultiArray}
    mic:    {topic: audio, type: std_msgs/Int16MultiArray, sample_rate: 16000}

Images go as JPEG (`jpeg_quality`, default 80) or raw pixels (`format: raw`); with
`max_width_px` wider images are first scaled down to that width (area averaging, aspect
kept): a brain that looks through a coarse retina needs no more, and every frame then
costs less to encode, send and decode.

The node keeps the latest message of each topic; when the brain asks for an input, the
message is converted here, on the thread that answers the need (for the inputs of the
node's `fresh_inputs` parameter the answer waits, at most `fresh_wait_ms`, for a message
no earlier cycle was served).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ab_bridge.inputs import (
    InputError,
    InputFrame,
    audio_frame,
    image_frame,
    joint_state_frame,
    scalar_frame,
)

#: ROS type name -> (python module, class name, default brain kind)
MESSAGE_TYPES = {
    "sensor_msgs/Image": ("sensor_msgs.msg", "Image", "Image"),
    "sensor_msgs/JointState": ("sensor_msgs.msg", "JointState", "JointState"),
    "std_msgs/Float32MultiArray": ("std_msgs.msg", "Float32MultiArray", "Scalar"),
    "std_msgs/Float64MultiArray": ("std_msgs.msg", "Float64MultiArray", "Scalar"),
    "std_msgs/Float32": ("std_msgs.msg", "Float32", "Scalar"),
    "std_msgs/Float64": ("std_msgs.msg", "Float64", "Scalar"),
    "std_msgs/Int16MultiArray": ("std_msgs.msg", "Int16MultiArray", "Audio"),
}
_CHANNELS = {"bgr8": 3, "rgb8": 3, "mono8": 1, "bgra8": 4, "rgba8": 4}


@dataclass(frozen=True)
class InputBinding:
    input_id: str
    topic: str
    type_name: str
    format: str = "jpeg"          # images: jpeg or raw
    jpeg_quality: int = 80
    max_width_px: int = 0         # images: scale wider ones down to this width (0: never)
    sample_rate: int = 16000      # audio
    channels: int = 1             # audio

    def message_class(self) -> type:
        import importlib

        module, name, _ = MESSAGE_TYPES[self.type_name]
        return getattr(importlib.import_module(module), name)


def parse_inputs(spec: Any) -> list[InputBinding]:
    """Bindings from the parsed `inputs` YAML; ValueError naming the bad entry."""
    if spec is None:
        return []
    if not isinstance(spec, Mapping):
        raise ValueError(f"inputs must map input ids to {{topic, type}}, got {type(spec).__name__}")
    bindings = []
    for input_id, body in spec.items():
        if not isinstance(body, Mapping) or not body.get("topic") or not body.get("type"):
            raise ValueError(f"inputs.{input_id}: needs 'topic' and 'type'")
        type_name = str(body["type"]).replace("/msg/", "/")
        if type_name not in MESSAGE_TYPES:
            raise ValueError(f"inputs.{input_id}: unsupported type {body['type']!r}; "
                             f"supported: {sorted(MESSAGE_TYPES)}")
        fmt = str(body.get("format", "jpeg"))
        if fmt not in ("jpeg", "raw"):
            raise ValueError(f"inputs.{input_id}: format must be jpeg or raw, got {fmt!r}")
        max_width = body.get("max_width_px", 0)
        if isinstance(max_width, bool) or not isinstance(max_width, int) or max_width < 0:
            raise ValueError(f"inputs.{input_id}: max_width_px must be a non-negative integer "
                             f"(0: full size), got {max_width!r}")
        bindings.append(InputBinding(str(input_id), str(body["topic"]), type_name, fmt,
                                     int(body.get("jpeg_quality", 80)), max_width,
                                     int(body.get("sample_rate", 16000)),
                                     int(body.get("channels", 1))))
    return bindings


def image_pixels(msg: Any) -> tuple[np.ndarray, str]:
    """[h, w(, c)] uint8 pixels of a sensor_msgs/Image; InputError when inconsistent."""
    channels = _CHANNELS.get(msg.encoding)
    if channels is None:
        raise InputError(f"image encoding {msg.encoding!r} not supported "
                         f"(supported: {sorted(_CHANNELS)})")
    row = msg.width * channels
    if msg.height == 0 or msg.width == 0 or msg.step < row \
            or len(msg.data) < msg.step * msg.height:
        raise InputError(f"image {msg.width}x{msg.height} {msg.encoding} with step {msg.step} "
                         f"does not match {len(msg.data)} bytes")
    try:    # array.array and bytes without a copy
        data = np.frombuffer(msg.data, dtype=np.uint8)[: msg.step * msg.height]
    except TypeError:
        data = np.asarray(msg.data, dtype=np.uint8)[: msg.step * msg.height]
    pixels = data.reshape(msg.height, msg.step)[:, :row].reshape(msg.height, msg.width, channels)
    if channels == 1:
        pixels = pixels[:, :, 0]
    elif channels == 4:
        pixels = pixels[:, :, :3]
    return pixels, "rgb8" if msg.encoding.startswith("rgb") else "bgr8"


def frame_of(binding: InputBinding, msg: Any) -> InputFrame:
    """The input frame of the latest message for a binding."""
    kind = binding.type_name
    if kind == "sensor_msgs/Image":
        pixels, encoding = image_pixels(msg)
        height, width = pixels.shape[:2]
        if 0 < binding.max_width_px < width:
            import cv2

            size = (binding.max_width_px, max(1, round(height * binding.max_width_px / width)))
            pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
        return image_frame(pixels, encoding,
                           binding.jpeg_quality if binding.format == "jpeg" else None)
    if kind == "sensor_msgs/JointState":
        return joint_state_frame(list(msg.name), list(msg.position), list(msg.velocity))
    if kind == "std_msgs/Int16MultiArray":
        return audio_frame(np.asarray(msg.data, dtype=np.int16), binding.sample_rate,
                           binding.channels)
    if kind in ("std_msgs/Float32", "std_msgs/Float64"):
        return scalar_frame([msg.data])
    return scalar_frame(msg.data)


class LatestMessages:
    """The latest message per input id, shared between the executor and the threads that
    answer io:need. Messages are counted per input, so a reader can tell whether one
    arrived since the one it used last."""

    def __init__(self) -> None:
        self._latest: dict[str, Any] = {}
        self._count: dict[str, int] = {}
        self._lock = threading.Lock()

    def put(self, input_id: str, msg: Any) -> None:
        with self._lock:
            self._latest[input_id] = msg
            self._count[input_id] = self._count.get(input_id, 0) + 1

    def get(self, input_id: str) -> Any:
        with self._lock:
            return self._latest.get(input_id)

    def get_counted(self, input_id: str) -> tuple[Any, int]:
        """(latest message or None, how many messages of that input arrived so far)."""
        with self._lock:
            return self._latest.get(input_id), self._count.get(input_id, 0)
