"""Faults, bad input and who may talk to the detector: a Loop naming paths outside the data
folder, an unusable data folder, a full outbox with the Loop away, a Loop that starts
after the detector, the optional API key, the Host/Origin guard, and a corpus of
malformed REST and Socket.IO input (each answered with an error naming the problem, the
server still serving)."""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest
import requests
import socketio
from dn_helpers import (
    ORG,
    PROJECT,
    jpeg_bytes,
    red_disc_bgr,
    running_fake_loop,
    wait_for,
    write_fixed_model,
)
from support import free_port

from detector_node import images
from detector_node.images import ImageError, decode_image, image_size
from detector_node.outbox import Outbox
from detector_node.repeats import RepeatedLog
from detector_node.service import DataFolderError, DetectorService, ServiceConfig

URL = "http://127.0.0.1:{port}"


# ---- path traversal from the Loop ---------------------------------------------------------
@pytest.mark.parametrize("version", ["../../escaped", "/tmp/escaped-absolute", "1.0/../../../escaped"])
def test_follow_loop_refuses_a_version_leading_out_of_the_data_folder(start_service, tmp_path, version,
                                                                      fake_loop):
    write_fixed_model(str(tmp_path / "src" / "evil"), "1.0")
    fake_loop.add_model_zip("uuid-evil", version, str(tmp_path / "src" / "evil"))
    fake_loop.deployment = {"model_uuid": "uuid-evil", "version": version}
    data = tmp_path / "deep" / "data"
    host = start_service(data_folder=str(data), loop_url=fake_loop.api(), organization=ORG,
                         project=PROJECT, model_poll_interval_s=0.05)
    service = host.service
    assert wait_for(lambda: "refused the Loop's deployment target" in (service.last_model_error or ""))
    assert version in service.last_model_error
    before = sorted(p for p in tmp_path.rglob("*") if data not in p.parents and p != data)
    polls = fake_loop.target_requests
    assert wait_for(lambda: fake_loop.target_requests >= polls + 3)  # refused again and again
    after = sorted(p for p in tmp_path.rglob("*") if data not in p.parents and p != data)
    assert before == after, "nothing written or deleted outside the data folder"
    assert not (tmp_path / "escaped").exists() and not os.path.exists("/tmp/escaped-absolute")
    assert not os.path.lexists(data / "current_model")
    assert service.active.info.version == "builtin" and service.target_version is None

    # A proper version afterwards is followed: the refusal did not stop the sync.
    write_fixed_model(str(tmp_path / "src" / "good"), "2.0")
    fake_loop.add_model_zip("uuid-good", "2.0", str(tmp_path / "src" / "good"))
    fake_loop.deployment = {"model_uuid": "uuid-good", "version": "2.0"}
    assert wait_for(lambda: service.active.info.version == "2.0", timeout_s=15)
    assert os.path.realpath(data / "current_model") == str((data / "models" / "2.0").resolve())


def test_follow_loop_refuses_a_model_id_with_a_path(start_service, fake_loop):
    fake_loop.deployment = {"model_uuid": "../../../etc", "version": "3.0"}
    host = start_service(loop_url=fake_loop.api(), organization=ORG, project=PROJECT,
                         model_poll_interval_s=0.05)
    assert wait_for(lambda: "model id '../../../etc'" in (host.service.last_model_error or ""))


def test_a_version_set_by_hand_cannot_leave_models(start_service, tmp_path):
    host = start_service()
    url = URL.format(port=host.port)
    for bad in ("../x", "/abs", "1.0/..", "..", "1..2"):
        response = requests.put(f"{url}/model_version", data=bad, timeout=10)
        assert response.status_code == 400 and "Invalid version number" in response.json()["detail"]
    assert host.service._model_folder("../../x") is None
    assert host.service._model_folder("1.2") == os.path.realpath(os.path.join(host.service.models_path, "1.2"))


