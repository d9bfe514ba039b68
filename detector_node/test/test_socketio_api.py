"""The Socket.IO API of a running detector, called with the python-socketio client the
way Learning Loop clients call it (path /ws/socket.io, events and their answers)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import socketio
from dn_helpers import jpeg_bytes, outbox_files, red_disc_bgr, wait_for, write_fixed_model


@pytest.fixture
def detector(start_service, tmp_path):
    folder = write_fixed_model(str(tmp_path / "data" / "models" / "1.1"), "1.1")
    return start_service(model_folder=folder)


@pytest.fixture
def sio_client(detector):
    client = socketio.Client(reconnection=False)
    client.connect(f"ws://127.0.0.1:{detector.port}", socketio_path="/ws/socket.io",
                   transports=["websocket"], wait_timeout=10)
    yield client
    client.disconnect()


def raw_image(bgr: np.ndarray) -> dict:
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return {"format": "raw", "bytes": rgb.tobytes(order="C"), "dtype": str(rgb.dtype),
            "shape": list(rgb.shape)}


def check_reference_detections(result: dict) -> None:
    assert [d["category_id"] for d in result["box_detections"]] == ["some_id"]
    assert [d["category_id"] for d in result["point_detections"]] == ["some_id_2"]
    assert [d["category_id"] for d in result["segmentation_detections"]] == ["some_id_3"]
    assert [d["category_id"] for d in result["classification_detections"]] == ["some_id_4"]


def test_sio_detect_raw_jpeg_and_bare_bytes(sio_client):
    image = red_disc_bgr()
    check_reference_detections(sio_client.call("detect", {"image": raw_image(image)}, timeout=10))
    check_reference_detections(sio_client.call(
        "detect", {"image": {"format": "jpeg", "bytes": jpeg_bytes(image)}, "tags": ["x"],
                   "camera_id": "c", "source": "s", "creation_date": "2024-01-01T00:00:00"},
        timeout=10))
    result = sio_client.call("detect", {"image": jpeg_bytes(image)}, timeout=10)  # older clients
    check_reference_detections(result)


def test_sio_detect_real_logic(start_service):
    host = start_service()  # the built-in red-blob model
    client = socketio.Client(reconnection=False)
    client.connect(f"ws://127.0.0.1:{host.port}", socketio_path="/ws/socket.io", wait_timeout=10)
    try:
        result = client.call("detect", {"image": raw_image(red_disc_bgr(centre=(100, 300))),
                                        "autoupload": "disabled"}, timeout=10)
    finally:
        client.disconnect()
    [found] = result["box_detections"]
    assert found["category_name"] == "target"
    assert abs(found["x"] + found["width"] / 2 - 100) <= 2 and abs(found["y"] + found["height"] / 2 - 300) <= 2


def test_sio_batch_detect(sio_client):
    images = [raw_image(red_disc_bgr()), {"format": "jpeg", "bytes": jpeg_bytes(red_disc_bgr())}]
    result = sio_client.call("batch_detect", {"images": images, "autoupload": "disabled"}, timeout=10)
    assert len(result["items"]) == 2
    for item in result["items"]:
        check_reference_detections(item)


def test_sio_upload(detector, sio_client):
    data_folder = detector.service.config.data_folder
    assert outbox_files(data_folder) == []
    result = sio_client.call("upload", {"image": {"format": "jpeg", "bytes": jpeg_bytes(red_disc_bgr())}},
                             timeout=10)
    assert result == {"status": "OK"}
    assert len(outbox_files(data_folder)) == 2, "one image and one .json file"

    metadata = {"box_detections": [{"category_name": "some_category_name", "x": 1, "y": 2, "width": 3,
                                    "height": 4, "model_name": "m", "confidence": 0.9}],
                "tags": ["mine"], "source": "sio", "state": "trash"}
    result = sio_client.call("upload", {"image": raw_image(red_disc_bgr()), "metadata": metadata,
                                        "upload_priority": True}, timeout=10)
    assert result == {"status": "OK"}
    assert len([f for f in outbox_files(data_folder) if "/priority/" in f]) == 2
    stats = detector.service.outbox.stats()
    assert stats.priority_queued == 1 and stats.normal_queued == 1


def test_sio_upload_resolves_category_ids(detector, sio_client):
    metadata = {"box_detections": [
        {"category_name": "some_category_name", "x": 1, "y": 2, "width": 3, "height": 4,
         "model_name": "m", "confidence": 0.9},
        {"category_name": "unknown", "x": 1, "y": 2, "width": 3, "height": 4,
         "model_name": "m", "confidence": 0.9}]}
    assert sio_client.call("upload", {"image": raw_image(red_disc_bgr()), "metadata": metadata},
                           timeout=10) == {"status": "OK"}
    [meta_file] = [f for f in outbox_files(detector.service.config.data_folder) if f.endswith(".json")]
    with open(meta_file, encoding="utf-8") as f:
        saved = json.load(f)
    assert [d["category_id"] for d in saved["box_detections"]] == ["some_id", ""]
    assert saved["tags"] == ["picked_by_system"]


def test_sio_version_outbox_and_info(detector, sio_client, tmp_path):
    assert sio_client.call("get_outbox_mode", timeout=10) == {"outbox_mode": "continuous_upload"}
    assert sio_client.call("set_outbox_mode", "stopped", timeout=10) == {"status": "OK"}
    assert sio_client.call("get_outbox_mode", timeout=10) == {"outbox_mode": "stopped"}
    assert "error" in sio_client.call("set_outbox_mode", "bogus", timeout=10)

    versions = sio_client.call("get_model_version", timeout=10)
    assert versions["current_version"] == "1.1" and versions["version_control"] == "follow_loop"
    write_fixed_model(str(tmp_path / "data" / "models" / "2.0"), "2.0")
    assert sio_client.call("set_model_version_mode", "2.0", timeout=10) == {"status": "OK"}
    assert wait_for(lambda: sio_client.call("get_model_version", timeout=10)["current_version"] == "2.0")
    assert "error" in sio_client.call("set_model_version_mode", "v2", timeout=10)

    info = sio_client.call("info", timeout=10)
    assert info["version"] == "2.0" and info["categories"][0]["id"] == "some_id"
    about = sio_client.call("about", timeout=10)
    assert about["model_info"]["version"] == "2.0" and about["version_control"] == "specific_version"


def test_sio_bad_inputs_answer_errors(sio_client):
    result = sio_client.call("detect", {"image": {"bytes": b"\0" * 10, "dtype": "uint8", "shape": [4, 4, 3]}},
                             timeout=10)
    assert result["error"].startswith("could not parse image from data")
    result = sio_client.call("detect", {"image": {"format": "jpeg", "bytes": b"garbage"}}, timeout=10)
    assert "not an image" in result["error"]
    assert "error" in sio_client.call("detect", {"no_image": 1}, timeout=10)
    assert "error" in sio_client.call("detect", {"image": raw_image(red_disc_bgr()), "autoupload": "x"},
                                      timeout=10)
    assert "error" in sio_client.call("batch_detect", {"images": "nope"}, timeout=10)
    assert "error" in sio_client.call("upload", {"image": raw_image(red_disc_bgr()),
                                                 "metadata": {"box_detections": [{"x": 1}]}}, timeout=10)
    # still serving
    check_reference_detections(sio_client.call("detect", {"image": raw_image(red_disc_bgr())}, timeout=10))


def test_default_socketio_path_works_too(detector):
    client = socketio.Client(reconnection=False)
    client.connect(f"http://127.0.0.1:{detector.port}", wait_timeout=10)  # path /socket.io
    try:
        assert client.call("about", timeout=10)["model_info"]["version"] == "1.1"
    finally:
        client.disconnect()
