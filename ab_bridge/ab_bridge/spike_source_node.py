"""`spike_source`: publishes random (Poisson) output spikes as CycleSpikes.

A stand-in brain for testing decoders, recorders and rviz without a brain:
`ros2 run ab_bridge spike_source --ros-args -p populations:="[left, right]"`.
"""

from __future__ import annotations

import numpy as np
from rclpy.node import Node

from ab_bridge.spikes import poisson_raster
from ab_bridge.spikes_msg import cycle_msg
from ab_interfaces.msg import CycleSpikes
from node_kit import Params, run_node


class SpikeSourceNode(Node):
    """Publishes one CycleSpikes bundle per cycle on `spikes`."""

    def __init__(self, **kwargs) -> None:
        super().__init__("spike_source", **kwargs)
        params = Params(self)
        self.populations: list[str] = list(params.declare(
            "populations", ["out0", "out1"], "Output population ids, one raster each."))
        self.neuron_count: int = params.declare("neuron_count", 64, "Neurons per population.",
                                                low=1, high=65535)
        self.timestep_count: int = params.declare("timestep_count", 20, "Timesteps per cycle.",
                                                  low=1, high=65535)
        self.dt_s: float = params.declare("dt_s", 0.001, "Timestep length in seconds.",
                                          low=1e-6, high=1.0)
        self.rate_hz: float = params.declare("rate_hz", 50.0, "Firing rate of every neuron, "
                                             "in Hz.", low=0.0, high=1e6, on_set=self._set_rate)
        self.cycle_hz: float = params.declare("cycle_hz", 50.0, "Cycles published per second.",
                                              low=0.01, high=10000.0)
        seed: int = params.declare("seed", 0, "Random seed.")
        params.refuse_unknown()
        if not self.populations or any(not p for p in self.populations):
            raise ValueError("parameter 'populations' must list at least one non-empty id")

        self.rng = np.random.default_rng(seed)
        self.cycle = 0
        self.publisher = self.create_publisher(CycleSpikes, "spikes", 10)
        self.timer = self.create_timer(1.0 / self.cycle_hz, self.publish_cycle)

    def _set_rate(self, value: float) -> None:
        self.rate_hz = value

    def publish_cycle(self) -> None:
        rasters = [(pid, poisson_raster(self.rng, self.timestep_count, self.neuron_count,
                                        self.rate_hz, self.dt_s))
                   for pid in self.populations]
        msg = cycle_msg("spike_source", self.cycle, rasters, self.dt_s)
        msg.header.stamp = self.get_clock().now().to_msg()
        self.publisher.publish(msg)
        self.cycle += 1


def main(args: list[str] | None = None) -> int:
    return run_node(SpikeSourceNode, args, program="spike_source")


if __name__ == "__main__":
    raise SystemExit(main())
