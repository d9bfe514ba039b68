import numpy as np

from rl_agents.agent import DummyBrain, DummyMuscle, DummyObjective, InMemoryBrainDumper, Mode
from rl_agents.environment import Channel, Environment
from rl_agents.loop import InProcessBrainLink, run_episode
from rl_agents.memory import Memory
from rl_agents.spaces import Discrete


class Counter(Environment):
    """Reward = the discrete action taken; 10 steps."""

    m_channels = [Channel("choice", (0, 3))]
    s_channels = [Channel("t", (0, 10))]

    def reset(self, seed=None):
        self.t = 0
        return {"t": 0.0}

    def _execute(self, m_signal, meta=None):
        self.t += 1
        self.last = m_signal["choice"]
        return {"t": float(self.t)}

    def _assess(self, m_signal, s_signal):
        from rl_agents.environment import Assessment
        return Assessment(reward=float(self.last), done=self.t >= 10)

    def actuators(self):
        from rl_agents.information import ActuatorInformation
        return [ActuatorInformation(None, Discrete(4), "choice")]


def test_count_upwards_muscle_follows_the_brain_counter():
    env = Counter()
    brain = DummyBrain()
    brain.configure(env.sensors(env.reset()), env.actuators(), seed=0)
    muscle = DummyMuscle("m0", count_upwards=True)
    muscle.configure(seed=0)
    result = run_episode(env, muscle, DummyObjective(), InProcessBrainLink(brain))
    # the brain answers the n-th step with n; the muscle plays counter % 4
    assert result.steps == 10
    assert result.reward_return == sum(i % 4 for i in range(10))
    assert result.objective_return == result.reward_return
    assert brain.counts == {"m0": 10}
    assert len(brain.memory) == 10


def test_test_mode_does_not_talk_to_the_brain():
    env = Counter()
    brain = DummyBrain()
    brain.configure([], [], 0)
    muscle = DummyMuscle("m0")
    muscle.configure(seed=1, mode=Mode.TEST)
    run_episode(env, muscle, DummyObjective(), InProcessBrainLink(brain))
    assert brain.counts == {}


def test_dummy_objective_sums_the_newest_rewards():
    memory = Memory(5)
    memory.append([0.0], [0.0], [1.0, 2.5])
    assert DummyObjective().internal_reward(memory) == 3.5
    assert DummyObjective().internal_reward(Memory(5)) == 0.0


def test_dummy_brain_stores_and_loads_its_counters():
    dumper = InMemoryBrainDumper()
    brain = DummyBrain()
    brain.configure([], [], 0, [dumper])
    for _ in range(3):
        brain.think("a", None, None)
    brain.store()
    again = DummyBrain()
    again.configure([], [], 0, [dumper])
    assert again.load()
    assert again.think("a", None, None) == 4
    assert np.array_equal(dumper.states["counts"]["counts"], [3])


def test_statistics_are_popped_per_step():
    muscle = DummyMuscle("m")
    muscle.add_statistics("loss", 1.0)
    assert muscle.pop_statistics() == {"loss": 1.0}
    assert muscle.pop_statistics() == {}
