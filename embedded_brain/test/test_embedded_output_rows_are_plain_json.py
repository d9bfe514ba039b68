"""cycle:update's output rows, rendered from the rasters at once, are on the wire exactly
what python-socketio's JSON encoding of the row dicts would be."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from socketio import packet

from embedded_brain.server import OutputRows, ServerPacket


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.tuples(st.integers(1, 25),
                                                                  st.integers(0, 40)),
                       max_size=3),
       st.integers(0, 2 ** 32 - 1))
def test_rendered_rows_encode_like_the_row_dicts(shapes: dict, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rasters = {pid: (rng.random(shape) < 0.3).astype(np.uint8) for pid, shape in shapes.items()}
    rows = [{"t": t, "id": pid, "bits": raster[t].tolist()}
            for pid, raster in rasters.items() for t in range(raster.shape[0])]
    payload = {"runId": "r", "cycle": 7, "spikeCounts": {"x": 1}, "computeMs": 0.5}
    ours = ServerPacket(packet.EVENT, namespace="/ab",
                         data=["cycle:update", {**payload, "outputs": OutputRows.of(rasters)}])
    plain = packet.Packet(packet.EVENT, namespace="/ab",
                          data=["cycle:update", {**payload, "outputs": rows}])
    assert ours.encode() == plain.encode()
