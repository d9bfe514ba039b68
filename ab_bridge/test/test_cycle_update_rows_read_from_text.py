"""CyclePacket reads a cycle:update's plain output rows straight from the text: the same
event, rows and rasters as FastPacket's JSON decoding, and anything else decoded by it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from socketio import packet as sio_packet

from ab_bridge.decoding import DecodeError, RowBlock, rows_to_cycle
from ab_bridge.realtime import CyclePacket
from node_kit.socketio_overrides import FastPacket


def rendered_rows(rasters: dict[str, np.ndarray]) -> str:
    """Rows as servers render them (compact JSON), e.g. the embedded brain's."""
    return json.dumps([{"t": t, "id": pid, "bits": raster[t].tolist()}
                       for pid, raster in rasters.items() for t in range(raster.shape[0])],
                      separators=(",", ":"))


def packet_text(rows_json: str, before: str = '{"runId":"r1","cycle":7,',
                after: str = ',"computeMs":0.25}') -> str:
    return '2/ab,["cycle:update",' + before + '"outputs":' + rows_json + after + "]"


def decoded(packet_class: type, text: str):
    data = packet_class(encoded_packet=text).data
    if isinstance(data[1].get("outputs"), RowBlock):
        data[1]["outputs"] = data[1]["outputs"].rows()
    return data


def test_plain_rows_become_a_block_with_the_same_rows_and_rasters():
    rng = np.random.default_rng(3)
    for steps, width in ((20, 32), (1, 1), (5, 200)):
        rasters = {"joint0": (rng.random((steps, width)) < 0.2).astype(int),
                   "joint1": (rng.random((steps, width)) < 0.2).astype(int)}
        text = packet_text(rendered_rows(rasters))
        ours = CyclePacket(encoded_packet=text).data
        assert isinstance(ours[1]["outputs"], RowBlock)
        theirs = FastPacket(encoded_packet=text).data
        assert decoded(CyclePacket, text) == theirs
        a = rows_to_cycle(ours[1]["outputs"], max_timesteps=steps, max_neurons=1024)
        b = rows_to_cycle(theirs[1]["outputs"], max_timesteps=steps, max_neurons=1024)
        assert a.populations == b.populations == ["joint0", "joint1"]
        assert np.array_equal(a.timesteps, b.timesteps)
        for x, y, raster in zip(a.rasters, b.rasters, rasters.values(), strict=True):
            assert np.array_equal(x, y) and np.array_equal(x, raster)


@pytest.mark.parametrize("rows_json", [
    '[{"t": 0, "id": "a", "bits": [0, 1]}]',                      # not compact
    '[{"t":0,"id":"a","bits":[0,1]},{"t":1,"id":"a","bits":[1]}]',  # two widths
    '[{"t":0,"id":"a","bits":[0,1]} ,{"t":1,"id":"a","bits":[1,0]}]',
    '[{"t":0,"id":"a\\u0041","bits":[0,1]}]',                     # an escape in the id
    '[{"t":0,"id":"","bits":[0,1]}]',                             # an empty id
    '[{"t":0,"id":"a","bits":[0,2]}]',                            # not a bit
    '[{"t":0,"id":"a","bits":[]}]',
    '[{"t":01,"id":"a","bits":[0,1]}]',                           # not JSON
    '[{"t":' + "1" * 101 + ',"id":"a","bits":[0,1]}]',            # refused by engineio
    '[{"t":0,"id":"a","bits":[0,1],"n":2}]',
    '[{"t":0,"id":"a]}]","bits":[0,1]}]',
    '[]',
])
def test_other_rows_are_decoded_as_json_decodes_them(rows_json):
    text = packet_text(rows_json)
    try:
        theirs = FastPacket(encoded_packet=text).data
    except ValueError as error:
        with pytest.raises(type(error)):
            CyclePacket(encoded_packet=text)
        return
    ours = CyclePacket(encoded_packet=text).data
    assert not isinstance(ours[1]["outputs"], RowBlock)
    assert ours == theirs


def test_rows_of_another_field_or_event_are_left_to_json():
    rows = '[{"t":0,"id":"a","bits":[0,1]}]'
    for text in (packet_text('"none"', before='{"meta":{"outputs":' + rows + '},'),
                 '2/ab,["io:need",{"outputs":' + rows + "}]"):
        ours = CyclePacket(encoded_packet=text).data
        assert ours == FastPacket(encoded_packet=text).data
        assert not any(isinstance(v, RowBlock) for v in ours[1].values())
    nested_first = packet_text(rows, before='{"meta":{"outputs":' + rows + '},')
    assert decoded(CyclePacket, nested_first) == FastPacket(encoded_packet=nested_first).data


def test_a_block_wider_than_the_limit_is_refused_as_rows_are():
    text = packet_text(rendered_rows({"a": np.ones((2, 40), dtype=int)}))
    block = CyclePacket(encoded_packet=text).data[1]["outputs"]
    rows = FastPacket(encoded_packet=text).data[1]["outputs"]
    errors = []
    for outputs in (block, rows):
        with pytest.raises(DecodeError) as caught:
            rows_to_cycle(outputs, max_timesteps=2, max_neurons=32)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]


def test_the_encoder_is_fastpacket_s():
    data = ["io:chunk", {"runId": "r", "data": b"\x00\x01", "meta": {"cycle": 3}}]
    ours = CyclePacket(sio_packet.EVENT, namespace="/ab", data=data).encode()
    assert ours == FastPacket(sio_packet.EVENT, namespace="/ab", data=data).encode()
