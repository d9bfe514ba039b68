"""The demo arm over the device path (robot_bringup.device_arm: the embedded device with the
arm's brain design, brain_device.yaml's input binding, decoder and reward populations, the
live loop's timing) learns a controller that holds on targets it never saw."""

import numpy as np
import pytest

from robot_bringup.device_arm import run_device_arm
from robot_bringup.offline_arm import random_targets, run_arm


def test_device_arm_is_deterministic_and_moves_the_arm():
    a = run_device_arm(1, True, 60, cycles_per_target=30)
    b = run_device_arm(1, True, 60, cycles_per_target=30)
    assert a.rewards.shape == (60,) and a.joint_errors.shape == (60, 2)
    assert np.all((a.rewards >= 0) & (a.rewards <= 1))
    np.testing.assert_array_equal(a.rewards, b.rewards)
    assert np.ptp(a.joint_errors[:, 0]) > 0.005          # the device's outputs move the arm
    frozen = run_device_arm(1, False, 60, cycles_per_target=30)
    assert frozen.network.stats.rewards == 0             # no reward reaches a frozen run
    assert a.network.stats.rewards > 0


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_what_the_device_learns_holds_on_new_targets():
    """Seed 1, the live device demo's timing (600 cycles of 10 ms per target, the joint
    errors every 2 cycles and 2 cycles old, rewards 3 late): after the learning phase's
    13200 cycles on the two demo targets, the frozen device closes a clear part of the gap
    between holding still and the proportional controller on six targets it never saw;
    the device as initialised, frozen, on the same targets does not."""
    cycles, targets = 600 * 6, random_targets(1001, 6)
    hold = run_arm(1, False, cycles, cycles_per_target=600, policy="hold", targets=targets)
    prop = run_arm(1, False, cycles, cycles_per_target=600, policy="proportional",
                   targets=targets)

    def closed(run) -> float:
        return (run.mean() - hold.mean()) / (prop.mean() - hold.mean())

    initial = run_device_arm(1, False, cycles, targets=targets)
    learned = run_device_arm(1, True, 13200)
    frozen = run_device_arm(1, False, cycles, device=learned.network, targets=targets)
    print(f"learning last fifth {learned.last_fifth():.3f}; new targets (whole run): hold "
          f"{hold.mean():.3f}, proportional {prop.mean():.3f}, initial {initial.mean():.3f} "
          f"({closed(initial):+.2f}), learned frozen {frozen.mean():.3f} "
          f"({closed(frozen):+.2f})")
    assert closed(initial) < 0.2
    assert closed(frozen) > 0.5
