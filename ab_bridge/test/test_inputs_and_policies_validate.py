"""Input frames, rewards and deviations: validated, clamped, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from ab_bridge.inputs import (
    InputError,
    InputFrame,
    InputStreamer,
    Need,
    audio_frame,
    image_frame,
    joint_state_frame,
    parse_io_need,
    scalar_frame,
    validate_frame,
)
from ab_bridge.policies import PolicyError, build_reward, clamp_deviation, feedback_raster
from ab_bridge.rest import RestClient, RestError, api_base


def test_streamer_serves_by_id_then_kind_and_reports_failures():
    streamer = InputStreamer(max_frame_bytes=64)
    streamer.register_input("target", lambda: scalar_frame([1.0, 2.0]))
    streamer.register_kind("Scalar", lambda: scalar_frame([9.0]))
    streamer.register_input("big", lambda: InputFrame("mono8", b"\0" * 100,
                                                      {"width": 10, "height": 10}))
    streamer.register_input("nan", lambda: InputFrame("f32", np.float32([np.nan]).tobytes()))
    streamer.register_input("boom", lambda: 1 / 0)
    streamer.register_input("empty", lambda: None)
    needs = [Need("target", "Scalar"), Need("speed", "Scalar"), Need("big", "Image"),
             Need("nan", "Scalar"), Need("boom", "Scalar"), Need("empty", "Scalar"),
             Need("camera", "Image"), Need("target", "Scalar")]
    chunks, errors = streamer.serve("run", 7, needs, 1.5)
    assert [(c["inputId"], c["seq"]) for c in chunks] == [("target", 1), ("speed", 1),
                                                          ("target", 2)]
    assert np.frombuffer(chunks[1]["data"], "<f4").tolist() == [9.0]
    assert chunks[0]["meta"] == {"n": 2, "cycle": 7} and chunks[0]["runId"] == "run"
    text = "\n".join(errors)
    assert "input 'big': frame of 100 bytes exceeds the limit of 64 bytes" in text
    assert "input 'nan': values contain NaN" in text
    assert "input 'boom': ZeroDivisionError" in text
    assert "input 'empty': no data yet" in text
    assert "no provider for input 'camera'" in text


def test_frame_helpers():
    pixels = np.random.default_rng(1).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    raw = image_frame(pixels, jpeg_quality=None)
    assert raw.format == "bgr8" and raw.data == pixels.tobytes()
    assert raw.meta == {"width": 8, "height": 6, "channels": 3}
    assert image_frame(pixels).data[:2] == b"\xff\xd8"          # JPEG magic
    joints = joint_state_frame(["a"], [0.5], [])
    assert np.frombuffer(joints.data, "<f4").tolist() == [0.5, 0.0]
    audio = audio_frame(np.array([0.0, 1.0, -1.0]), 16000)
    assert np.frombuffer(audio.data, "<i2").tolist() == [0, 32767, -32767]
    with pytest.raises(InputError, match="NaN"):
        scalar_frame([np.inf])
    with pytest.raises(InputError, match="2 names but 1 positions"):
        joint_state_frame(["a", "b"], [0.0])
    with pytest.raises(InputError, match="do not split into 2 channels"):
        audio_frame(np.zeros(3, np.int16), 8000, channels=2)
    with pytest.raises(InputError, match="does not match 5 bytes"):
        validate_frame(InputFrame("mono8", b"12345", {"width": 2, "height": 2}), "c")
    with pytest.raises(InputError, match="unknown format 'gif'"):
        validate_frame({"format": "gif", "data": b""}, "c")


def test_io_need_validation():
    assert parse_io_need({"cycle": 3, "needs": [{"id": "a", "kind": "Image"}]}) == \
        (3, [Need("a", "Image")])
    with pytest.raises(InputError, match="'cycle' must be"):
        parse_io_need({"cycle": -1, "needs": []})
    with pytest.raises(InputError, match=r"needs\[0\]"):
        parse_io_need({"cycle": 1, "needs": [{"kind": "Image"}]})


def test_reward_clamping_and_layers():
    reward = build_reward(3, 1.4, {"l1": -0.5, "other": 0.3}, ["l1", "l2"])
    assert reward.to_wire("r") == {"runId": "r", "cycle": 3, "globalReward": 1.0,
                                   "byLayer": {"l1": 0.0, "l2": 1.0}}
    with pytest.raises(PolicyError, match="reward of layer 'l1' must be finite"):
        build_reward(0, 0.5, {"l1": float("nan")}, ["l1"])
    with pytest.raises(PolicyError, match="global reward must be a number"):
        build_reward(0, "high", {}, [])


def test_deviation_and_feedback_raster():
    deviation = clamp_deviation([2.0, -0.5, 0.0, -3.0], 4, "fb")
    assert deviation.tolist() == [1.0, -0.5, 0.0, -1.0]
    raster = feedback_raster(deviation, 8, 3)
    assert raster.shape == (8, 3) and raster.dtype == np.float32
    assert raster[:, 0].tolist() == [1.0, 1.0, -0.5, -0.5, 0.0, 0.0, -1.0, -1.0]
    with_baseline = feedback_raster(deviation, 8, 3, baseline=np.full((8, 3), 0.5))
    assert with_baseline.max() == 1.0 and with_baseline[2, 0] == 0.0
    with pytest.raises(PolicyError, match="has 2 values, expected 4"):
        clamp_deviation([0, 0], 4, "fb")
    with pytest.raises(PolicyError, match="NaN"):
        clamp_deviation([0, np.nan, 0, 0], 4, "fb")


def test_rest_errors_are_clear_and_keep_the_key_out():
    assert api_base("http://h:1") == "http://h:1/api" == api_base("http://h:1/api/")
    with pytest.raises(ValueError, match="must start with http"):
        api_base("h:1")
    client = RestClient("http://127.0.0.1:9", api_key="sk-hidden", timeout_s=1.0)
    with pytest.raises(RestError, match="POST /robot/p/start") as caught:
        client.start("p")
    assert "sk-hidden" not in str(caught.value) and "sk-hidden" not in repr(client)
