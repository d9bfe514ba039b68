"""sim.launch.py under launch_pytest, where `launch` is installed (a full ROS 2
install). Skips cleanly here: launch and launch_pytest are not on PyPI. The same
graph is tested without launch in test_sim_graph_runs.py."""

import pytest

launch_pytest = pytest.importorskip("launch_pytest")
launch = pytest.importorskip("launch")

from pathlib import Path  # noqa: E402

from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

LAUNCH = Path(__file__).resolve().parent.parent / "launch" / "sim.launch.py"


@launch_pytest.fixture
def sim_launch():
    return launch.LaunchDescription([
        IncludeLaunchDescription(PythonLaunchDescriptionSource(str(LAUNCH)),
                                 launch_arguments={"pi_port": "18888"}.items()),
        launch_pytest.actions.ReadyToTest(),
    ])


@pytest.mark.launch(fixture=sim_launch)
@pytest.mark.timeout(120)
def test_the_sim_graph_publishes_joints_images_and_rewards():
    import time

    import rclpy
    from rclpy.qos import QoSProfile, qos_profile_sensor_data
    from sensor_msgs.msg import Image, JointState

    from ab_interfaces.msg import Reward

    rclpy.init()
    try:
        node = rclpy.create_node("launch_probe")
        got = {"joints": 0, "images": 0, "rewards": 0}

        def count(key):
            def callback(_msg):
                got[key] += 1
            return callback

        node.create_subscription(JointState, "joint_states", count("joints"),
                                 qos_profile_sensor_data)
        node.create_subscription(Image, "camera/image_raw", count("images"),
                                 qos_profile_sensor_data)
        node.create_subscription(Reward, "reward", count("rewards"), QoSProfile(depth=10))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not all(got.values()):
            rclpy.spin_once(node, timeout_sec=0.1)
        assert all(got.values()), got
    finally:
        rclpy.shutdown()
