"""Brain <-> muscle transport on ZeroMQ: one brain (ROUTER) serves many muscles (DEALER).

Frames, muscle -> brain:  [header, kind, request_id, json, *array buffers]
Frames, brain -> muscle:  [header, kind, request_id, json, *array buffers]
(the ROUTER adds/strips the muscle's routing id in front).

- `header` is `b"rl_agents/<version>"`. A brain answers a request with another
  version with kind `version_mismatch` and a message naming both versions; the
  muscle raises `ProtocolVersionError` (so does a muscle that gets a reply with
  another version).
- kinds: `think` (json: {"muscle_id", "data", "step", "mode"}; mode optional,
  default the brain's) -> `update` (json: the brain's update or null);
  malformed requests and brain exceptions -> `error`.
- Payloads go through `rl_agents.wire` (JSON + raw numpy buffers, never pickle).
- The muscle side waits `timeout_s` for a reply. On a timeout it drops its
  socket (and the requests queued in it), treats the brain as down and returns
  None ("no update"); while down it sends at most one probe per
  `reconnect_interval_s` and drops the steps in between, so a muscle keeps
  acting at its own rate while its brain restarts.
"""

from __future__ import annotations

import logging
import queue
import struct
import threading
import time
import traceback
from typing import Any

import zmq

from rl_agents.agent import Brain, Mode, Step
from rl_agents.loop import is_update
from rl_agents.wire import WireError, decode, encode

PROTOCOL_VERSION = 1
_PREFIX = b"rl_agents/"
LOG = logging.getLogger(__name__)


class ProtocolVersionError(RuntimeError):
    """Brain and muscle speak different protocol versions."""


class BrainError(RuntimeError):
    """The brain answered with an error."""


def header(version: int = PROTOCOL_VERSION) -> bytes:
    return _PREFIX + str(version).encode()


def parse_header(frame: bytes) -> int:
    """The protocol version in a header frame; WireError when it is not one."""
    frame = bytes(frame)
    if not frame.startswith(_PREFIX):
        raise WireError(f"not an rl_agents message (header {frame[:32]!r})")
    try:
        return int(frame[len(_PREFIX):])
    except ValueError:
        raise WireError(f"bad protocol version in header {frame[:32]!r}") from None


class BrainServer:
    """Serves one Brain to any number of muscles on a ROUTER socket.

    `endpoint` such as "tcp://127.0.0.1:0" (port 0: an ephemeral port; the bound
    address is `self.endpoint` after `bind()`). `serve()` loops until `stop()`;
    `start()` runs it on a thread.
    """

    def __init__(self, brain: Brain, endpoint: str = "tcp://127.0.0.1:5555",
                 context: zmq.Context | None = None,
                 protocol_version: int = PROTOCOL_VERSION) -> None:
        self.brain = brain
        self.requested_endpoint = endpoint
        self.protocol_version = protocol_version
        self._context = context or zmq.Context.instance()
        self._socket: zmq.Socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lock = threading.Lock()   # held while the brain thinks (store() can take it)
        self.endpoint = ""
        self.requests = 0
        self.errors = 0
        self.muscles: set[str] = set()

    def bind(self) -> str:
        if self._socket is None:
            sock = self._context.socket(zmq.ROUTER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.ROUTER_MANDATORY, 0)
            sock.bind(self.requested_endpoint)
            self._socket = sock
            self.endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        return self.endpoint

    def start(self) -> BrainServer:
        self.bind()
        self._thread = threading.Thread(target=self.serve, name="brain-server", daemon=True)
        self._thread.start()
        return self

    def serve(self) -> None:
        sock = self._socket if self._socket is not None else None
        if sock is None:
            self.bind()
            sock = self._socket
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(100):
                continue
            while True:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK, copy=True)
                except zmq.Again:
                    break
                reply = self._handle(frames[1:])
                if reply is not None:
                    try:
                        sock.send_multipart([frames[0], *reply], zmq.NOBLOCK)
                    except zmq.ZMQError as exc:  # the muscle went away
                        LOG.debug("reply to a muscle lost: %s", exc)

    def _handle(self, frames: list[bytes]) -> list[bytes] | None:
        self.requests += 1
        if len(frames) < 4:
            self.errors += 1
            LOG.warning("dropped a malformed request (%d frames)", len(frames))
            return None
        mine = header(self.protocol_version)
        request_id = frames[2] if len(frames[2]) == 8 else struct.pack("<Q", 0)
        try:
            version = parse_header(frames[0])
        except WireError as exc:
            self.errors += 1
            return [mine, b"error", request_id, *encode({"error": str(exc)})]
        if version != self.protocol_version:
            self.errors += 1
            text = (f"protocol version mismatch: muscle speaks rl_agents protocol {version}, "
                    f"brain speaks {self.protocol_version}")
            LOG.warning(text)
            return [mine, b"version_mismatch", request_id,
                    *encode({"error": text, "brain_version": self.protocol_version})]
        kind = bytes(frames[1])
        if kind != b"think":
            self.errors += 1
            return [mine, b"error", request_id, *encode({"error": f"unknown request {kind!r}"})]
        try:
            body = decode(frames[3:])
            if not isinstance(body, dict) or not isinstance(body.get("muscle_id"), str):
                raise WireError("think request needs a dict with a string 'muscle_id'")
            step = None if body.get("step") is None else Step.from_message(body["step"])
            mode = None if body.get("mode") is None else Mode.parse(body["mode"])
            muscle_id = body["muscle_id"]
            self.muscles.add(muscle_id)
            with self.lock:
                update = self.brain.think(muscle_id, body.get("data"), step, mode)
            return [mine, b"update", request_id, *encode({"update": update})]
        except (WireError, ValueError) as exc:
            self.errors += 1
            LOG.warning("bad request: %s", exc)
            return [mine, b"error", request_id, *encode({"error": f"bad request: {exc}"})]
        except Exception as exc:  # a brain bug must not take the server down
            self.errors += 1
            LOG.error("brain failed: %s\n%s", exc, traceback.format_exc())
            return [mine, b"error", request_id,
                    *encode({"error": f"brain failed: {type(exc).__name__}: {exc}"})]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None


