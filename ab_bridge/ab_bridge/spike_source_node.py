"""`spike_source`: publishes random (Poisson) output spikes as CycleSpikes.

A stand-in brain for testing decoders, recorders and rviz without a brain:
`ros2 run ab_bridge spike_source --ros-args -p populations:="[left, right]"`.
"""

from __future__ import annotations

import numpy as np
import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from ab_bridge.spikes import poisson_raster
from ab_bridge.spikes_msg import cycle_msg
from ab_interfaces.msg import CycleSpikes


class SpikeSource(Node):
    """Publishes one CycleSpikes bundle per cycle on `spikes`."""

    def __init__(self, **kwargs) -> None:
        super().__init__("spike_source", **kwargs)
        self.populations: list[str] = list(self.declare_parameter(
            "populations", ["out0", "out1"],
            ParameterDescriptor(description="Output population ids, one raster each.")).value)
        self.neuron_count: int = self.declare_parameter(
            "neuron_count", 64, ParameterDescriptor(
                description="Neurons per population.",
                integer_range=[IntegerRange(from_value=1, to_value=65535, step=1)])).value
        self.timestep_count: int = self.declare_parameter(
            "timestep_count", 20, ParameterDescriptor(
                description="Timesteps per cycle.",
                integer_range=[IntegerRange(from_value=1, to_value=65535, step=1)])).value
        self.dt_s: float = self.declare_parameter(
            "dt_s", 0.001, ParameterDescriptor(
                description="Timestep length in seconds.",
                floating_point_range=[FloatingPointRange(from_value=1e-6, to_value=1.0)])).value
        self.rate_hz: float = self.declare_parameter(
            "rate_hz", 50.0, ParameterDescriptor(
                description="Firing rate of every neuron, in Hz.",
                floating_point_range=[FloatingPointRange(from_value=0.0, to_value=1e6)])).value
        self.cycle_hz: float = self.declare_parameter(
            "cycle_hz", 50.0, ParameterDescriptor(
                description="Cycles published per second.",
                floating_point_range=[FloatingPointRange(from_value=0.01, to_value=10000.0)])).value
        seed: int = self.declare_parameter(
            "seed", 0, ParameterDescriptor(description="Random seed.")).value
        if not self.populations or any(not p for p in self.populations):
            raise ValueError("parameter 'populations' must list at least one non-empty id")

        self.rng = np.random.default_rng(seed)
        self.cycle = 0
        self.publisher = self.create_publisher(CycleSpikes, "spikes", 10)
        self.timer = self.create_timer(1.0 / self.cycle_hz, self.publish_cycle)

    def publish_cycle(self) -> None:
        rasters = [(pid, poisson_raster(self.rng, self.timestep_count, self.neuron_count,
                                        self.rate_hz, self.dt_s))
                   for pid in self.populations]
        msg = cycle_msg("spike_source", self.cycle, rasters, self.dt_s)
        msg.header.stamp = self.get_clock().now().to_msg()
        self.publisher.publish(msg)
        self.cycle += 1


def main(args: list[str] | None = None) -> None:
    try:
        with rclpy.init(args=args):
            rclpy.spin(SpikeSource())
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
