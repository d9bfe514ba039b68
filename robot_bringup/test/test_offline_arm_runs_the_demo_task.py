"""offline_arm: the demo's task on the embedded Network, deterministic, with late rewards."""

import numpy as np
import pytest

from robot_bringup.offline_arm import random_targets, run_arm


def test_offline_arm_is_deterministic_and_moves_the_arm():
    a = run_arm(1, True, 40, cycles_per_target=20, reward_delay=2)
    b = run_arm(1, True, 40, cycles_per_target=20, reward_delay=2)
    assert a.rewards.shape == (40,) and a.joint_errors.shape == (40, 2)
    assert np.all((a.rewards >= 0) & (a.rewards <= 1))
    np.testing.assert_array_equal(a.rewards, b.rewards)
    assert np.ptp(a.joint_errors[:, 0]) > 0.01          # the brain's commands move the arm
    frozen = run_arm(1, False, 40, cycles_per_target=20, reward_delay=2)
    assert not np.array_equal(frozen.rewards, a.rewards)  # learning changed what it did


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_what_the_demo_brain_learns_lasts_and_holds_on_new_targets():
    """The demo's graph and rewards at the live loop's timing (300 cycles per target,
    inputs 2 and rewards 3 cycles late): after 1500 cycles of learning on the two demo
    targets, the frozen network reaches four targets it never saw nearly as well as a
    proportional controller on the same joint error, far better than holding still."""
    learned = run_arm(1, True, 1500, cycles_per_target=300)
    new = random_targets(1001, 4)
    frozen = run_arm(1, False, 1200, cycles_per_target=300, network=learned.network,
                     targets=new)
    hold = run_arm(1, False, 1200, cycles_per_target=300, policy="hold", targets=new)
    prop = run_arm(1, False, 1200, cycles_per_target=300, policy="proportional", targets=new)
    closed = (frozen.mean() - hold.mean()) / (prop.mean() - hold.mean())
    print(f"learning last fifth {learned.last_fifth():.3f}; new targets: frozen "
          f"{frozen.mean():.3f}, hold {hold.mean():.3f}, proportional {prop.mean():.3f}, "
          f"gap closed {closed:.2f}")
    assert closed > 0.6
