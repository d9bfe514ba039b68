"""Everything in simulation: the simulated world (world.launch.py: arm and camera,
virtual Pi + pilot, reward, TF), the detector (detector.launch.py), the embedded
brain + brain session + spike raster (brain.launch.py), and rviz on request.

    ros2 launch robot_bringup sim.launch.py [namespace:=demo] [rviz:=true]

A second, independent robot on the same machine needs its own namespace and ports:

    ros2 launch robot_bringup sim.launch.py namespace:=demo pi_port:=8889 \
        detector_port:=8005 brain_port:=8766

The same graph, from the same config files, runs without `ros2 launch` as
`make run` (python -m robot_bringup.demo).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.substitutions import FindPackageShare

from embedded_brain.graph import bundled_graph_path
from robot_bringup.launch_support import check_parameter_files, include, require_package


def generate_launch_description() -> LaunchDescription:
    config = PathJoinSubstitution([FindPackageShare("robot_bringup"), "config"])
    share = FindPackageShare("robot_bringup")
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="",
                              description="ROS namespace of every node."),
        DeclareLaunchArgument("pi_port", default_value="8888",
                              description="Port of the virtual Pi (pigpio protocol)."),
        DeclareLaunchArgument("detector_port", default_value="8004",
                              description="Port of the detector's REST + Socket.IO API."),
        DeclareLaunchArgument("brain_port", default_value="8765",
                              description="Port of the embedded brain server."),
        DeclareLaunchArgument("brain_url", default_value=["http://127.0.0.1:",
                                                          LaunchConfiguration("brain_port")],
                              description="URL of the brain the session connects to."),
        DeclareLaunchArgument("brain_graph", default_value=str(bundled_graph_path("demo_arm")),
                              description="Graph of the embedded brain (default: ab_bridge's "
                              "bundled demo_arm)."),
        DeclareLaunchArgument("embedded_brain", default_value="true",
                              description="Start the embedded brain server here."),
        DeclareLaunchArgument("tf", default_value="auto",
                              description="The arm's TF through robot_state_publisher: auto "
                              "(if installed), true, false."),
        DeclareLaunchArgument("rviz", default_value="false", description="Start rviz2."),
        DeclareLaunchArgument("sim_params", default_value=PathJoinSubstitution(
            [config, "sim.yaml"]), description="Parameters of sim_arm, reward, raster."),
        DeclareLaunchArgument("protocol", default_value="realtime",
                              choices=["realtime", "device"],
                              description="How brain_session talks to the brain: realtime "
                              "(REST + Socket.IO) or device (Prima-Lux); picks "
                              "config/brain_<protocol>.yaml, layered after brain_params."),
        DeclareLaunchArgument("brain_params", default_value=PathJoinSubstitution(
            [config, "brain.yaml"]), description="Parameters of brain_server, brain_session."),
        DeclareLaunchArgument("detector_params", default_value=PathJoinSubstitution(
            [config, "detector.yaml"]), description="Parameters of the detector."),
        DeclareLaunchArgument("pilot_params", default_value=PathJoinSubstitution(
            [config, "pilot_sim.yaml"]), description="Parameters of the pilot."),
        # Checked before anything starts: a missing rviz2 or a misspelled node section
        # leaves nothing half-started.
        check_parameter_files("sim_params", "brain_params", "detector_params", "pilot_params"),
        require_package("rviz2", LaunchConfiguration("rviz"), "rviz:=true"),
        include("world.launch.py", ("namespace", "pi_port", "tf", "sim_params",
                                    "pilot_params", "protocol")),
        include("detector.launch.py", ("namespace", "detector_port", "detector_params")),
        include("brain.launch.py", ("namespace", "brain_port", "brain_url", "brain_graph",
                                    "embedded_brain", "brain_params", "sim_params",
                                    "protocol")),
        GroupAction([
            PushRosNamespace(LaunchConfiguration("namespace")),
            Node(package="rviz2", executable="rviz2", name="rviz2",
                 arguments=["-d", PathJoinSubstitution([share, "rviz", "brainstem.rviz"])],
                 condition=IfCondition(LaunchConfiguration("rviz"))),
        ]),
    ])
