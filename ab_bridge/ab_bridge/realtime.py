"""The realtime link: a python-socketio client for one brain run. No rclpy.

Runs on its own threads (python-socketio's reader and a connect thread):
connects with the API key in the handshake headers and auth dict, tries the
websocket transport first and then the default transports, retries with
exponential backoff until connected, joins the run's room (`run:join`) on
every (re)connection, and hands every server event to one callback. The key
is never logged: python-socketio's own loggers stay off, and errors are
reported without headers.

Order: the stock Engine.IO client starts a new thread for every message, so two
events (or a binary event and its attachments) can be handled out of order. Here
every message is handled on the transport's reader thread, in arrival order;
only a namespace disconnect (which joins the reader) gets a thread of its own.
Callbacks therefore run on the reader thread and must not block for long.

Emits from several threads (the reader answering `io:need`, the ROS executor sending
rewards, deviations and robot state) are serialised: a binary event goes out as a
header frame followed by its attachment frames, and a frame of another event in
between would be taken by the server as the attachment.

The in-order client and `FastPacket` (python-socketio's packet with a cheaper binary
check) are overrides of python-socketio internals, kept in
`node_kit.socketio_overrides` with the versions they were written for. `CyclePacket`
(FastPacket through the public `serializer=`) reads a `cycle:update`'s output rows
straight from the text when they have the plain form servers send (see
`CycleUpdateJSON`); any other text goes to FastPacket's JSON decoder.
"""

from __future__ import annotations

import logging
import random
import re
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import socketio

from ab_bridge.decoding import RowBlock
from ab_bridge.rest import auth_headers
from node_kit.socketio_overrides import FastPacket, InOrderClient

#: Events the server sends (the protocol's names).
SERVER_EVENTS = ("io:need", "cycle:update", "robot:cmd", "io:error")

LinkHandler = Callable[[str, str], None]          # (state, detail)
EventHandler = Callable[[str, Any], None]         # (event, payload)

_log = logging.getLogger(__name__)

# One output row of a cycle:update as servers render it, with the separator before it:
# t (at most 100 digits: engineio's decoder refuses longer integers), a population id
# without escapes or control characters, bits of 0 and 1.
_ROW = re.compile(r'([\[,])\{"t":(0|[1-9][0-9]{0,99}),"id":"([^"\\\x00-\x1f]+)",'
                  r'"bits":\[([01](?:,[01])*)\]\}')
_ROW_FIXED = len('[{"t":,"id":"","bits":[]}')       # a match without t, id and bits
_ROWS_AT = '"outputs":[{"t":'
_ROWS_PLACEHOLDER = "\x00rows"


class CycleUpdateJSON:
    """FastPacket's JSON, except that a `cycle:update` whose `outputs` are rows of the
    plain form (`{"t":0,"id":"joint0","bits":[0,1,...]}`, compact, one width) gets them as
    a RowBlock read from the text at once: the JSON decoder would make an int object per
    bit (1,280 in a demo cycle) for rows_to_cycle to gather again. Anything else, or any
    doubt, goes to FastPacket's decoder."""

    dumps = staticmethod(FastPacket.json.dumps)

    @staticmethod
    def loads(text: Any, **kwargs: Any) -> Any:
        if not kwargs and isinstance(text, str) and text.startswith('["cycle:update",{'):
            data = _cycle_update(text)
            if data is not None:
                return data
        return FastPacket.json.loads(text, **kwargs)


def _cycle_update(text: str) -> Any:
    """The event of a cycle:update text with its rows as a RowBlock; None when the rows
    are not all of the plain form (or do not belong to the payload's own `outputs`)."""
    start = text.find(_ROWS_AT)
    end = text.find("]}]", start) + 3
    if start < 0 or end < 3:
        return None
    start += len('"outputs":')
    rows = _ROW.findall(text, start, end - 1)
    if not rows:
        return None
    separators, times, ids, bits = zip(*rows, strict=True)
    count, width = len(rows), len(bits[0])
    # The matches tile text[start:end - 1] exactly: `[` row `,` row ... then `]`; the
    # rows have one width.
    if separators[0] != "[" or separators.count(",") != count - 1 \
            or len(set(map(len, bits))) != 1 \
            or count * (_ROW_FIXED + width) + sum(map(len, times)) + sum(map(len, ids)) \
            != end - 1 - start:
        return None
    try:
        data = FastPacket.json.loads(text[:start] + '"\\u0000rows"' + text[end:])
    except ValueError:
        return None
    if not (isinstance(data, list) and len(data) >= 2 and isinstance(data[1], dict)
            and data[1].get("outputs") == _ROWS_PLACEHOLDER):
        return None
    digits = np.frombuffer((",".join(bits) + ",").encode("ascii"),
                           dtype=np.uint8).reshape(count, width + 1)
    data[1]["outputs"] = RowBlock(list(map(int, times)), list(ids), digits[:, ::2] - ord("0"))
    return data


