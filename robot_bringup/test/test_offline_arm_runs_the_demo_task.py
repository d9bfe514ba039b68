"""offline_arm: the demo's task on the embedded Network, deterministic, with late rewards."""

import numpy as np
import pytest

from robot_bringup.offline_arm import run_arm


def test_offline_arm_is_deterministic_and_moves_the_arm():
    a = run_arm(1, True, 40, cycles_per_target=20, reward_delay=2)
    b = run_arm(1, True, 40, cycles_per_target=20, reward_delay=2)
    assert a.rewards.shape == (40,) and a.joint_errors.shape == (40, 2)
    assert np.all((a.rewards >= 0) & (a.rewards <= 1))
    np.testing.assert_array_equal(a.rewards, b.rewards)
    assert np.ptp(a.joint_errors[:, 0]) > 0.01          # the brain's commands move the arm
    frozen = run_arm(1, False, 40, cycles_per_target=20, reward_delay=2)
    assert not np.array_equal(frozen.rewards, a.rewards)  # learning changed what it did


@pytest.mark.timeout(240)
def test_the_demo_brain_learns_to_reach_in_the_live_regime():
    """The demo's graph and rewards at the live loop's timing (target every 100 cycles,
    inputs 2 and rewards 3 cycles late): the last fifth with learning beats the frozen
    network clearly and keeps the tip near the targets."""
    on = run_arm(1, True, 1500)
    off = run_arm(1, False, 1500)
    bins = on.rewards.reshape(10, -1).mean(axis=1)
    print("learning on, per 150 cycles:", " ".join(f"{b:.2f}" for b in bins),
          f"| last fifth on {on.last_fifth():.3f} off {off.last_fifth():.3f}")
    assert on.last_fifth() > off.last_fifth() + 0.1
    assert on.last_fifth() > 0.65
