"""DirectReadAsyncServer's shorter path for a binary event with one attachment (an
io:chunk) hands its handlers what the stock python-socketio server (default packet
class) hands them, fails where it fails, and keeps the same pending-packet state, message
by message; anything of another shape takes the stock path."""

from __future__ import annotations

import asyncio
import copy
import json

import pytest
import socketio
from socketio import packet as sio_packet

from node_kit import socketio_overrides
from node_kit.socketio_overrides import DirectReadAsyncServer, FastPacket

NS = "/ab"
BLOB = bytes(range(256)) * 3


def _text(data, namespace=NS, ack=None, attachments=1) -> str:
    """A binary event's text as the stock client writes it, placeholders given in data."""
    head = f"5{attachments}-" + (f"{namespace}," if namespace != "/" else "")
    return head + ("" if ack is None else str(ack)) + json.dumps(data, separators=(",", ":"))


PLACEHOLDER = {"_placeholder": True, "num": 0}
META = {"cycle": 5, "width": 16, "height": 12, "stamp": 1.5, "names": ["a", "b"], "x": None}

#: message sequences (each message a text or the bytes of an attachment)
CASES = {
    "io:chunk": [_text(["e", {"runId": "r", "inputId": "camera", "format": "mono8",
                              "meta": META, "data": PLACEHOLDER}]), BLOB],
    "placeholder first": [_text(["e", {"data": PLACEHOLDER, "meta": {}}]), b"\x00"],
    "empty attachment": [_text(["e", {"data": PLACEHOLDER}]), b""],
    "default namespace": [_text(["e", {"data": PLACEHOLDER}], namespace="/"), BLOB],
    "sync handler": [_text(["s", {"data": PLACEHOLDER}]), BLOB],
    "catch-all": [_text(["other", {"data": PLACEHOLDER}]), BLOB],
    "no handler at all": [_text(["e", {"data": PLACEHOLDER}], namespace="/x"), BLOB],
    "nested placeholder": [_text(["e", {"meta": {"data": PLACEHOLDER}}]), BLOB],
    "in a list": [_text(["e", [PLACEHOLDER]]), BLOB],
    "two arguments": [_text(["e", {"data": PLACEHOLDER}, 3]), BLOB],
    "two attachments": [_text(["e", {"a": PLACEHOLDER, "b": {"_placeholder": True, "num": 1}}],
                              attachments=2), b"1", b"2"],
    "ack id": [_text(["e", {"data": PLACEHOLDER}], ack=7), BLOB],
    "query in namespace": [_text(["e", {"data": PLACEHOLDER}], namespace=NS + "?k=v"), BLOB],
    "escaped key": ['51-/ab,["e",{"data":{"\\u005fplaceholder":true,"num":0}}]', BLOB],
    "placeholder as a value": [_text(["e", {"k": "_placeholder", "data": PLACEHOLDER}]), BLOB],
    "placeholder word only": [_text(["e", {"k": "_placeholder"}]), BLOB],
    "num 1": [_text(["e", {"data": {"_placeholder": True, "num": 1}}]), BLOB],
    "num false": [_text(["e", {"data": {"_placeholder": True, "num": False}}]), BLOB],
    "placeholder false": [_text(["e", {"data": {"_placeholder": False, "num": 0}}]), BLOB],
    "extra keys": [_text(["e", {"data": {"_placeholder": 1, "num": 0, "z": 2}}]), BLOB],
    "duplicate key": ['51-/ab,["e",{"data":{"_placeholder":true,"num":0},"data":5}]', BLOB],
    "not a list": [_text({"data": PLACEHOLDER}), BLOB],
    "event not a string": [_text([3, {"data": PLACEHOLDER}]), BLOB],
    "bad JSON": ['51-/ab,["e",{"data":', BLOB],
    "not connected there": [_text(["e", {"data": PLACEHOLDER}], namespace="/nope"), BLOB],
    "text attachment": [_text(["e", {"data": PLACEHOLDER}]), "text"],
    "text after text": [_text(["e", {"data": PLACEHOLDER}]), _text(["e", {"d": PLACEHOLDER}]),
                        BLOB],
    "two in a row": [_text(["e", {"data": PLACEHOLDER, "n": 1}]), b"1",
                     _text(["e", {"data": PLACEHOLDER, "n": 2}]), b"2"],
    "plain event between": [_text(["e", {"data": PLACEHOLDER}]), BLOB, '2/ab,["e",{"n":1}]'],
    "one more attachment": [_text(["e", {"data": PLACEHOLDER}]), BLOB, BLOB],
}


async def _connected(server: socketio.AsyncServer, calls: list) -> socketio.AsyncServer:
    """`server` with handlers that record their calls, one engine.io connection (sid E)
    joined to "/" and NS, its sends dropped (no transport here)."""

    @server.on("e", namespace=NS)
    @server.on("e", namespace="/")
    async def e(sid, *args):
        calls.append(("e", args))

    @server.on("s", namespace=NS)
    def s(sid, *args):
        calls.append(("s", args))

    @server.on("*", namespace=NS)
    async def anything(event, sid, *args):
        calls.append(("*", event, args))

    async def send(*args, **kwargs):
        return None

    server.eio.send = send
    await server._handle_eio_connect("E", {})
    await server._handle_eio_message("E", "0")
    await server._handle_eio_message("E", f"0{NS},")
    return server


