"""The brain side: the embedded brain server (or none, for a remote brain), the
brain session that streams the robot's topics to it and publishes its spikes and
decoded commands, and the spike raster for rviz.

    ros2 launch robot_bringup brain.launch.py                      # embedded brain
    ros2 launch robot_bringup brain.launch.py embedded_brain:=false \
        brain_url:=https://brain.example                            # a remote brain

The session keeps trying to start its run until the brain answers, so the order in
which the server and the session come up does not matter.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from embedded_brain.graph import bundled_graph_path
from robot_bringup.launch_support import protocol_params


def brain_session(context, *args, **kwargs):
    pace = LaunchConfiguration("pace").perform(context)
    if pace not in ("camera", "clock"):
        raise ValueError(f"launch argument pace: expected camera or clock, got {pace!r}")
    overrides = {"url": LaunchConfiguration("brain_url")}
    if pace == "clock":
        overrides.update({"fresh_inputs": "", "run_options": ""})
    return [Node(package="ab_bridge", executable="brain_session", name="brain_session",
                 parameters=[LaunchConfiguration("brain_params"), protocol_params(),
                             overrides],
                 output="screen")]


def generate_launch_description() -> LaunchDescription:
    config = PathJoinSubstitution([FindPackageShare("robot_bringup"), "config"])
    brain_params = LaunchConfiguration("brain_params")
    brain_port = LaunchConfiguration("brain_port")
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="",
                              description="ROS namespace of every node."),
        DeclareLaunchArgument("brain_port", default_value="8765",
                              description="Port of the embedded brain server."),
        DeclareLaunchArgument("brain_url", default_value=["http://127.0.0.1:", brain_port],
                              description="URL of the brain the session connects to "
                              "(default: the embedded one)."),
        DeclareLaunchArgument("brain_graph", default_value=str(bundled_graph_path("demo_arm")),
                              description="Graph of the embedded brain (default: ab_bridge's "
                              "bundled demo_arm)."),
        DeclareLaunchArgument("embedded_brain", default_value="true",
                              description="Start the embedded brain server here."),
        DeclareLaunchArgument("pace", default_value="camera",
                              description="What paces the brain's cycles: camera (each cycle "
                              "starts on a fresh camera frame: brain.yaml's fresh_inputs and "
                              "run_options, the simulation's) or clock (the brain's own clock, "
                              "each cycle served the newest frame: a real camera, a remote "
                              "brain)."),
        DeclareLaunchArgument("protocol", default_value="realtime",
                              choices=["realtime", "device"],
                              description="How brain_session talks to the brain: realtime "
                              "(REST + Socket.IO) or device (Prima-Lux); picks "
                              "config/brain_<protocol>.yaml, layered after brain_params."),
        DeclareLaunchArgument("brain_params", default_value=PathJoinSubstitution(
            [config, "brain.yaml"]), description="Parameters of brain_server, brain_session."),
        DeclareLaunchArgument("sim_params", default_value=PathJoinSubstitution(
            [config, "sim.yaml"]), description="Parameters of spike_raster."),
        GroupAction([
            PushRosNamespace(LaunchConfiguration("namespace")),
            Node(package="embedded_brain", executable="brain_server", name="brain_server",
                 parameters=[brain_params, protocol_params(), {
                     "graph": LaunchConfiguration("brain_graph"),
                     "port": ParameterValue(brain_port, value_type=int)}],
                 output="screen",
                 condition=IfCondition(LaunchConfiguration("embedded_brain"))),
            OpaqueFunction(function=brain_session),
            Node(package="robot_bringup", executable="spike_raster", name="spike_raster",
                 parameters=[LaunchConfiguration("sim_params")], output="screen"),
        ]),
    ])
