"""Helpers for detector_node tests: test images, test models, a protocol-faithful
Learning Loop (a real aiohttp server on loopback)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import unquote

import cv2
import numpy as np
from aiohttp import web
from support import wait_for  # noqa: F401 (the detector tests import it here)

from node_kit.loop_thread import LoopThread

ORG, PROJECT = "zauberzeug", "demo"


def red_disc_bgr(width: int = 640, height: int = 480, centre: tuple[int, int] = (320, 240),
                 radius: int = 40) -> np.ndarray:
    """What the simulated camera renders: a saturated red disc on a plain grey background."""
    image = np.full((height, width, 3), 170, np.uint8)
    cv2.circle(image, centre, radius, (0, 0, 255), -1)
    return image


def jpeg_bytes(bgr: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def write_fixed_model(folder: str, version: str, detections: dict | None = None) -> str:
    """A `fixed` logic model (the reference's testing logic: the same detections every time)."""
    os.makedirs(folder, exist_ok=True)
    detections = detections if detections is not None else {
        "box_detections": [{"category_name": "some_category_name", "x": 1, "y": 2, "width": 3,
                            "height": 4, "model_name": "m", "confidence": 0.42}],
        "point_detections": [{"category_name": "some_category_name_2", "x": 10, "y": 12,
                              "model_name": "m", "confidence": 0.42}],
        "segmentation_detections": [{"category_name": "some_category_name_3",
                                     "shape": {"points": [{"x": 1, "y": 1}, {"x": 5, "y": 1},
                                                          {"x": 5, "y": 5}]},
                                     "model_name": "m", "confidence": 0.9}],
        "classification_detections": [{"category_name": "some_category_name_4",
                                       "model_name": "m", "confidence": 0.9}]}
    info = {"id": f"model-{version}", "host": "localhost", "organization": ORG, "project": PROJECT,
            "version": version, "format": "fixed", "resolution": None,
            "categories": [{"id": "some_id", "name": "some_category_name", "type": "box"},
                           {"id": "some_id_2", "name": "some_category_name_2", "type": "point"},
                           {"id": "some_id_3", "name": "some_category_name_3", "type": "segmentation"},
                           {"id": "some_id_4", "name": "some_category_name_4", "type": "classification"}],
            "parameters": {"detections": detections}}
    with open(os.path.join(folder, "model.json"), "w", encoding="utf-8") as f:
        json.dump(info, f)
    return folder


@dataclass
class FakeLoop:
    """A Learning Loop on loopback: receives outbox uploads, serves deployment target,
    model list and model zips. `status_for(names)` chooses the answer to an upload."""

    url: str = ""
    received: list[str] = field(default_factory=list)  # image ids, one per accepted upload
    batches: list[list[str]] = field(default_factory=list)  # ids of each accepted request
    metadata: dict[str, dict] = field(default_factory=dict)
    requests: int = 0
    target_requests: int = 0  # GET deployment/target
    content_types: list[str] = field(default_factory=list)  # of each uploaded part
    status_for: Callable[[list[str]], int] = lambda names: 200
    answer_delay_s: float = 0.0  # the Loop stores an upload, then answers this much later
    deployment: dict | None = None
    models: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # id -> (version, zip)
    models_answer: object = None  # when set: the JSON GET models answers instead of the list
    lock: threading.Lock = field(default_factory=threading.Lock)

    def api(self) -> str:
        return f"{self.url}/api"

    def add_model_zip(self, model_id: str, version: str, folder: str) -> None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            for name in os.listdir(folder):
                archive.write(os.path.join(folder, name), f"model/{name}")
        self.models[model_id] = (version, buf.getvalue())


def _fake_loop_app(loop_state: FakeLoop) -> web.Application:
    routes = web.RouteTableDef()
    base = f"/api/{ORG}/projects/{PROJECT}"

    @routes.post(f"{base}/images")
    async def images(request: web.Request) -> web.Response:
        reader = await request.multipart()
        parts: dict[str, bytes] = {}
        while (part := await reader.next()) is not None:
            assert part.name == "files", f"unexpected field {part.name}"
            # aiohttp clients (ours and the reference's) percent-quote file names.
            parts[unquote(part.filename)] = bytes(await part.read())
            loop_state.content_types.append(f"{unquote(part.filename)}: {part.headers.get('Content-Type')}")
        ids = sorted({name[len("image_"):].rsplit(".", 1)[0] for name in parts})
        with loop_state.lock:
            loop_state.requests += 1
            status = loop_state.status_for(ids)
            if status == 200:
                for identifier in ids:
                    jpeg = parts.get(f"image_{identifier}.jpg")
                    meta = parts.get(f"image_{identifier}.json")
                    if jpeg is None or meta is None or cv2.imdecode(
                            np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) is None:
                        return web.Response(status=422, text=f"broken item {identifier}")
                loop_state.batches.append(ids)
                for identifier in ids:
                    loop_state.received.append(identifier)
                    loop_state.metadata[identifier] = json.loads(parts[f"image_{identifier}.json"])
        if loop_state.answer_delay_s:
            await asyncio.sleep(loop_state.answer_delay_s)
        return web.Response(status=status, text="OK" if status == 200 else "no")

    @routes.get(f"{base}/deployment/target")
    async def target(request: web.Request) -> web.Response:
        loop_state.target_requests += 1
        if loop_state.deployment is None:
            return web.Response(status=404)
        return web.json_response(loop_state.deployment)

    @routes.get(f"{base}/models")
    async def models(request: web.Request) -> web.Response:
        if loop_state.models_answer is not None:
            return web.json_response(loop_state.models_answer)
        return web.json_response({"models": [{"id": i, "version": v, "host": "localhost"}
                                             for i, (v, _) in loop_state.models.items()]})

    @routes.get(base + "/models/{model_id}/{fmt}/file")
    async def model_file(request: web.Request) -> web.Response:
        entry = loop_state.models.get(request.match_info["model_id"])
        if entry is None:
            return web.Response(status=404, text="no such model")
        return web.Response(body=entry[1], headers={
            "Content-Disposition": f'attachment; filename="{request.match_info["model_id"]}.zip"'})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.add_routes(routes)
    return app


@contextmanager
def running_fake_loop(port: int = 0) -> Iterator[FakeLoop]:
    state = FakeLoop()
    host = LoopThread("fake-loop")

    async def serve() -> web.AppRunner:
        runner = web.AppRunner(_fake_loop_app(state), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        state.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        return runner

    runner = host.start(serve, timeout_s=10)
    try:
        yield state
    finally:
        host.stop(runner.cleanup, timeout_s=20)


def outbox_files(data_folder: str) -> list[str]:
    found = []
    for queue in ("priority", "normal"):
        root = os.path.join(data_folder, "outbox", queue)
        for dirpath, _, files in os.walk(root):
            found += [os.path.join(dirpath, f) for f in files]
    return found
