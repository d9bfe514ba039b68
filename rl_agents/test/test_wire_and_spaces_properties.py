"""Property tests: any numeric array survives the wire; any Box survives its string form."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rl_agents.spaces import Box, Space
from rl_agents.wire import decode, encode

DTYPES = st.sampled_from([np.float32, np.float64, np.int8, np.int32, np.uint16, np.int64,
                          np.bool_])


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, max_side=5)))
def test_any_numeric_array_round_trips(array):
    out = decode(encode({"a": array, "nested": [array]}))
    for got in (out["a"], out["nested"][0]):
        assert got.dtype == array.dtype and got.shape == array.shape
        assert np.array_equal(got, array, equal_nan=array.dtype.kind == "f")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(0, 1e6)), min_size=1, max_size=4),
       st.sampled_from(["float32", "float64"]))
def test_any_box_round_trips_through_its_string(bounds, dtype):
    low = np.array([lo for lo, _ in bounds])
    high = low + np.array([width for _, width in bounds])
    box = Box(low, high, dtype=dtype)
    again = Space.from_string(box.to_string())
    assert again == box
    assert np.array_equal(again.low, box.low) and np.array_equal(again.high, box.high)
    assert again.contains(box.sample())
