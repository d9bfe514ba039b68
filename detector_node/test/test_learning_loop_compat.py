"""Compatibility suite: the same REST and Socket.IO calls to learning-loop-node's detector
(0.27.0, its own venv, offline) and to ours, answers compared field by field.

Both servers load the same model (detections fixed in its model.json), are configured by
the same environment (LOOP_HOST at a closed loopback port, LOOP_ORGANIZATION, LOOP_PROJECT,
DATA_FOLDER with a `current_model` link) and get the calls in the same order, so state
changes (model_version, outbox_mode, operation_mode) are compared too. After each call the
items it put into the outbox are compared as well.

A difference fails unless its case is listed in detector_node/README.md under "Deliberate
differences from learning-loop-node" (read from there: the list and the suite cannot drift
apart); a listed case must still differ, or the list is stale and the suite fails.
Comparison rules: JSON values and their types are compared exactly (10 != 10.0), except
that the detector's data folder is written <DATA> and a creation time of "now" <now>, and
an outbox item's tags are compared as a set (the reference adds its upload causes from a
set, in hash order); an
error message of ours may add to the reference's message (it starts with it); content
types are compared without parameters.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
import socketio
from dn_helpers import running_fake_loop, wait_for
from llnode_reference import model_json, reference_python, start_ours, start_reference, stop

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"
NOW = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{2}:\d{2}:\d{2}\.\d{3}$")
SIO_TIMEOUT_S = 10.0  # the reference's outbox stop waits out its 5 s upload pause
NO_ANSWER_TIMEOUT_S = 3.0  # for the call the reference never answers

DETECTIONS = {
    "box_detections": [{"category_name": "target", "x": 10, "y": 20, "width": 30, "height": 40,
                        "model_name": "1.0", "confidence": 0.9, "category_id": "target-id"}],
    "point_detections": [{"category_name": "tip", "x": 10.0, "y": 12.5, "model_name": "1.0",
                          "confidence": 0.45, "category_id": "tip-id"}],
    "segmentation_detections": [{"category_name": "area", "shape": {"points": [
        {"x": 1, "y": 1}, {"x": 5, "y": 1}, {"x": 5, "y": 5}]}, "model_name": "1.0",
        "confidence": 0.9, "category_id": "area-id"}],
    "classification_detections": [{"category_name": "scene", "model_name": "1.0",
                                   "confidence": 0.8, "category_id": "scene-id"}]}


def deliberate_cases() -> dict[str, str]:
    """Case name -> reason, from the README's table of deliberate differences."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Deliberate differences from learning-loop-node", 1)[1]
    section = section.split("\n#", 1)[0]
    cases = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0].startswith("`"):
            for name in re.findall(r"`([a-z0-9_]+)`", cells[0]):
                cases[name] = cells[-1]
    assert cases, "README lists no deliberate differences (table not found)"
    return cases


# ---- test images ------------------------------------------------------------------------
def _jpeg() -> bytes:
    image = np.full((48, 64, 3), 120, np.uint8)
    cv2.circle(image, (32, 24), 10, (0, 0, 255), -1)
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return buf.tobytes()


JPEG = _jpeg()
PNG = cv2.imencode(".png", np.full((30, 40, 3), 200, np.uint8))[1].tobytes()
RAW = np.full((48, 64, 3), 90, np.uint8)


def _multipart(field: str, *files: tuple[str, bytes]) -> dict:
    return {"files": [(field, f) for f in files]}


# ---- normalising and comparing ----------------------------------------------------------
def normalise(value, data_folder: str):
    if isinstance(value, dict):
        return {k: normalise(v, data_folder) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, data_folder) for v in value]
    if isinstance(value, str):
        if NOW.match(value):
            return "<now>"
        return value.replace(os.path.realpath(data_folder), "<DATA>").replace(data_folder, "<DATA>")
    return value


