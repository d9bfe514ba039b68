import numpy as np
import pytest

from rl_agents.information import (
    ActuatorInformation,
    OutOfActionSpaceError,
    RewardInformation,
    SensorInformation,
)
from rl_agents.spaces import Box, Discrete


def test_sensor_is_called_for_its_value():
    sensor = SensorInformation(0.3, Box(0.0, 1.0, shape=()), "light", value_ids=["lux"])
    assert sensor() == 0.3
    assert sensor.flat_value().tolist() == [0.3]


def test_calling_an_actuator_sets_its_value_inside_its_space_only():
    actuator = ActuatorInformation(None, Box(-1.0, 1.0, shape=(2,)), "wheels")
    assert actuator.flat_value().tolist() == [0.0, 0.0]
    actuator(np.array([0.5, -0.5]))
    assert actuator.value.tolist() == [0.5, -0.5]
    with pytest.raises(OutOfActionSpaceError, match="'wheels'"):
        actuator(np.array([2.0, 0.0]))
    assert actuator.value.tolist() == [0.5, -0.5]


def test_old_names_still_work_but_warn():
    actuator = ActuatorInformation(1, Discrete(3), "gear")
    sensor = SensorInformation(2.0, Box(0.0, 5.0, shape=()), "depth")
    reward = RewardInformation(1.5, Box(-5.0, 5.0, shape=()), "score")
    with pytest.warns(DeprecationWarning):
        assert actuator.setpoint == 1
    with pytest.warns(DeprecationWarning):
        assert actuator.action_space == Discrete(3)
    with pytest.warns(DeprecationWarning):
        assert sensor.sensor_value == 2.0
    with pytest.warns(DeprecationWarning):
        assert sensor.observation_space == Box(0.0, 5.0, shape=())
    with pytest.warns(DeprecationWarning):
        assert reward.reward_value == 1.5
