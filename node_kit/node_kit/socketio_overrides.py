"""The suite's overrides of python-socketio and python-engineio internals, in one place.

Written for the versions in `WRITTEN_FOR`; test_socketio_overrides_match_their_versions
fails when the installed ones differ, so an upgrade re-checks each override:

- `FastPacket`: the default JSON packet with a cheaper binary check (public extension
  point `serializer=`; overrides `data_is_binary`, and the private
  `_deconstruct_binary_internal` / `_reconstruct_binary_internal`, which skip plain
  scalars instead of a call for each). The stock check builds a list per
  nesting level and visits every element, ~1 ms for a cycle:update of 40 rows of 32
  bits; the wire format is the same. Its JSON decoder (`json`, engineio's `loads`
  refuses integers of more than 100 digits by calling a Python function for every
  integer) decodes text without a run of 101 digits with the standard decoder, at C
  speed, and other text with engineio's. Used by the realtime client and the embedded
  brain's server.
- `InOrderClient` / `InOrderEngineIOClient`: a socketio.Client whose Engine.IO client
  handles each message on the reader thread in arrival order (private
  `_trigger_event`; the stock client starts a thread per message, which reorders
  them), writes websocket frames on the sending thread while `direct_send` is set and
  batches them (private `_send_packet`), reads its websocket with one recv call per
  frame or several instead of three per frame (websocket-client's private
  `frame_buffer.recv`, set in the private `_connect_websocket`), chosen through the
  private `_engineio_client_class`. Used by ab_bridge.realtime.
- `DirectReadAsyncServer`: a socketio.AsyncServer (aiohttp) whose websocket connections
  read their messages in one loop, `await`ing aiohttp's `receive(timeout)` directly
  (engineio's handler starts a task and an `asyncio.wait_for` per message: several
  event-loop turns per frame, and a binary event is two frames). Chosen through the
  private `_engineio_server_class`; the engineio server's websocket driver (private
  `_async["websocket"]`) hands a connection opened on the websocket transport to
  `_read_websocket`, a copy of `AsyncSocket._websocket_handler`'s loop; an upgrade from
  polling keeps engineio's own handler. Its manager, `DirectEmitManager` (public
  `client_manager=`; private `_send_eio_packet`), sends an emit's packets from the
  emitting task instead of a task per packet. A binary event with one attachment whose
  text is `51-[` or `51-/namespace,[` (no ack id, no query), with the one placeholder
  at the top level of its only argument (an io:chunk), is decoded from its text with a
  regular expression and the packet's JSON decoder, and its attachment put in place
  without the stock reconstruction's walk (private `_handle_eio_message`,
  `_binary_packet`, `_handle_eio_disconnect`), when the packet class decodes as
  python-socketio's (or says `stock_decode_when_valid`: its own decode differs only on
  text the stock one refuses, which then goes to it); with handlers on the reading
  task and info logging off, the handler is called through `_trigger_event` (what the private
  `_handle_event` does then). Any other message takes the stock path. Used by the
  embedded brain's server.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
import time
from typing import Any

import engineio
import socketio
import websocket
from engineio import async_socket as engineio_async_socket
from engineio import exceptions as engineio_exceptions
from engineio import json as engineio_json
from engineio import packet as engineio_packet
from socketio import packet as sio_packet

from node_kit import hops

#: The library versions these overrides were written for and tested with.
WRITTEN_FOR = {"python-socketio": "5.18.1", "python-engineio": "4.15.1",
               "websocket-client": "1.9.2"}

#: Socket.IO packet type of a namespace disconnect (its handler joins the reader thread).
_SIO_DISCONNECT = "1"
#: Bytes the realtime client's websocket reads at once (websocket-client's largest read).
_RECV_SIZE = 16384


_MAYBE_LONG_INT = re.compile(r"[0-9]{101}")


class _FastJSON:
    """engineio's json module with the same answers from `loads`, faster: an integer of
    more than 100 digits needs a run of 101 digits in the text; without one, no integer
    can be refused and the standard decoder's result is the same."""

    dumps = staticmethod(engineio_json.dumps)

    @staticmethod
    def loads(text: Any, **kwargs: Any) -> Any:
        if kwargs or not isinstance(text, str) or _MAYBE_LONG_INT.search(text):
            return engineio_json.loads(text, **kwargs)
        return json.loads(text)