class CyclePacket(FastPacket):
    """FastPacket whose JSON decoder reads cycle:update rows at once (CycleUpdateJSON)."""

    json = CycleUpdateJSON

class RealtimeClient:
    """One Socket.IO connection to a brain run.

    `on_event(event, payload)` is called on the client's reader thread for each
    server event, in the order the server sent them; `on_link(state, detail)` with
    state "connected", "disconnected" or "connect_failed". Both must not block for long.
    """

    def __init__(self, url: str, run_id: str, *, namespace: str = "/ab",
                 api_key: str | None = None, on_event: EventHandler,
                 on_link: LinkHandler, reconnect_delay_s: float = 0.5,
                 reconnect_delay_max_s: float = 5.0, connect_timeout_s: float = 5.0) -> None:
        if reconnect_delay_s <= 0 or reconnect_delay_max_s < reconnect_delay_s:
            raise ValueError("reconnect delays must satisfy 0 < delay <= delay_max")
        self.url = url
        self.run_id = run_id
        self.namespace = namespace
        self._api_key = api_key
        self._on_event = on_event
        self._on_link = on_link
        self._delay_s = reconnect_delay_s
        self._delay_max_s = reconnect_delay_max_s
        self._timeout_s = connect_timeout_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._emit_lock = threading.Lock()   # one event's frames go out together
        self._sio = InOrderClient(
            serializer=CyclePacket,
            reconnection=True, reconnection_attempts=0,
            reconnection_delay=reconnect_delay_s, reconnection_delay_max=reconnect_delay_max_s,
            randomization_factor=0.2, logger=False, engineio_logger=False,
            # websocket-client checks every text frame's UTF-8 in pure Python (~1 ms per
            # cycle:update); the JSON decoder rejects invalid text anyway.
            websocket_extra_options={"skip_utf8_validation": True})
        self._sio.on("connect", self._connected, namespace=namespace)
        self._sio.on("disconnect", self._disconnected, namespace=namespace)
        self._sio.on("connect_error", self._connect_error, namespace=namespace)
        for event in SERVER_EVENTS:
            self._sio.on(event, self._handler(event), namespace=namespace)
        self._sio.on("*", self._other_event, namespace=namespace)

    def __repr__(self) -> str:
        return f"RealtimeClient({self.url!r}, run={self.run_id!r}, ns={self.namespace!r})"

    @property
    def connected(self) -> bool:
        # The namespace is in `namespaces` from its CONNECT packet on, when the server may
        # already send (the embedded brain's first io:need follows run:join at once);
        # python-socketio's own `connected` turns true later, on the thread that called
        # connect(), and answers sent before it were dropped.
        return self._sio.eio.state == "connected" \
            and self.namespace in (self._sio.namespaces or {})

    @property
    def message_ns(self) -> int:
        """With hop stamps on (node_kit.hops): when the latest message was read."""
        return self._sio.eio.message_ns

    def start(self) -> None:
        """Connect in the background (returns at once)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._connect_loop, name="ab-realtime-connect",
                                        daemon=True)
        self._thread.start()

    def emit(self, event: str, payload: dict[str, Any], *, direct: bool = False) -> bool:
        """Send an event; False (nothing sent) when not connected.

        `direct`: write its frames on this thread rather than queue them for the writer
        thread. For the latency-critical answers to io:need (sent on the reader thread);
        elsewhere (ROS executor threads) queueing is cheaper: with rclpy's multi-threaded
        executor, executor threads writing to the socket held the emit lock long enough to
        delay the reader's answers (docs/results.md, "loop latency")."""
        if not self.connected:
            return False
        try:
            with self._emit_lock:
                eio = self._sio.eio
                eio.direct_send = direct
                try:
                    self._sio.emit(event, payload, namespace=self.namespace)
                finally:
                    eio.direct_send = False
            return True
        except socketio.exceptions.SocketIOError:
            return False

    def emit_many(self, events: list[tuple[str, dict[str, Any]]]) -> bool:
        """Send several events at once, their frames in one write on this thread (for the
        answers to io:need: one write and one wake-up of the server instead of one per
        frame); False (nothing sent) when not connected."""
        if not self.connected:
            return False
        try:
            with self._emit_lock:
                eio = self._sio.eio
                eio.direct_send, eio.batch = True, []
                try:
                    for event, payload in events:
                        self._sio.emit(event, payload, namespace=self.namespace)
                finally:
                    eio.direct_send = False
                    eio.send_batch()
            return True
        except socketio.exceptions.SocketIOError:
            return False

    def close(self, timeout_s: float | None = None) -> None:
        """Disconnect and stop reconnecting; no callback fires afterwards. Waits at most
        `timeout_s` (default: the connect timeout + 1 s) for the connect thread."""
        self._stop.set()
        self._sio.reconnection = False
        try:
            self._sio.shutdown()
        except Exception as error:  # closing a half-open link must not raise
            _log.debug("realtime shutdown: %s", type(error).__name__)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self._timeout_s + 1.0 if timeout_s is None else timeout_s)

    def _connect_loop(self) -> None:
        delay = self._delay_s
        while not self._stop.is_set():
            error = self._try_connect()
            if error is None or self._stop.is_set():
                return
            self._on_link("connect_failed", error)
            wait = min(delay, self._delay_max_s) * (1.0 + 0.2 * (2 * random.random() - 1))
            delay = min(delay * 2, self._delay_max_s)
            if self._stop.wait(wait):
                return

    def _try_connect(self) -> str | None:
        headers = auth_headers(self._api_key)
        auth = {"token": self._api_key, "apiKey": self._api_key} if self._api_key else None
        errors = []
        for transports in (["websocket"], None):
            if self._stop.is_set():
                return "stopped"
            try:
                self._sio.connect(self.url, headers=headers, auth=auth, transports=transports,
                                  namespaces=[self.namespace], wait=True,
                                  wait_timeout=self._timeout_s)
                return None
            except (socketio.exceptions.ConnectionError, ValueError) as error:
                errors.append(f"{'websocket' if transports else 'default transports'}: "
                              f"{_redact(str(error), self._api_key)}")
                try:
                    self._sio.disconnect()
                except Exception:  # already down
                    pass
        return f"cannot connect to {self.url} namespace {self.namespace} (" \
            + "; ".join(errors) + ")"

    def _connected(self) -> None:
        if self._stop.is_set():
            return
        # Join the run's room on every (re)connection.
        with self._emit_lock:
            self._sio.emit("run:join", {"runId": self.run_id}, namespace=self.namespace)
        self._on_link("connected", f"{self.url} {self.namespace}")

    def _disconnected(self, reason: Any = None) -> None:
        if self._stop.is_set():
            return
        self._on_link("disconnected", str(reason or ""))
        # python-socketio reconnects by itself after a lost transport, not after
        # the server closed the namespace: the run still needs its link, retry here.
        if reason == self._sio.reason.SERVER_DISCONNECT and not self._stop.is_set():
            self._thread = threading.Thread(target=self._reconnect_after_kick, daemon=True,
                                            name="ab-realtime-reconnect")
            self._thread.start()

    def _reconnect_after_kick(self) -> None:
        # Wait until the old transport is fully down before connecting again.
        while self._sio.eio.state != "disconnected" and not self._stop.wait(0.05):
            pass
        if not self._stop.wait(self._delay_s):
            self._connect_loop()

    def _connect_error(self, data: Any = None) -> None:
        if self._stop.is_set():
            return
        self._on_link("connect_failed", _redact(str(data), self._api_key))

    def _handler(self, event: str) -> Callable[..., None]:
        def handle(*args: Any) -> None:
            if not self._stop.is_set():
                self._on_event(event, args[0] if len(args) == 1 else list(args))
        return handle

    def _other_event(self, event: str, *args: Any) -> None:
        if not self._stop.is_set():
            self._on_event(event, args[0] if len(args) == 1 else list(args))


def _redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text
