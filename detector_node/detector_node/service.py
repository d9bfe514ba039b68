"""The detector service: models and version control, detection, autoupload, outbox,
and the Learning-Loop-compatible REST + Socket.IO API (aiohttp + python-socketio).

`DetectorService` is the core (no rclpy). `build_app()` puts the HTTP/Socket.IO API on
it; `ServiceThread` runs both on an asyncio loop in a thread (how the ROS node hosts
it); `python -m detector_node.service` runs it as a plain process.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hmac
import io
import ipaddress
import json
import logging
import os
import re
import shutil
import signal
import threading
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np
import socketio
from aiohttp import BodyPartReader, web

from detector_node.images import ImageError, decode_image, encode_jpeg, image_from_dict
from detector_node.logic import (
    BUILTIN_FORMATS,
    LOGIC_FACTORIES,
    DetectorLogic,
    build_logic,
    builtin_model,
)
from detector_node.metadata import (
    ImageMetadata,
    ModelInformation,
    image_metadata_from_dict,
)
from detector_node.outbox import Outbox
from detector_node.relevance import RelevanceFilter
from detector_node.repeats import RepeatedLog

log = logging.getLogger("detector_node.service")

AUTOUPLOAD_MODES = ("filtered", "all", "disabled")
OPERATION_MODES = ("startup", "idle", "detecting")
_VERSION = re.compile(r"^\d+(\.\d+)*$")


@dataclass(slots=True)
class ServiceConfig:
    """Everything the service needs; environment variables of the reference map onto it."""

    data_folder: str
    model_folder: str | None = None
    logic: str = "colour_blobs"
    loop_url: str | None = None  # e.g. http://127.0.0.1:8080/api
    organization: str = ""
    project: str = ""
    min_uncertain: float = 0.3
    max_uncertain: float = 0.6
    max_outbox_items: int = 1000
    upload_interval_s: float = 5.0
    upload_batch_size: int = 20
    upload_timeout_s: float = 30.0
    outbox_fsync: bool = False
    version_control: str = "follow_loop"
    model_poll_interval_s: float = 10.0
    max_request_bytes: int = 32 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    detect_threads: int = 2
    api_key: str | None = None  # clients must send it (x-api-key / Bearer / Socket.IO auth)

    def validate(self) -> None:
        if not self.data_folder:
            raise ValueError("data_folder must not be empty")
        if not 0.0 <= self.min_uncertain <= self.max_uncertain <= 1.0:
            raise ValueError("need 0 <= min_uncertain <= max_uncertain <= 1, got "
                             f"{self.min_uncertain}, {self.max_uncertain}")
        if self.logic not in LOGIC_FACTORIES:
            raise ValueError(f"logic must be one of {', '.join(sorted(LOGIC_FACTORIES))}, got {self.logic!r}")
        if self.version_control not in ("follow_loop", "pause"):
            raise ValueError(f"version_control must be 'follow_loop' or 'pause', got {self.version_control!r}")
        if self.loop_url and not (self.organization and self.project):
            raise ValueError("a loop_url needs organization and project")
        for name in ("max_outbox_items", "upload_batch_size", "max_request_bytes",
                     "max_image_pixels", "detect_threads"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    def images_url(self) -> str | None:
        if not self.loop_url:
            return None
        return f"{self.loop_url.rstrip('/')}/{self.organization}/projects/{self.project}/images"


@dataclass(slots=True, frozen=True)
class ActiveModel:
    logic: DetectorLogic
    info: ModelInformation


class DetectorUnavailable(RuntimeError):
    """No model can evaluate images right now."""


class DataFolderError(ValueError):
    """The data folder cannot hold the outbox and models (the message names it and why)."""


_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def loop_version(value: Any) -> str:
    """A model version from the Loop, checked as the routes check versions ("1.2"): it
    names a folder under models/, so "../x", "/abs" or anything else is refused."""
    text = str(value)
    if not _VERSION.match(text) or len(text) > 64:
        raise ValueError(f"the Loop named model version {text!r:.80}, which is no version like '1.2'")
    return text


def loop_model_id(value: Any) -> str:
    """A model id from the Loop (it goes into the download URL's path)."""
    text = str(value)
    if not _MODEL_ID.match(text) or ".." in text:
        raise ValueError(f"the Loop named model id {text!r:.80}, which is no plain id")
    return text


class DetectorService:
    """Detection, autoupload and model version control; thread-safe detection entry points."""

    def __init__(self, config: ServiceConfig) -> None:
        config.validate()
        self.config = config
        self.models_path = os.path.join(config.data_folder, "models")
        try:
            os.makedirs(self.models_path, exist_ok=True)
            self.outbox = Outbox(config.data_folder, config.images_url(),
                                 max_items=config.max_outbox_items,
                                 batch_size=config.upload_batch_size,
                                 interval_s=config.upload_interval_s,
                                 timeout_s=config.upload_timeout_s, fsync=config.outbox_fsync)
            if not os.access(config.data_folder, os.W_OK | os.X_OK):
                raise PermissionError(f"no write permission on {config.data_folder}")
        except OSError as exc:
            raise DataFolderError(
                f"data_folder {config.data_folder!r} is not usable (the outbox and models live "
                f"there): {exc.strerror or exc}"
                + (f": {exc.filename}" if exc.filename and exc.filename != config.data_folder else "")
            ) from exc
        self.relevance = RelevanceFilter(config.min_uncertain, config.max_uncertain)
        self._relevance_lock = threading.Lock()
        self.active: ActiveModel | None = None
        self.operation_mode = "startup"
        self.version_control = config.version_control
        self.target_version: str | None = None
        self.target_model_id: str | None = None
        self.loop_version: str | None = None
        self.loop_model_id: str | None = None
        self.loop_reachable: bool | None = None
        self._loop_failures = 0
        self._loop_errors = RepeatedLog(log, 60.0)
        self.last_model_error: str | None = None
        self.pool = ThreadPoolExecutor(config.detect_threads, thread_name_prefix="detect")
        self._update_lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task] = set()
        self._http: aiohttp.ClientSession | None = None

    # ---- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Load the first model, start the uploader and (with a Loop) the model sync."""
        self._update_lock = asyncio.Lock()
        folder = self.config.model_folder or self._current_model_link()
        if folder:
            await self._build_and_swap(folder)
            if self.active is None:
                raise RuntimeError(f"could not load the model in {folder}: {self.last_model_error}")
        elif self.config.logic in BUILTIN_FORMATS or not self.config.loop_url:
            info = builtin_model(self.config.logic)
            self.active = ActiveModel(build_logic(info, self.config.logic), info)
        # else: no model until the Loop's deployment target is downloaded (detect answers 503)
        self.outbox.start()
        self.operation_mode = "idle"
        self._spawn(self._sync_forever())
        log.info("detector ready with model %s", self.active.info.version if self.active else "none yet")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self.outbox.close()
        except TimeoutError:
            log.warning("outbox upload still running at shutdown; it will resume on restart")
        if self._http is not None:
            await self._http.close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- detection (blocking, thread-safe) ----------------------------------------------
    def require_model(self) -> ActiveModel:
        active = self.active
        if active is None:
            raise DetectorUnavailable("detector not yet initialized: no model loaded")
        return active

    def detect_blocking(self, image: np.ndarray | bytes, *, camera_id: str | None = None,
                        tags: list[str] | None = None, source: str | None = None,
                        autoupload: str = "filtered", creation_date: str | None = None,
                        jpeg: bytes | None = None) -> ImageMetadata:
        """Evaluate one image (RGB array or encoded bytes), autoupload it, return the metadata.
        Raises ImageError (bad image), ValueError (bad argument), DetectorUnavailable."""
        if autoupload not in AUTOUPLOAD_MODES:
            raise ValueError(f"autoupload must be one of {', '.join(AUTOUPLOAD_MODES)}, got {autoupload!r}")
        active = self.require_model()  # fail fast, before decoding
        if isinstance(image, (bytes, bytearray)):
            jpeg = bytes(image)
            image = decode_image(jpeg, self.config.max_image_pixels)
        meta = active.logic.evaluate(image)
        self._finish(meta, active.info, tags, source, creation_date)
        self._autoupload(image, jpeg, meta, camera_id, autoupload)
        return meta

    def batch_detect_blocking(self, images: list[tuple[np.ndarray, bytes | None]], *,
                              camera_id: str | None = None, tags: list[str] | None = None,
                              source: str | None = None, autoupload: str = "filtered",
                              creation_date: str | None = None) -> list[ImageMetadata]:
        if autoupload not in AUTOUPLOAD_MODES:
            raise ValueError(f"autoupload must be one of {', '.join(AUTOUPLOAD_MODES)}, got {autoupload!r}")
        active = self.require_model()
        metas = active.logic.batch_evaluate([rgb for rgb, _ in images])
        for (rgb, jpeg), meta in zip(images, metas, strict=True):
            self._finish(meta, active.info, tags, source, creation_date)
            self._autoupload(rgb, jpeg, meta, camera_id, autoupload)
        return metas

    @staticmethod
    def _finish(meta: ImageMetadata, info: ModelInformation, tags: list[str] | None,
                source: str | None, creation_date: str | None) -> None:
        for detection in meta.detections():
            if detection.category_id is None:
                detection.category_id = info.category_id(detection.category_name)
        meta.tags.extend(tags or [])
        meta.source = source
        meta.created = creation_date or None  # as the Loop's detector: no date given, none claimed
        meta.as_detected()

    def _autoupload(self, rgb: np.ndarray, jpeg: bytes | None, meta: ImageMetadata,
                    camera_id: str | None, autoupload: str) -> None:
        if autoupload == "disabled":
            return
        if autoupload == "filtered":
            with self._relevance_lock:
                causes = self.relevance.causes(meta, camera_id)
            if not causes:
                return
            # The causes go with the image to the Loop; the answer to the client stays as the
            # logic gave it (as the Loop's detector, which tags after answering).
            saved = meta.to_dict()
            saved["tags"] = [*meta.tags, *causes]
            self.outbox.save(jpeg if jpeg is not None else encode_jpeg(rgb), json.dumps(saved))
            return
        self.outbox.save(jpeg if jpeg is not None else encode_jpeg(rgb), meta.to_json())

    def upload_blocking(self, images: list[tuple[np.ndarray | None, bytes | None]],
                        metas: list[ImageMetadata] | None, priority: bool) -> None:
        """Queue images for the Loop, tagged `picked_by_system` (encoded bytes are checked)."""
        if metas is not None and len(metas) != len(images):
            raise ValueError("number of images and number of metadata items do not match")
        prepared = []
        for i, (rgb, jpeg) in enumerate(images):
            if jpeg is None:
                assert rgb is not None
                jpeg = encode_jpeg(rgb)
            elif rgb is None:
                decode_image(jpeg, self.config.max_image_pixels)  # reject before queueing any
            meta = metas[i] if metas is not None else ImageMetadata()
            meta.tags.append("picked_by_system")
            prepared.append((jpeg, meta))
        for jpeg, meta in prepared:
            self.outbox.save(jpeg, meta.to_json(), priority)

    def add_category_ids(self, meta: ImageMetadata) -> None:
        active = self.active
        if active is None:
            return
        for detection in meta.detections():
            detection.category_id = active.info.category_id(detection.category_name) or ""

    # ---- asyncio wrappers ---------------------------------------------------------------
    async def run_blocking(self, fn: Callable, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(
            self.pool, functools.partial(fn, *args, **kwargs))

    # ---- model versions -----------------------------------------------------------------
    def local_versions(self) -> list[str]:
        return sorted(v for v in os.listdir(self.models_path)
                      if _VERSION.match(v) and os.path.isdir(os.path.join(self.models_path, v)))

    def model_version_response(self) -> dict[str, Any]:
        active = self.active
        return {"current_version": active.info.version if active else "None",
                "target_version": self.target_version or "None",
                "loop_version": self.loop_version or "None",
                "local_versions": self.local_versions(),
                "version_control": self.version_control}

    def about_response(self) -> dict[str, Any]:
        active = self.active
        # The Loop's detector reports its node state, which stays "online" whether or not the
        # Loop answers; the link itself is in `loop_reachable` (diagnostics, GET /outbox).
        return {"operation_mode": self.operation_mode, "state": "online",
                "model_info": active.info.to_dict() if active else None,
                "target_model": self.target_version,
                "version_control": self.version_control}

    async def set_model_version_mode(self, mode: str) -> None:
        """`follow_loop`, `pause` or a version such as `1.2`; raises ValueError on a bad one."""
        mode = mode.strip()
        if mode not in ("follow_loop", "pause") and not _VERSION.match(mode):
            # Refused before anything changes: the mode stays as it was.
            raise ValueError(f"Invalid version number {mode!r}: expected 'follow_loop', "
                             "'pause' or a version like '1.2'")
        if mode == "follow_loop":
            self.version_control = "follow_loop"
            # The Loop's target, once it is known; until then none (not a stale one).
            self.target_version, self.target_model_id = self.loop_version, self.loop_model_id
        elif mode == "pause":
            self.version_control = "pause"
            return
        else:
            self.version_control = "specific_version"
            if mode in self.local_versions():
                self.target_version, self.target_model_id = mode, None
            elif self.config.loop_url:
                model_id = await self._loop_model_id(mode)
                self.target_version, self.target_model_id = mode, model_id
            else:
                self.version_control = "pause"
                raise ValueError(f"No Model with version {mode}: not in {self.models_path} and "
                                 "no Loop configured")
        self._spawn(self.update_model_if_required())

    async def _loop_model_id(self, version: str) -> str:
        try:
            data = await self._loop_get_json(
                f"/{self.config.organization}/projects/{self.config.project}/models")
        except Exception as exc:
            self.version_control = "pause"
            raise ValueError(f"Failed to load models from learning loop: {exc}") from exc
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, list):
            self.version_control = "pause"
            raise ValueError(f"Failed to load models from learning loop: expected {{\"models\": "
                             f"[...]}}, got {str(data)[:80]!r}")
        matches = [m for m in models if isinstance(m, dict) and str(m.get("version")) == version]
        if len(matches) != 1:
            self.version_control = "pause"
            raise ValueError(f"No Model with version {version}" if not matches
                             else f"Multiple models with version {version}")
        try:
            return loop_model_id(matches[0].get("id"))
        except ValueError as exc:
            self.version_control = "pause"
            raise ValueError(str(exc)) from None

    async def update_model_if_required(self) -> None:
        """Bring the active model to the target version (download from the Loop if needed)."""
        assert self._update_lock is not None
        async with self._update_lock:
            target = self.target_version
            if target is None or self.version_control == "pause" or self.operation_mode != "idle":
                return  # updates wait while detecting (as the Loop's detector does)
            if self.active is not None and self.active.info.version == target:
                return
            folder = self._model_folder(target)
            if folder is None:
                self.last_model_error = f"refused model version {target!r:.80}: not a folder in {self.models_path}"
                log.error("%s", self.last_model_error)
                self.target_version = None
                return
            if not (os.path.isdir(folder) and os.listdir(folder)):
                if not await self._download_model(target, self.target_model_id, folder):
                    self.target_version = None
                    return
            if await self._build_and_swap(folder):
                self._set_current_model_link(folder)
            elif self.target_version == target:
                self.target_version = None  # the next follow_loop sync retries

    def _model_folder(self, version: str) -> str | None:
        """models/<version>, or None when `version` would lead anywhere else."""
        try:
            loop_version(version)
        except ValueError:
            return None
        root = os.path.realpath(self.models_path)
        folder = os.path.realpath(os.path.join(root, version))
        return folder if os.path.dirname(folder) == root else None

    async def _build_and_swap(self, folder: str) -> bool:
        """Build the model's logic off the event loop, then swap it in: requests in flight
        finish on the old logic, later ones use the new one; nothing is refused meanwhile."""
        try:
            info = await asyncio.to_thread(ModelInformation.load, folder)
            logic = await asyncio.to_thread(build_logic, info, self.config.logic)
        except Exception as exc:
            self.last_model_error = f"{type(exc).__name__}: {exc}"
            log.error("could not load model from %s: %s", folder, self.last_model_error)
            return False
        previous = self.active
        self.active = ActiveModel(logic, info)
        self.last_model_error = None
        log.info("model %s active (was %s)", info.version, previous.info.version if previous else "none")
        return True

    def _current_model_link(self) -> str | None:
        link = os.path.join(self.config.data_folder, "current_model")
        return os.path.realpath(link) if os.path.islink(link) and os.path.isdir(link) else None

    def _set_current_model_link(self, folder: str) -> None:
        link = os.path.join(self.config.data_folder, "current_model")
        tmp = link + ".tmp"
        if os.path.lexists(tmp):
            os.remove(tmp)
        os.symlink(os.path.abspath(folder), tmp)
        os.replace(tmp, link)

    # ---- the Loop -----------------------------------------------------------------------
    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self._http

    async def _loop_get_json(self, path: str) -> dict:
        url = f"{self.config.loop_url.rstrip('/')}{path}"
        async with self._session().get(url) as response:
            if response.status != 200:
                raise RuntimeError(f"GET {path} answered {response.status}")
            return await response.json(content_type=None)

    async def sync_with_loop(self) -> None:
        """Ask the Loop for its deployment target; follow it when version control says so."""
        if self.operation_mode != "idle":
            return
        try:
            data = await self._loop_get_json(
                f"/{self.config.organization}/projects/{self.config.project}/deployment/target")
        except Exception as exc:
            self.loop_reachable = False
            self._loop_failures += 1
            log.warning("Learning Loop unreachable (try %d, next in %.1f s): could not ask for its "
                        "deployment target: %s", self._loop_failures, self._next_sync_delay(),
                        exc or type(exc).__name__)
            return
        if self._loop_failures:
            log.info("Learning Loop reachable again after %d failed tries", self._loop_failures)
        self._loop_failures = 0
        self.loop_reachable = True
        try:
            if not isinstance(data, dict):
                raise ValueError(f"the Loop's deployment target is no JSON object: {data!r:.80}")
            version, model_id = loop_version(data.get("version")), loop_model_id(data.get("model_uuid"))
        except ValueError as exc:
            self.last_model_error = f"refused the Loop's deployment target: {exc}"
            self._loop_errors.error("bad-target", "%s", self.last_model_error)
            return
        self.loop_version, self.loop_model_id = version, model_id
        if self.version_control == "follow_loop" and self.target_version != self.loop_version:
            self.target_version, self.target_model_id = self.loop_version, self.loop_model_id
        await self.update_model_if_required()

    def _next_sync_delay(self) -> float:
        """The poll interval; while the Loop does not answer, a backoff from 0.5 s up to it
        (a Loop that starts after us is found quickly; a dead one is not hammered)."""
        if not self._loop_failures:
            return self.config.model_poll_interval_s
        return min(self.config.model_poll_interval_s, 0.5 * 2 ** (self._loop_failures - 1))

    async def _sync_forever(self) -> None:
        while True:
            try:
                if self.config.loop_url:
                    await self.sync_with_loop()
                else:
                    await self.update_model_if_required()
            except Exception:
                log.exception("model sync with the Loop failed")
            await asyncio.sleep(self._next_sync_delay())

    async def _download_model(self, version: str, model_id: str | None, folder: str) -> bool:
        if not self.config.loop_url:
            self.last_model_error = f"model {version} is not local and no Loop is configured"
            return False
        try:
            if model_id is None:
                model_id = await self._loop_model_id(version)
            url = (f"{self.config.loop_url.rstrip('/')}/{self.config.organization}/projects/"
                   f"{self.config.project}/models/{model_id}/{self.config.logic}/file")
            async with self._session().get(url) as response:
                if response.status != 200:
                    raise RuntimeError(f"download answered {response.status}: {(await response.text())[:200]}")
                content = await response.read()
            await asyncio.to_thread(_unpack_model, content, folder)
        except Exception as exc:
            self.last_model_error = f"could not download model {version}: {exc}"
            log.error("%s", self.last_model_error)
            return False
        log.info("downloaded model %s to %s", version, folder)
        return True


