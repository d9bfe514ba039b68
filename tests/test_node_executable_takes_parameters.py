"""A node executable started as its own process honours `--ros-args -p` and
answers on its topic; bad parameters stop it with the parameter's name."""

from __future__ import annotations

import pathlib
import shutil

import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy

from ab_bridge.spikes_msg import raster_of


def _executable(package: str, name: str) -> str:
    found = shutil.which(name, path=str(pathlib.Path(__file__).resolve().parents[1]
                                         / "install" / package / "lib" / package))
    if found is None:
        pytest.skip(f"{package}/{name} is not installed (run make setup)")
    return found


def test_spike_source_publishes_with_parameters_from_the_command_line(
        executor, spin_until, ros_context, start_process):
    import rclpy

    from ab_interfaces.msg import CycleSpikes

    start_process([_executable("ab_bridge", "spike_source"), "--ros-args",
                   "-p", "populations:=[left, right, grip]", "-p", "neuron_count:=12",
                   "-p", "timestep_count:=7", "-p", "rate_hz:=1000.0"])
    node = rclpy.create_node("listener", context=ros_context)
    executor.add_node(node)
    received: list[CycleSpikes] = []
    node.create_subscription(CycleSpikes, "spikes", received.append,
                             QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    assert spin_until(executor, lambda: len(received) >= 2, timeout_s=20)

    msg = received[-1]
    assert [p.population_id for p in msg.populations] == ["left", "right", "grip"]
    assert received[-1].cycle > received[0].cycle
    for population in msg.populations:
        raster = raster_of(population)
        assert raster.shape == (7, 12)
        # rate 1000 Hz x dt 1 ms: every neuron fires every step.
        assert population.spike_count == raster.sum() == 7 * 12


def test_bad_parameter_stops_the_node_naming_it(start_process):
    child = start_process([_executable("ab_bridge", "spike_source"), "--ros-args",
                           "-p", "neuron_count:=0"])
    output, _ = child.communicate(timeout=30)
    assert child.returncode != 0
    assert "neuron_count" in output
