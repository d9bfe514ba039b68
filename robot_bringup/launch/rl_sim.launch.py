"""The simulation driven by an rl_agents muscle + brain instead of the spiking
brain: sim arm, virtual Pi + pilot, detector, reward from detections, and the
`muscle` node (sensors → actions on actuator_command) learning in the `brain`
process it talks to over ZeroMQ.

    ros2 launch robot_bringup rl_sim.launch.py [rl_params:=...]
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, GroupAction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.substitutions import FindPackagePrefix, FindPackageShare

# The virtual Pi is a plain process (a pigpio daemon stand-in), not a ROS node.
VIRTUAL_PI = PathJoinSubstitution([FindPackagePrefix("pilot_hw"), "lib", "pilot_hw", "virtual_pi"])


def generate_launch_description() -> LaunchDescription:
    config = PathJoinSubstitution([FindPackageShare("robot_bringup"), "config"])
    sim_params = LaunchConfiguration("sim_params")
    pilot_params = LaunchConfiguration("pilot_params")
    rl_params = LaunchConfiguration("rl_params")
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="",
                              description="ROS namespace of every node."),
        DeclareLaunchArgument("pi_port", default_value="8888",
                              description="Port of the virtual Pi (pigpio protocol)."),
        DeclareLaunchArgument("sim_params", default_value=PathJoinSubstitution(
            [config, "sim.yaml"]), description="Parameters of sim_arm and reward."),
        DeclareLaunchArgument("detector_params", default_value=PathJoinSubstitution(
            [config, "detector.yaml"]), description="Parameters of the detector."),
        DeclareLaunchArgument("pilot_params", default_value=PathJoinSubstitution(
            [config, "pilot_sim.yaml"]), description="Parameters of virtual_pi and pilot."),
        DeclareLaunchArgument("rl_params", default_value=PathJoinSubstitution(
            [config, "rl.yaml"]), description="Parameters of the muscle and rl brain."),
        GroupAction([
            PushRosNamespace(LaunchConfiguration("namespace")),
            ExecuteProcess(cmd=[VIRTUAL_PI, "--host", "127.0.0.1", "--port",
                                LaunchConfiguration("pi_port")], output="screen"),
            Node(package="pilot_hw", executable="pilot", name="pilot",
                 parameters=[pilot_params, {"port": LaunchConfiguration("pi_port")}],
                 output="screen"),
            Node(package="robot_bringup", executable="sim_arm", name="sim_arm",
                 parameters=[sim_params], output="screen"),
            Node(package="detector_node", executable="detector", name="detector",
                 parameters=[LaunchConfiguration("detector_params")], output="screen"),
            Node(package="robot_bringup", executable="reward_from_detections",
                 name="reward_from_detections", parameters=[sim_params], output="screen"),
            Node(package="rl_agents", executable="brain", name="rl_brain",
                 parameters=[rl_params], output="screen"),
            Node(package="rl_agents", executable="muscle", name="muscle",
                 parameters=[rl_params], output="screen"),
        ]),
    ])
