"""Every REST endpoint of a running detector over real HTTP, as a Learning Loop client
calls it (paths, headers, form fields, JSON shapes), and its answers to bad input."""

from __future__ import annotations

import json

import pytest
import requests
from dn_helpers import outbox_files, wait_for, write_fixed_model

URL = "http://127.0.0.1:{port}"


@pytest.fixture
def fixed_detector(start_service, tmp_path):
    folder = write_fixed_model(str(tmp_path / "data" / "models" / "1.1"), "1.1")
    host = start_service(model_folder=folder)
    host.url = URL.format(port=host.port)
    return host


@pytest.mark.parametrize("grouping_key", ["camera-id", "camera_id", "mac"])
def test_rest_detect(fixed_detector, red_disc_jpeg, grouping_key):
    response = requests.post(f"{fixed_detector.url}/detect", files={"file": ("t.jpg", red_disc_jpeg)},
                             headers={grouping_key: "0:0:0:0", "tags": "some_tag"}, timeout=10)
    assert response.status_code == 200, response.text
    result = response.json()
    assert len(result["box_detections"]) == 1
    assert result["box_detections"][0]["category_name"] == "some_category_name"
    assert result["box_detections"][0]["category_id"] == "some_id"
    assert len(result["point_detections"]) == 1
    assert result["point_detections"][0]["category_name"] == "some_category_name_2"
    assert result["point_detections"][0]["category_id"] == "some_id_2"
    assert len(result["segmentation_detections"]) == 1
    assert result["segmentation_detections"][0]["category_id"] == "some_id_3"
    assert result["segmentation_detections"][0]["shape"] == "1,1,5,1,5,5"  # the Loop's flat form
    assert result["point_detections"][0]["x"] == 10.0 and isinstance(result["point_detections"][0]["x"], float)
    assert result["created"] is None  # no creation date sent: none claimed
    assert result["classification_detections"][0]["category_id"] == "some_id_4"
    assert "some_tag" in result["tags"]
    assert set(result) >= {"box_annotations", "point_annotations", "classification_annotation",
                           "created", "source", "state"}


def test_detect_headers_reach_metadata_and_outbox(fixed_detector, red_disc_jpeg):
    response = requests.post(
        f"{fixed_detector.url}/detect", files={"file": ("t.jpg", red_disc_jpeg)},
        headers={"camera-id": "front", "tags": "a,b", "source": "robot1", "autoupload": "all",
                 "creation-date": "2024-01-01T00:00:00"}, timeout=10)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["tags"][:2] == ["a", "b"] and result["source"] == "robot1"
    assert result["created"] == "2024-01-01T00:00:00"
    files = outbox_files(fixed_detector.service.config.data_folder)
    assert len(files) == 2  # saved before the answer: one image, one .json
    [meta_file] = [f for f in files if f.endswith(".json")]
    with open(meta_file, encoding="utf-8") as f:
        saved = json.load(f)
    assert saved["source"] == "robot1" and saved["box_detections"][0]["category_id"] == "some_id"
    assert saved["created"] == "2024-01-01T00:00:00"
    assert saved["segmentation_detections"][0]["shape"] == "1,1,5,1,5,5"
    [jpg] = [f for f in files if f.endswith(".jpg")]
    with open(jpg, "rb") as f:
        assert f.read() == red_disc_jpeg  # uploaded bytes are kept as they came


@pytest.mark.parametrize("autoupload, expected_files", [("filtered", 2), ("all", 4), ("disabled", 0)])
def test_filter_is_used_by_the_node(start_service, tmp_path, red_disc_jpeg, autoupload, expected_files):
    """Identical uncertain box + point twice: `filtered` keeps the first image only."""
    folder = write_fixed_model(str(tmp_path / "m"), "1.1", detections={
        "box_detections": [{"category_name": "some_category_name", "x": 1, "y": 2, "width": 4,
                            "height": 3, "model_name": "m", "confidence": 0.42}],
        "point_detections": [{"category_name": "some_category_name_2", "x": 10, "y": 12,
                              "model_name": "m", "confidence": 0.42}]})
    host = start_service(model_folder=folder)
    for _ in range(2):
        response = requests.post(f"{URL.format(port=host.port)}/detect",
                                 files={"file": ("t.jpg", red_disc_jpeg)},
                                 headers={"camera_id": "00:....", "autoupload": autoupload}, timeout=10)
        assert response.status_code == 200
    assert len(outbox_files(host.service.config.data_folder)) == expected_files


