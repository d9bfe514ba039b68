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


def test_actuator_made_palaestrai_style_without_a_value_is_set_later():
    actuator = ActuatorInformation(space=Discrete(3), uid="gear")
    assert actuator.value is None and len(actuator) == 3
    actuator(2)
    assert actuator.value == 2
    with pytest.raises(TypeError, match="uid"):
        ActuatorInformation(space=Discrete(3))
    reward = RewardInformation(1.5, Box(-5.0, 5.0, shape=()), "score")
    assert reward() == 1.5 and len(reward) == 1


def test_the_old_attribute_names_are_gone():
    actuator = ActuatorInformation(1, Discrete(3), "gear")
    sensor = SensorInformation(2.0, Box(0.0, 5.0, shape=()), "depth")
    for obj, name in [(actuator, "setpoint"), (actuator, "action_space"),
                      (actuator, "actuator_id"), (sensor, "sensor_value"),
                      (sensor, "observation_space"), (sensor, "sensor_id")]:
        assert not hasattr(obj, name)
