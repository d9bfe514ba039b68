"""Everything in simulation: the simulated arm and camera, the virtual Pi + pilot
(gripper servo, LED, button), the detector, the embedded brain + brain session,
the reward from detections and the spike raster for rviz.

    ros2 launch robot_bringup sim.launch.py [namespace:=demo] [rviz:=true]

The same graph, from the same config files, runs without `ros2 launch` as
`make run` (python -m robot_bringup.demo).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, GroupAction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.substitutions import FindPackagePrefix, FindPackageShare

from ab_bridge.embedded.graph import bundled_graph_path

# The virtual Pi is a plain process (a pigpio daemon stand-in), not a ROS node.
VIRTUAL_PI = PathJoinSubstitution([FindPackagePrefix("pilot_hw"), "lib", "pilot_hw", "virtual_pi"])


def generate_launch_description() -> LaunchDescription:
    config = PathJoinSubstitution([FindPackageShare("robot_bringup"), "config"])
    sim_params = LaunchConfiguration("sim_params")
    brain_params = LaunchConfiguration("brain_params")
    protocol_params = PathJoinSubstitution([config, ["brain_", LaunchConfiguration("protocol"), ".yaml"]])
    detector_params = LaunchConfiguration("detector_params")
    pilot_params = LaunchConfiguration("pilot_params")
    arguments = [
        DeclareLaunchArgument("namespace", default_value="",
                              description="ROS namespace of every node."),
        DeclareLaunchArgument("pi_port", default_value="8888",
                              description="Port of the virtual Pi (pigpio protocol)."),
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
        DeclareLaunchArgument("rviz", default_value="false", description="Start rviz2."),
        DeclareLaunchArgument("sim_params", default_value=PathJoinSubstitution(
            [config, "sim.yaml"]), description="Parameters of sim_arm, reward, raster."),
        DeclareLaunchArgument("brain_params", default_value=PathJoinSubstitution(
            [config, "brain.yaml"]), description="Parameters of brain_server, brain_session."),
        DeclareLaunchArgument("detector_params", default_value=PathJoinSubstitution(
            [config, "detector.yaml"]), description="Parameters of the detector."),
        DeclareLaunchArgument("pilot_params", default_value=PathJoinSubstitution(
            [config, "pilot_sim.yaml"]), description="Parameters of virtual_pi and pilot."),
    ]
    nodes = GroupAction([
        PushRosNamespace(LaunchConfiguration("namespace")),
        ExecuteProcess(cmd=[VIRTUAL_PI, "--host", "127.0.0.1", "--port",
                                LaunchConfiguration("pi_port")], output="screen"),
        Node(package="pilot_hw", executable="pilot", name="pilot",
             parameters=[pilot_params, {"port": LaunchConfiguration("pi_port")}],
             output="screen"),
        Node(package="robot_bringup", executable="sim_arm", name="sim_arm",
             parameters=[sim_params], output="screen"),
        Node(package="detector_node", executable="detector", name="detector",
             parameters=[detector_params], output="screen"),
        Node(package="ab_bridge", executable="brain_server", name="brain_server",
             parameters=[brain_params, protocol_params,
                         {"graph": LaunchConfiguration("brain_graph")}],
             output="screen", condition=IfCondition(LaunchConfiguration("embedded_brain"))),
        Node(package="ab_bridge", executable="brain_session", name="brain_session",
             parameters=[brain_params, protocol_params,
                         {"url": LaunchConfiguration("brain_url")}],
             output="screen"),
        Node(package="robot_bringup", executable="reward_from_detections",
             name="reward_from_detections", parameters=[sim_params, protocol_params],
             output="screen"),
        Node(package="robot_bringup", executable="spike_raster", name="spike_raster",
             parameters=[sim_params], output="screen"),
        Node(package="rviz2", executable="rviz2", name="rviz2",
             arguments=["-d", PathJoinSubstitution(
                 [FindPackageShare("robot_bringup"), "rviz", "brainstem.rviz"])],
             condition=IfCondition(LaunchConfiguration("rviz"))),
    ])
    return LaunchDescription([*arguments, nodes])
