"""The detector service: models and version control, detection, autoupload, outbox.

`DetectorService` is the core (no rclpy, no HTTP). Around it: `operations` (the API as
one table of operations), `rest` and `sio` (the Learning-Loop-compatible REST and
Socket.IO adapters serving that table), `host` (`ServiceThread`, an asyncio loop in a
thread, how the ROS node hosts it; and the command line). `python -m
detector_node.service` runs it all as a plain process.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import logging
import os
import re
import shutil
import threading
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np

from detector_node.images import decode_image, encode_jpeg
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


if __name__ == "__main__":
    from detector_node.host import main

    main()
