
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


class Recording(DummyBrain):
    """DummyBrain that notes each thinking call: (data, mode, memory rows)."""

    def setup(self):
        self.calls = []

    def thinking(self, muscle_id, data_from_muscle):
        self.calls.append((data_from_muscle, self.mode, len(self.memory)))
        return super().thinking(muscle_id, data_from_muscle)


def test_count_upwards_muscle_follows_the_brain_counter_in_palaestrai_order():
    env = Counter()
    brain = Recording()
    brain.configure(env.sensors(env.reset()), env.actuators(), seed=0)
    muscle = DummyMuscle(count_upwards=True)
    muscle.configure(seed=0, uid="m0")
    result = run_episode(env, muscle, DummyObjective(), InProcessBrainLink(brain))
    # thinking first with no data (answer 0), then with the counter the muscle sent:
    # the muscle plays 0, 1, 2, ... modulo 4; the terminal step is thought about too
    assert result.steps == 10
    assert result.reward_return == sum(i % 4 for i in range(10))
    assert result.objective_return == result.reward_return
    assert [c[0] for c in brain.calls] == [None, *range(10)]
    assert [c[2] for c in brain.calls] == list(range(11))   # each step remembered first
    assert len(brain.memory) == 10 and brain.memory.tags == {"m0"}
    assert brain.memory.tail(1).dones.tolist() == [True]
    assert brain.memory.tail(3).actuator_setpoints["choice"].tolist() == [3.0, 0.0, 1.0]
    # the next episode starts with a thinking call with no data again, after reset()
    run_episode(env, muscle, DummyObjective(), InProcessBrainLink(brain))
    assert brain.calls[11][0] is None


def test_test_and_evaluate_modes_still_think_with_the_brain_in_test_mode():
    for mode in (Mode.TEST, Mode.EVALUATE):
        env = Counter()
        brain = Recording()
        brain.configure([], [], 0)
        muscle = DummyMuscle(count_upwards=True)
        muscle.configure(seed=1, mode=mode)
        seen = []

        def propose(s, a, muscle=muscle, original=muscle.propose_actions, seen=seen):
            seen.append(muscle.mode)
            return original(s, a)

        muscle.propose_actions = propose
        run_episode(env, muscle, DummyObjective(), InProcessBrainLink(brain))
        assert len(brain.calls) == 11
        assert {c[1] for c in brain.calls} == {Mode.TEST}   # EVALUATE thinks as TEST
        assert set(seen) == {Mode.TEST} and muscle.mode is mode
        assert brain.mode is mode
        # palaestrAI's Learner keeps only 2 rows in TEST (not in EVALUATE)
        assert (brain.memory.size_limit == 2) == (mode is Mode.TEST)


def test_dummy_objective_sums_the_newest_rewards():
    memory = Memory(5)
    memory.append_vectors([0.0], [0.0], [1.0, 2.5])
    assert DummyObjective().internal_reward(memory) == 3.5
    assert DummyObjective().internal_reward(Memory(5)) == 0.0
    assert DummyObjective({"scale": 2}).params == {"scale": 2}   # palaestrAI: params dict


def test_dummy_brain_stores_and_loads_its_value_as_bytes():
    dumper = InMemoryBrainDumper()
    brain = DummyBrain()
    brain.configure([], [], 0, [dumper])
    for data in (None, 0, 1, 2):
        answer = brain.think("a", data, None)
    assert answer == 3
    brain.store()
    assert dumper.states[None] == (3).to_bytes(1, "little")
    again = DummyBrain()
    assert again.configure([], [], 0, [dumper], load=True)   # loaded before setup()
    assert again._dummy_value == 3
def test_statistics_are_popped_per_step():
    muscle = DummyMuscle("m")
    muscle.add_statistics("loss", 1.0)
    assert muscle.pop_statistics() == {"loss": 1.0}
    assert muscle.pop_statistics() == {}


def test_pretrain_runs_on_replayed_rows_then_the_memory_starts_fresh():
    class Replaying(DummyBrain):
        def pretrain(self):
            self.pretrained_on = len(self.memory)

    brain = Replaying()
    for i in range(5):   # experience from an earlier run, appended before set-up
        brain.memory.append_vectors([float(i)], [0.0], [1.0], muscle_id="old")
    brain.configure([], [], 0)
    assert brain.pretrained_on == 5 and len(brain.memory) == 0
    assert brain.evaluate_rollouts("run", "run-0", 0, "agent", 3) is None


def test_the_muscle_is_torn_down_once_by_its_runner():
    from rl_agents.muscle_runner import MuscleRunner

    class Tidy(DummyMuscle):
        def teardown(self):
            self.torn = getattr(self, "torn", 0) + 1

    muscle = Tidy(count_upwards=True)
    muscle.configure(uid="tidy")
    brain = DummyBrain()
    brain.configure([], [], 0)
    runner = MuscleRunner(muscle, DummyObjective(), InProcessBrainLink(brain))
    assert runner.episode(Counter()).steps == 10
    runner.close()
    runner.close()
    assert muscle.torn == 1