MAX_MODEL_BYTES = 4 * 1024 ** 3  # unpacked; a bigger "model" from the Loop is refused


def _unpack_model(content: bytes, folder: str) -> None:
    """Unzip a model into `folder` atomically (flattened, as the Loop's detector does)."""
    tmp = folder + ".download"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            unpacked = sum(m.file_size for m in members)
            if unpacked > MAX_MODEL_BYTES:
                raise ValueError(f"the downloaded model unpacks to {unpacked} bytes, more than "
                                 f"{MAX_MODEL_BYTES}")
            for member in members:
                name = os.path.basename(member.filename.replace("\\", "/"))
                if name and name not in (".", ".."):
                    with archive.open(member) as src, open(os.path.join(tmp, name), "wb") as dst:
                        shutil.copyfileobj(src, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not os.path.isfile(os.path.join(tmp, "model.json")):
        shutil.rmtree(tmp, ignore_errors=True)
        raise ValueError("the downloaded model has no model.json")
    shutil.rmtree(folder, ignore_errors=True)
    os.rename(tmp, folder)


# ---- HTTP + Socket.IO API ---------------------------------------------------------------
def _error(status: int, detail: str) -> web.Response:
    return web.json_response({"detail": detail}, status=status)


def _invalid(loc: list[str], msg: str, kind: str, value: Any = None,
             ctx: dict | None = None) -> web.Response:
    """A request validation error in the shape FastAPI (the Loop's detector) gives: 422 with
    `detail` a list of {type, loc, msg, input[, ctx]}."""
    item: dict[str, Any] = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx is not None:
        item["ctx"] = ctx
    return web.json_response({"detail": [item]}, status=422)


def _missing(loc: list[str]) -> web.Response:
    return _invalid(loc, "Field required", "missing")


class MissingField(ValueError):
    """The multipart field holding the files is absent (FastAPI: 422 `missing`)."""


class NotAFile(Exception):
    """The field holding the files is a plain form value (FastAPI: 422 `value_error`)."""

    def __init__(self, value: bytes) -> None:
        super().__init__("Value error, Expected UploadFile, received: <class 'str'>")
        self.value = value.decode("utf-8", "replace")


def _not_a_file(field: str, exc: NotAFile) -> web.Response:
    return _invalid(["body", field], str(exc), "value_error", exc.value, {"error": {}})


async def _read_part(part, budget: int, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await part.read_chunk(256 * 1024):
        size += len(chunk)
        if size > budget:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=limit - budget + size)
        chunks.append(chunk)
    return b"".join(chunks)


async def _multipart_files(request: web.Request, field: str, limit: int) -> list[tuple[str, bytes]]:
    """The files of multipart field `field`; the whole body may not exceed `limit` bytes
    (checked while reading, also for chunked bodies without a Content-Length)."""
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    if request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        if field in form:
            raise NotAFile(str(form[field]).encode())
    if not request.content_type.startswith("multipart/"):
        raise MissingField(f"expected multipart/form-data with the image in field '{field}', "
                           f"got content type {request.content_type!r}")
    files = []
    budget = limit
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise ValueError("nested multipart parts are not supported")
            data = await _read_part(part, budget, limit)
            budget -= len(data)
            if part.name == field:
                if part.filename is None:
                    raise NotAFile(data)
                files.append((part.filename, data))
    except (web.HTTPException, NotAFile):
        raise
    except Exception as exc:  # aiohttp's parser raises several kinds for a broken body
        raise ValueError(f"malformed multipart body: {type(exc).__name__}: {exc}".strip()) from exc
    if not files:
        raise MissingField(f"no file in multipart field '{field}'")
    return files


def _bool_query(value: str | None, name: str) -> bool:
    if value is None:
        return False
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"query parameter {name} must be a boolean, got {value!r}")


