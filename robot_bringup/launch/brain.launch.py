"""The brain side alone: the embedded brain server (or none, for a remote brain),
the brain session that streams the robot's topics to it and publishes its
spikes and decoded commands, and the spike raster for rviz.

    ros2 launch robot_bringup brain.launch.py brain_url:=https://brain.example/api embedded_brain:=false
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.substitutions import FindPackageShare

from ab_bridge.embedded.graph import bundled_graph_path


def generate_launch_description() -> LaunchDescription:
    config = PathJoinSubstitution([FindPackageShare("robot_bringup"), "config"])
    brain_params = LaunchConfiguration("brain_params")
    protocol_params = PathJoinSubstitution([config, ["brain_", LaunchConfiguration("protocol"), ".yaml"]])
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="",
                              description="ROS namespace of every node."),
        DeclareLaunchArgument("protocol", default_value="realtime",
                              choices=["realtime", "device"],
                              description="How brain_session talks to the brain: realtime "
                              "(REST + Socket.IO) or device (Prima-Lux); picks "
                              "config/brain_<protocol>.yaml, layered after brain_params."),
        DeclareLaunchArgument("brain_url", default_value="http://127.0.0.1:8765",
                              description="URL of the brain the session connects to."),
        DeclareLaunchArgument("brain_graph", default_value=str(bundled_graph_path("demo_arm")),
                              description="Graph of the embedded brain (default: ab_bridge's "
                              "bundled demo_arm)."),
        DeclareLaunchArgument("embedded_brain", default_value="true",
                              description="Start the embedded brain server here."),
        DeclareLaunchArgument("brain_params", default_value=PathJoinSubstitution(
            [config, "brain.yaml"]), description="Parameters of brain_server, brain_session."),
        DeclareLaunchArgument("sim_params", default_value=PathJoinSubstitution(
            [config, "sim.yaml"]), description="Parameters of spike_raster."),
        GroupAction([
            PushRosNamespace(LaunchConfiguration("namespace")),
            Node(package="ab_bridge", executable="brain_server", name="brain_server",
                 parameters=[brain_params, protocol_params,
                             {"graph": LaunchConfiguration("brain_graph")}],
                 output="screen",
                 condition=IfCondition(LaunchConfiguration("embedded_brain"))),
            Node(package="ab_bridge", executable="brain_session", name="brain_session",
                 parameters=[brain_params, protocol_params,
                             {"url": LaunchConfiguration("brain_url")}],
                 output="screen"),
            Node(package="robot_bringup", executable="spike_raster", name="spike_raster",
                 parameters=[LaunchConfiguration("sim_params")], output="screen"),
        ]),
    ])
