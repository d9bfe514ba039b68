"""`spike_raster`: the brain's output spikes as a scrolling mono8 image for rviz.

Subscribes `spikes` (ab_interfaces/CycleSpikes), publishes `spike_raster`
(sensor_msgs/Image, mono8: neurons down, timesteps across, newest on the right,
populations stacked with a grey separator row) at `rate_hz`.
"""

from __future__ import annotations

import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import Image

from ab_bridge.spikes_msg import raster_of
from ab_interfaces.msg import CycleSpikes
from node_kit import Params, run_node
from robot_bringup.raster import SpikeRaster


class SpikeRasterNode(Node):
    """Accumulates CycleSpikes into a raster image and publishes it."""

    def __init__(self, **kwargs) -> None:
        super().__init__("spike_raster", **kwargs)
        params = Params(self)
        history = params.declare(
            "history_steps", 400, "Timesteps shown across the image (newest right).", low=1,
            high=100000)
        rate_hz = params.declare(
            "rate_hz", 10.0, "Images published per second.", low=0.1, high=200.0)
        self.scale = params.declare(
            "scale", 2, "Pixels per neuron and per timestep.", low=1, high=16)
        self.raster = SpikeRaster(history)
        params.refuse_unknown()
        self.publisher = self.create_publisher(Image, "spike_raster", qos_profile_sensor_data)
        self.create_subscription(CycleSpikes, "spikes", self.on_spikes, QoSProfile(depth=10))
        self.create_timer(1.0 / rate_hz, self.publish_image)
        self.images_published = 0

    def on_spikes(self, msg: CycleSpikes) -> None:
        try:
            self.raster.add([(p.population_id, raster_of(p)) for p in msg.populations])
        except ValueError as error:
            self.get_logger().warning(f"spikes of cycle {msg.cycle} ignored: {error}",
                                      throttle_duration_sec=5.0)

    def publish_image(self) -> None:
        if self.raster.cycles == 0:
            return
        pixels = self.raster.image()
        if self.scale > 1:
            pixels = np.repeat(np.repeat(pixels, self.scale, axis=0), self.scale, axis=1)
        msg = Image()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = "spike_raster"
        msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
        msg.encoding = "mono8"
        msg.step = msg.width
        msg.data = pixels.tobytes()
        self.publisher.publish(msg)
        self.images_published += 1


def main(args: list[str] | None = None) -> int:
    return run_node(SpikeRasterNode, args, program="spike_raster")


if __name__ == "__main__":
    raise SystemExit(main())