_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
_SIO_PATHS = ("/ws/socket.io", "/socket.io")


def is_loopback(host: str) -> bool:
    """Whether a host name or address names this machine's loopback interface."""
    if host in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(value: str) -> str:
    """The host part of a Host header value or an Origin's netloc (port and brackets gone)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _origin_host(origin: str) -> str | None:
    scheme, sep, rest = origin.partition("://")
    if not sep or scheme.lower() not in ("http", "https", "ws", "wss"):
        return None
    return _host_name(rest.split("/", 1)[0])


def _presented_keys(headers: Any, auth: Any = None) -> list[str | None]:
    bearer = headers.get("Authorization") or ""
    keys = [headers.get("x-api-key"),
            bearer[7:].strip() if bearer.lower().startswith("bearer ") else None]
    if isinstance(auth, dict):
        keys += [auth.get("token"), auth.get("apiKey"), auth.get("api_key")]
    return [k if isinstance(k, str) else None for k in keys]


def key_ok(api_key: str | None, keys: list[str | None]) -> bool:
    if not api_key:
        return True
    return any(k is not None and hmac.compare_digest(k.encode(), api_key.encode()) for k in keys)


def _guard_middleware(service: DetectorService, bound_host: str | None):
    """DNS rebinding guard (bound to loopback: Host and Origin must name loopback), the
    optional API key, and FastAPI-shaped JSON for 404/405 (as the Loop's detector answers)."""
    check_host = bound_host is not None and is_loopback(bound_host)

    @web.middleware
    async def guard(request: web.Request, handler):
        if check_host:
            host = request.headers.get("Host")
            if host is not None and not is_loopback(_host_name(host)):
                return _error(421, f"Host {host!r} is not this detector: it serves loopback only "
                                   "(localhost, 127.0.0.1, [::1]); a request naming another host "
                                   "is refused (DNS rebinding guard)")
            origin = request.headers.get("Origin")
            if origin is not None and origin != "null":
                origin_host = _origin_host(origin)
                if origin_host is None or not is_loopback(origin_host):
                    return _error(403, f"Origin {origin!r} may not use this detector: only pages "
                                       "served from localhost, 127.0.0.1 or [::1] may")
            elif origin == "null":
                return _error(403, "Origin 'null' may not use this detector: only pages served "
                                   "from localhost, 127.0.0.1 or [::1] may")
        if service.config.api_key and not request.path.startswith(_SIO_PATHS) and \
                not key_ok(service.config.api_key, _presented_keys(request.headers)):
            return _error(401, "missing or invalid API key (send x-api-key or Authorization: Bearer)")
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return _error(404, "Not Found")
        except web.HTTPMethodNotAllowed:
            return _error(405, "Method Not Allowed")
        except web.HTTPRequestEntityTooLarge as exc:
            return _error(413, f"request body too large: {exc.text}")

    return guard


def build_app(service: DetectorService, bound_host: str | None = None
              ) -> tuple[web.Application, socketio.AsyncServer]:
    """The REST routes and Socket.IO server (path `/ws/socket.io`, also `/socket.io`)."""
    limit = service.config.max_request_bytes
    app = web.Application(client_max_size=limit,
                          middlewares=[_guard_middleware(service, bound_host)])
    # python-socketio's own same-origin check stays on (as in the Loop's detector); the
    # guard above adds the Host check that same-origin cannot give under DNS rebinding.
    sio = socketio.AsyncServer(async_mode="aiohttp", max_http_buffer_size=64 * 1024 * 1024)
    sio.attach(app, socketio_path="ws/socket.io")
    app.router.add_route("*", "/socket.io/", sio.handle_request)
    routes = web.RouteTableDef()

    @routes.post("/detect")
    async def detect(request: web.Request) -> web.Response:
        headers = request.headers
        autoupload = headers.get("autoupload")
        if autoupload is not None and autoupload not in AUTOUPLOAD_MODES:
            return _invalid(["header", "autoupload"], "Input should be 'filtered', 'all' or 'disabled'",
                            "literal_error", autoupload, {"expected": "'filtered', 'all' or 'disabled'"})
        try:
            files = await _multipart_files(request, "file", limit)
        except MissingField:
            return _missing(["body", "file"])
        except NotAFile as exc:
            return _not_a_file("file", exc)
        except ValueError as exc:
            return _error(400, str(exc))
        name, data = files[0]
        tags = headers.get("tags")
        # Hyphens are the Loop's documented header names; the underscore forms are also read.
        camera_id = headers.get("camera-id") or headers.get("camera_id") or headers.get("mac")
        try:
            meta = await service.run_blocking(
                service.detect_blocking, data, camera_id=camera_id or None,
                tags=tags.split(",") if tags else [],
                source=headers.get("source"), autoupload=autoupload or "filtered",
                creation_date=headers.get("creation-date") or headers.get("creation_date"))
        except ImageError as exc:
            return _error(exc.status, f"{name}: {exc}")
        except DetectorUnavailable as exc:
            return _error(503, str(exc))
        except Exception as exc:  # a failing logic must not take the service down
            log.exception("detection failed")
            return _error(500, f"detection failed: {type(exc).__name__}: {exc}")
        return web.json_response(meta.to_dict())

    @routes.post("/upload")
    async def upload(request: web.Request) -> web.Response:
        raw_priority = request.query.get("upload_priority")
        try:
            priority = _bool_query(raw_priority, "upload_priority")
        except ValueError:
            return _invalid(["query", "upload_priority"],
                            "Input should be a valid boolean, unable to interpret input",
                            "bool_parsing", raw_priority)
        try:
            files = await _multipart_files(request, "files", limit)
        except MissingField:
            return _missing(["body", "files"])
        except NotAFile as exc:
            return _not_a_file("files", exc)
        except ValueError as exc:
            return _error(400, str(exc))
        source, created = request.query.get("source"), request.query.get("creation_date")
        metas = [ImageMetadata(source=source, created=created) for _ in files]
        try:
            await service.run_blocking(service.upload_blocking, [(None, data) for _, data in files],
                                       metas, priority)
        except ImageError as exc:
            return _error(exc.status, f"nothing queued: {exc}")
        except OSError as exc:
            return _error(507, f"nothing queued: the outbox could not be written: {exc}")
        return web.json_response([200, "OK"])

    async def body_text(request: web.Request) -> str:
        body = await request.read()
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"the body is not UTF-8 text: {exc}") from None

    @routes.get("/model_version")
    async def get_model_version(request: web.Request) -> web.Response:
        return web.json_response(service.model_version_response())

    @routes.put("/model_version")
    async def put_model_version(request: web.Request) -> web.Response:
        try:
            await service.set_model_version_mode(await body_text(request))
        except ValueError as exc:
            return _error(400, str(exc))
        return web.json_response("OK")

    @routes.get("/outbox_mode")
    async def get_outbox_mode(request: web.Request) -> web.Response:
        return web.Response(text=service.outbox.get_mode().value)

    @routes.put("/outbox_mode")
    async def put_outbox_mode(request: web.Request) -> web.Response:
        try:
            await service.outbox.set_mode(await body_text(request))
        except ValueError as exc:
            return _error(422, f"Could not set outbox mode: {exc}")
        except TimeoutError as exc:
            return _error(202, f"Setting has not completed, yet: {exc}")
        return web.json_response("OK")

    @routes.get("/outbox")
    async def get_outbox(request: web.Request) -> web.Response:
        stats = service.outbox.stats().to_dict()
        stats["loop_reachable"] = service.loop_reachable
        return web.json_response(stats)

    @routes.get("/operation_mode")
    async def get_operation_mode(request: web.Request) -> web.Response:
        return web.Response(text=service.operation_mode)

    @routes.put("/operation_mode")
    async def put_operation_mode(request: web.Request) -> web.Response:
        try:
            mode = await body_text(request)
        except ValueError as exc:
            return _error(422, str(exc))
        if mode not in OPERATION_MODES:
            return _error(422, f"{mode!r} is not a valid OperationMode: expected one of "
                               f"{', '.join(OPERATION_MODES)}")
        service.operation_mode = mode
        return web.json_response("OK")

    @routes.get("/about")
    async def about(request: web.Request) -> web.Response:
        return web.json_response(service.about_response())

    @routes.put("/debug_logging")
    async def debug_logging(request: web.Request) -> web.Response:
        try:
            state = await body_text(request)
        except ValueError as exc:
            return _error(400, f"Invalid state: {exc}")
        if state not in ("on", "off"):
            return _error(400, f"Invalid state {state!r}: expected 'on' or 'off'")
        logging.getLogger("detector_node").setLevel(logging.DEBUG if state == "on" else logging.INFO)
        return web.json_response(state)

    @routes.get("/openapi.json")
    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    @routes.get("/docs")
    async def docs(request: web.Request) -> web.Response:
        return web.Response(text=_DOCS_HTML, content_type="text/html")

    app.add_routes(routes)
    _register_sio(service, sio)
    return app, sio


