"""SpikeRasterNode turns CycleSpikes into a mono8 image."""

import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import Image

from ab_bridge.spikes_msg import cycle_msg
from ab_interfaces.msg import CycleSpikes
from robot_bringup.spike_raster_node import SpikeRasterNode

pytestmark = pytest.mark.timeout(60)


def test_spikes_in_raster_image_out_and_bad_bundles_survived(ros_context, executor, spin_until):
    node = SpikeRasterNode(context=ros_context, parameter_overrides=[
        Parameter("history_steps", value=60), Parameter("rate_hz", value=20.0),
        Parameter("scale", value=1)])
    probe = rclpy.create_node("probe", context=ros_context)
    executor.add_node(node)
    executor.add_node(probe)
    images = []
    probe.create_subscription(Image, "spike_raster", images.append, qos_profile_sensor_data)
    publisher = probe.create_publisher(CycleSpikes, "spikes", QoSProfile(depth=10))
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    bad = cycle_msg("run", 0, [("joint0", np.ones((20, 32), np.uint8))], 0.001)
    bad.populations[0].bitmap = bad.populations[0].bitmap[:-1]  # one byte short
    publisher.publish(bad)
    rng = np.random.default_rng(0)
    for c in range(3):
        publisher.publish(cycle_msg("run", c, [
            ("joint0", (rng.random((20, 32)) < 0.2).astype(np.uint8)),
            ("joint1", (rng.random((20, 32)) < 0.2).astype(np.uint8))], 0.001))
    assert spin_until(executor, lambda: node.raster.cycles == 3 and images, 10)
    image = images[-1]
    assert image.encoding == "mono8" and (image.height, image.width) == (65, 60)
    pixels = np.frombuffer(bytes(image.data), np.uint8).reshape(65, 60)
    assert pixels[:, -60:].max() == 255