def test_a_model_zip_cannot_write_outside_its_folder(start_service, tmp_path, fake_loop):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("../../../zip_escaped.txt", "x")
        archive.writestr("/abs_escaped.txt", "x")
        archive.writestr("model/..", "x")
        with open(write_fixed_model(str(tmp_path / "src"), "4.0") + "/model.json", "rb") as f:
            archive.writestr("model/model.json", f.read())
    fake_loop.models["uuid-4"] = ("4.0", buf.getvalue())
    fake_loop.deployment = {"model_uuid": "uuid-4", "version": "4.0"}
    data = tmp_path / "data"
    host = start_service(data_folder=str(data), loop_url=fake_loop.api(), organization=ORG,
                         project=PROJECT, model_poll_interval_s=0.05)
    assert wait_for(lambda: host.service.active.info.version == "4.0", timeout_s=15)
    assert sorted(os.listdir(data / "models" / "4.0")) == ["abs_escaped.txt", "model.json", "zip_escaped.txt"]
    outside = [p for p in tmp_path.rglob("*escaped*") if data not in p.parents]
    assert outside == [] and not os.path.exists("/abs_escaped.txt")


def test_a_malformed_models_list_from_the_loop_is_named(start_service, fake_loop):
    host = start_service(loop_url=fake_loop.api(), organization=ORG, project=PROJECT)
    url = URL.format(port=host.port)
    for answer in (["not", "a", "dict"], {"models": "nope"}, {"models": [1, "x"]}):
        fake_loop.models_answer = answer
        response = requests.put(f"{url}/model_version", data="7.7", timeout=10)
        assert response.status_code == 400, response.text
        assert "models" in response.json()["detail"] or "No Model" in response.json()["detail"]
    assert requests.get(f"{url}/about", timeout=10).status_code == 200


