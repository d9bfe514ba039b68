"""Policy-based learning: the cross-entropy method learns to reach with the 2-joint arm.

Claim (README): within 200 training episodes (10,000 environment steps),
for each of seeds 0, 1, 2, the mean policy's return over 20 fixed episodes
(random start and target) is above -20; doing nothing scores about -48 and
a hand-tuned Jacobian-transpose controller about -10.
"""

import numpy as np
import pytest

from rl_agents.agent import DummyObjective, InMemoryBrainDumper, Mode
from rl_agents.algorithms import CEMBrain, CEMMuscle
from rl_agents.loop import InProcessBrainLink, run_episode
from rl_agents.tasks import ArmReach

PARAMS = {"features": "arm_reach", "population": 12, "episodes_per_candidate": 2,
          "init_std": 2.0, "extra_std": 0.1}


def test_return(env, muscle) -> float:
    muscle.mode = Mode.TEST
    returns = [run_episode(env, muscle, DummyObjective(), None, seed=10**7 + i).reward_return
               for i in range(20)]
    muscle.mode = Mode.TRAIN
    return float(np.mean(returns))


test_return.__test__ = False


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_mean_policy_reaches_after_200_episodes_for_three_seeds():
    learnt = []
    for seed in (0, 1, 2):
        env = ArmReach({"episode_steps": 50})
        brain = CEMBrain(**PARAMS)
        brain.configure(env.sensors(env.reset(seed)), env.actuators(), seed)
        # two muscles share the brain and evaluate candidates in turn
        muscles = [CEMMuscle(f"m{k}", **PARAMS) for k in range(2)]
        link = InProcessBrainLink(brain)
        for k, muscle in enumerate(muscles):
            muscle.configure(seed * 10 + k)
            muscle.update(link.think(muscle.uid, None, None))
        if seed == 0:
            assert test_return(env, muscles[0]) < -40   # the initial mean policy does nothing
        for ep in range(200):
            run_episode(env, muscles[ep % 2], DummyObjective(), link, seed=seed * 10**5 + ep)
        assert brain.generation >= 6
        learnt.append(test_return(env, muscles[0]))
    assert all(r > -20 for r in learnt), learnt


def test_stored_policy_is_what_a_test_muscle_loads():
    env = ArmReach({"episode_steps": 10})
    dumper = InMemoryBrainDumper()
    brain = CEMBrain(**PARAMS)
    brain.configure(env.sensors(env.reset(0)), env.actuators(), 0, [dumper])
    brain.mean = np.arange(brain.mean.size, dtype=float)
    brain.store()
    muscle = CEMMuscle("tester", **PARAMS)
    muscle.configure(0, Mode.TEST, [dumper])
    assert muscle.prepare_model()
    assert np.array_equal(muscle.mean.reshape(-1), np.arange(brain.mean.size))
    restored = CEMBrain(**PARAMS)
    restored.configure(env.sensors(env.reset(0)), env.actuators(), 0, [dumper])
    assert restored.load()
    assert np.array_equal(restored.mean, brain.mean)
