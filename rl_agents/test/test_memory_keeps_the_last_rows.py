import numpy as np
import pytest

from rl_agents.information import ActuatorInformation, RewardInformation, SensorInformation
from rl_agents.memory import Memory
from rl_agents.spaces import Box, Discrete


def test_memory_is_bounded_and_tail_returns_the_newest_rows_oldest_first():
    memory = Memory(size_limit=100)
    for i in range(250):
        memory.append_vectors([i, -i], [i % 3], [0.5 * i], done=(i % 10 == 9), objective=float(i),
                      muscle_id=f"m{i % 2}")
    assert len(memory) == 100
    tail = memory.tail(5)
    assert tail.sensors[:, 0].tolist() == [245, 246, 247, 248, 249]
    assert tail.actuators[:, 0].tolist() == [245 % 3, 246 % 3, 247 % 3, 248 % 3, 249 % 3]
    assert tail.rewards.values[:, 0].tolist() == [122.5, 123.0, 123.5, 124.0, 124.5]
    assert tail.objective.tolist() == [245.0, 246.0, 247.0, 248.0, 249.0]
    assert tail.dones.tolist() == [False, False, False, False, True]
    assert tail.muscle_ids == ["m1", "m0", "m1", "m0", "m1"]
    assert len(memory.tail(1000)) == 100
    assert memory.tail(1000).sensors[0, 0] == 150


def test_set_objective_fills_the_newest_row():
    memory = Memory(10)
    memory.append_vectors([1.0], [0.0], [2.0])
    assert np.isnan(memory.tail(1).objective[0])
    memory.set_objective(3.5)
    assert memory.tail(1).objective[0] == 3.5


def test_rows_of_another_width_are_refused_with_the_field_named():
    memory = Memory(10)
    memory.append_vectors([1.0, 2.0], [0.0], [1.0])
    with pytest.raises(ValueError, match="'sensors' has 3 values, earlier rows had 2"):
        memory.append_vectors([1.0, 2.0, 3.0], [0.0], [1.0])


def test_empty_memory_has_an_empty_tail():
    assert len(Memory(5).tail(3)) == 0
    with pytest.raises(ValueError):
        Memory(0)


def _row(i):
    sensors = [SensorInformation(float(i), Box(-1e3, 1e3, shape=()), "x"),
               SensorInformation(np.array([i, 2 * i], dtype=np.float64),
                                 Box(-1e3, 1e3, shape=(2,)), "v")]
    setpoints = [ActuatorInformation(i % 3, Discrete(3), "gear")]
    rewards = [RewardInformation(0.5 * i, Box(-1e3, 1e3, shape=()), "score"),
               RewardInformation(1.0, Box(-1e3, 1e3, shape=()), "alive")]
    return sensors, setpoints, rewards


def test_palaestrai_appends_give_per_uid_tables_tags_and_filtered_tails():
    memory = Memory()
    for i in range(6):
        sensors, setpoints, rewards = _row(i)
        uid = "left" if i % 2 == 0 else "right"
        memory.append(uid, sensor_readings=sensors, actuator_setpoints=setpoints,
                      rewards=rewards, done=(i == 5))
        memory.append(uid, objective=np.array([10.0 * i]))   # the objective comes after
    assert len(memory) == 6 and memory.tags == {"left", "right"}
    tail = memory.tail(2)
    assert tail.sensor_readings.columns == ["x", "v[0]", "v[1]"]
    assert tail.sensor_readings["x"].tolist() == [4.0, 5.0]
    assert tail.actuator_setpoints["gear"].tolist() == [1.0, 2.0]
    assert tail.rewards.columns == ["score", "alive"]
    assert tail.rewards.sum(axis=1).tolist() == [3.0, 3.5]   # palaestrAI's DummyObjective sum
    assert tail.objective.tolist() == [40.0, 50.0]
    assert tail.dones.tolist() == [False, True]
    left = memory.tail(2, include_only=["left"])
    assert left.sensor_readings["x"].tolist() == [2.0, 4.0] and left.muscle_ids == ["left"] * 2
    assert len(memory.tail(10, include_only=["nobody"])) == 0
    memory.truncate(3)
    assert len(memory) == 3 and memory.tail(10).sensor_readings["x"].tolist() == [3.0, 4.0, 5.0]
    memory.size_limit = 2   # palaestrAI's Learner does this in TEST
    assert memory.tail(10).sensor_readings["x"].tolist() == [4.0, 5.0]


def test_palaestrai_append_needs_the_muscle_uid_first():
    with pytest.raises(TypeError, match="append_vectors"):
        Memory().append([1.0], [0.0], [1.0])