class FastPacket(sio_packet.Packet):
    """The default Socket.IO packet (JSON, binary attachments) with a faster binary check
    and JSON decoder."""

    json = _FastJSON

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

    @classmethod
    def _reconstruct_binary_internal(cls, data: Any, attachments: list) -> Any:
        # The stock one, without a call per plain scalar.
        if isinstance(data, list):
            return [x if type(x) in _SCALARS else cls._reconstruct_binary_internal(x, attachments)
                    for x in data]
        if isinstance(data, dict):
            if data.get("_placeholder") and "num" in data:
                return attachments[data["num"]]
            return {k: v if type(v) in _SCALARS
                    else cls._reconstruct_binary_internal(v, attachments)
                    for k, v in data.items()}
        return data

    @classmethod
    def _deconstruct_binary_internal(cls, data: Any, attachments: list) -> Any:
        # The stock one, without a call per plain scalar (an io:chunk's meta has a dozen).
        if isinstance(data, (bytes, bytearray)):
            attachments.append(data)
            return {"_placeholder": True, "num": len(attachments) - 1}
        if isinstance(data, list):
            return [x if type(x) in _SCALARS else cls._deconstruct_binary_internal(x, attachments)
                    for x in data]
        if isinstance(data, dict):
            return {k: v if type(v) in _SCALARS
                    else cls._deconstruct_binary_internal(v, attachments)
                    for k, v in data.items()}
        return data


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
    #: With hop stamps on (node_kit.hops): when the latest message was read (time_ns).
    message_ns = 0

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
            self.batch.append((pkt, (encoded, opcode)))
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

    def _connect_websocket(self, *args: Any, **kwargs: Any) -> Any:
        connected = super()._connect_websocket(*args, **kwargs)
        ws = getattr(self, "ws", None)
        buffer = getattr(ws, "frame_buffer", None)
        if connected and buffer is not None:
            # websocket-client reads a frame with a recv call for its header, one for its
            # length and one for its payload; its frame buffer keeps what a call returns
            # beyond what it asked for, so reading what is there at once (up to the size
            # it reads at most itself) takes one call for each frame, or for several.
            read = ws._recv
            buffer.recv = lambda size: read(max(size, _RECV_SIZE))
        return connected

    def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if hops.ON and event == "message":
            self.message_ns = time.time_ns()
        if event == "message" and kwargs.get("run_async"):
            data = args[0] if args else None
            if not (isinstance(data, str) and data.startswith(_SIO_DISCONNECT)):
                kwargs["run_async"] = False
        return super()._trigger_event(event, *args, **kwargs)


class _Frames:
    """Several websocket frames, (data, opcode), that websocket-client's `send_frame`
    writes as one: it sets their mask key source and sends what `format` returns."""

    def __init__(self, frames: list[tuple[Any, int]]) -> None:
        self.frames = frames
        self.get_mask_key = None

    def format(self) -> bytes:
        mask_key = self.get_mask_key or os.urandom
        return b"".join(client_frame(data, opcode, mask_key(4)) for data, opcode in self.frames)


def client_frame(data: bytes | str, opcode: int, mask_key: bytes) -> bytes:
    """A final, masked websocket frame from a client: what websocket-client's
    `ABNF.create_frame(data, opcode).format()` writes with that mask key, without its
    per-frame checks and str building."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    length = len(data)
    if length < 126:
        header = bytes((0x80 | opcode, 0x80 | length))
    elif length < 1 << 16:
        header = bytes((0x80 | opcode, 0xFE)) + length.to_bytes(2, "big")
    elif length < 1 << 63:
        header = bytes((0x80 | opcode, 0xFF)) + length.to_bytes(8, "big")
    else:
        raise ValueError("data is too long")
    if not length:
        return header + mask_key
    mask = int.from_bytes((mask_key * (length // 4 + 1))[:length], "big")
    return header + mask_key + (int.from_bytes(data, "big") ^ mask).to_bytes(length, "big")


class InOrderClient(socketio.Client):
    def _engineio_client_class(self) -> type:
        return InOrderEngineIOClient


def _aiohttp_websocket_class() -> type:
    from engineio.async_drivers import aiohttp as engineio_aiohttp

    class DirectReadWebSocket(engineio_aiohttp.WebSocket):
        """engineio's aiohttp websocket, whose connection opened on the websocket
        transport runs `_read_websocket` instead of the socket's own handler."""

        async def __call__(self, environ: dict[str, Any]) -> Any:
            socket = getattr(self.handler, "__self__", None)
            if isinstance(socket, engineio_async_socket.AsyncSocket) and not socket.connected:
                self.handler = functools.partial(_read_websocket, socket)
            return await super().__call__(environ)

    return DirectReadWebSocket


