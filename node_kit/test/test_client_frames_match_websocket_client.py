"""The realtime client's batched frames and binary packets: byte for byte what
websocket-client and python-socketio make of the same data."""

from __future__ import annotations

import pytest
import websocket
from socketio import packet as sio_packet

from node_kit.socketio_overrides import FastPacket, _Frames, client_frame


@pytest.mark.parametrize("length", [0, 1, 3, 125, 126, 127, 65535, 65536, 70001])
@pytest.mark.parametrize("opcode", [websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY])
def test_a_frame_is_websocket_client_s(length, opcode):
    data = bytes((i * 7 + 3) % 256 for i in range(length))
    if opcode == websocket.ABNF.OPCODE_TEXT:
        data = "".join(chr(0x61 + i % 26) for i in range(length - 1)) + ("é" if length else "")
    frame = websocket.ABNF.create_frame(data, opcode)
    frame.get_mask_key = lambda n: b"\x12\x34\xab\xcd"
    assert client_frame(data, opcode, b"\x12\x34\xab\xcd") == frame.format()


def test_frames_use_the_socket_s_mask_key_source():
    frames = _Frames([("2/ab,", websocket.ABNF.OPCODE_TEXT), (b"\x00\x01", 2)])
    frames.get_mask_key = lambda n: b"abcd"
    assert frames.format() == client_frame("2/ab,", 1, b"abcd") + client_frame(b"\x00\x01", 2,
                                                                                 b"abcd")
    frames.get_mask_key = None              # websocket-client's default: random keys
    assert frames.format() != frames.format()


def test_binary_events_encode_as_python_socketio_s():
    chunk = {"runId": "r", "inputId": "camera", "kind": "Image", "seq": 3, "t": 1.5,
             "format": "bgr8", "meta": {"width": 16, "height": 12, "names": ["a", None],
                                        "nested": [{"x": b"\x01"}, [True, 2.5]], "cycle": 9},
             "data": b"\x00" * 576, "more": bytearray(b"\x02")}
    ours = FastPacket(sio_packet.EVENT, namespace="/ab", data=["io:chunk", chunk]).encode()
    stock = sio_packet.Packet(sio_packet.EVENT, namespace="/ab", data=["io:chunk", chunk]).encode()
    assert ours == stock
    assert len(ours) == 4                    # the header and three attachments


def test_binary_events_decode_as_python_socketio_s():
    chunk = {"runId": "r", "meta": {"names": ["a", None], "nested": [{"x": b"\x01"}, [True, 2.5]],
                                    "_placeholder": False, "num": 3},
             "data": b"\x00" * 9}
    encoded = sio_packet.Packet(sio_packet.EVENT, namespace="/ab", data=["io:chunk", chunk]).encode()
    decoded = []
    for packet_class in (FastPacket, sio_packet.Packet):
        pkt = packet_class(encoded_packet=encoded[0])
        for attachment in encoded[1:]:
            pkt.add_attachment(attachment)
        decoded.append(pkt.data)
    assert decoded[0] == decoded[1] == ["io:chunk", chunk]
