import numpy as np
import pytest

from rl_agents.memory import Memory


def test_memory_is_bounded_and_tail_returns_the_newest_rows_oldest_first():
    memory = Memory(size_limit=100)
    for i in range(250):
        memory.append([i, -i], [i % 3], [0.5 * i], done=(i % 10 == 9), objective=float(i),
                      muscle_id=f"m{i % 2}")
    assert len(memory) == 100
    tail = memory.tail(5)
    assert tail.sensors[:, 0].tolist() == [245, 246, 247, 248, 249]
    assert tail.actuators[:, 0].tolist() == [245 % 3, 246 % 3, 247 % 3, 248 % 3, 249 % 3]
    assert tail.rewards[:, 0].tolist() == [122.5, 123.0, 123.5, 124.0, 124.5]
    assert tail.objective.tolist() == [245.0, 246.0, 247.0, 248.0, 249.0]
    assert tail.dones.tolist() == [False, False, False, False, True]
    assert tail.muscle_ids == ["m1", "m0", "m1", "m0", "m1"]
    assert len(memory.tail(1000)) == 100
    assert memory.tail(1000).sensors[0, 0] == 150


def test_set_objective_fills_the_newest_row():
    memory = Memory(10)
    memory.append([1.0], [0.0], [2.0])
    assert np.isnan(memory.tail(1).objective[0])
    memory.set_objective(3.5)
    assert memory.tail(1).objective[0] == 3.5


def test_rows_of_another_width_are_refused_with_the_field_named():
    memory = Memory(10)
    memory.append([1.0, 2.0], [0.0], [1.0])
    with pytest.raises(ValueError, match="'sensors' has 3 values, earlier rows had 2"):
        memory.append([1.0, 2.0, 3.0], [0.0], [1.0])


def test_empty_memory_has_an_empty_tail():
    assert len(Memory(5).tail(3)) == 0
    with pytest.raises(ValueError):
        Memory(0)
