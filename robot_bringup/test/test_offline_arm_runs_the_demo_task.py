"""offline_arm: the demo's task on the embedded Network, deterministic, with late rewards."""

import numpy as np

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