def differences(ours, ref, path: str = "$") -> list[str]:
    if isinstance(ref, dict) and isinstance(ours, dict):
        found = []
        for key in sorted(set(ref) | set(ours), key=str):
            if key not in ours:
                found.append(f"{path}.{key}: missing in ours (reference {ref[key]!r:.80})")
            elif key not in ref:
                found.append(f"{path}.{key}: only in ours ({ours[key]!r:.80})")
            else:
                found += differences(ours[key], ref[key], f"{path}.{key}")
        return found
    if isinstance(ref, list) and isinstance(ours, list):
        if len(ref) != len(ours):
            return [f"{path}: {len(ours)} items in ours, {len(ref)} in the reference"]
        return [d for i, (a, b) in enumerate(zip(ours, ref, strict=True))
                for d in differences(a, b, f"{path}[{i}]")]
    if type(ours) is not type(ref):
        return [f"{path}: ours {ours!r:.80} ({type(ours).__name__}) != reference {ref!r:.80} "
                f"({type(ref).__name__})"]
    if ours == ref:
        return []
    if isinstance(ref, str) and path.endswith((".detail", ".error")) and ref and ours.startswith(ref):
        return []  # our message says more
    return [f"{path}: ours {ours!r:.120} != reference {ref!r:.120}"]


@dataclass
class Server:
    name: str
    url: str
    data: str
    process: subprocess.Popen
    seen_items: set

    def new_outbox_items(self) -> list[dict]:
        items = []
        for queue in ("priority", "normal"):
            root = Path(self.data, "outbox", queue)
            for folder in sorted(root.glob("*")) if root.exists() else []:
                if folder.name in self.seen_items:
                    continue
                meta = folder / f"image_{folder.name}.json"
                if meta.exists():
                    self.seen_items.add(folder.name)
                    item = json.loads(meta.read_text(encoding="utf-8"))
                    item["tags"] = sorted(item.get("tags") or [])  # causes: a set, hash order there
                    items.append({"queue": queue, **item})
        return items

    def outbox_count(self) -> int:
        return sum(len(list(Path(self.data, "outbox", q).glob("*")))
                   for q in ("priority", "normal") if Path(self.data, "outbox", q).exists())


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    started = time.monotonic()
    python = reference_python()  # made once (about 2 min), then reused
    venv_s = time.monotonic() - started
    work = str(tmp_path_factory.mktemp("llcompat"))
    info = model_json("1.0", DETECTIONS)
    info["categories"] = [{"id": f"{n}-id", "name": n, "type": t} for n, t in
                          (("target", "box"), ("tip", "point"), ("area", "segmentation"),
                           ("scene", "classification"))]
    os.makedirs(os.path.join(work, "ref"))
    os.makedirs(os.path.join(work, "ours"))
    ref_process, ref_url, ref_data = start_reference(
        python, os.path.join(work, "ref"), info, log_path=os.path.join(work, "reference.log"))
    try:
        ours_process, ours_url, ours_data = start_ours(
            os.path.join(work, "ours"), info, log_path=os.path.join(work, "ours.log"))
    except BaseException:
        stop(ref_process)
        raise
    print(f"reference venv ready in {venv_s:.1f} s")
    yield (Server("ours", ours_url, ours_data, ours_process, set()),
           Server("reference", ref_url, ref_data, ref_process, set()))
    stop(ours_process)
    stop(ref_process)