async def _read_websocket(socket: Any, ws: Any) -> None:
    """AsyncSocket._websocket_handler for a connection that starts on the websocket
    transport (no upgrade): the same writer task, the same handling and ends of each
    message, read with aiohttp's receive(timeout) on this task. A packet sent while the
    writer has nothing queued or in hand is written at once by the sending task (aiohttp
    writes each frame whole before it awaits anything), not handed to the writer."""
    server = socket.server
    socket.connected = True
    socket.upgraded = True
    writing = [False]

    async def writer() -> None:
        while True:
            try:
                packets = await socket.poll()
            except engineio_exceptions.QueueEmpty:
                break
            if not packets:      # connection closed
                break
            writing[0] = True
            try:
                for pkt in packets:
                    await ws.send(pkt.encode())
            except Exception:
                break
            finally:
                writing[0] = False
        await ws.close()

    async def send(pkt: Any) -> None:
        # AsyncSocket.send, writing at once when that keeps the order
        if not await socket.check_ping_timeout():
            return
        if not writing[0] and socket.queue.empty() and not socket.closing:
            try:
                await ws.send(pkt.encode())
                return
            except Exception:
                pass             # the writer meets the same end and closes
        await socket.queue.put(pkt)

    socket.send = send

    writer_task = asyncio.ensure_future(writer())
    server.logger.info("%s: Upgrade to websocket successful", socket.sid)
    timeout_s = server.ping_interval + server.ping_timeout
    while True:
        try:
            msg = await ws._sock.receive(timeout_s)
        except (asyncio.CancelledError, Exception):
            break
        if hops.ON:
            socket.read_ns = time.time_ns()      # when the latest message was read
        data = msg.data
        if not isinstance(data, (bytes, str)) or len(data) > server.max_http_buffer_size:
            break                # closed (or closing), or too large: as engineio ends it
        try:
            await socket.receive(engineio_packet.Packet(encoded_packet=data))
        except engineio_exceptions.UnknownPacketError:
            pass
        except engineio_exceptions.SocketIsClosedError:
            server.logger.info("Receive error -- socket is closed")
            break
        except Exception:
            server.logger.exception("Unknown receive error")
    await socket.queue.put(None)     # the writer ends
    await writer_task
    await socket.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)


def _function(method: Any) -> Any:
    return getattr(method, "__func__", method)


#: The reconstructions that replace each {"_placeholder": truthy, "num": i} by attachment i
#: (python-socketio's, and FastPacket's: the same result).
_STOCK_RECONSTRUCTIONS = (_function(sio_packet.Packet._reconstruct_binary_internal),
                          _function(FastPacket._reconstruct_binary_internal))
_STOCK_RECONSTRUCT = _function(sio_packet.Packet.reconstruct_binary)
_STOCK_ADD_ATTACHMENT = _function(sio_packet.Packet.add_attachment)


def _placeholder_key(body: str, data: Any) -> str | None:
    """The key of `data`'s second item that holds the only attachment placeholder of the
    JSON text `body`, or None when that is not sure: no escapes in the text (every key is
    written as it is), `_placeholder` written once, and that one {"_placeholder": true,
    "num": 0} (as the stock reconstruction reads it) at the top level of an object after
    the event name, the event's only argument."""
    if "\\" in body or body.count('"_placeholder"') != 1:
        return None
    if not (isinstance(data, list) and len(data) == 2 and isinstance(data[0], str)
            and isinstance(data[1], dict)):
        return None
    for key, value in data[1].items():
        if type(value) is dict and value.get("_placeholder") and value.get("num", None) == 0 \
                and type(value["num"]) is int:
            return key
    return None