def openapi_document() -> dict[str, Any]:
    """An OpenAPI 3.1 description of the REST routes (what /openapi.json serves)."""
    def op(summary: str, *, body: str | None = None, params: list | None = None,
           answer: str = "application/json") -> dict:
        spec: dict[str, Any] = {"summary": summary, "responses": {"200": {
            "description": "OK", "content": {answer: {}}}}}
        if params:
            spec["parameters"] = params
        if body == "multipart-file":
            spec["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}}}}}}
        elif body == "multipart-files":
            spec["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["files"], "properties": {"files": {
                    "type": "array", "items": {"type": "string", "format": "binary"}}}}}}}
        elif body == "text":
            spec["requestBody"] = {"required": True, "content": {"text/plain": {}}}
        return spec

    def header(name: str, description: str) -> dict:
        return {"name": name, "in": "header", "required": False, "description": description,
                "schema": {"type": "string"}}

    def query(name: str, kind: str = "string") -> dict:
        return {"name": name, "in": "query", "required": False, "schema": {"type": kind}}

    return {"openapi": "3.1.0",
            "info": {"title": "detector_node (Learning Loop detector API)", "version": "0.1.0"},
            "paths": {
                "/detect": {"post": op("Run detection on an image", body="multipart-file", params=[
                    header("camera-id", "camera id (relevance filter grouping); camera_id also read"),
                    header("tags", "comma separated tags"), header("source", "image source"),
                    header("autoupload", "filtered (default), all or disabled"),
                    header("creation-date", "ISO creation date; creation_date also read")])},
                "/upload": {"post": op("Queue images for the Loop", body="multipart-files", params=[
                    query("source"), query("creation_date"), query("upload_priority", "boolean")])},
                "/model_version": {"get": op("Model version information"),
                                   "put": op("Set version control: follow_loop, pause or a version",
                                             body="text")},
                "/outbox_mode": {"get": op("Outbox mode", answer="text/plain"),
                                 "put": op("Set continuous_upload or stopped", body="text")},
                "/operation_mode": {"get": op("Operation mode", answer="text/plain"),
                                    "put": op("Set startup, idle or detecting", body="text")},
                "/about": {"get": op("About the detector")},
                "/outbox": {"get": op("Outbox statistics (ours)")},
            }}


