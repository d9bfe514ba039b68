"""The detector's Socket.IO API (python-socketio), as the Learning Loop's detector
serves it: each event serves one operation of `detector_node.operations` and always
answers (`{"error": ...}` naming the problem); this module only reads payloads and
writes acks.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import numpy as np
import socketio

from detector_node import operations as ops
from detector_node.images import ImageError, image_from_dict
from detector_node.metadata import image_metadata_from_dict
from detector_node.operations import EVENTS
from detector_node.rest import key_ok, presented_keys
from detector_node.service import AUTOUPLOAD_MODES, DetectorService, DetectorUnavailable

log = logging.getLogger("detector_node.service")


def _sio_tags(data: dict) -> list[str]:
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError(f"tags must be a list of strings, got {tags!r:.80}")
    return tags


def _sio_text(data: dict, key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} must be a string, got {type(value).__name__}")
    return value


def _sio_options(data: dict) -> dict[str, Any]:
    """camera_id, tags, source, autoupload, creation_date of a detect payload, checked."""
    autoupload = _sio_text(data, "autoupload") or "filtered"
    if autoupload not in AUTOUPLOAD_MODES:
        raise ValueError(f"autoupload must be one of {', '.join(AUTOUPLOAD_MODES)}, got {autoupload!r}")
    return {"camera_id": _sio_text(data, "camera_id"), "tags": _sio_tags(data),
            "source": _sio_text(data, "source"), "autoupload": autoupload,
            "creation_date": _sio_text(data, "creation_date")}


def _answers_errors(handler, event: str):
    """Every Socket.IO event answers: an unexpected failure becomes {"error": ...} naming it
    (a client waiting for its ack is never left hanging)."""
    @functools.wraps(handler)
    async def wrapped(*args):
        try:
            return await handler(*args)
        except Exception as exc:
            log.exception("Socket.IO %s failed", event)
            return {"error": f"{event} failed: {type(exc).__name__}: {exc}"}
    return wrapped


def register_events(service: DetectorService, sio: socketio.AsyncServer) -> None:
    """The Socket.IO event of every operation that has one; unknown events are answered."""
    async def parse_images(raw: list) -> list[tuple[np.ndarray, bytes | None]]:
        return await service.run_blocking(
            lambda: [image_from_dict(i, service.config.max_image_pixels) for i in raw])

    served: set[str] = set()

    def serves(name: str):
        def register(handler):
            event = ops.BY_NAME[name].event
            if event is None:
                raise RuntimeError(f"operation {name!r} has no Socket.IO event in the table")
            sio.on(event)(_answers_errors(handler, event))
            served.add(name)
            return handler
        return register

    @sio.on("*")
    async def unknown_event(event, sid, *args):
        return {"error": f"unknown event {event!r:.60}: expected one of {', '.join(EVENTS)}"}

    @sio.on("connect")
    async def connect(sid, environ, auth=None):
        if service.config.api_key:
            headers = {"x-api-key": environ.get("HTTP_X_API_KEY"),
                       "Authorization": environ.get("HTTP_AUTHORIZATION")}
            if not key_ok(service.config.api_key, presented_keys(headers, auth)):
                raise socketio.exceptions.ConnectionRefusedError(
                    "missing or invalid API key (send auth {'token': KEY}, x-api-key or "
                    "Authorization: Bearer)")

    async def detect_on(data: dict, raw: list, many: bool) -> dict:
        what = "images" if many else "image"
        try:
            options = _sio_options(data)
        except ValueError as exc:
            return {"error": str(exc)}
        try:
            images = await parse_images(raw)
        except ImageError as exc:
            return {"error": f"could not parse {what} from data: {exc}"}
        try:
            if many:
                metas = await ops.batch_detect(service, images, **options)
                return {"items": [m.to_dict() for m in metas]}
            [(rgb, jpeg)] = images
            return (await ops.detect(service, rgb, jpeg=jpeg, **options)).to_dict()
        except (ValueError, DetectorUnavailable) as exc:
            return {"error": str(exc)}

    @serves("detect")
    async def detect(sid, data=None):
        if not isinstance(data, dict) or "image" not in data:
            return {"error": "could not parse image from data: expected {image: {...}, ...}"}
        return await detect_on(data, [data["image"]], many=False)

    @serves("batch_detect")
    async def batch_detect(sid, data=None):
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            return {"error": "could not parse images from data: expected {images: [...], ...}"}
        return await detect_on(data, data["images"], many=True)

    @serves("upload")
    async def upload(sid, data=None):
        if not isinstance(data, dict) or "image" not in data:
            return {"error": "could not parse image from data: expected {image: {...}, metadata?}"}
        priority = data.get("upload_priority", False)
        if not isinstance(priority, bool):
            return {"error": f"upload_priority must be true or false, got {priority!r:.40}"}
        metas = None
        if data.get("metadata"):
            try:
                meta = image_metadata_from_dict(data["metadata"])
            except (ValueError, TypeError) as exc:
                return {"error": f"could not parse metadata: {exc}"}
            service.add_category_ids(meta)
            metas = [meta]
        try:
            [(rgb, jpeg)] = await parse_images([data["image"]])
        except ImageError as exc:
            return {"error": f"could not parse image from data: {exc}"}
        try:
            await ops.upload(service, [(rgb, jpeg)], metas, priority)
        except (ValueError, OSError) as exc:
            return {"error": str(exc)}
        return {"status": "OK"}

    def answer(name: str, wrap: str | None = None):
        op = ops.BY_NAME[name]

        async def handler(sid, data=None):
            result = await op.run(service)
            return result if wrap is None else {wrap: result}
        serves(name)(handler)

    def set_mode(name: str, expected: str, refused: tuple[type[Exception], ...]):
        op = ops.BY_NAME[name]

        async def handler(sid, data=None):
            if not isinstance(data, str):
                return {"error": f"the mode must be a string ({expected}), "
                                 f"got {type(data).__name__}"}
            try:
                await op.run(service, data)
            except refused as exc:
                return {"error": str(exc)}
            return {"status": "OK"}
        serves(name)(handler)

    for name in ("info", "about", "get_model_version"):
        answer(name)
    answer("get_outbox_mode", wrap="outbox_mode")
    set_mode("set_model_version", "'follow_loop', 'pause' or a version", (ValueError,))
    set_mode("set_outbox_mode", "'continuous_upload' or 'stopped'", (ValueError, TimeoutError))

    expected = {op.name for op in ops.OPERATIONS if op.event}
    if served != expected:  # the table and this module must agree
        raise RuntimeError(f"Socket.IO handlers {sorted(served ^ expected)} do not match "
                           f"the operations table")
