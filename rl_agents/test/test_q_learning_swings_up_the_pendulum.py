"""Value-based learning: Q(lambda) with tile coding swings the pendulum up.

Claim (README): with episodes of 100 steps, within 200 training episodes
(20,000 environment steps), for each of seeds 0, 1, 2, the greedy policy's
mean return over 10 fixed start states is above -300; the untrained brain
(ties broken at random: a random policy) scores below -400. Swinging up
from the bottom and balancing costs about -150 to -200 per episode.
"""

import numpy as np
import pytest

from rl_agents.agent import DummyObjective, Mode
from rl_agents.algorithms import TileQBrain, TileQMuscle
from rl_agents.loop import InProcessBrainLink, run_episode
from rl_agents.tasks import Pendulum

PARAMS = {"tiles_per_dim": 8, "tilings": 16, "bins": 3, "alpha": 0.5, "gamma": 0.99,
          "trace_decay": 0.9, "epsilon": 0.0, "sync_every": 10}
TRAIN_EPISODES = 200
EPISODE_STEPS = 100


def greedy_return(env, muscle, link) -> float:
    muscle.mode = Mode.TEST
    returns = [run_episode(env, muscle, DummyObjective(), link, seed=10**7 + i).reward_return
               for i in range(10)]
    muscle.mode = Mode.TRAIN
    return float(np.mean(returns))


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_greedy_policy_swings_up_after_200_episodes_for_three_seeds():
    learnt = []
    for seed in (0, 1, 2):
        env = Pendulum({"episode_steps": EPISODE_STEPS})
        brain = TileQBrain(**PARAMS)
        brain.configure(env.sensors(env.reset(seed)), env.actuators(), seed)
        muscle = TileQMuscle("m0", **PARAMS)
        muscle.configure(seed)
        link = InProcessBrainLink(brain)
        if seed == 0:
            assert greedy_return(env, muscle, link) < -400   # untrained: ties broken at random
        steps = sum(run_episode(env, muscle, DummyObjective(), link,
                                seed=seed * 10**5 + ep).steps for ep in range(TRAIN_EPISODES))
        assert steps == TRAIN_EPISODES * EPISODE_STEPS
        learnt.append(greedy_return(env, muscle, link))
    assert all(r > -300 for r in learnt), learnt