class BrainClient:
    """A muscle's link to a remote brain: `think(muscle_id, data, step) -> update | None`."""

    def __init__(self, endpoint: str, timeout_s: float = 2.0, reconnect_interval_s: float = 1.0,
                 context: zmq.Context | None = None,
                 protocol_version: int = PROTOCOL_VERSION) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.endpoint = endpoint
        self.timeout_s = float(timeout_s)
        self.reconnect_interval_s = float(reconnect_interval_s)
        self.protocol_version = protocol_version
        self._context = context or zmq.Context.instance()
        self._socket: zmq.Socket | None = None
        self._request_id = 0
        self.brain_up = True
        self._next_probe = 0.0
        self.timeouts = 0
        self.dropped_steps = 0

    def _sock(self) -> zmq.Socket:
        if self._socket is None:
            sock = self._context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(self.endpoint)
            self._socket = sock
        return self._socket

    def _reset(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def think(self, muscle_id: str, data_from_muscle: Any, step: Step | None,
              mode: Mode | str | None = None) -> Any:
        now = time.monotonic()
        if not self.brain_up and now < self._next_probe:
            self.dropped_steps += 1
            return None
        self._request_id += 1
        rid = struct.pack("<Q", self._request_id)
        message = {"muscle_id": muscle_id, "data": data_from_muscle,
                   "step": None if step is None else step.to_message()}
        if mode is not None:
            message["mode"] = Mode.parse(mode).value
        body = encode(message)
        sock = self._sock()
        sock.send_multipart([header(self.protocol_version), b"think", rid, *body])
        deadline = now + (self.timeout_s if self.brain_up
                          else min(self.timeout_s, self.reconnect_interval_s))
        while True:
            left_ms = int(max(0.0, deadline - time.monotonic()) * 1000)
            if not sock.poll(left_ms, zmq.POLLIN):
                self.timeouts += 1
                self.dropped_steps += 1
                if self.brain_up:
                    LOG.warning("brain at %s did not answer within %.2f s; acting without "
                                "updates until it is back", self.endpoint, self.timeout_s)
                self.brain_up = False
                self._next_probe = time.monotonic() + self.reconnect_interval_s
                self._reset()
                return None
            frames = sock.recv_multipart()
            if len(frames) < 4:
                continue
            if frames[2] != rid:   # a late answer to an earlier request
                continue
            return self._answer(frames)

    def _answer(self, frames: list[bytes]) -> Any:
        kind = bytes(frames[1])
        version = parse_header(frames[0])
        if kind == b"version_mismatch":
            raise ProtocolVersionError(decode(frames[3:]).get("error", "protocol version mismatch"))
        if version != self.protocol_version:
            raise ProtocolVersionError(
                f"protocol version mismatch: brain speaks rl_agents protocol {version}, "
                f"muscle speaks {self.protocol_version}")
        if not self.brain_up:
            LOG.info("brain at %s is back", self.endpoint)
        self.brain_up = True
        body = decode(frames[3:])
        if kind == b"error":
            raise BrainError(body.get("error", "brain error"))
        if kind != b"update":
            raise WireError(f"unexpected reply kind {kind!r}")
        return body.get("update")

    def close(self) -> None:
        self._reset()


class AsyncBrainLink:
    """Talks to a brain from a worker thread so the caller (a ROS timer) never blocks.

    `submit(muscle_id, data, step)` queues a request (the oldest is dropped when
    `max_pending` are waiting); `updates()` returns the updates that arrived since
    the last call, in order. A `ProtocolVersionError` or `BrainError` from the link
    is kept in `error` (the worker stops on a version mismatch).
    """

    def __init__(self, link: Any, max_pending: int = 100) -> None:
        self.link = link
        self._requests: queue.Queue = queue.Queue(maxsize=max_pending)
        self._updates: list[Any] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.error: Exception | None = None
        self.dropped = 0
        self._thread = threading.Thread(target=self._work, name="brain-link", daemon=True)
        self._thread.start()

    def submit(self, muscle_id: str, data_from_muscle: Any, step: Step | None,
               mode: Mode | str | None = None) -> None:
        while True:
            try:
                self._requests.put_nowait((muscle_id, data_from_muscle, step, mode))
                return
            except queue.Full:
                try:
                    self._requests.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def updates(self) -> list[Any]:
        with self._lock:
            out, self._updates = self._updates, []
        return out

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                request = self._requests.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                update = self.link.think(*request)
            except ProtocolVersionError as exc:
                self.error = exc
                return
            except (BrainError, WireError) as exc:
                self.error = exc
                continue
            if is_update(update):
                with self._lock:
                    self._updates.append(update)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        close = getattr(self.link, "close", None)
        if close is not None:
            close()
