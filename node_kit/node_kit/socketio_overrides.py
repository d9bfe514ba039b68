"""The suite's overrides of python-socketio and python-engineio internals, in one place.

Written for the versions in `WRITTEN_FOR`; test_socketio_overrides_match_their_versions
fails when the installed ones differ, so an upgrade re-checks each override:

- `FastPacket`: the default JSON packet with a cheaper binary check (public extension
  point `serializer=`; overrides `data_is_binary`). The stock check builds a list per
  nesting level and visits every element, ~1 ms for a cycle:update of 40 rows of 32
  bits; the wire format is the same. Used by the realtime client and the embedded
  brain's server.
- `InOrderClient` / `InOrderEngineIOClient`: a socketio.Client whose Engine.IO client
  handles each message on the reader thread in arrival order (private
  `_trigger_event`; the stock client starts a thread per message, which reorders
  them), writes websocket frames on the sending thread while `direct_send` is set and
  batches them (private `_send_packet`), chosen through the private
  `_engineio_client_class`. Used by ab_bridge.realtime.
"""

from __future__ import annotations

from typing import Any

import engineio
import socketio
import websocket
from engineio import packet as engineio_packet
from socketio import packet as sio_packet

#: The library versions these overrides were written for and tested with.
WRITTEN_FOR = {"python-socketio": "5.18.1", "python-engineio": "4.15.1",
               "websocket-client": "1.9.2"}

#: Socket.IO packet type of a namespace disconnect (its handler joins the reader thread).
_SIO_DISCONNECT = "1"


class FastPacket(sio_packet.Packet):
    """The default Socket.IO packet (JSON, binary attachments) with a faster binary check."""

    @classmethod
    def data_is_binary(cls, data: Any) -> bool:
        # Same answer as the stock check (bytes or bytearray anywhere inside lists and
        # dicts), without a call per element: plain scalars are skipped in one pass.
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, (bytes, bytearray)):
                return True
            if isinstance(item, list):
                stack.extend(x for x in item if type(x) not in _SCALARS)
            elif isinstance(item, dict):
                stack.extend(v for v in item.values() if type(v) not in _SCALARS)
        return False


_SCALARS = frozenset({int, float, str, bool, type(None)})


class InOrderEngineIOClient(engineio.Client):
    """Engine.IO client that handles each message on the reader thread, in arrival order
    (the stock client starts one thread per message, which reorders them), and, while
    `direct_send` is set, writes websocket frames on the sending thread (the stock client
    queues them for a writer thread: one more thread to wake, and to wait for the
    interpreter lock, per frame)."""

    direct_send = False
    #: While a list: direct messages are collected here as (packet, frame), and
    #: `send_batch` writes them with one send (see RealtimeClient.emit_many).
    batch: list[tuple[Any, Any]] | None = None

    def _send_packet(self, pkt: Any) -> None:
        ws = getattr(self, "ws", None)
        # Only messages: pongs and the close still go through the writer thread, which
        # gives up (and logs an error) after 30 s without anything in its queue.
        if not self.direct_send or pkt.packet_type != engineio_packet.MESSAGE \
                or self.state != "connected" \
                or self.current_transport != "websocket" or ws is None \
                or self.queue.unfinished_tasks:   # queued or being written: keep the order
            if self.batch:                   # what was collected goes first
                self._queue_batch()
            super()._send_packet(pkt)
            return
        encoded = pkt.encode()
        opcode = websocket.ABNF.OPCODE_BINARY if pkt.binary else websocket.ABNF.OPCODE_TEXT
        if self.batch is not None:
            self.batch.append((pkt, websocket.ABNF.create_frame(encoded, opcode)))
            return
        try:
            ws.send(encoded, opcode)         # websocket-client locks each frame's send
        except (websocket.WebSocketConnectionClosedException, BrokenPipeError, OSError):
            super()._send_packet(pkt)        # the writer finds the closed socket and ends

    def send_batch(self) -> None:
        """Write the collected messages' frames with one send (one wake-up of the reader
        at the other end instead of one per frame); stop collecting."""
        batch, self.batch = self.batch or [], None
        if not batch:
            return
        try:
            self.ws.send_frame(_Frames([frame for _, frame in batch]))
        except (websocket.WebSocketConnectionClosedException, BrokenPipeError, OSError,
                AttributeError):
            for pkt, _ in batch:             # as a single message would: to the writer
                super()._send_packet(pkt)

    def _queue_batch(self) -> None:
        batch, self.batch = self.batch or [], []
        for pkt, _ in batch:
            super()._send_packet(pkt)

    def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "message" and kwargs.get("run_async"):
            data = args[0] if args else None
            if not (isinstance(data, str) and data.startswith(_SIO_DISCONNECT)):
                kwargs["run_async"] = False
        return super()._trigger_event(event, *args, **kwargs)


class _Frames:
    """Several websocket frames that websocket-client's `send_frame` writes as one: it
    sets their mask key source and sends what `format` returns."""

    def __init__(self, frames: list[Any]) -> None:
        self.frames = frames
        self.get_mask_key = None

    def format(self) -> bytes:
        for frame in self.frames:
            if self.get_mask_key is not None:
                frame.get_mask_key = self.get_mask_key
        return b"".join(frame.format() for frame in self.frames)


class InOrderClient(socketio.Client):
    def _engineio_client_class(self) -> type:
        return InOrderEngineIOClient


__all__ = ["FastPacket", "InOrderClient", "InOrderEngineIOClient", "WRITTEN_FOR"]
