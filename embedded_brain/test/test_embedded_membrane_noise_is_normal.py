"""The membrane noise's deviates, drawn inside the compiled loops, are standard normal:
moments, tail masses (the ziggurat's tail beyond 3.44 included) and a seed's stream is
its own."""

from __future__ import annotations

import math

import numpy as np

from embedded_brain import kernels


def draw(seed: int, count: int) -> np.ndarray:
    out = np.empty(count, dtype=np.float32)
    kernels.standard_normal(kernels.seed_state(np.random.default_rng(seed)), out)
    return out


def test_deviates_are_standard_normal() -> None:
    x = draw(0, 2_000_000)
    assert abs(x.mean()) < 0.003
    assert abs(x.var() - 1.0) < 0.004
    assert abs(np.mean(x ** 4) - 3.0) < 0.03
    for a in (0.5, 1.0, 2.0, 3.0, 3.6):
        expected = math.erfc(a / math.sqrt(2.0))       # P(|x| > a)
        got = np.mean(np.abs(x) > a)
        assert abs(got - expected) < 4 * math.sqrt(expected / x.size) + 1e-6, (a, got, expected)
    # symmetric, in the core and the tail
    assert abs(np.mean(x > 3.6) - np.mean(x < -3.6)) < 4 * math.sqrt(3.2e-4 / x.size)
    # no correlation between successive deviates (they feed neuron after neuron)
    assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < 0.003


def test_a_seed_gives_its_own_stream() -> None:
    np.testing.assert_array_equal(draw(5, 1000), draw(5, 1000))
    assert not np.array_equal(draw(5, 1000), draw(6, 1000))