# ---- an unusable data folder ----------------------------------------------------------------
def test_an_unusable_data_folder_is_named(tmp_path):
    a_file = tmp_path / "plain_file"
    a_file.write_text("x")
    for folder in (a_file, a_file / "below"):
        with pytest.raises(DataFolderError, match=f"data_folder '{folder}' is not usable"):
            DetectorService(ServiceConfig(data_folder=str(folder)))
    done = subprocess.run([sys.executable, "-m", "detector_node.service", "--port", "0",
                           "--data-folder", str(a_file / "below")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert f"data_folder '{a_file / 'below'}' is not usable" in done.stderr
    assert "Traceback" not in done.stderr


# ---- repeated warnings are summarised -------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_repeated_log_one_line_per_interval_with_a_count(caplog):
    clock = FakeClock()
    repeats = RepeatedLog(logging.getLogger("test.repeats"), 60.0, clock)
    with caplog.at_level(logging.WARNING, logger="test.repeats"):
        for _ in range(500):
            repeats.warning("k", "outbox full: dropped %d", 1)
            clock.now += 0.01
        repeats.warning("other", "another kind")
        clock.now += 60
        repeats.warning("k", "outbox full: dropped %d", 1)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["outbox full: dropped 1", "another kind",
                     "outbox full: dropped 1 (499 more like this in the last 65 s)"]


def test_full_outbox_with_the_loop_away_logs_a_summary_not_a_line_per_frame(tmp_path, caplog):
    clock = FakeClock()
    outbox = Outbox(str(tmp_path), f"http://127.0.0.1:{free_port()}/api/o/projects/p/images",
                    max_items=3)
    outbox.repeats.clock = clock
    with caplog.at_level(logging.WARNING, logger="detector_node.outbox"):
        for _ in range(200):  # 200 frames with the outbox full
            outbox.save(b"\xff\xd8\xff", "{}")
        full = [r.getMessage() for r in caplog.records if "outbox full" in r.getMessage()]
        assert len(full) == 1 and outbox.dropped_count == 197
        clock.now += 61
        outbox.save(b"\xff\xd8\xff", "{}")
    full = [r.getMessage() for r in caplog.records if "outbox full" in r.getMessage()]
    assert len(full) == 2 and "(196 more like this in the last 61 s)" in full[1]
    assert "198 dropped so far" in full[1]


# ---- start-up order: the Loop may come later ------------------------------------------------
def test_a_loop_starting_after_the_detector_is_found_with_backoff(start_service, tmp_path, caplog):
    port = free_port()
    write_fixed_model(str(tmp_path / "src" / "1.1"), "1.1")
    with caplog.at_level(logging.WARNING, logger="detector_node.service"):
        host = start_service(loop_url=f"http://127.0.0.1:{port}/api", organization=ORG,
                             project=PROJECT, logic="fixed", model_poll_interval_s=30.0)
        assert wait_for(lambda: host.service._loop_failures >= 3, timeout_s=15)
        about = requests.get(f"{URL.format(port=host.port)}/about", timeout=10).json()
        assert about["state"] == "online", "as the Loop's detector: its node state, not the link"
        assert requests.get(f"{URL.format(port=host.port)}/outbox", timeout=10).json()["loop_reachable"] is False
        tries = [r.getMessage() for r in caplog.records if "Learning Loop unreachable" in r.getMessage()]
        assert tries[0].startswith("Learning Loop unreachable (try 1, next in 0.5 s)")
        assert "(try 2, next in 1.0 s)" in tries[1] and "(try 3, next in 2.0 s)" in tries[2]
        with running_fake_loop(port) as loop:
            loop.add_model_zip("uuid-11", "1.1", str(tmp_path / "src" / "1.1"))
            loop.deployment = {"model_uuid": "uuid-11", "version": "1.1"}
            assert wait_for(lambda: host.service.active is not None
                            and host.service.active.info.version == "1.1", timeout_s=20)
    assert host.service.loop_reachable is True and host.service._loop_failures == 0
    tries = [r for r in caplog.records if "Learning Loop unreachable" in r.getMessage()]
    assert len(tries) <= 8, "one line per try, tries backing off"


# ---- the optional API key --------------------------------------------------------------------
def test_api_key_guards_rest_and_socketio(start_service, red_disc_jpeg):
    host = start_service(api_key="s3cret")
    url = URL.format(port=host.port)
    response = requests.get(f"{url}/about", timeout=10)
    assert response.status_code == 401 and "API key" in response.json()["detail"]
    assert requests.get(f"{url}/about", headers={"x-api-key": "wrong"}, timeout=10).status_code == 401
    assert requests.get(f"{url}/about", headers={"x-api-key": "s3cret"}, timeout=10).status_code == 200
    response = requests.post(f"{url}/detect", files={"file": ("a.jpg", red_disc_jpeg)},
                             headers={"Authorization": "Bearer s3cret", "autoupload": "disabled"},
                             timeout=10)
    assert response.status_code == 200

    client = socketio.Client(reconnection=False)
    refusals = []
    client.on("connect_error", refusals.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(url, socketio_path="/ws/socket.io", transports=["websocket"], wait_timeout=10)
    assert refusals and "missing or invalid API key" in str(refusals[0])
    for kwargs in ({"auth": {"token": "s3cret"}}, {"headers": {"x-api-key": "s3cret"}}):
        client = socketio.Client(reconnection=False)
        client.connect(url, socketio_path="/ws/socket.io", transports=["websocket"], wait_timeout=10,
                       **kwargs)
        try:
            assert client.call("about", timeout=10)["state"] == "online"
        finally:
            client.disconnect()


def test_no_api_key_by_default(start_service):
    host = start_service()
    assert requests.get(f"{URL.format(port=host.port)}/about", timeout=10).status_code == 200


# ---- Host and Origin (DNS rebinding) ---------------------------------------------------------
def test_host_and_origin_guard_on_loopback(start_service):
    host = start_service()
    url = URL.format(port=host.port)
    for name in (f"localhost:{host.port}", f"127.0.0.1:{host.port}", "localhost", f"[::1]:{host.port}"):
        assert requests.get(f"{url}/about", headers={"Host": name}, timeout=10).status_code == 200, name
    for name in ("attacker.example", f"attacker.example:{host.port}", "127.0.0.1.attacker.example"):
        response = requests.get(f"{url}/about", headers={"Host": name}, timeout=10)
        assert response.status_code == 421 and "DNS rebinding" in response.json()["detail"], name
    response = requests.get(f"{url}/ws/socket.io/?EIO=4&transport=polling",
                            headers={"Host": "attacker.example"}, timeout=10)
    assert response.status_code == 421, "Socket.IO is guarded too"
    for origin in ("http://attacker.example", "null", "https://localhost.attacker.example"):
        response = requests.get(f"{url}/about", headers={"Origin": origin}, timeout=10)
        assert response.status_code == 403 and "Origin" in response.json()["detail"], origin
    for origin in (f"http://localhost:{host.port}", "http://127.0.0.1:3000"):
        assert requests.get(f"{url}/about", headers={"Origin": origin}, timeout=10).status_code == 200


# ---- image sizes from headers, before decoding ------------------------------------------------
def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk + b"\0" * 64


def _patched(data: bytes, fmt: str, width: int, height: int) -> bytes:
    """An encoded image whose header claims width x height."""
    buf = bytearray(data)
    if fmt == ".bmp":
        buf[18:26] = struct.pack("<ii", width, height)
    elif fmt == ".gif":
        buf[6:10] = struct.pack("<HH", width, height)
    return bytes(buf)


@pytest.mark.parametrize("fmt", [".png", ".bmp", ".tiff", ".webp", ".jpg"])
def test_image_size_from_the_header_matches_the_pixels(fmt):
    rgb = np.zeros((37, 53, 3), np.uint8)
    ok, buf = cv2.imencode(fmt, rgb)
    assert ok
    assert image_size(buf.tobytes()) == (53, 37)
    assert decode_image(buf.tobytes()).shape == (37, 53, 3)


def test_gif_size_from_the_header():
    gif = b"GIF89a" + struct.pack("<HH", 53, 37) + b"\0" * 20
    assert image_size(gif) == (53, 37)


@pytest.mark.parametrize("fmt", [".png", ".bmp", ".webp", ".gif", ".tiff"])
def test_a_decompression_bomb_is_refused_before_decoding(fmt, monkeypatch, start_service):
    if fmt == ".png":
        bomb = _png_header_only(10000, 10000)
    elif fmt == ".gif":
        bomb = b"GIF89a" + struct.pack("<HH", 10000, 10000) + b"\0" * 20
    elif fmt == ".webp":  # extended format: 24-bit width-1, height-1
        vp8x = struct.pack("<I", 0) + (10000 - 1).to_bytes(3, "little") + (10000 - 1).to_bytes(3, "little")
        bomb = b"RIFF" + struct.pack("<I", 4 + 18) + b"WEBP" + b"VP8X" + struct.pack("<I", 10) + vp8x
    elif fmt == ".tiff":
        entries = [(256, 4, 1, 10000), (257, 4, 1, 10000)]
        ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0" * 4
        bomb = b"II*\x00" + struct.pack("<I", 8) + ifd
    else:  # BMP: a real one, its header patched
        ok, buf = cv2.imencode(fmt, np.zeros((16, 16, 3), np.uint8))
        bomb = _patched(buf.tobytes(), fmt, 10000, 10000)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded an image the header already refused")

    monkeypatch.setattr(images.cv2, "imdecode", no_decoding)
    with pytest.raises(ImageError, match="10000x10000 pixels") as refused:
        decode_image(bomb)
    assert refused.value.status == 413
    host = start_service()
    response = requests.post(f"{URL.format(port=host.port)}/detect", files={"file": ("b" + fmt, bomb)},
                             timeout=10)
    assert response.status_code == 413 and "10000x10000" in response.json()["detail"]


# ---- malformed input at the boundaries: errors that name the problem ---------------------------
REST_CORPUS = [
    ("POST", "/detect", {"data": b"", "headers": {"Content-Type": "multipart/form-data"}}, 400, "multipart"),
    ("POST", "/detect", {"data": b"--x\r\n\r\n", "headers": {"Content-Type": "multipart/form-data; boundary=x"}},
     400, "multipart"),
    ("POST", "/detect", {"files": {"file": ("a.jpg", b"\xff\xd8\xff\xe0garbage")}}, 400, "corrupt"),
    ("POST", "/detect", {"files": {"file": ("a.png", b"\x89PNG\r\n\x1a\n")}}, 400, "PNG"),
    ("POST", "/detect", {"files": {"file": ("a.bmp", b"BM\0\0")}}, 400, "BMP"),
    ("POST", "/detect", {"files": {"file": ("a.webp", b"RIFF\0\0\0\0WAVEfmt ")}}, 400, "WebP"),
    ("POST", "/detect", {"files": {"file": ("a.tif", b"II*\x00\xff\xff\xff\x00")}}, 400, "TIFF"),
    ("POST", "/detect", {"files": {"file": ("a.png", _png_header_only(0, 5))}}, 400, "0x5"),
    ("POST", "/detect", {"files": {"file": ("a.jpg", b"")}}, 415, "empty"),
    ("POST", "/detect", {"files": {"file": ("a", b"%PDF-1.4")}}, 415, "not an image"),
    ("POST", "/detect", {"files": {"file": ("a.jpg", b"x")}, "headers": {"autoupload": ""}}, 422, "autoupload"),
    ("POST", "/detect", {"files": {"file": ("a.jpg", b"x")}, "headers": {"autoupload": "ALL"}}, 422, "autoupload"),
    ("POST", "/upload", {"data": {"files": "text"}}, 422, "UploadFile"),
    ("POST", "/upload?upload_priority=2", {"files": {"files": ("a.jpg", b"x")}}, 422, "upload_priority"),
    ("POST", "/upload", {"files": {"files": ("a.jpg", b"\x89PNG")}}, 400, "PNG"),
    ("PUT", "/model_version", {"data": b"\xff"}, 400, "UTF-8"),
    ("PUT", "/model_version", {"data": "9" * 100}, 400, "No Model with version"),
    ("PUT", "/model_version", {"data": ""}, 400, "Invalid version number"),
    ("PUT", "/outbox_mode", {"data": b"\xc3"}, 422, "UTF-8"),
    ("PUT", "/outbox_mode", {"data": ""}, 422, "OutboxMode"),
    ("PUT", "/operation_mode", {"data": b"\x80"}, 422, "UTF-8"),
    ("PUT", "/operation_mode", {"data": "IDLE"}, 422, "OperationMode"),
    ("PUT", "/debug_logging", {"data": "yes"}, 400, "Invalid state"),
    ("GET", "/detect", {}, 405, "Method Not Allowed"),
    ("POST", "/about", {}, 405, "Method Not Allowed"),
    ("GET", "/../../etc/passwd", {}, 404, "Not Found"),
    ("GET", "/models/1.0/model.json", {}, 404, "Not Found"),
]


def _detail_text(response) -> str:
    detail = response.json()["detail"]
    return detail if isinstance(detail, str) else json.dumps(detail)


def test_rest_corpus_answers_clear_errors_and_keeps_serving(start_service, red_disc_jpeg):
    host = start_service()
    url = URL.format(port=host.port)
    for method, path, kwargs, status, needle in REST_CORPUS:
        response = requests.request(method, url + path, timeout=10, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        assert needle in _detail_text(response), (method, path, response.text)
    # Raw bytes that are no HTTP at all
    with socket.create_connection(("127.0.0.1", host.port), timeout=10) as raw:
        raw.sendall(b"\x16\x03\x01\x02\x00 not http\r\n\r\n")
        answer = raw.recv(400)
        assert answer.split(b"\r\n")[0].endswith(b"400 Bad Request") and b"HTTPS traffic" in answer
    response = requests.post(f"{url}/detect", files={"file": ("a.jpg", red_disc_jpeg)}, timeout=10)
    assert response.status_code == 200 and response.json()["box_detections"]


def _raw(shape, dtype="uint8", data=None):
    size = int(np.prod([max(s, 0) for s in shape])) if isinstance(shape, list) and all(
        isinstance(s, int) for s in shape) else 0
    return {"bytes": data if data is not None else b"\0" * size, "dtype": dtype, "shape": shape}


SIO_CORPUS = [
    ("detect", None, "expected {image"),
    ("detect", [1, 2], "expected {image"),
    ("detect", {"image": 5}, "image must be an object"),
    ("detect", {"image": {"bytes": "text", "dtype": "uint8", "shape": [1, 1, 3]}}, "binary data"),
    ("detect", {"image": {"format": "png", "bytes": b"x"}}, "unknown image format"),
    ("detect", {"image": _raw([4, 4, 3], dtype="object")}, "not a pixel type"),
    ("detect", {"image": _raw([4, 4, 3], dtype="<U5")}, "not a pixel type"),
    ("detect", {"image": _raw([4, 4, 3], dtype="complex128")}, "not a pixel type"),
    ("detect", {"image": _raw([4, 4, 3], dtype="no such dtype")}, "valid 'dtype'"),
    ("detect", {"image": _raw([-4, 4, 3], data=b"")}, "not an image shape"),
    ("detect", {"image": _raw([100000, 100000, 3], data=b"")}, "too large"),
    ("detect", {"image": _raw([4, 4, 3, 1, 1], data=b"")}, "not an image shape"),
    ("detect", {"image": _raw("abc", data=b"")}, "valid 'dtype' and 'shape'"),
    ("detect", {"image": _raw([4, 4, 7])}, "unsupported image shape"),
    ("detect", {"image": _raw([4, 4, 3]), "tags": "a,b"}, "tags must be a list"),
    ("detect", {"image": _raw([4, 4, 3]), "camera_id": 7}, "camera_id must be a string"),
    ("detect", {"image": _raw([4, 4, 3]), "creation_date": ["x"]}, "creation_date must be a string"),
    ("detect", {"image": {"format": "jpeg", "bytes": b"\xff\xd8\xff"}}, "corrupt"),
    ("batch_detect", {"images": [1]}, "image must be an object"),
    ("batch_detect", {"images": "x"}, "expected {images"),
    ("upload", {"image": _raw([4, 4, 3]), "metadata": "x"}, "metadata must be an object"),
    ("upload", {"image": _raw([4, 4, 3]), "metadata": {"box_detections": [{"x": 1}]}}, "lacks"),
    ("upload", {"image": _raw([4, 4, 3]), "upload_priority": "yes"}, "upload_priority"),
    ("set_model_version_mode", {"mode": 1}, "must be a string"),
    ("set_model_version_mode", "../../x", "Invalid version number"),
    ("set_outbox_mode", 3, "must be a string"),
    ("no_such_event", {"a": 1}, "unknown event"),
]


def test_socketio_corpus_answers_clear_errors_and_keeps_serving(start_service, red_disc_jpeg):
    host = start_service()
    client = socketio.Client(reconnection=False)
    client.connect(URL.format(port=host.port), socketio_path="/ws/socket.io", transports=["websocket"],
                   wait_timeout=10)
    try:
        for event, data, needle in SIO_CORPUS:
            answer = client.call(event, data, timeout=10) if data is not None else client.call(event, timeout=10)
            assert isinstance(answer, dict) and needle in answer.get("error", ""), (event, data, answer)
        # two arguments where one is expected: still an answer
        answer = client.call("about", ("a", "b"), timeout=10)
        assert isinstance(answer, dict)
        answer = client.call("detect", {"image": {"format": "jpeg", "bytes": red_disc_jpeg}}, timeout=10)
        assert answer["box_detections"][0]["category_name"] == "target"
    finally:
        client.disconnect()


def test_created_is_null_without_a_date_everywhere(start_service, tmp_path, red_disc_jpeg):
    host = start_service(model_folder=write_fixed_model(str(tmp_path / "m"), "1.0"))
    url = URL.format(port=host.port)
    rest = requests.post(f"{url}/detect", files={"file": ("a.jpg", red_disc_jpeg)},
                         headers={"autoupload": "all"}, timeout=10).json()
    assert rest["created"] is None
    client = socketio.Client(reconnection=False)
    client.connect(url, socketio_path="/ws/socket.io", transports=["websocket"], wait_timeout=10)
    try:
        image = {"format": "jpeg", "bytes": jpeg_bytes(red_disc_bgr())}
        assert client.call("detect", {"image": image, "autoupload": "disabled"}, timeout=10)["created"] is None
        batch = client.call("batch_detect", {"images": [image], "autoupload": "disabled"}, timeout=10)
        assert batch["items"][0]["created"] is None
    finally:
        client.disconnect()
    [meta] = [p for p in (tmp_path / "data" / "outbox").rglob("*.json")]
    assert json.loads(meta.read_text())["created"] is None
