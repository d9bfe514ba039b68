"""The python-socketio / python-engineio internals that node_kit.socketio_overrides
overrides exist, with the signatures it relies on, in the versions it was written for."""

from __future__ import annotations

import inspect
from importlib.metadata import version

import engineio
import socketio
from socketio import packet as sio_packet

from node_kit.socketio_overrides import WRITTEN_FOR, FastPacket, InOrderClient


def test_installed_versions_are_the_ones_the_overrides_were_written_for():
    installed = {name: version(name) for name in WRITTEN_FOR}
    assert installed == WRITTEN_FOR, (
        "python-socketio/engineio/websocket-client changed: re-check every override in "
        "node_kit/socketio_overrides.py against the new sources, then update WRITTEN_FOR "
        "and constraints.txt together")


def test_the_overridden_internals_still_exist_with_their_signatures():
    assert list(inspect.signature(engineio.Client._send_packet).parameters) == ["self", "pkt"]
    params = inspect.signature(engineio.Client._trigger_event).parameters
    assert list(params)[:2] == ["self", "event"] and "kwargs" in params
    assert "run_async" in inspect.getsource(engineio.Client._trigger_event)
    assert "_engineio_client_class" in vars(socketio.Client)
    assert InOrderClient(logger=False)._engineio_client_class().__name__ == \
        "InOrderEngineIOClient"
    # DirectReadAsyncServer's shorter path for binary events
    server = socketio.AsyncServer
    assert list(inspect.signature(server._handle_eio_message).parameters) == \
        ["self", "eio_sid", "data"]
    assert list(inspect.signature(server._handle_eio_disconnect).parameters) == \
        ["self", "eio_sid", "reason"]
    assert list(inspect.signature(server._handle_event).parameters) == \
        ["self", "eio_sid", "namespace", "id", "data"]
    assert list(inspect.signature(server._trigger_event).parameters) == \
        ["self", "event", "namespace", "args"]
    assert "self._binary_packet[eio_sid] = pkt" in inspect.getsource(server._handle_eio_message)
    assert "add_attachment" in inspect.getsource(server._handle_eio_message)


def test_fast_packet_encodes_as_the_stock_packet():
    for data in (["cycle:update", {"rows": [[0, 1, 2]] * 3, "t": 0.5}],
                 ["io:chunk", {"data": b"\x00\x01", "meta": [None, True, "x"]}],
                 ["e", [1, [2, [3, [b"deep"]]]]]):
        ours = FastPacket(sio_packet.EVENT, data=data, namespace="/ab")
        stock = sio_packet.Packet(sio_packet.EVENT, data=data, namespace="/ab")
        assert FastPacket.data_is_binary(data) == sio_packet.Packet.data_is_binary(data)
        assert ours.encode() == stock.encode()