_DOCS_HTML = """<!doctype html><html><head><meta charset="utf-8"><title>detector_node API</title>
</head><body><h1>detector_node API</h1><p>The OpenAPI description is at
<a href="/openapi.json">/openapi.json</a>; Socket.IO is served at <code>/ws/socket.io</code>.</p>
<ul id="ops"></ul><script>
fetch('/openapi.json').then(r => r.json()).then(d => { for (const [p, ops] of Object.entries(d.paths))
  for (const [m, o] of Object.entries(ops)) { const li = document.createElement('li');
    li.textContent = m.toUpperCase() + ' ' + p + ': ' + o.summary; ops_list.appendChild(li); } });
const ops_list = document.getElementById('ops');
</script></body></html>
"""


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


def _answers_errors(handler):
    """Every Socket.IO event answers: an unexpected failure becomes {"error": ...} naming it
    (a client waiting for its ack is never left hanging)."""
    @functools.wraps(handler)
    async def wrapped(*args):
        try:
            return await handler(*args)
        except Exception as exc:
            log.exception("Socket.IO %s failed", handler.__name__)
            return {"error": f"{handler.__name__} failed: {type(exc).__name__}: {exc}"}
    return wrapped


def _register_sio(service: DetectorService, sio: socketio.AsyncServer) -> None:
    async def parse_images(raw: list) -> list[tuple[np.ndarray, bytes | None]]:
        return await service.run_blocking(
            lambda: [image_from_dict(i, service.config.max_image_pixels) for i in raw])

    def event(handler):
        sio.on(handler.__name__)(_answers_errors(handler))
        return handler

    @sio.on("*")
    async def unknown_event(event, sid, *args):
        return {"error": f"unknown event {event!r:.60}: expected one of detect, batch_detect, upload, "
                         "info, about, get_model_version, set_model_version_mode, "
                         "get_outbox_mode, set_outbox_mode"}

    @sio.on("connect")
    async def connect(sid, environ, auth=None):
        if service.config.api_key:
            headers = {"x-api-key": environ.get("HTTP_X_API_KEY"),
                       "Authorization": environ.get("HTTP_AUTHORIZATION")}
            if not key_ok(service.config.api_key, _presented_keys(headers, auth)):
                raise socketio.exceptions.ConnectionRefusedError(
                    "missing or invalid API key (send auth {'token': KEY}, x-api-key or "
                    "Authorization: Bearer)")

    @event
    async def detect(sid, data=None):
        if not isinstance(data, dict) or "image" not in data:
            return {"error": "could not parse image from data: expected {image: {...}, ...}"}
        try:
            options = _sio_options(data)
        except ValueError as exc:
            return {"error": str(exc)}
        try:
            [(rgb, jpeg)] = await parse_images([data["image"]])
        except ImageError as exc:
            return {"error": f"could not parse image from data: {exc}"}
        try:
            meta = await service.run_blocking(service.detect_blocking, rgb, jpeg=jpeg, **options)
        except (ValueError, DetectorUnavailable) as exc:
            return {"error": str(exc)}
        return meta.to_dict()

    @event
    async def batch_detect(sid, data=None):
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            return {"error": "could not parse images from data: expected {images: [...], ...}"}
        try:
            options = _sio_options(data)
        except ValueError as exc:
            return {"error": str(exc)}
        try:
            images = await parse_images(data["images"])
        except ImageError as exc:
            return {"error": f"could not parse images from data: {exc}"}
        try:
            metas = await service.run_blocking(service.batch_detect_blocking, images, **options)
        except (ValueError, DetectorUnavailable) as exc:
            return {"error": str(exc)}
        return {"items": [m.to_dict() for m in metas]}

    @event
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
            await service.run_blocking(service.upload_blocking, [(rgb, jpeg)], metas, priority)
        except (ValueError, OSError) as exc:
            return {"error": str(exc)}
        return {"status": "OK"}

    @event
    async def info(sid, data=None):
        active = service.active
        return active.info.to_dict() if active else {"status": "No model loaded"}

    @event
    async def about(sid, data=None):
        return service.about_response()

    @event
    async def get_model_version(sid, data=None):
        return service.model_version_response()

    @event
    async def set_model_version_mode(sid, data=None):
        if not isinstance(data, str):
            return {"error": f"the mode must be a string ('follow_loop', 'pause' or a version), "
                             f"got {type(data).__name__}"}
        try:
            await service.set_model_version_mode(data)
        except ValueError as exc:
            return {"error": str(exc)}
        return {"status": "OK"}

    @event
    async def get_outbox_mode(sid, data=None):
        return {"outbox_mode": service.outbox.get_mode().value}

    @event
    async def set_outbox_mode(sid, data=None):
        if not isinstance(data, str):
            return {"error": f"the mode must be a string ('continuous_upload' or 'stopped'), "
                             f"got {type(data).__name__}"}
        try:
            await service.outbox.set_mode(data)
        except (ValueError, TimeoutError) as exc:
            return {"error": str(exc)}
        return {"status": "OK"}


