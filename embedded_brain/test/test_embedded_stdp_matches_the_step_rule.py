"""The cycle's STDP, done event by event by the compiled kernel (the eligibility decayed
once per cycle, as a factor per layer), is the rule applied step by step: for every
synapse, at every step, potentiation at a post spike by the pre trace and depression at a
pre spike by the post trace (centered layers: against the post neuron's usual rate), the
eligibility decaying one step at a time."""

from __future__ import annotations

import math

import numpy as np
import pytest

from embedded_brain.graph import parse_graph
from embedded_brain.snn import Network

GAMMA = 20


def graph(centered: str):
    """A sparse layer and a dense one (all to all), one of them
    centered, with different time constants, and a fixed projection that is not learned."""
    return parse_graph({
        "project": "stdp", "gamma": GAMMA, "seed": 4,
        "populations": [
            {"id": "eye", "size": 40},
            {"id": "mid", "size": 40, "neuron": {"noise_std": 0.4, "tau_m_ms": 10.0}},
            {"id": "out", "size": 12, "neuron": {"noise_std": 0.4, "tau_m_ms": 10.0}}],
        "inputs": [{"id": "eye", "kind": "Image",
                    "encoder": {"type": "retina", "width": 40, "height": 1}}],
        "outputs": [{"id": "out"}],
        "projections": [
            {"id": "eye_to_mid", "pre": "eye", "post": "mid",
             "connectivity": {"type": "fixed_probability", "p": 0.05},
             "learning": {"a_plus": 0.8, "a_minus": 0.6, "tau_plus_ms": 15.0,
                          "tau_minus_ms": 25.0, "tau_eligibility_ms": 30.0,
                          "centered": centered == "eye_to_mid", "rate_tau_cycles": 3}},
            {"id": "mid_to_out", "pre": "mid", "post": "out",
             "learning": {"a_plus": 1.0, "a_minus": 0.5, "tau_plus_ms": 20.0,
                          "tau_minus_ms": 20.0, "tau_eligibility_ms": 50.0,
                          "centered": centered == "mid_to_out", "rate_tau_cycles": 5}},
            {"id": "eye_to_out", "pre": "eye", "post": "out", "weight": {"mean": 0.05}}]},
        source="stdp")


def full_raster(net: Network, outputs: dict[str, np.ndarray]) -> np.ndarray:
    raster = np.zeros((GAMMA, net.neuron_count), dtype=bool)
    for pid, sl in net.slices.items():
        raster[:, sl] = outputs[pid] != 0
    return raster


@pytest.mark.parametrize("centered", ["eye_to_mid", "mid_to_out"])
def test_cycle_stdp_equals_the_rule_step_by_step(centered: str) -> None:
    g = graph(centered)
    net = Network(g, seed=2)
    layers = [p for p in g.projections if p.learning is not None]
    slots = {p.id: net.projection_ranges[p.id] for p in layers}
    assert slots["eye_to_mid"].size < 40 * 40 // 4 and slots["mid_to_out"].size == 40 * 12
    pre = {k: net.pre[v] for k, v in slots.items()}
    post = {k: net.post[v] for k, v in slots.items()}
    n = net.neuron_count
    x = {p.id: np.zeros(n) for p in layers}
    y = {p.id: np.zeros(n) for p in layers}
    rate = {p.id: np.zeros(n) for p in layers}
    e = {p.id: np.zeros(v.size) for p, v in zip(layers, slots.values(), strict=True)}
    rng = np.random.default_rng(0)
    # 80 cycles: the stored eligibility is rescaled on the way (its scale falls below
    # RESCALE_BELOW after ~70 cycles of tau_eligibility 30 ms).
    for cycle in range(80):
        result = net.run_cycle({"eye": (rng.random((GAMMA, 40)) < 0.15).astype(np.uint8)},
                               record_all=True)
        s = full_raster(net, result.outputs).astype(float)
        assert s[:, net.slices["mid"]].any() and s[:, net.slices["out"]].any()
        for p in layers:
            q, i, j = p.learning, pre[p.id], post[p.id]
            usual = rate[p.id] if q.centered else np.zeros(n)
            y_mean = usual / (1.0 - math.exp(-1.0 / q.tau_minus_ms))
            for k in range(GAMMA):
                e[p.id] += q.a_plus * x[p.id][i] * (s[k, j] - usual[j]) \
                    - q.a_minus * s[k, i] * (y[p.id][j] - y_mean[j])
                e[p.id] *= math.exp(-1.0 / q.tau_eligibility_ms)
                x[p.id] = x[p.id] * math.exp(-1.0 / q.tau_plus_ms) + s[k]
                y[p.id] = y[p.id] * math.exp(-1.0 / q.tau_minus_ms) + s[k]
            if q.centered:
                seen = s.mean(axis=0)
                rate[p.id] = seen if cycle == 0 else \
                    rate[p.id] + (seen - rate[p.id]) / q.rate_tau_cycles
        for p in layers:
            got = net.stdp.eligibility[slots[p.id]]
            np.testing.assert_allclose(got, e[p.id], rtol=1e-4, atol=1e-5,
                                       err_msg=f"{p.id}, cycle {cycle}")
    assert all(np.abs(v).max() > 0.1 for v in e.values())


def test_wide_post_populations_learn_the_same() -> None:
    """The pass reads post neurons as uint16 offsets when every plastic projection's posts
    span at most 65536 neurons, else as int32: both give the same eligibility and weights."""
    narrow, wide = (Network(graph("mid_to_out"), seed=2) for _ in range(2))
    assert narrow.stdp.post_local.dtype == np.uint16
    wide.stdp.post_local = wide.stdp.post_local.astype(np.int32)
    rng = np.random.default_rng(1)
    for _ in range(30):
        eye = (rng.random((GAMMA, 40)) < 0.15).astype(np.uint8)
        reward = float(rng.random())
        for net in (narrow, wide):
            net.run_cycle({"eye": eye})
            net.apply_reward(reward)
    np.testing.assert_array_equal(narrow.stdp.eligibility, wide.stdp.eligibility)
    np.testing.assert_array_equal(narrow.weights, wide.weights)
    assert np.abs(narrow.stdp.eligibility).max() > 0.1
