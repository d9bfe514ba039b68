"""Scalar and JointState frames of a few values are packed with struct: the same bytes,
meta and refusals as the numpy path they skip, which longer inputs still take."""

from __future__ import annotations

import array

import numpy as np
import pytest

from ab_bridge.inputs import (
    SMALL_FRAME_VALUES,
    InputError,
    InputFrame,
    joint_state_frame,
    scalar_frame,
    validate_frame,
)


def numpy_scalar(values) -> bytes:
    return np.asarray(values, dtype=np.float64).ravel().astype("<f4").tobytes()


@pytest.mark.parametrize("values", [
    [0.25, -0.5], (1, 2, 3), [True, 0.1], [], [-0.0, 1e-45, 3.4028234e38, 1 / 3],
    array.array("f", [0.1, -7.5]), array.array("d", [1e-300, 2.5]),
    [np.float64(0.7), 4], list(np.linspace(-1, 1, SMALL_FRAME_VALUES)),
])
def test_scalar_frames_are_numpy_s(values):
    frame = scalar_frame(values)
    assert frame.format == "f32" and frame.meta == {"n": len(values)}
    assert frame.data == numpy_scalar(values)
    checked = validate_frame(frame, "x")
    assert (checked.format, checked.data, checked.meta) == (frame.format, frame.data,
                                                            frame.meta)


@pytest.mark.parametrize("values", [[float("nan"), 1.0], [1.0, float("inf")]])
def test_non_finite_scalars_are_refused(values):
    with pytest.raises(InputError, match="NaN or infinity"):
        scalar_frame(values)


def test_beyond_float32_is_refused_as_before():
    frame = scalar_frame([1e39, 0.0])      # finite float64, infinite float32
    with pytest.raises(InputError, match="NaN or infinity"):
        validate_frame(frame, "target")


def test_long_and_nested_inputs_take_the_numpy_path():
    long = list(range(SMALL_FRAME_VALUES + 1))
    assert scalar_frame(long).data == numpy_scalar(long)
    assert scalar_frame([[1, 2], [3, 4]]).data == numpy_scalar([1, 2, 3, 4])
    assert scalar_frame(np.array([0.5, 2.0])).data == numpy_scalar([0.5, 2.0])


@pytest.mark.parametrize("positions, velocities", [
    ([0.848, 1.696], [0.0, -0.25]), (array.array("d", [0.1, 0.2]), array.array("d")),
    ([1, 2, 3], None), ([0.5], [1e-8]),
])
def test_joint_state_frames_are_numpy_s(positions, velocities):
    names = [f"j{i}" for i in range(len(positions))]
    frame = joint_state_frame(names, positions, velocities)
    q = np.asarray(positions, dtype=np.float64)
    dq = np.zeros_like(q) if not velocities else np.asarray(velocities, dtype=np.float64)
    assert frame.data == np.concatenate([q, dq]).astype("<f4").tobytes()
    assert frame.meta == {"n": len(positions), "names": names,
                          "fields": ["position", "velocity"]}


@pytest.mark.parametrize("names, positions, velocities, error", [
    (["a", "b"], [0.1, 0.2], [0.0], "2 positions but 1 velocities"),
    (["a"], [0.1, 0.2], [0.0, 0.0], "1 names but 2 positions"),
    (["a", "b"], [0.1, float("nan")], [0.0, 0.0], "NaN or infinity"),
])
def test_joint_state_refusals_are_the_same(names, positions, velocities, error):
    with pytest.raises(InputError, match=error):
        joint_state_frame(names, positions, velocities)


def test_a_frame_made_elsewhere_is_still_validated():
    with pytest.raises(InputError, match="NaN or infinity"):
        validate_frame(InputFrame("f32", np.array([np.nan], "<f4").tobytes(), {}), "x")
    with pytest.raises(InputError, match="exceeds the limit"):
        validate_frame(scalar_frame([1.0, 2.0]), "x", max_bytes=4)
