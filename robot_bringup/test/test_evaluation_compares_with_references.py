"""The demo's figures: phases planned from the duration, references on each phase's own
targets, the gap closed between holding still and the proportional controller, and
--seed drawing the network itself."""

from __future__ import annotations

import numpy as np
import pytest

from embedded_brain.graph import bundled_graph_path, load_graph
from embedded_brain.snn import Network
from robot_bringup.evaluation import (
    PhaseResult,
    gap_closed,
    headline,
    phase_metrics,
    plan_phases,
    run_references,
    seeded_graph_file,
)
from robot_bringup.offline_arm import random_targets, run_arm, seeded_graph


def test_phases_fill_the_duration_in_order() -> None:
    plans = plan_phases(240.0)
    assert [p.name for p in plans] == ["frozen_initial", "learning", "retention", "new_targets"]
    assert [p.learning for p in plans] == [False, True, False, False]
    assert [p.targets for p in plans] == ["demo", "demo", "demo", "new"]
    assert sum(p.duration_s for p in plans) == pytest.approx(240.0)
    assert [p.name for p in plan_phases(30.0, no_learning=True)] == ["frozen_initial"]
    with pytest.raises(ValueError, match="positive"):
        plan_phases(0.0)


def test_gap_closed_is_zero_holding_still_and_one_at_the_controller() -> None:
    assert gap_closed(0.5, 0.5, 0.9) == 0.0
    assert gap_closed(0.9, 0.5, 0.9) == pytest.approx(1.0)
    assert gap_closed(0.7, 0.5, 0.9) == pytest.approx(0.5)
    assert gap_closed(0.4, 0.5, 0.9) < 0                 # worse than holding still
    assert gap_closed(None, 0.5, 0.9) is None and gap_closed(0.7, 0.5, 0.5) is None


def test_references_run_on_the_phase_own_targets_and_feed_the_headline() -> None:
    targets = random_targets(1001, 3)
    phase = PhaseResult("new_targets", False, "new", 0.0, 30.0,
                        rewards=[(t * 0.02, 0.6) for t in range(180)], targets=targets)
    phase.references = run_references(phase)
    assert phase.cycles_per_target() == 60
    hold, prop = phase.references["hold"], phase.references["proportional"]
    # Holding still is scored on the same targets as the arm would be: its reward follows
    # from where the start pose is against the last target.
    last = np.array(targets[-1])
    start_tip = np.array([0.0, 0.6])
    assert hold["last_fifth"] == pytest.approx(1 - np.hypot(*(last - start_tip)), abs=1e-3)
    assert prop["last_fifth"] > 0.9 > hold["last_fifth"]
    metrics = phase_metrics(phase)
    assert metrics["targets_visited"] == [[round(x, 3), round(y, 3)] for x, y in targets]
    expected = (0.6 - hold["last_fifth"]) / (prop["last_fifth"] - hold["last_fifth"])
    assert metrics["gap_closed_last_fifth"] == pytest.approx(expected, abs=1e-3)
    head = headline([phase])
    assert head["available"] and head["gap_closed_frozen_new_targets"] == \
        metrics["gap_closed_last_fifth"]
    assert not headline([PhaseResult("learning", True, "demo", 0.0)])["available"]


def test_the_seed_draws_the_network_not_only_its_noise(tmp_path) -> None:
    graph = load_graph(bundled_graph_path("demo_arm"))
    one, again = Network(seeded_graph(graph, 1), seed=1), Network(seeded_graph(graph, 1), seed=1)
    two = Network(seeded_graph(graph, 2), seed=2)
    w = "hidden_to_joint0"
    np.testing.assert_array_equal(one.projection_weights(w), again.projection_weights(w))
    assert not np.array_equal(one.projection_weights(w), two.projection_weights(w))
    assert not np.array_equal(one.projection_weights("target_to_hidden"),
                              two.projection_weights("target_to_hidden"))
    # The demo hands the brain server a copy of the graph file with that seed.
    path = seeded_graph_file(str(bundled_graph_path("demo_arm")), 2, tmp_path)
    assert load_graph(path).seed == 2 and load_graph(path).structure_hash() == \
        seeded_graph(graph, 2).structure_hash()
    assert seeded_graph_file("x.yaml", None, tmp_path) == "x.yaml"


def test_offline_references_hold_still_and_follow_the_error() -> None:
    hold = run_arm(1, False, 60, cycles_per_target=30, policy="hold")
    assert np.ptp(hold.joint_errors[:30], axis=0).max() == 0.0     # the arm never moved
    prop = run_arm(1, False, 60, cycles_per_target=30, policy="proportional")
    assert prop.rewards[25:30].mean() > 0.95 and prop.rewards[55:].mean() > 0.95
    with pytest.raises(ValueError, match="policy"):
        run_arm(1, False, 10, policy="random")


def test_a_learned_network_goes_on_frozen() -> None:
    learned = run_arm(2, True, 60, cycles_per_target=30)
    weights = learned.network.weights.copy()
    frozen = run_arm(2, False, 60, cycles_per_target=30, network=learned.network,
                     targets=random_targets(5, 2))
    assert frozen.network is learned.network
    np.testing.assert_array_equal(frozen.network.weights, weights)   # learning off
    assert frozen.targets[0].tolist() == list(random_targets(5, 2)[0])


def test_references_follow_the_phase_own_switch_cycles() -> None:
    """A live phase's targets do not last equally long (its last one may have just
    appeared): the references switch where the phase did."""
    a, b = (0.45, 0.55), (-0.3, 0.3)
    hold = run_arm(1, False, 40, policy="hold", targets=[a, b], switch_cycles=[0, 35])
    assert np.ptp(hold.rewards[:35]) == 0 and np.ptp(hold.rewards[35:]) == 0
    assert hold.rewards[34] != hold.rewards[35]
    assert hold.targets[34].tolist() == list(a) and hold.targets[35].tolist() == list(b)
    with pytest.raises(ValueError, match="switch_cycles"):
        run_arm(1, False, 10, policy="hold", targets=[a, b], switch_cycles=[0])
    phase = PhaseResult("new_targets", False, "new", 0.0, 1.0,
                        rewards=[(0.0, 0.5)] * 40, targets=[a, b], target_starts=[2, 35])
    refs = run_references(phase)
    assert refs["hold"]["last_fifth"] == pytest.approx(float(hold.rewards[32:].mean()), abs=1e-4)
