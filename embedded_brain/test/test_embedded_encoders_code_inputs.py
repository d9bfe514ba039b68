"""Encoders turn io:chunk payloads into the rates the brain's input populations fire at."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from embedded_brain.encoders import (
    EncodeError,
    encode_feedback,
    encode_input,
    poisson_spikes,
    population_code,
)
from embedded_brain.graph import Encoder, bundled_graph_path, load_graph

GRAPH = load_graph(bundled_graph_path("demo_arm"))
SPEC = {i.id: i for i in GRAPH.inputs}
# A Scalar coded by Gaussian tuning curves (the demo's `target` is `signed`, below).
POPULATION = dataclasses.replace(SPEC["target"], encoder=Encoder(
    type="population", count=2, per_value=16, min=-1.0, max=1.0, sigma=1.0, max_rate_hz=300))


def test_scalars_are_population_coded_around_their_value() -> None:
    rates = encode_input(POPULATION, "f32", {}, np.array([-1.0, 1.0], "<f4").tobytes())
    x, y = rates.reshape(2, 16)
    assert x.argmax() == 0 and y.argmax() == 15
    peak = POPULATION.encoder.max_rate_hz
    assert x.max() == pytest.approx(peak) and x[8] < peak / 100
    middle = encode_input(POPULATION, "json", {}, b"[0.0, 0.5]").reshape(2, 16)
    assert middle[0].argmax() in (7, 8) and 10 <= middle[1].argmax() <= 12
    clipped = encode_input(POPULATION, "json", {}, b'{"values": [-9, 9]}')
    assert np.array_equal(clipped, rates)


def test_signed_scalars_fire_one_half_in_proportion_to_the_value() -> None:
    """The demo's `target` (the joint errors): per value, 8 neurons for "above 0" and 8
    for "below", each at max_rate_hz x |value| (clipped to the range), silent at 0."""
    spec = SPEC["target"]
    assert spec.encoder.type == "signed"
    peak = spec.encoder.max_rate_hz
    rates = encode_input(spec, "json", {}, b"[0.5, -0.25]").reshape(2, 2, 8)
    assert np.allclose(rates[0, 0], 0.5 * peak) and np.allclose(rates[0, 1], 0.0)
    assert np.allclose(rates[1, 0], 0.0) and np.allclose(rates[1, 1], 0.25 * peak)
    assert not encode_input(spec, "json", {}, b"[0, 0]").any()
    clipped = encode_input(spec, "f32", {}, np.array([3.0, -3.0], "<f4").tobytes())
    assert np.allclose(clipped.reshape(2, 2, 8)[[0, 1], [0, 1]], peak)


@pytest.mark.parametrize("encoder, wrong", [
    ("{type: signed, count: 1, per_value: 3, min: -1, max: 1}", "even per_value"),
    ("{type: signed, count: 1, per_value: 4, min: 0, max: 1}", "min < 0 < max"),
])
def test_a_signed_encoder_needs_both_signs_and_halves(tmp_path, encoder, wrong) -> None:
    from embedded_brain.graph import GraphError

    path = tmp_path / "g.yaml"
    size = 3 if "per_value: 3" in encoder else 4
    path.write_text(f"project: p\npopulations:\n  - {{id: x, size: {size}}}\n"
                    f"  - {{id: out, size: 2}}\ninputs:\n  - {{id: x, kind: Scalar, "
                    f"encoder: {encoder}}}\noutputs:\n  - {{id: out}}\nprojections: []\n")
    with pytest.raises(GraphError, match=wrong):
        load_graph(path)


def test_joint_state_positions_ignore_trailing_velocities() -> None:
    with_velocities = encode_input(SPEC["joints"], "f32", {"n": 2},
                                   np.array([0.2, -0.4, 3.0, 3.0], "<f4").tobytes())
    positions = encode_input(SPEC["joints"], "json", {}, b'{"position": [0.2, -0.4]}')
    assert np.allclose(with_velocities, positions)


def test_images_land_on_the_retina_grid_in_every_format() -> None:
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:, 48:] = 255                                  # right quarter bright
    for fmt, data, meta in (
            ("bgr8", frame.tobytes(), {"width": 64, "height": 48}),
            ("rgb8", frame.tobytes(), {"width": 64, "height": 48}),
            ("mono8", frame[:, :, 0].tobytes(), {"width": 64, "height": 48}),
            ("jpeg", cv2.imencode(".jpg", frame)[1].tobytes(), {}),
            ("png", cv2.imencode(".png", frame)[1].tobytes(), {})):
        grid = encode_input(SPEC["camera"], fmt, meta, data).reshape(12, 16)
        assert grid[:, 12:].min() > 90 and grid[:, :11].max() < 10, fmt


def test_feedback_raster_drives_plus_and_minus_neurons() -> None:
    spec = GRAPH.feedback[0]
    raster = np.zeros((20, 8), "<f4")
    raster[:, 0] = 1.0
    raster[:, 1] = -0.5
    rates = encode_feedback(spec, 20, "raster_f32", {"T": 20, "N": 8}, raster.tobytes())
    assert rates.shape == (20, 16)
    assert np.all(rates[:, 0] == 200) and np.all(rates[:, 8 + 1] == 100)
    assert rates[:, [1, 8]].max() == 0
    with pytest.raises(EncodeError, match="meta N=4"):
        encode_feedback(spec, 20, "raster_f32", {"N": 4}, raster.tobytes())


def test_poisson_spikes_follow_the_rates_and_the_seed() -> None:
    rates = np.array([0.0, 100.0, 1000.0], np.float32)
    a = poisson_spikes(np.random.default_rng(1), rates, 2000, 1.0)
    b = poisson_spikes(np.random.default_rng(1), rates, 2000, 1.0)
    assert np.array_equal(a, b)
    assert a[:, 0].sum() == 0 and a[:, 2].all()
    assert 150 < a[:, 1].sum() < 250


def _poisson_clipped(rng: np.random.Generator, rates_hz: np.ndarray, gamma: int,
                     dt_ms: float) -> np.ndarray:
    """The written-out definition: p = clip(rate × dt, 0, 1) per step, spike when u < p."""
    rates_hz = np.asarray(rates_hz, dtype=np.float32)
    shape = (gamma, rates_hz.shape[-1])
    p = np.clip(np.broadcast_to(rates_hz, shape) * np.float32(dt_ms / 1000.0), 0.0, 1.0)
    return (rng.random(shape, dtype=np.float32) < p).astype(np.uint8)


@pytest.mark.parametrize("per_step", [False, True])
def test_poisson_spikes_are_the_clipped_definition_draw_for_draw(per_step: bool) -> None:
    """The same rasters as clipping p to [0, 1] first, from the same generator state, for
    rates below 0, at 0, ordinary, p ≥ 1, infinite and NaN; per neuron or per step."""
    edge = np.array([-50.0, 0.0, 1e-3, 37.5, 300.0, 999.9, 1000.0, 5e3, np.inf, np.nan],
                    np.float32)
    rates = np.concatenate([edge, np.random.default_rng(0).uniform(0, 1200, 500)
                            .astype(np.float32)])
    if per_step:
        rates = np.random.default_rng(2).permuted(np.tile(rates, (20, 1)), axis=1)
    for dt_ms in (1.0, 0.5, 2.0):
        got = poisson_spikes(np.random.default_rng(7), rates, 20, dt_ms)
        want = _poisson_clipped(np.random.default_rng(7), rates, 20, dt_ms)
        assert got.dtype == np.uint8 and got.shape == want.shape == (20, rates.shape[-1])
        assert np.array_equal(got, want)
        assert set(np.unique(got)) <= {0, 1}
    # (a check that would catch a different draw order: a shifted generator differs)
    rng = np.random.default_rng(7)
    rng.random()
    assert not np.array_equal(poisson_spikes(rng, rates, 20, 1.0),
                              _poisson_clipped(np.random.default_rng(7), rates, 20, 1.0))
    with pytest.raises(ValueError):
        poisson_spikes(np.random.default_rng(7), np.zeros((3, 4), np.float32), 20, 1.0)


def _population_written_out(values: np.ndarray, enc: Encoder) -> np.ndarray:
    values = np.clip(np.asarray(values, dtype=np.float64), enc.min, enc.max)
    centres = np.linspace(enc.min, enc.max, enc.per_value)
    spacing = (enc.max - enc.min) / max(enc.per_value - 1, 1)
    width = enc.sigma * spacing
    rates = np.exp(-0.5 * ((values[:, None] - centres[None, :]) / width) ** 2)
    return (rates * enc.max_rate_hz).ravel().astype(np.float32)


def test_population_codes_are_the_written_out_tuning_curves_bit_for_bit() -> None:
    """population_code keeps each encoder's centres between calls: the same rates as
    computing them every time, for every encoder, called in any order."""
    values = np.array([-9.0, -3.1416, -1.0, -0.3, 0.0, 1e-9, 0.77, 3.1416, 9.0])
    encoders = [SPEC["joints"].encoder, POPULATION.encoder,
                Encoder(type="population", count=9, per_value=1, min=0.0, max=2.0,
                        sigma=0.5, max_rate_hz=50),
                Encoder(type="population", count=9, per_value=7, min=-2.0, max=5.0,
                        sigma=2.5, max_rate_hz=120)]
    for enc in encoders * 2:
        got = population_code(values, enc)
        assert got.dtype == np.float32
        assert np.array_equal(got, _population_written_out(values, enc))
    wider = dataclasses.replace(encoders[3], sigma=2.6)
    assert not np.array_equal(population_code(values, wider),
                              _population_written_out(values, encoders[3]))


@pytest.mark.parametrize("fmt", ["mono8", "gray8"])
def test_one_channel_images_are_their_own_grey(fmt: str) -> None:
    """A one-channel raw image's grey is its pixels / 255, as the mean over its one channel."""
    spec = SPEC["camera"]
    pixels = np.random.default_rng(3).integers(0, 256, (24, 32), dtype=np.uint8)
    pixels[0, :4] = (0, 1, 254, 255)
    rates = encode_input(spec, fmt, {"width": 32, "height": 24}, pixels.tobytes())
    grey = (pixels.reshape(24, 32, 1).astype(np.float32) / 255.0).mean(axis=2)
    small = cv2.resize(grey, (spec.encoder.width, spec.encoder.height),
                       interpolation=cv2.INTER_AREA)
    want = (np.clip(small.ravel(), 0.0, 1.0) * spec.encoder.max_rate_hz).astype(np.float32)
    assert np.array_equal(rates, want)
