"""The outbox: images (JPEG) + metadata (JSON) kept on disk until the Learning Loop has them.

Layout under `<data_folder>/outbox/`: `priority/<id>/` and `normal/<id>/`, each holding
`image_<id>.json` and `image_<id>.jpg`, as the Learning Loop detector keeps them.

Crash safety (kill -9 at any instant):
- an item is written into `tmp/<id>/` and renamed into its queue folder: a queue folder
  is always complete; leftovers in `tmp/` are partial writes and are discarded at start;
- after the Loop accepted a batch, each item is renamed into `done/` (atomic) and only
  then deleted, so a half-deleted item is never sent again; `done/` is emptied at start;
- every item found in the queue folders at start is queued again.
What remains: a kill after the Loop stored a batch but before its 200 reached us makes
that one batch go again (the Loop names images by the id in their file names).

Upload: a background task posts batches of `batch_size` items as multipart `files` to
`target_url`; priority items first (oldest first), then normal ones (newest first, as
the Loop's detector does). 200 -> items done; 422 -> the batch is split in halves and
a single broken item dropped; anything else (429, 5xx, no connection) -> kept, retried
after an exponential backoff (interval .. backoff_max_s).
The normal queue holds at most `max_items`; saving beyond drops the oldest normal item
(`dropped_count` counts them). Priority items are never dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

import aiohttp

from detector_node.repeats import RepeatedLog

log = logging.getLogger("detector_node.outbox")


class OutboxMode(str, Enum):
    CONTINUOUS_UPLOAD = "continuous_upload"
    STOPPED = "stopped"


@dataclass(slots=True)
class OutboxStats:
    priority_queued: int
    normal_queued: int
    uploaded_count: int
    dropped_count: int
    rejected_count: int
    failed_attempts: int
    mode: str

    def to_dict(self) -> dict:
        return {"priority_queued": self.priority_queued, "normal_queued": self.normal_queued,
                "uploaded_count": self.uploaded_count, "dropped_count": self.dropped_count,
                "rejected_count": self.rejected_count, "failed_attempts": self.failed_attempts,
                "mode": self.mode}


def _fsync_write(path: str, data: bytes, fsync: bool) -> None:
    with open(path, "wb") as f:
        f.write(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())


class Outbox:
    """Durable upload queue to the Loop; `save()` is thread-safe, the uploader runs on asyncio."""

    def __init__(self, data_folder: str, target_url: str | None, *, max_items: int = 1000,
                 batch_size: int = 20, interval_s: float = 5.0, timeout_s: float = 30.0,
                 backoff_max_s: float = 60.0, fsync: bool = False,
                 summary_interval_s: float = 60.0) -> None:
        if max_items <= 0:
            raise ValueError(f"outbox max_items must be positive, got {max_items}")
        if batch_size <= 0:
            raise ValueError(f"outbox batch_size must be positive, got {batch_size}")
        self.path = os.path.join(data_folder, "outbox")
        self.target_url = target_url
        self.max_items = max_items
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.backoff_max_s = backoff_max_s
        self.fsync = fsync
        self.repeats = RepeatedLog(log, summary_interval_s)  # one line per kind and interval
        self.uploaded_count = 0
        self.dropped_count = 0
        self.rejected_count = 0
        self.failed_attempts = 0
        self._lock = threading.Lock()
        self._last_stamp = datetime.min
        self._dirs = {name: os.path.join(self.path, name)
                      for name in ("priority", "normal", "tmp", "done")}
        for folder in self._dirs.values():
            os.makedirs(folder, exist_ok=True)
        for leftover in ("tmp", "done"):  # partial writes / finished deletes of a crashed run
            for name in os.listdir(self._dirs[leftover]):
                shutil.rmtree(os.path.join(self._dirs[leftover], name), ignore_errors=True)
        self._priority: deque[str] = deque(self._scan("priority"))
        self._normal: deque[str] = deque(self._scan("normal"))
        for identifier in (*self._priority, *self._normal):  # new ids sort after old ones
            try:
                stamp = datetime.fromisoformat(identifier.replace("_", "T"))
            except ValueError:
                continue
            self._last_stamp = max(self._last_stamp, stamp)
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stop = False
        self._session: aiohttp.ClientSession | None = None
        self.trim()

    def _scan(self, queue: str) -> list[str]:
        folder = self._dirs[queue]
        items = []
        for name in sorted(os.listdir(folder)):
            item = os.path.join(folder, name)
            if os.path.isfile(os.path.join(item, f"image_{name}.json")) and \
                    os.path.isfile(os.path.join(item, f"image_{name}.jpg")):
                items.append(name)
            else:
                log.warning("outbox: discarding incomplete item %s", item)
                shutil.rmtree(item, ignore_errors=True)
        if items:
            log.info("outbox: %d %s items from disk queued again", len(items), queue)
        return items

    def _new_id(self) -> str:
        with self._lock:
            stamp = max(datetime.now(), self._last_stamp + timedelta(microseconds=1))
            self._last_stamp = stamp
        return stamp.isoformat(sep="_", timespec="microseconds")

    def save(self, jpeg: bytes, metadata_json: str, priority: bool = False) -> str:
        """Write one item to disk (atomically) and queue it; returns its id. Blocking I/O."""
        identifier = self._new_id()
        tmp = os.path.join(self._dirs["tmp"], identifier)
        os.makedirs(tmp)
        _fsync_write(os.path.join(tmp, f"image_{identifier}.json"), metadata_json.encode(), self.fsync)
        _fsync_write(os.path.join(tmp, f"image_{identifier}.jpg"), jpeg, self.fsync)
        queue = "priority" if priority else "normal"
        os.rename(tmp, os.path.join(self._dirs[queue], identifier))
        with self._lock:
            (self._priority if priority else self._normal).append(identifier)
        self.trim()
        self._notify()
        return identifier

    def trim(self) -> None:
        dropped = []
        with self._lock:
            while len(self._normal) > self.max_items:
                dropped.append(self._normal.popleft())
            self.dropped_count += len(dropped)
        for identifier in dropped:
            self._retire("normal", identifier)
        if dropped:
            self.repeats.warning("full", "outbox full (%d items): dropped the %d oldest (%d dropped "
                                 "so far)", self.max_items, len(dropped), self.dropped_count)

    def _retire(self, queue: str, identifier: str) -> None:
        """Remove an item for good: rename to done/ (atomic), then delete."""
        done = os.path.join(self._dirs["done"], identifier)
        try:
            os.rename(os.path.join(self._dirs[queue], identifier), done)
        except FileNotFoundError:
            return
        shutil.rmtree(done, ignore_errors=True)

    def stats(self) -> OutboxStats:
        with self._lock:
            return OutboxStats(len(self._priority), len(self._normal), self.uploaded_count,
                               self.dropped_count, self.rejected_count, self.failed_attempts,
                               self.get_mode().value)

    def pending_ids(self) -> list[str]:
        with self._lock:
            return list(self._priority) + list(self._normal)

    def _next_batch(self) -> list[tuple[str, str]]:
        with self._lock:
            batch = [("priority", i) for i in list(self._priority)[:self.batch_size]]
            room = self.batch_size - len(batch)
            if room > 0:
                batch += [("normal", i) for i in list(reversed(self._normal))[:room]]
            return batch

    # ---- uploader (asyncio) -------------------------------------------------------------
    def get_mode(self) -> OutboxMode:
        alive = self._task is not None and not self._task.done() and not self._stop
        return OutboxMode.CONTINUOUS_UPLOAD if alive else OutboxMode.STOPPED

    async def set_mode(self, mode: str | OutboxMode) -> None:
        """Start or stop the uploader; raises ValueError for an unknown mode. Stopping waits
        for a batch in flight (it is never cut off half-way)."""
        try:
            mode = OutboxMode(mode)
        except ValueError:
            raise ValueError(f"{mode!r} is not a valid OutboxMode: expected 'continuous_upload' "
                             "or 'stopped'") from None
        if mode is OutboxMode.CONTINUOUS_UPLOAD:
            self.start()
        else:
            await self.stop()

    def start(self) -> None:
        if self.get_mode() is OutboxMode.CONTINUOUS_UPLOAD:
            return
        if self._task is not None and not self._task.done():
            self._stop = False  # a stop was requested but the task still runs: keep it
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stop = False
        self._task = asyncio.create_task(self._run(), name="outbox-uploader")

    async def stop(self) -> None:
        task = self._task
        if task is None or task.done():
            return
        self._stop = True
        if self._wake is not None:
            self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self.timeout_s + 1)
        except asyncio.TimeoutError:
            raise TimeoutError(f"upload did not finish within {self.timeout_s + 1} s") from None

    async def close(self) -> None:
        await self.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _notify(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with self._lock:
                full = len(self._priority) + len(self._normal) >= self.batch_size or self._priority
            if full:
                try:
                    loop.call_soon_threadsafe(wake.set)
                except RuntimeError:
                    pass

    async def _run(self) -> None:
        log.info("outbox: continuous upload to %s", self.target_url)
        backoff_s = self.interval_s
        while not self._stop:
            ok, sent = True, False
            if self.target_url and self._next_batch():
                ok = sent = await self.upload_once()
            if ok:
                backoff_s = self.interval_s
                if sent and self._next_batch():
                    continue  # a backlog goes out back to back
            else:
                backoff_s = min(self.backoff_max_s, backoff_s * 2)
            delay = self.interval_s if ok else backoff_s
            await self._pause(delay, wake_early=ok)
        log.info("outbox: upload stopped")

    async def _pause(self, delay_s: float, wake_early: bool) -> None:
        """Wait `delay_s`; a stop ends it, and so does new work unless we are backing off."""
        assert self._wake is not None
        deadline = asyncio.get_running_loop().time() + delay_s
        while not self._stop:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except asyncio.TimeoutError:
                return
            if wake_early:
                return

    async def upload_once(self) -> bool:
        """Send one batch; True if the Loop took it (or the batch needed nothing)."""
        batch = self._next_batch()
        if not batch:
            return True
        return await self._send(batch)

    async def _send(self, batch: list[tuple[str, str]]) -> bool:
        files = await asyncio.to_thread(self._read_batch, batch)
        batch = [b for b in batch if b[1] in files]
        if not batch:
            return True
        form = aiohttp.FormData()
        for _, identifier in batch:
            meta, jpeg = files[identifier]
            # As the Loop's detector sends it (a text file part); the Loop reads it as JSON.
            form.add_field("files", meta, filename=f"image_{identifier}.json",
                           content_type="text/plain; charset=utf-8")
            form.add_field("files", jpeg, filename=f"image_{identifier}.jpg",
                           content_type="image/jpeg")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        try:
            async with self._session.post(self.target_url, data=form) as response:
                status = response.status
                body = (await response.text())[:200]
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            self.failed_attempts += 1
            self.repeats.warning("unreachable", "outbox: upload of %d items failed: %s", len(batch),
                                 exc or type(exc).__name__)
            return False
        if status == 200:
            await asyncio.to_thread(self._finish, batch, "uploaded")
            return True
        if status == 422:
            if len(batch) == 1:
                log.error("outbox: the Loop rejects item %s as broken (%s); dropping it", batch[0][1], body)
                await asyncio.to_thread(self._finish, batch, "rejected")
                return True
            half = len(batch) // 2
            first = await self._send(batch[:half])
            second = await self._send(batch[half:])
            return first and second
        self.failed_attempts += 1
        self.repeats.warning(f"status-{status}", "outbox: the Loop answered %d (%s); keeping %d items",
                             status, body, len(batch))
        return False

    def _read_batch(self, batch: list[tuple[str, str]]) -> dict[str, tuple[bytes, bytes]]:
        files = {}
        missing = []
        for queue, identifier in batch:
            item = os.path.join(self._dirs[queue], identifier)
            try:
                with open(os.path.join(item, f"image_{identifier}.json"), "rb") as f:
                    meta = f.read()
                with open(os.path.join(item, f"image_{identifier}.jpg"), "rb") as f:
                    jpeg = f.read()
            except FileNotFoundError:
                missing.append((queue, identifier))
                continue
            files[identifier] = (meta, jpeg)
        if missing:  # dropped by the size limit meanwhile
            self._forget(missing)
        return files

    def _forget(self, batch: list[tuple[str, str]], outcome: str | None = None) -> None:
        with self._lock:
            if outcome == "uploaded":
                self.uploaded_count += len(batch)
            elif outcome == "rejected":
                self.rejected_count += len(batch)
            for queue, identifier in batch:
                q = self._priority if queue == "priority" else self._normal
                try:
                    q.remove(identifier)
                except ValueError:
                    pass

    def _finish(self, batch: list[tuple[str, str]], outcome: str) -> None:
        # Files first: once stats() counts an item as uploaded, it is gone from disk too.
        for queue, identifier in batch:
            self._retire(queue, identifier)
        self._forget(batch, outcome)


def metadata_json(meta: dict) -> str:
    return json.dumps(meta)