def settle_outboxes(ours: Server, ref: Server, timeout_s: float = 5.0) -> None:
    """The reference saves autouploads in background tasks: wait until both have as many
    new items (a case whose items differ on purpose costs the timeout)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and \
            ours.outbox_count() - len(ours.seen_items) != ref.outbox_count() - len(ref.seen_items):
        time.sleep(0.05)


# ---- the calls --------------------------------------------------------------------------
H = {"autoupload": "disabled"}
REST_CASES: list[tuple[str, str, str, dict]] = [
    ("about", "GET", "/about", {}),
    ("model_version_get", "GET", "/model_version", {}),
    ("outbox_mode_get", "GET", "/outbox_mode", {}),
    ("operation_mode_get", "GET", "/operation_mode", {}),
    ("detect_hyphen_headers", "POST", "/detect", {**_multipart("file", ("a.jpg", JPEG)), "headers": {
        "camera-id": "front", "creation-date": "2024-01-01T00:00:00", "tags": "a,b",
        "source": "robot", "autoupload": "all"}}),
    ("detect_underscore_headers", "POST", "/detect", {**_multipart("file", ("a.jpg", JPEG)), "headers": {
        "camera_id": "back", "creation_date": "2024-02-02T00:00:00", "autoupload": "disabled"}}),
    ("detect_no_headers", "POST", "/detect", _multipart("file", ("a.jpg", JPEG))),
    ("detect_filtered_again", "POST", "/detect", _multipart("file", ("a.jpg", JPEG))),
    ("detect_filtered_other_camera", "POST", "/detect", {**_multipart("file", ("a.jpg", JPEG)),
                                                         "headers": {"camera-id": "side"}}),
    ("detect_png", "POST", "/detect", {**_multipart("file", ("a.png", PNG)), "headers": {
        "camera-id": "png", "autoupload": "all", "creation-date": "2024-07-07T00:00:00"}}),
    ("detect_empty_tags", "POST", "/detect", {**_multipart("file", ("a.jpg", JPEG)),
                                              "headers": {**H, "tags": ""}}),
    ("detect_bad_autoupload", "POST", "/detect", {**_multipart("file", ("a.jpg", JPEG)),
                                                  "headers": {"autoupload": "sometimes"}}),
    ("detect_no_multipart", "POST", "/detect", {"data": b"{}", "headers": {"Content-Type": "application/json"}}),
    ("detect_wrong_field", "POST", "/detect", {**_multipart("image", ("a.jpg", JPEG)), "headers": H}),
    ("detect_file_as_text", "POST", "/detect", {"data": {"file": "not a file"}, "headers": H}),
    ("detect_not_an_image", "POST", "/detect", {**_multipart("file", ("a.txt", b"hello")), "headers": H}),
    ("upload_with_query", "POST", "/upload?source=cam&creation_date=2024-03-03T00:00:00&upload_priority=true",
     _multipart("files", ("a.jpg", JPEG), ("b.jpg", JPEG))),
    ("upload_plain", "POST", "/upload", _multipart("files", ("a.jpg", JPEG))),
    ("upload_bad_priority", "POST", "/upload?upload_priority=maybe", _multipart("files", ("a.jpg", JPEG))),
    ("upload_wrong_field", "POST", "/upload", _multipart("file", ("a.jpg", JPEG))),
    ("upload_not_an_image", "POST", "/upload", _multipart("files", ("a.txt", b"hello"))),
    ("model_version_put_invalid", "PUT", "/model_version", {"data": "abc"}),
    ("model_version_after_invalid", "GET", "/model_version", {}),
    ("model_version_put_follow_loop", "PUT", "/model_version", {"data": "follow_loop"}),
    ("model_version_after_follow_loop", "GET", "/model_version", {}),
    ("model_version_put_pause", "PUT", "/model_version", {"data": "pause"}),
    ("model_version_after_pause", "GET", "/model_version", {}),
    ("about_paused", "GET", "/about", {}),
    ("model_version_put_follow_loop_again", "PUT", "/model_version", {"data": "follow_loop"}),
    ("model_version_after_follow_loop_again", "GET", "/model_version", {}),
    ("about_following", "GET", "/about", {}),
    ("model_version_put_local", "PUT", "/model_version", {"data": "1.0"}),
    ("model_version_after_local", "GET", "/model_version", {}),
    ("model_version_put_follow_loop_last", "PUT", "/model_version", {"data": "follow_loop"}),
    ("model_version_after_follow_loop_last", "GET", "/model_version", {}),
    ("outbox_mode_put_stopped", "PUT", "/outbox_mode", {"data": "stopped"}),
    ("outbox_mode_after_stopped", "GET", "/outbox_mode", {}),
    ("outbox_mode_put_continuous", "PUT", "/outbox_mode", {"data": "continuous_upload"}),
    ("outbox_mode_after_continuous", "GET", "/outbox_mode", {}),
    ("outbox_mode_put_invalid", "PUT", "/outbox_mode", {"data": "sometimes"}),
    ("operation_mode_put_detecting", "PUT", "/operation_mode", {"data": "detecting"}),
    ("operation_mode_after_detecting", "GET", "/operation_mode", {}),
    ("about_detecting", "GET", "/about", {}),
    ("operation_mode_put_idle", "PUT", "/operation_mode", {"data": "idle"}),
    ("operation_mode_put_invalid", "PUT", "/operation_mode", {"data": "sleeping"}),
    ("debug_logging_on", "PUT", "/debug_logging", {"data": "on"}),
    ("debug_logging_off", "PUT", "/debug_logging", {"data": "off"}),
    ("debug_logging_invalid", "PUT", "/debug_logging", {"data": "loud"}),
    ("not_found", "GET", "/no_such_route", {}),
    ("method_not_allowed", "DELETE", "/about", {}),
    ("docs", "GET", "/docs", {}),
    ("openapi_json", "GET", "/openapi.json", {}),
    ("socketio_switch", "PUT", "/socketio", {"data": "on"}),
    ("localhost_host_header", "GET", "/about", {"headers": {"Host": "localhost:8004"}}),
    ("loopback_host_header", "GET", "/about", {"headers": {"Host": "127.0.0.1:8004"}}),
    ("foreign_host_header", "GET", "/about", {"headers": {"Host": "attacker.example:8004"}}),
    ("foreign_origin", "GET", "/about", {"headers": {"Origin": "http://attacker.example"}}),
]


def rest_answer(server: Server, method: str, path: str, kwargs: dict) -> dict:
    response = requests.request(method, server.url + path, timeout=30, **kwargs)
    media = response.headers.get("Content-Type", "").split(";")[0].strip()
    if media == "application/json":
        body = response.json()
        if path == "/openapi.json" and response.status_code == 200:
            body = {"paths": sorted(body.get("paths", {}))}
    elif media == "text/html":
        body = "<html>"
    else:
        body = response.text
    return {"status": response.status_code, "content_type": media,
            "body": normalise(body, server.data)}


def image_dict_raw(array: np.ndarray) -> dict:
    return {"bytes": array.tobytes(order="C"), "dtype": str(array.dtype), "shape": list(array.shape)}


SIO_CASES: list[tuple[str, str, object]] = [
    ("sio_about", "about", None),
    ("sio_info", "info", None),
    ("sio_get_model_version", "get_model_version", None),
    ("sio_get_outbox_mode", "get_outbox_mode", None),
    ("sio_detect_jpeg", "detect", {"image": {"format": "jpeg", "bytes": JPEG}, "autoupload": "disabled"}),
    ("sio_detect_raw", "detect", {"image": image_dict_raw(RAW), "camera_id": "sio", "tags": ["x"],
                                  "source": "s", "creation_date": "2024-04-04T00:00:00",
                                  "autoupload": "all"}),
    ("sio_detect_filtered", "detect", {"image": {"format": "jpeg", "bytes": JPEG}, "camera_id": "sio2"}),
    ("sio_batch_detect", "batch_detect", {"images": [{"format": "jpeg", "bytes": JPEG},
                                                     image_dict_raw(RAW)], "autoupload": "disabled"}),
    ("sio_batch_detect_all", "batch_detect", {"images": [{"format": "jpeg", "bytes": JPEG}],
                                               "autoupload": "all", "camera_id": "b",
                                               "creation_date": "2024-08-08T00:00:00", "tags": ["t"]}),
    ("sio_detect_bare_jpeg", "detect", {"image": JPEG, "autoupload": "disabled"}),
    ("sio_detect_bad_autoupload", "detect", {"image": {"format": "jpeg", "bytes": JPEG},
                                             "autoupload": "sometimes"}),
    ("sio_detect_object_dtype", "detect", {"image": {"bytes": b"\0" * 8, "dtype": "object",
                                                     "shape": [1]}}),
    ("sio_detect_no_image", "detect", {}),
    ("sio_detect_not_a_dict", "detect", "image"),
    ("sio_detect_bad_bytes", "detect", {"image": {"bytes": b"\0" * 10, "dtype": "uint8",
                                                  "shape": [4, 4, 3]}}),
    ("sio_batch_detect_no_images", "batch_detect", {}),
    ("sio_upload_plain", "upload", {"image": {"format": "jpeg", "bytes": JPEG}}),
    ("sio_upload_with_metadata", "upload", {
        "image": {"format": "jpeg", "bytes": JPEG}, "upload_priority": True,
        "metadata": {"box_detections": [{"category_name": "target", "x": 1, "y": 2, "width": 3,
                                         "height": 4, "model_name": "m", "confidence": 0.5}],
                     "segmentation_detections": [{"category_name": "area", "shape": {"points": [
                         {"x": 1, "y": 2}, {"x": 3, "y": 4}]}, "model_name": "m", "confidence": 0.5}],
                     "tags": ["t"], "source": "client", "created": "2024-05-05T00:00:00"}}),
    ("sio_upload_no_image", "upload", {"metadata": {}}),
    ("sio_set_outbox_mode_invalid", "set_outbox_mode", "sometimes"),
    ("sio_set_outbox_mode_stopped", "set_outbox_mode", "stopped"),
    ("sio_get_outbox_mode_stopped", "get_outbox_mode", None),
    ("sio_set_outbox_mode_continuous", "set_outbox_mode", "continuous_upload"),
    ("sio_set_model_version_mode_invalid", "set_model_version_mode", "abc"),
    ("sio_set_model_version_mode_pause", "set_model_version_mode", "pause"),
    ("sio_get_model_version_paused", "get_model_version", None),
    ("sio_set_model_version_mode_follow", "set_model_version_mode", "follow_loop"),
    ("sio_get_model_version_following", "get_model_version", None),
    ("sio_set_model_version_mode_number", "set_model_version_mode", 5),
    ("sio_set_outbox_mode_nothing", "set_outbox_mode", None),
]


async def sio_call(client: socketio.AsyncClient, server: Server, event: str, data,
                   timeout_s: float = SIO_TIMEOUT_S):
    try:
        if data is None:
            answer = await client.call(event, timeout=timeout_s)
        else:
            answer = await client.call(event, data, timeout=timeout_s)
    except socketio.exceptions.TimeoutError:
        answer = "<no answer>"
    return normalise(answer, server.data)


async def sio_compare(ours: Server, ref: Server, judge) -> None:
    """Each case to the reference, then to ours (state changes interleave as in REST)."""
    clients = []
    try:
        for server in (ours, ref):
            client = socketio.AsyncClient(reconnection=False)
            await client.connect(server.url, socketio_path="/ws/socket.io", transports=["websocket"])
            clients.append(client)
        mine_client, ref_client = clients
        for name, event, data in SIO_CASES:
            timeout_s = NO_ANSWER_TIMEOUT_S if name == "sio_set_outbox_mode_nothing" else SIO_TIMEOUT_S
            theirs = await sio_call(ref_client, ref, event, data, timeout_s)
            mine = await sio_call(mine_client, ours, event, data)
            await asyncio.to_thread(settle_outboxes, ours, ref)
            judge(name, {"answer": mine, "outbox": normalise(ours.new_outbox_items(), ours.data)},
                  {"answer": theirs, "outbox": normalise(ref.new_outbox_items(), ref.data)})
    finally:
        for client in clients:
            await client.disconnect()


# ---- the suite --------------------------------------------------------------------------
def test_same_answers_as_learning_loop_node(servers):
    ours, ref = servers
    deliberate = deliberate_cases()
    known = {c[0] for c in REST_CASES} | {c[0] for c in SIO_CASES}
    assert not set(deliberate) - known, f"README lists cases the suite lacks: {set(deliberate) - known}"
    unexpected, stale = [], []

    def judge(name: str, mine, theirs) -> None:
        found = differences(mine, theirs)
        if found and name not in deliberate:
            unexpected.append(f"{name}:\n    " + "\n    ".join(found))
        elif not found and name in deliberate:
            stale.append(name)

    for name, method, path, kwargs in REST_CASES:
        theirs = rest_answer(ref, method, path, kwargs)
        mine = rest_answer(ours, method, path, kwargs)
        settle_outboxes(ours, ref)
        mine["outbox"] = normalise(ours.new_outbox_items(), ours.data)
        theirs["outbox"] = normalise(ref.new_outbox_items(), ref.data)
        judge(name, mine, theirs)

    asyncio.run(sio_compare(ours, ref, judge))

    assert not unexpected, "differences not listed in the README:\n" + "\n".join(unexpected)
    assert not stale, f"listed as deliberate but no longer different: {stale}"


REFERENCE_CLIENT = '''
import json, sys
import requests
from dacite import Config, from_dict
from learning_loop_node.data_classes import (AboutResponse, ImageMetadata, ModelInformation,
                                             ModelVersionResponse)
from learning_loop_node.helpers.misc import numpy_array_to_jpg_bytes
import numpy as np

url = sys.argv[1]
strict = Config(strict=True)
jpeg = numpy_array_to_jpg_bytes(np.full((48, 64, 3), 90, np.uint8))
answer = requests.post(url + "/detect", files={"file": ("a.jpg", jpeg)},
                       headers={"camera-id": "c", "autoupload": "disabled"}, timeout=10)
answer.raise_for_status()
meta = from_dict(ImageMetadata, answer.json(), config=strict)
assert meta.box_detections and meta.segmentation_detections, meta
assert isinstance(meta.segmentation_detections[0].shape, str), meta.segmentation_detections
from_dict(ModelVersionResponse, requests.get(url + "/model_version", timeout=10).json(), config=strict)
about = from_dict(AboutResponse, requests.get(url + "/about", timeout=10).json(), config=strict)
assert about.state == "online" and isinstance(about.model_info, ModelInformation), about
print("ok")
'''


def test_reference_client_reads_our_answers(servers, tmp_path):
    """learning-loop-node's own data classes and JPEG helper, as a client of ours (strict)."""
    ours, ref = servers
    script = tmp_path / "client.py"
    script.write_text(REFERENCE_CLIENT, encoding="utf-8")
    for server in (ref, ours):
        done = subprocess.run([str(reference_python()), str(script), server.url], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0 and done.stdout.strip().splitlines()[-1:] == ["ok"], \
            f"{server.name}: {done.stdout}{done.stderr[-2000:]}"


def test_the_deliberate_list_is_documented_with_reasons():
    for name, reason in deliberate_cases().items():
        assert len(reason) > 15, f"{name}: the README gives no reason"


def test_outbox_uploads_reach_a_loop_as_the_reference_sends_them(tmp_path):
    """Each server with a Loop of its own (LOOP_HOST): the same upload, and the multipart
    request each sends to the Loop compared part by part (field, file name, content type,
    the metadata JSON)."""
    python = reference_python()
    info = model_json("1.0", DETECTIONS)
    sent = {}
    with running_fake_loop() as ours_loop, running_fake_loop() as ref_loop:
        processes = []
        try:
            for name, loop, start in (("ours", ours_loop, start_ours), ("reference", ref_loop, None)):
                work = tmp_path / name
                work.mkdir()
                host = {"LOOP_HOST": loop.url.removeprefix("http://")}
                if start is None:
                    process, url, _ = start_reference(python, str(work), info, **host)
                else:
                    process, url, _ = start(str(work), info, **host)
                processes.append(process)
                response = requests.post(
                    f"{url}/upload?source=cam&creation_date=2024-06-06T00:00:00",
                    files={"files": ("a.jpg", JPEG)}, timeout=30)
                assert response.status_code == 200, response.text
            for name, loop in (("ours", ours_loop), ("reference", ref_loop)):
                assert wait_for(lambda loop=loop: len(loop.received) == 1, timeout_s=30), name
                [identifier] = loop.received
                parts = sorted(entry.replace(identifier, "<id>") for entry in loop.content_types)
                sent[name] = {"parts": parts, "metadata": loop.metadata[identifier]}
        finally:
            for process in processes:
                stop(process)
    assert sent["ours"]["parts"] == sent["reference"]["parts"] == [
        "image_<id>.jpg: image/jpeg", "image_<id>.json: text/plain; charset=utf-8"]
    assert differences(sent["ours"]["metadata"], sent["reference"]["metadata"]) == []