def test_rest_upload(fixed_detector, red_disc_jpeg):
    data_folder = fixed_detector.service.config.data_folder
    assert outbox_files(data_folder) == []
    response = requests.post(f"{fixed_detector.url}/upload", files=[("files", red_disc_jpeg)], timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == [200, "OK"]
    assert len(outbox_files(data_folder)) == 2, "one image and one .json file"

    response = requests.post(
        f"{fixed_detector.url}/upload?source=test&creation_date=2024-01-01T00:00:00&upload_priority=true",
        files=[("files", red_disc_jpeg), ("files", red_disc_jpeg)], timeout=10)
    assert response.status_code == 200
    priority = [f for f in outbox_files(data_folder) if "/priority/" in f and f.endswith(".json")]
    assert len(priority) == 2
    with open(priority[0], encoding="utf-8") as f:
        meta = json.load(f)
    assert meta["tags"] == ["picked_by_system"] and meta["source"] == "test"
    assert meta["created"] == "2024-01-01T00:00:00"


def test_model_version_api(fixed_detector, tmp_path):
    url = fixed_detector.url
    body = requests.get(f"{url}/model_version", timeout=10).json()
    assert body == {"current_version": "1.1", "target_version": "None", "loop_version": "None",
                    "local_versions": ["1.1"], "version_control": "follow_loop"}

    write_fixed_model(str(tmp_path / "data" / "models" / "1.0"), "1.0")
    response = requests.put(f"{url}/model_version", data="1.0", timeout=10)
    assert response.status_code == 200, response.text
    assert wait_for(lambda: requests.get(f"{url}/model_version", timeout=10).json()["current_version"] == "1.0")
    body = requests.get(f"{url}/model_version", timeout=10).json()
    assert body["version_control"] == "specific_version" and body["target_version"] == "1.0"
    assert body["local_versions"] == ["1.0", "1.1"]

    assert requests.put(f"{url}/model_version", data="pause", timeout=10).status_code == 200
    assert requests.get(f"{url}/model_version", timeout=10).json()["version_control"] == "pause"
    assert requests.put(f"{url}/model_version", data="follow_loop", timeout=10).status_code == 200
    body = requests.get(f"{url}/model_version", timeout=10).json()
    assert body["version_control"] == "follow_loop"
    assert body["target_version"] == "None", "no Loop has named a target: none, not the stale 1.0"

    response = requests.put(f"{url}/model_version", data="latest!", timeout=10)
    assert response.status_code == 400 and "Invalid version number" in response.json()["detail"]
    assert requests.get(f"{url}/model_version", timeout=10).json()["version_control"] == "follow_loop", \
        "a refused mode changes nothing"
    response = requests.put(f"{url}/model_version", data="9.9", timeout=10)
    assert response.status_code == 400 and "No Model with version 9.9" in response.json()["detail"]
    assert requests.get(f"{url}/model_version", timeout=10).json()["version_control"] == "pause"


def test_rest_outbox_mode(fixed_detector):
    def switch_to(mode: str) -> None:
        response = requests.put(f"{fixed_detector.url}/outbox_mode", data=mode, timeout=10)
        assert response.status_code == 200, response.content
        response = requests.get(f"{fixed_detector.url}/outbox_mode", timeout=10)
        assert response.status_code == 200
        assert response.content == mode.encode()

    switch_to("stopped")
    switch_to("continuous_upload")
    switch_to("stopped")
    response = requests.put(f"{fixed_detector.url}/outbox_mode", data="sometimes", timeout=10)
    assert response.status_code == 422 and "Could not set outbox mode" in response.json()["detail"]


def test_about_and_operation_mode(fixed_detector):
    about = requests.get(f"{fixed_detector.url}/about", timeout=10).json()
    assert about["operation_mode"] == "idle" and about["state"] == "online"
    assert about["version_control"] == "follow_loop" and about["target_model"] is None
    assert about["model_info"]["version"] == "1.1"
    assert any(c["name"] == "some_category_name_2" for c in about["model_info"]["categories"])

    assert requests.get(f"{fixed_detector.url}/operation_mode", timeout=10).text == "idle"
    assert requests.put(f"{fixed_detector.url}/operation_mode", data="detecting", timeout=10).status_code == 200
    assert requests.get(f"{fixed_detector.url}/operation_mode", timeout=10).text == "detecting"
    assert requests.put(f"{fixed_detector.url}/operation_mode", data="dancing", timeout=10).status_code == 422

    stats = requests.get(f"{fixed_detector.url}/outbox", timeout=10).json()
    assert stats["normal_queued"] == 0 and stats["dropped_count"] == 0


def test_bad_inputs_get_clear_4xx(start_service, red_disc_jpeg):
    host = start_service(max_request_bytes=200_000)
    url = URL.format(port=host.port)

    def detect(payload: bytes, **kw):
        return requests.post(f"{url}/detect", files={"file": ("x.jpg", payload)}, timeout=10, **kw)

    response = detect(b"this is a text file")
    assert response.status_code == 415 and "not an image" in response.json()["detail"]
    response = detect(red_disc_jpeg[: len(red_disc_jpeg) // 3])
    assert response.status_code == 400 and "corrupt" in response.json()["detail"]
    response = detect(b"")
    assert response.status_code == 415 and "empty" in response.json()["detail"]
    response = detect(b"\xff\xd8\xff" + b"\0" * 300_000)
    assert response.status_code == 413

    def chunked_body():  # no Content-Length: the limit is enforced while reading
        yield b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.jpg\"\r\n\r\n"
        for _ in range(3):
            yield red_disc_jpeg + b"\0" * 90_000
        yield b"\r\n--b--\r\n"

    response = requests.post(f"{url}/upload", data=chunked_body(), timeout=10,
                             headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert response.status_code == 413
    # Validation errors in FastAPI's shape, as the Loop's detector answers them.
    response = detect(red_disc_jpeg, headers={"autoupload": "always"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "autoupload"]
    assert response.json()["detail"][0]["type"] == "literal_error"
    response = requests.post(f"{url}/detect", data=red_disc_jpeg, timeout=10)
    assert response.status_code == 422
    assert response.json()["detail"] == [{"type": "missing", "loc": ["body", "file"],
                                          "msg": "Field required", "input": None}]
    response = requests.post(f"{url}/detect", files={"image": ("x.jpg", red_disc_jpeg)}, timeout=10)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "file"]
    response = requests.post(f"{url}/detect", data=b"--b\r\ngarbage", timeout=10,
                             headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert response.status_code == 400 and "malformed multipart" in response.json()["detail"]
    response = requests.get(f"{url}/no_such_route", timeout=10)
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}
    response = requests.delete(f"{url}/about", timeout=10)
    assert response.status_code == 405 and response.json() == {"detail": "Method Not Allowed"}
    response = requests.put(f"{url}/model_version", data=b"\xff\xfe", timeout=10)
    assert response.status_code == 400 and "UTF-8" in response.json()["detail"]
    response = requests.post(f"{url}/upload", files=[("files", b"nope")], timeout=10)
    assert response.status_code == 415 and "nothing queued" in response.json()["detail"]
    assert outbox_files(host.service.config.data_folder) == [], "an invalid image is not saved"
    response = requests.post(f"{url}/upload?upload_priority=perhaps", files=[("files", red_disc_jpeg)],
                             timeout=10)
    assert response.status_code == 422
    # ...and the service still works.
    response = detect(red_disc_jpeg)
    assert response.status_code == 200 and response.json()["box_detections"][0]["category_name"] == "target"
