"""The simulated world around a brain: the virtual Pi (a pigpio daemon stand-in) with
the pilot on it (gripper servo, LED, button), the simulated arm and its camera, the
reward from detections, and the arm's TF from robot_state_publisher where installed.
sim.launch.py and rl_sim.launch.py include it.

    ros2 launch robot_bringup world.launch.py [namespace:=demo] [pi_port:=8888] [tf:=auto]
"""

from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    ExecuteProcess,
    GroupAction,
    OpaqueFunction,
)
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.substitutions import FindPackagePrefix, FindPackageShare

from robot_bringup.launch_support import arm_tf

# The virtual Pi is a plain process (a pigpio daemon stand-in), not a ROS node.
VIRTUAL_PI = PathJoinSubstitution([FindPackagePrefix("pilot_hw"), "lib", "pilot_hw", "virtual_pi"])


def generate_launch_description() -> LaunchDescription:
    config = PathJoinSubstitution([FindPackageShare("robot_bringup"), "config"])
    sim_params = LaunchConfiguration("sim_params")
    pilot_params = LaunchConfiguration("pilot_params")
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="",
                              description="ROS namespace of every node."),
        DeclareLaunchArgument("pi_port", default_value="8888",
                              description="Port of the virtual Pi (pigpio protocol)."),
        DeclareLaunchArgument("tf", default_value="auto",
                              description="Publish the arm's TF with robot_state_publisher: "
                              "auto (if installed), true, false."),
        DeclareLaunchArgument("protocol", default_value="realtime",
                              choices=["realtime", "device"],
                              description="How brain_session talks to the brain: realtime "
                              "(REST + Socket.IO) or device (Prima-Lux); picks "
                              "config/brain_<protocol>.yaml, layered after brain_params."),
        DeclareLaunchArgument("sim_params", default_value=PathJoinSubstitution(
            [config, "sim.yaml"]), description="Parameters of sim_arm and the reward."),
        DeclareLaunchArgument("pilot_params", default_value=PathJoinSubstitution(
            [config, "pilot_sim.yaml"]), description="Parameters of the pilot."),
        GroupAction([
            PushRosNamespace(LaunchConfiguration("namespace")),
            OpaqueFunction(function=arm_tf),
            ExecuteProcess(cmd=[VIRTUAL_PI, "--host", "127.0.0.1", "--port",
                                LaunchConfiguration("pi_port")], name="virtual_pi",
                           output="screen"),
            Node(package="pilot_hw", executable="pilot", name="pilot",
                 parameters=[pilot_params, {"port": LaunchConfiguration("pi_port")}],
                 output="screen"),
            Node(package="robot_bringup", executable="sim_arm", name="sim_arm",
                 parameters=[sim_params], output="screen"),
            Node(package="robot_bringup", executable="reward_from_detections",
                 name="reward_from_detections",
                 parameters=[sim_params, [PathJoinSubstitution([config, "brain_"]), LaunchConfiguration("protocol"), ".yaml"]],
                 output="screen"),
        ]),
    ])