async def _run(server_class: type, messages: list, **kwargs) -> list:
    """What each message led to: the handlers' calls, the error raised, and the pending
    binary packet's state."""
    calls: list = []
    server = await _connected(server_class(async_mode="aiohttp", async_handlers=False,
                                           logger=False, **kwargs), calls)
    seen = []
    for message in messages:
        try:
            await server._handle_eio_message("E", message)
            error = None
        except Exception as exc:       # the stock path's errors, compared
            error = (type(exc).__name__, str(exc))
        pending = server._binary_packet.get("E")
        seen.append((copy.deepcopy(calls), error,
                     None if pending is None else copy.deepcopy(vars(pending))))
        calls.clear()
    return seen


def _both(messages: list) -> tuple[list, list]:
    ours = asyncio.run(_run(DirectReadAsyncServer, messages, serializer=FastPacket))
    stock = asyncio.run(_run(socketio.AsyncServer, messages))
    return ours, stock


@pytest.mark.parametrize("name", list(CASES))
def test_a_binary_event_reaches_the_handlers_as_on_the_stock_server(name):
    ours, stock = _both(CASES[name])
    assert ours == stock


def test_the_io_chunk_shape_takes_the_shorter_path(monkeypatch):
    """The io:chunk case never decodes its text as a stock packet nor reconstructs it (so
    the comparison above is of the shorter path: python-socketio's `_handle_eio_message`
    never sees its messages), and the other shapes still do."""
    decoded = []
    stock_decode = sio_packet.Packet.decode

    def counting(self, encoded_packet):
        decoded.append(encoded_packet)
        return stock_decode(self, encoded_packet)

    stock_handle = socketio.AsyncServer._handle_eio_message
    handled = []

    async def counting_handle(self, eio_sid, data):
        handled.append(data)
        return await stock_handle(self, eio_sid, data)

    monkeypatch.setattr(sio_packet.Packet, "decode", counting)
    monkeypatch.setattr(socketio.AsyncServer, "_handle_eio_message", counting_handle)
    for name in ("io:chunk", "placeholder first", "default namespace", "sync handler",
                 "catch-all", "two in a row"):
        seen = asyncio.run(_run(DirectReadAsyncServer, CASES[name], serializer=FastPacket))
        assert seen[1][0], name                      # a handler got it
    texts = [m for m in CASES["io:chunk"] if isinstance(m, str)]
    assert not set(texts) & set(decoded)
    assert [m for m in handled if m not in ("0", f"0{NS},")] == []   # none went the stock way
    monkeypatch.undo()
    decoded.clear()
    monkeypatch.setattr(sio_packet.Packet, "decode", counting)
    asyncio.run(_run(DirectReadAsyncServer, CASES["nested placeholder"], serializer=FastPacket))
    asyncio.run(_run(DirectReadAsyncServer, CASES["ack id"], serializer=FastPacket))
    assert len(decoded) >= 2 + 2                     # (the two connects decode too)


def test_the_comparison_tells_a_wrong_placeholder_apart(monkeypatch):
    """A shorter path that put the attachment at the wrong key would fail the comparison."""
    monkeypatch.setattr(socketio_overrides, "_placeholder_key", lambda body, data: "runId")
    ours, stock = _both(CASES["io:chunk"])
    assert ours != stock


class _ErrorsAsEvents(FastPacket):
    """A packet class whose decode turns text it cannot decode into an event (as the
    embedded brain's ServerPacket does), the same as FastPacket's otherwise."""

    stock_decode_when_valid = True

    def decode(self, encoded_packet):
        try:
            return super().decode(encoded_packet)
        except ValueError as exc:
            self.packet_type = sio_packet.EVENT
            self.data = ["e", {"malformed": str(exc)}]
            return 0


class _OwnDecode(FastPacket):
    """A decode of its own that does not say it is the stock one on valid text."""

    def decode(self, encoded_packet):
        count = super().decode(encoded_packet)
        if isinstance(self.data, list) and self.data and self.data[0] == "e":
            self.data = ["s", *self.data[1:]]
        return count


@pytest.mark.parametrize("packet_class", [_ErrorsAsEvents, _OwnDecode])
@pytest.mark.parametrize("name", ["io:chunk", "bad JSON", "two in a row", "not a list"])
def test_a_packet_class_s_own_decode_is_kept(packet_class, name):
    ours = asyncio.run(_run(DirectReadAsyncServer, CASES[name], serializer=packet_class))
    stock = asyncio.run(_run(socketio.AsyncServer, CASES[name], serializer=packet_class))
    assert ours == stock
    if name == "bad JSON" and packet_class is _ErrorsAsEvents:
        assert ours[0][0] and ours[0][0][0][1][0]["malformed"]   # its decode answered
    if name == "io:chunk" and packet_class is _OwnDecode:
        assert ours[1][0][0][0] == "s"                           # its decode ran


def test_the_shorter_path_skips_only_a_decode_that_says_so(monkeypatch):
    decoded = []
    for packet_class in (_ErrorsAsEvents, _OwnDecode):
        stock_decode = packet_class.decode

        def counting(self, encoded_packet, stock_decode=stock_decode):
            decoded.append((type(self), encoded_packet))
            return stock_decode(self, encoded_packet)

        monkeypatch.setattr(packet_class, "decode", counting)
        monkeypatch.setattr(packet_class, "stock_decode_when_valid",
                            packet_class is _ErrorsAsEvents, raising=False)
        asyncio.run(_run(DirectReadAsyncServer, CASES["io:chunk"], serializer=packet_class))
    text = CASES["io:chunk"][0]
    assert (_ErrorsAsEvents, text) not in decoded and (_OwnDecode, text) in decoded
