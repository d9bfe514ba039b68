"""Every `pilot` parameter set at run time either takes effect on the running hardware or is
refused with a reason - through the parameter service, as `ros2 param set` does."""

from __future__ import annotations

import pytest
import rclpy
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient

from pilot_hw.pilot_node import PilotNode
from pilot_hw.virtual_pi import VirtualPi

pytestmark = pytest.mark.timeout(120)

DEVICES = """
devices:
  - {name: led, type: digital_output, pin: 17, channel: led}
"""

# the last one is rclpy's own, read only as well
READ_ONLY = {"host", "port", "devices", "start_type_description_service"}


@pytest.fixture
def pilot(ros_context, executor, vpi: VirtualPi):
    node = PilotNode(context=ros_context, parameter_overrides=[
        Parameter("port", value=vpi.port), Parameter("devices", value=DEVICES)])
    executor.add_node(node)
    return node


@pytest.fixture
def param_set(ros_context, executor, spin_until, pilot):
    """param_set(name, value) -> (successful, reason), through /pilot/set_parameters."""
    peer = rclpy.create_node("ros2param", context=ros_context)
    executor.add_node(peer)
    client = AsyncParameterClient(peer, "pilot")
    assert spin_until(executor, lambda: client.services_are_ready(), timeout_s=10)

    def set_one(name: str, value: object) -> tuple[bool, str]:
        future = client.set_parameters([Parameter(name, value=value)])
        assert spin_until(executor, future.done)
        result = future.result().results[0]
        return result.successful, result.reason

    return set_one


def test_each_parameter_takes_effect_or_is_refused(pilot, param_set, executor, spin_until,
                                                    vpi: VirtualPi) -> None:
    hw = pilot.hardware
    effects = {
        "command_timeout_s": (2.5, lambda: hw.command_timeout_s == 2.5),
        "heartbeat_period_s": (0.2, lambda: hw.heartbeat_period_s == 0.2),
        "deadman_timeout_ms": (800, lambda: (hw.deadman_timeout_ms == 800
                                             and b"mils 800" in hw._deadman.script
                                             and list(vpi.script_statuses().values()) == [2])),
        "reconnect_period_s": (0.25, lambda: hw.reconnect_period_s == 0.25),
        "reconnect_max_period_s": (9.0, lambda: hw.reconnect_max_period_s == 9.0),
        "diagnostics_period_s": (0.3, lambda: pilot.diagnostics_timer.timer_period_ns
                                 == 300_000_000),
        "use_sim_time": (True, lambda: pilot.get_clock().ros_time_is_active),  # rclpy's own
    }
    declared = {name for name in pilot._parameters}
    assert declared == READ_ONLY | set(effects)  # every parameter is in one of the two lists
    for name, (value, took_effect) in effects.items():
        assert param_set(name, value) == (True, ""), name
        assert took_effect(), name
    for name in READ_ONLY:
        successful, reason = param_set(name, pilot.get_parameter(name).value)
        assert not successful and "read-only" in reason, (name, reason)


def test_inconsistent_values_are_refused_with_the_reason(pilot, param_set,
                                                         vpi: VirtualPi) -> None:
    successful, reason = param_set("deadman_timeout_ms", 150)  # < 2 x the 0.1 s heartbeat
    assert not successful and "2 x heartbeat_period_s" in reason
    assert pilot.hardware.deadman_timeout_ms == 500
    successful, reason = param_set("heartbeat_period_s", 0.5)  # 2 x 0.5 s > 500 ms
    assert not successful and "deadman_timeout_ms" in reason
    successful, reason = param_set("reconnect_max_period_s", 0.1)  # below the 0.5 s first
    assert not successful and "reconnect_period_s" in reason
    assert param_set("deadman_timeout_ms", 0) == (True, "")  # 0: no dead-man script
    assert vpi.script_statuses() == {}
