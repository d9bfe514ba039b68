"""The simulation driven by an rl_agents muscle + brain instead of the spiking
brain: the simulated world (world.launch.py), the detector (detector.launch.py),
and the `muscle` node (sensors → actions on actuator_command) learning in the
`brain` process it talks to over ZeroMQ.

    ros2 launch robot_bringup rl_sim.launch.py [rl_params:=...]
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.substitutions import FindPackageShare

from robot_bringup.launch_support import check_parameter_files, include


def generate_launch_description() -> LaunchDescription:
    config = PathJoinSubstitution([FindPackageShare("robot_bringup"), "config"])
    rl_params = LaunchConfiguration("rl_params")
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="",
                              description="ROS namespace of every node."),
        DeclareLaunchArgument("pi_port", default_value="8888",
                              description="Port of the virtual Pi (pigpio protocol)."),
        DeclareLaunchArgument("detector_port", default_value="8004",
                              description="Port of the detector's REST + Socket.IO API."),
        DeclareLaunchArgument("tf", default_value="auto",
                              description="The arm's TF through robot_state_publisher: auto "
                              "(if installed), true, false."),
        DeclareLaunchArgument("sim_params", default_value=PathJoinSubstitution(
            [config, "sim.yaml"]), description="Parameters of sim_arm and reward."),
        DeclareLaunchArgument("detector_params", default_value=PathJoinSubstitution(
            [config, "detector.yaml"]), description="Parameters of the detector."),
        DeclareLaunchArgument("pilot_params", default_value=PathJoinSubstitution(
            [config, "pilot_sim.yaml"]), description="Parameters of the pilot."),
        DeclareLaunchArgument("rl_params", default_value=PathJoinSubstitution(
            [config, "rl.yaml"]), description="Parameters of the muscle and rl brain."),
        check_parameter_files("sim_params", "detector_params", "pilot_params", "rl_params"),
        include("world.launch.py", ("namespace", "pi_port", "tf", "sim_params",
                                    "pilot_params")),
        include("detector.launch.py", ("namespace", "detector_port", "detector_params")),
        GroupAction([
            PushRosNamespace(LaunchConfiguration("namespace")),
            Node(package="rl_agents", executable="brain", name="rl_brain",
                 parameters=[rl_params], output="screen"),
            Node(package="rl_agents", executable="muscle", name="muscle",
                 parameters=[rl_params], output="screen"),
        ]),
    ])