# ---- hosting ----------------------------------------------------------------------------
class ServiceThread:
    """Runs a DetectorService (and, with serve_http, its API) on an asyncio loop in a thread."""

    def __init__(self, config: ServiceConfig, host: str = "127.0.0.1", port: int = 8004,
                 serve_http: bool = True) -> None:
        self.service = DetectorService(config)
        self.host, self.port, self.serve_http = host, port, serve_http
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="detector-service", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._runner: web.AppRunner | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError("detector service did not start in time")
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._startup())
        except BaseException as exc:  # handed to start()
            self._error = exc
            try:
                self.loop.run_until_complete(self.service.close())
            finally:
                self.loop.close()
                self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    async def _startup(self) -> None:
        await self.service.start()
        if self.serve_http:
            self._runner, self.port = await start_site(self.service, self.host, self.port)

    def call(self, coro, timeout_s: float = 30.0):
        """Run a coroutine on the service loop from another thread and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        if not self._thread.is_alive():
            return
        try:
            self.call(self._shutdown(), timeout_s)
        except Exception:
            log.exception("detector service did not shut down cleanly")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout_s)

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await stop_site(self._runner)
        await self.service.close()


SIO_KEY = web.AppKey("sio", socketio.AsyncServer)


async def start_site(service: DetectorService, host: str, port: int) -> tuple[web.AppRunner, int]:
    app, sio = build_app(service, host)
    app[SIO_KEY] = sio
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, runner.addresses[0][1]


async def stop_site(runner: web.AppRunner) -> None:
    """Disconnect Socket.IO clients, then close the server (requests get 2 s to finish)."""
    sio = runner.app[SIO_KEY]
    try:
        if sio.eio.sockets:
            await asyncio.wait_for(sio.eio.disconnect(), 2.0)  # every client, every namespace
        await asyncio.wait_for(sio.shutdown(), 2.0)
    except Exception as exc:
        log.warning("Socket.IO clients did not disconnect cleanly: %s", exc)
    await runner.cleanup()


def config_from_env(**overrides) -> ServiceConfig:
    """A ServiceConfig from the reference's environment variables, then overrides."""
    env = os.environ
    host = env.get("LOOP_HOST") or env.get("HOST")
    loop_url = None
    if host:
        loop_url = host if host.startswith("http") else \
            f"http{'s' if 'learning-loop.ai' in host else ''}://{host}/api"
    values: dict[str, Any] = {
        "data_folder": env.get("DATA_FOLDER", "/tmp/detector_node"),
        "loop_url": loop_url,
        "organization": env.get("LOOP_ORGANIZATION") or env.get("ORGANIZATION") or "",
        "project": env.get("LOOP_PROJECT") or env.get("PROJECT") or "",
        "min_uncertain": float(env.get("MIN_UNCERTAIN_THRESHOLD", "0.3")),
        "max_uncertain": float(env.get("MAX_UNCERTAIN_THRESHOLD", "0.6")),
        "max_outbox_items": int(env.get("MAX_OUTBOX_SIZE", "1000")),
        "version_control": "pause" if env.get("VERSION_CONTROL_DEFAULT", "").lower() == "pause"
        else "follow_loop",
        "api_key": env.get("DETECTOR_API_KEY") or None,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ServiceConfig(**values)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Learning-Loop-compatible detector (no ROS).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8004)
    parser.add_argument("--data-folder")
    parser.add_argument("--model-folder")
    parser.add_argument("--logic")
    parser.add_argument("--loop-url", help="Loop API base, e.g. http://127.0.0.1:8080/api")
    parser.add_argument("--organization")
    parser.add_argument("--project")
    parser.add_argument("--upload-interval-s", type=float)
    parser.add_argument("--max-outbox-items", type=int)
    parser.add_argument("--version-control", choices=["follow_loop", "pause"])
    parser.add_argument("--model-poll-interval-s", type=float)
    parser.add_argument("--api-key", help="require this API key (default: $DETECTOR_API_KEY; "
                        "none = open); prefer the environment variable")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = config_from_env(
        data_folder=args.data_folder, model_folder=args.model_folder, logic=args.logic,
        loop_url=args.loop_url, organization=args.organization, project=args.project,
        upload_interval_s=args.upload_interval_s, max_outbox_items=args.max_outbox_items,
        version_control=args.version_control, model_poll_interval_s=args.model_poll_interval_s,
        api_key=args.api_key)

    async def serve() -> None:
        try:
            service = DetectorService(config)
        except ValueError as exc:
            parser.exit(2, f"detector_service: error: {exc}\n")
        await service.start()
        runner, port = await start_site(service, args.host, args.port)
        print(json.dumps({"listening": f"http://{args.host}:{port}", "port": port}), flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()
        await stop_site(runner)
        await service.close()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
