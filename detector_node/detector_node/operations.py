"""The detector's API as one table of operations.

Each operation is written once, here, against the DetectorService: what it does, which
REST route and which Socket.IO event serve it, and what OpenAPI says of it. The adapters
(`detector_node.rest`, `detector_node.sio`) only turn their protocol's input into the
operation's arguments and its result or error into their protocol's answer (FastAPI-
shaped HTTP answers, as the Learning Loop's detector gives; `{"error": ...}` acks on
Socket.IO), so the two protocols cannot drift apart.

Errors an operation raises: ImageError (a bad image, with its HTTP status),
DetectorUnavailable (no model yet), ValueError (a bad argument, the message says which),
OSError (the outbox could not be written), TimeoutError (a mode change still running).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detector_node.metadata import ImageMetadata
from detector_node.service import OPERATION_MODES, DetectorService

Image = tuple[np.ndarray | None, bytes | None]  # decoded RGB, its encoded bytes (either may be absent)


# ---- the operations -----------------------------------------------------------------------
async def detect(service: DetectorService, image: np.ndarray | bytes, *,
                 jpeg: bytes | None = None, **options: Any) -> ImageMetadata:
    """Detect on one image (RGB or encoded bytes); options: camera_id, tags, source,
    autoupload, creation_date."""
    return await service.run_blocking(service.detect_blocking, image, jpeg=jpeg, **options)


async def batch_detect(service: DetectorService, images: list[tuple[np.ndarray, bytes | None]],
                       **options: Any) -> list[ImageMetadata]:
    return await service.run_blocking(service.batch_detect_blocking, images, **options)


async def upload(service: DetectorService, images: list[Image],
                 metas: list[ImageMetadata] | None, priority: bool) -> None:
    """Queue images for the Loop (tagged picked_by_system)."""
    await service.run_blocking(service.upload_blocking, images, metas, priority)


async def info(service: DetectorService) -> dict[str, Any]:
    active = service.active
    return active.info.to_dict() if active else {"status": "No model loaded"}


async def about(service: DetectorService) -> dict[str, Any]:
    return service.about_response()


async def get_model_version(service: DetectorService) -> dict[str, Any]:
    return service.model_version_response()


async def set_model_version(service: DetectorService, mode: str) -> None:
    await service.set_model_version_mode(mode)


async def get_outbox_mode(service: DetectorService) -> str:
    return service.outbox.get_mode().value


async def set_outbox_mode(service: DetectorService, mode: str) -> None:
    await service.outbox.set_mode(mode)


async def outbox_stats(service: DetectorService) -> dict[str, Any]:
    stats = service.outbox.stats().to_dict()
    stats["loop_reachable"] = service.loop_reachable
    return stats


async def get_operation_mode(service: DetectorService) -> str:
    return service.operation_mode


async def set_operation_mode(service: DetectorService, mode: str) -> None:
    if mode not in OPERATION_MODES:
        raise ValueError(f"{mode!r} is not a valid OperationMode: expected one of "
                         f"{', '.join(OPERATION_MODES)}")
    service.operation_mode = mode


async def set_debug_logging(service: DetectorService, state: str) -> str:
    if state not in ("on", "off"):
        raise ValueError(f"Invalid state {state!r}: expected 'on' or 'off'")
    logging.getLogger("detector_node").setLevel(logging.DEBUG if state == "on" else logging.INFO)
    return state


# ---- the table ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """An OpenAPI parameter of a REST route (header or query)."""

    name: str
    where: str  # "header" or "query"
    description: str = ""
    kind: str = "string"


@dataclass(frozen=True)
class Operation:
    name: str
    summary: str
    run: Callable[..., Awaitable[Any]]
    rest: tuple[str, str] | None = None   # (method, path)
    event: str | None = None              # Socket.IO event
    body: str | None = None               # REST body: multipart-file, multipart-files, text
    params: tuple[Param, ...] = field(default_factory=tuple)
    answer: str = "application/json"      # REST answer's content type
    documented: bool = True               # listed in /openapi.json


OPERATIONS: tuple[Operation, ...] = (
    Operation("detect", "Run detection on an image", detect, ("POST", "/detect"), "detect",
              body="multipart-file", params=(
                  Param("camera-id", "header", "camera id (relevance filter grouping); "
                        "camera_id also read"),
                  Param("tags", "header", "comma separated tags"),
                  Param("source", "header", "image source"),
                  Param("autoupload", "header", "filtered (default), all or disabled"),
                  Param("creation-date", "header", "ISO creation date; creation_date also read"))),
    Operation("batch_detect", "Run detection on several images", batch_detect,
              event="batch_detect"),
    Operation("upload", "Queue images for the Loop", upload, ("POST", "/upload"), "upload",
              body="multipart-files", params=(
                  Param("source", "query"), Param("creation_date", "query"),
                  Param("upload_priority", "query", kind="boolean"))),
    Operation("info", "The model's information", info, event="info"),
    Operation("about", "About the detector", about, ("GET", "/about"), "about"),
    Operation("get_model_version", "Model version information", get_model_version,
              ("GET", "/model_version"), "get_model_version"),
    Operation("set_model_version", "Set version control: follow_loop, pause or a version",
              set_model_version, ("PUT", "/model_version"), "set_model_version_mode",
              body="text"),
    Operation("get_outbox_mode", "Outbox mode", get_outbox_mode, ("GET", "/outbox_mode"),
              "get_outbox_mode", answer="text/plain"),
    Operation("set_outbox_mode", "Set continuous_upload or stopped", set_outbox_mode,
              ("PUT", "/outbox_mode"), "set_outbox_mode", body="text"),
    Operation("get_operation_mode", "Operation mode", get_operation_mode,
              ("GET", "/operation_mode"), answer="text/plain"),
    Operation("set_operation_mode", "Set startup, idle or detecting", set_operation_mode,
              ("PUT", "/operation_mode"), body="text"),
    Operation("outbox", "Outbox statistics (ours)", outbox_stats, ("GET", "/outbox")),
    Operation("debug_logging", "Set debug logging: on or off", set_debug_logging,
              ("PUT", "/debug_logging"), body="text", documented=False),
)

BY_NAME: dict[str, Operation] = {op.name: op for op in OPERATIONS}

#: The Socket.IO events, in the table's order.
EVENTS: tuple[str, ...] = tuple(op.event for op in OPERATIONS if op.event)


def operation(name: str) -> Operation:
    return BY_NAME[name]