class DirectReadEngineIOServer(engineio.AsyncServer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.async_mode == "aiohttp":
            self._async = {**self._async, "websocket": _aiohttp_websocket_class()}


class DirectEmitManager(socketio.AsyncManager):
    """The AsyncManager whose `emit` without a callback sends the packets from the emitting
    task, one recipient after the other, instead of starting a task per packet and
    waiting for them all (a turn of the event loop or more before the first byte goes
    out, and more before the emitter goes on). As there, a recipient that cannot be sent
    to does not fail the emit."""

    async def emit(self, event: str, data: Any, namespace: str, room: Any = None,
                   skip_sid: Any = None, callback: Any = None, to: Any = None,
                   **kwargs: Any) -> None:
        if callback is not None:
            return await super().emit(event, data, namespace, room=room, skip_sid=skip_sid,
                                      callback=callback, to=to, **kwargs)
        room = to or room
        if namespace not in self.rooms:
            return None
        data = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        encoded = self.server.packet_class(sio_packet.EVENT, namespace=namespace,
                                           data=[event, *data]).encode()
        eio_packets = [engineio_packet.Packet(engineio_packet.MESSAGE, p)
                       for p in (encoded if isinstance(encoded, list) else [encoded])]
        for sid, eio_sid in list(self.get_participants(namespace, room)):
            if sid in skip:
                continue
            try:
                for eio_packet in eio_packets:
                    await self.server._send_eio_packet(eio_sid, eio_packet)
            except Exception as exc:     # a closing connection: as a failed task there
                self.server.logger.info("emit %s to %s failed: %r", event, sid, exc)
        return None


#: The start of a binary event's text with one attachment and no ack id, in the default
#: namespace or a named one without a query: `51-[` or `51-/name,[`.
_ONE_ATTACHMENT_EVENT = re.compile(r"51-(?:(/[^,?]*),)?(?=\[)")


class DirectReadAsyncServer(socketio.AsyncServer):
    """socketio.AsyncServer with DirectReadEngineIOServer and, unless another manager
    is given, DirectEmitManager; a binary event with one attachment sent as
    `[event, {..., key: <the attachment>, ...}]` (an io:chunk) takes a shorter path
    through `_handle_eio_message` (see `_fast_binary_text`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("client_manager") is None:
            kwargs["client_manager"] = DirectEmitManager()
        super().__init__(*args, **kwargs)
        #: eio sid → (the pending binary packet, the key of its attachment's placeholder)
        self._fast_attachment: dict[str, tuple[Any, str]] = {}
        #: the packet class decodes and puts attachments in place as python-socketio's
        #: (the shorter path may stand in for it; the class is fixed from here on)
        self._stock_binary_packets = self._packets_are_stock()

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        fast = self._fast_attachment.pop(eio_sid, None)
        if fast is not None:
            pkt, key = fast
            if self._binary_packet.get(eio_sid) is pkt and isinstance(data, bytes) \
                    and not pkt.attachments:
                # add_attachment and reconstruct_binary with what the text told: the one
                # placeholder anywhere in it is {"_placeholder": true, "num": 0} at key.
                del self._binary_packet[eio_sid]
                pkt.attachments.append(data)
                pkt.data[1][key] = data
                await self._dispatch_event(eio_sid, pkt.namespace, pkt.data)
                return
        elif isinstance(data, str) and data.startswith("51-") \
                and eio_sid not in self._binary_packet and self._fast_binary_text(eio_sid, data):
            return
        await super()._handle_eio_message(eio_sid, data)

    def _packets_are_stock(self) -> bool:
        packet_class = self.packet_class
        if packet_class.decode is not sio_packet.Packet.decode \
                and not vars(packet_class).get("stock_decode_when_valid", False):
            return False         # a decode of its own: only it knows what it makes
        return _function(packet_class.add_attachment) is _STOCK_ADD_ATTACHMENT \
            and _function(packet_class.reconstruct_binary) is _STOCK_RECONSTRUCT \
            and _function(packet_class._reconstruct_binary_internal) \
            in _STOCK_RECONSTRUCTIONS    # (else attachments are put in place its own way)

    def _fast_binary_text(self, eio_sid: str, text: str) -> bool:
        """The stock decoding and bookkeeping of a binary event's text (`51-...`), with the
        placeholder found from the text; False (nothing done) when it is not that shape."""
        if not self._stock_binary_packets:
            return False
        packet_class = self.packet_class
        match = _ONE_ATTACHMENT_EVENT.match(text)
        if match is None:
            return False
        namespace = match.group(1)
        body = text[match.end():]
        try:
            data = packet_class.json.loads(body)
        except ValueError:
            return False         # the stock path decodes it again and fails its own way
        if not self.manager.sid_from_eio_sid(eio_sid, namespace or "/"):
            raise ValueError("Unexpected binary packet")
        pkt = packet_class(sio_packet.BINARY_EVENT, data=data, namespace=namespace,
                           binary=False)
        pkt.attachment_count = 1
        self._binary_packet[eio_sid] = pkt
        key = _placeholder_key(body, data)
        if key is not None:
            self._fast_attachment[eio_sid] = (pkt, key)
        return True

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        self._fast_attachment.pop(eio_sid, None)
        await super()._handle_eio_disconnect(eio_sid, reason)

    async def _dispatch_event(self, eio_sid: str, namespace: str | None, data: list) -> None:
        """`_handle_event` for an event without an ack id, its checks and log kept, when
        handlers run on the reading task: the handler is called without a task, a log
        line or a lookup more than the stock path's."""
        namespace = namespace or "/"
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        if self.async_handlers or not self.manager.is_connected(sid, namespace) \
                or self.logger.isEnabledFor(logging.INFO):
            await self._handle_event(eio_sid, namespace, None, data)
            return
        await self._trigger_event(data[0], namespace, sid, *data[1:])

    def _engineio_server_class(self) -> type:
        return DirectReadEngineIOServer


__all__ = ["DirectEmitManager", "DirectReadAsyncServer", "FastPacket", "InOrderClient", "InOrderEngineIOClient",
           "WRITTEN_FOR"]
