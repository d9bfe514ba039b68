"""How far ahead the delivery prefetches synapse rows is a matter of speed only: the same
network, seed and inputs give the same spikes, weights and eligibility at any distance,
and the distance follows the size of the arrays the delivery reads."""

from __future__ import annotations

import numpy as np

from embedded_brain import kernels
from embedded_brain.graph import parse_graph
from embedded_brain.snn import Network

GAMMA = 20


def build(prefetch_ahead: int) -> Network:
    graph = parse_graph({
        "project": "prefetch", "gamma": GAMMA, "seed": 3,
        "populations": [{"id": "inp", "size": 100},
                        {"id": "exc", "size": 400, "neuron": {"noise_std": 0.3}},
                        {"id": "out", "size": 16, "neuron": {"noise_std": 0.3}}],
        "inputs": [{"id": "inp", "kind": "Scalar",
                    "encoder": {"type": "population", "count": 1, "per_value": 100}}],
        "outputs": [{"id": "out"}],
        "projections": [
            {"id": "in", "pre": "inp", "post": "exc", "weight": {"mean": 0.3, "std": 0.05},
             "connectivity": {"type": "fixed_probability", "p": 0.2}, "delay_ms": [1, 3],
             "learning": {"learning_rate": 1e-3}},
            {"id": "rec", "pre": "exc", "post": "exc", "weight": {"mean": 0.05},
             "connectivity": {"type": "fixed_probability", "p": 0.1}, "delay_ms": [1, 3],
             "learning": {"learning_rate": 1e-3}},
            {"id": "readout", "pre": "exc", "post": "out", "weight": 0.1,
             "connectivity": {"type": "fixed_indegree", "k": 40}}]},
        source="prefetch")
    net = Network(graph, seed=5, learning=True)
    net.prefetch_ahead = prefetch_ahead
    return net


def run(net: Network) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    rasters = []
    for _ in range(30):
        result = net.run_cycle({"inp": (rng.random((GAMMA, 100)) < 0.1).astype(np.uint8)},
                               record_all=True)
        rasters.append(np.concatenate([result.outputs[p] for p in ("inp", "exc", "out")],
                                      axis=1))
        net.apply_reward(float(rng.random()))
    return rasters, net.weights.copy(), net.stdp.eligibility


def test_every_prefetch_distance_gives_the_same_network() -> None:
    near, far, none = (run(build(k)) for k in (kernels.PREFETCH_NEAR,
                                                 kernels.PREFETCH_FAR, 10 ** 6))
    assert sum(int(r[:, 100:500].sum()) for r in near[0]) > 1000    # the network fires
    for other in (far, none):
        for a, b in zip(near[0], other[0], strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(near[1], other[1])
        np.testing.assert_array_equal(near[2], other[2])
    assert not np.array_equal(near[1], build(kernels.PREFETCH_NEAR).weights)  # it learned


def test_the_distance_follows_the_delivery_arrays_size() -> None:
    assert kernels.prefetch_distance(kernels.PREFETCH_FAR_BYTES) == kernels.PREFETCH_NEAR
    assert kernels.prefetch_distance(kernels.PREFETCH_FAR_BYTES + 1) == kernels.PREFETCH_FAR
    net = build(0)
    small = Network(net.graph, seed=5, learning=True)
    assert small.prefetch_ahead == kernels.PREFETCH_NEAR     # 516 neurons: a few kB
