"""A reward acts on the eligibility of the cycle it names, even when it arrives after
later cycles ran; rewards for cycles not run yet, or too old, change nothing."""

from __future__ import annotations

import numpy as np

from embedded_brain.point_task import point_graph
from embedded_brain.snn import Network


def eye_input(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"eye": (rng.random((20, 16)) < 0.3).astype(np.uint8)}


def test_late_reward_equals_the_same_reward_sent_at_once() -> None:
    graph = point_graph()
    at_once, late = Network(graph, seed=2), Network(graph, seed=2)
    late.keep_eligibility_history(8)
    inputs = np.random.default_rng(0)
    rasters = [eye_input(inputs) for _ in range(4)]
    for net in (at_once, late):
        net.run_cycle(rasters[0])
        net.apply_reward(0.5, cycle=0)             # sets the baseline: nothing learned
    at_once.run_cycle(rasters[1])
    late.run_cycle(rasters[1])
    before = at_once.weights.copy()
    advantage = at_once.apply_reward(0.9, cycle=1)   # right after cycle 1
    assert advantage and all(a > 0 for a in advantage.values())
    w_after = at_once.weights.copy()
    late.run_cycle(rasters[2])                       # cycle 2 runs before the reward arrives
    late.run_cycle(rasters[3])
    assert late.apply_reward(0.9, cycle=1) == advantage
    assert not np.array_equal(w_after, before)       # the reward taught something
    np.testing.assert_array_equal(late.weights, w_after)
    # Applied to whatever is eligible now instead, the same reward changes other weights.
    now = Network(graph, seed=2)
    for raster in rasters[:2]:
        now.run_cycle(raster)
    now.apply_reward(0.5)
    now.run_cycle(rasters[2])
    now.run_cycle(rasters[3])
    now.apply_reward(0.9)
    assert not np.array_equal(now.weights, w_after)


def test_rewards_for_unknown_cycles_are_ignored() -> None:
    net = Network(point_graph(), seed=1)
    net.keep_eligibility_history(3)
    rng = np.random.default_rng(1)
    for _ in range(6):
        net.run_cycle(eye_input(rng))
    net.apply_reward(0.2, cycle=5)
    weights = net.weights.copy()
    assert net.apply_reward(1.0, cycle=6) is None    # not run yet
    assert net.apply_reward(1.0, cycle=1) is None    # older than the 3 cycles kept
    assert net.stdp.rewards_ignored == 2
    np.testing.assert_array_equal(net.weights, weights)
    assert net.apply_reward(1.0, cycle=3)            # still kept: learns
    assert not np.array_equal(net.weights, weights)


def test_history_starts_with_the_first_late_reward() -> None:
    net = Network(point_graph(), seed=1)
    rng = np.random.default_rng(2)
    for _ in range(3):
        net.run_cycle(eye_input(rng))
    assert not net.stdp.history                      # rewarding at once costs no copies
    assert net.apply_reward(0.7, cycle=1) is None    # no copy of cycle 1 was kept
    net.run_cycle(eye_input(rng))
    net.run_cycle(eye_input(rng))
    assert net.apply_reward(0.7, cycle=3) is not None
