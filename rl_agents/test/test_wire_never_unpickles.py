import json
import pickle

import numpy as np
import pytest

from rl_agents.wire import WireError, decode, encode


def test_nested_values_and_arrays_round_trip():
    value = {"a": [1, 2.5, None, True, "x"],
             "w": np.arange(12, dtype=np.float32).reshape(3, 4),
             "i": np.array([-1, 2], dtype=np.int16),
             "b": np.array([True, False]),
             "scalar": np.float64(1.25), "n": np.int64(7),
             "nested": {"empty": np.zeros((0, 3))}}
    frames = encode(value)
    assert len(frames) == 5  # json + four arrays
    out = decode(frames)
    assert out["a"] == [1, 2.5, None, True, "x"]
    assert out["w"].dtype == np.float32 and out["w"].shape == (3, 4)
    assert np.array_equal(out["w"], value["w"])
    assert np.array_equal(out["i"], value["i"]) and out["i"].dtype == np.int16
    assert out["b"].dtype == bool
    assert out["scalar"] == 1.25 and out["n"] == 7
    assert out["nested"]["empty"].shape == (0, 3)
    out["w"][0, 0] = 99.0  # decoded arrays are writable copies


def test_objects_that_are_not_data_are_refused_when_sending():
    with pytest.raises(WireError, match="dtype object"):
        encode({"x": np.array([object()], dtype=object)})
    with pytest.raises(WireError, match="type set"):
        encode({1, 2})
    with pytest.raises(WireError, match="keys must be strings"):
        encode({1: "a"})


def test_a_pickle_from_the_network_is_not_unpickled():
    evil = pickle.dumps({"x": np.arange(3)})
    with pytest.raises(WireError, match="not JSON"):
        decode([evil])


def test_array_headers_are_checked_against_their_buffers():
    header = {"__ndarray__": 0, "dtype": "<f8", "shape": [4]}
    with pytest.raises(WireError, match="needs 32 bytes, buffer has 8"):
        decode([json.dumps(header).encode(), b"\0" * 8])
    with pytest.raises(WireError, match="not numeric"):
        decode([json.dumps({**header, "dtype": "|O"}).encode(), b"\0" * 32])
    with pytest.raises(WireError, match="missing buffer"):
        decode([json.dumps({**header, "__ndarray__": 3}).encode(), b"\0" * 32])
    with pytest.raises(WireError, match="2 buffers, 1 referenced"):
        decode([json.dumps(header).encode(), b"\0" * 32, b"extra"])
