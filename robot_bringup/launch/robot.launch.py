"""The real robot: pilot on the Raspberry Pi's pigpio daemon (or the virtual Pi
and the simulated arm with use_sim:=true), the detector on the robot's camera,
a brain session to a remote (or embedded) brain, the reward from detections,
and robot_state_publisher with the arm's URDF.

    ros2 launch robot_bringup robot.launch.py brain_url:=https://brain.example/api \
        pilot_params:=/path/to/my_pi.yaml
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, GroupAction
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.substitutions import FindPackagePrefix, FindPackageShare

from ab_bridge.embedded.graph import bundled_graph_path

# The virtual Pi is a plain process (a pigpio daemon stand-in), not a ROS node.
VIRTUAL_PI = PathJoinSubstitution([FindPackagePrefix("pilot_hw"), "lib", "pilot_hw", "virtual_pi"])


def generate_launch_description() -> LaunchDescription:
    share = Path(get_package_share_directory("robot_bringup"))
    config = PathJoinSubstitution([FindPackageShare("robot_bringup"), "config"])
    use_sim = LaunchConfiguration("use_sim")
    sim_params = LaunchConfiguration("sim_params")
    protocol_params = PathJoinSubstitution([config, ["brain_", LaunchConfiguration("protocol"), ".yaml"]])
    robot_description = (share / "urdf" / "arm.urdf").read_text()
    return LaunchDescription([
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
                              description="URL of the (remote) brain."),
        DeclareLaunchArgument("use_sim", default_value="false",
                              description="Simulated arm + virtual Pi instead of hardware."),
        DeclareLaunchArgument("brain_graph", default_value=str(bundled_graph_path("demo_arm")),
                              description="Graph of the embedded brain (default: ab_bridge's "
                              "bundled demo_arm)."),
        DeclareLaunchArgument("embedded_brain", default_value="false",
                              description="Start the embedded brain server here too."),
        DeclareLaunchArgument("sim_params", default_value=PathJoinSubstitution(
            [config, "sim.yaml"]), description="Parameters of sim_arm, reward, raster."),
        DeclareLaunchArgument("brain_params", default_value=PathJoinSubstitution(
            [config, "brain.yaml"]), description="Parameters of brain_server, brain_session."),
        DeclareLaunchArgument("detector_params", default_value=PathJoinSubstitution(
            [config, "detector.yaml"]), description="Parameters of the detector."),
        DeclareLaunchArgument("pilot_params", default_value=PathJoinSubstitution(
            [config, "pilot_robot.yaml"]),
            description="Parameters of pilot on the robot's pigpio daemon."),
        DeclareLaunchArgument("pilot_sim_params", default_value=PathJoinSubstitution(
            [config, "pilot_sim.yaml"]), description="Parameters of virtual_pi and pilot "
            "when use_sim is true."),
        GroupAction([
            PushRosNamespace(LaunchConfiguration("namespace")),
            Node(package="robot_state_publisher", executable="robot_state_publisher",
                 name="robot_state_publisher",
                 parameters=[{"robot_description": robot_description}], output="screen"),
            Node(package="pilot_hw", executable="pilot", name="pilot",
                 parameters=[LaunchConfiguration("pilot_params")], output="screen",
                 condition=UnlessCondition(use_sim)),
            ExecuteProcess(cmd=[VIRTUAL_PI, "--host", "127.0.0.1", "--port",
                                LaunchConfiguration("pi_port")], output="screen",
                           condition=IfCondition(use_sim)),
            Node(package="pilot_hw", executable="pilot", name="pilot",
                 parameters=[LaunchConfiguration("pilot_sim_params"),
                             {"port": LaunchConfiguration("pi_port")}], output="screen",
                 condition=IfCondition(use_sim)),
            Node(package="robot_bringup", executable="sim_arm", name="sim_arm",
                 parameters=[sim_params], output="screen", condition=IfCondition(use_sim)),
            Node(package="detector_node", executable="detector", name="detector",
                 parameters=[LaunchConfiguration("detector_params")], output="screen"),
            Node(package="ab_bridge", executable="brain_server", name="brain_server",
                 parameters=[LaunchConfiguration("brain_params"), protocol_params,
                             {"graph": LaunchConfiguration("brain_graph")}], output="screen",
                 condition=IfCondition(LaunchConfiguration("embedded_brain"))),
            # A real camera has its own rate and a remote brain its own clock: the brain's
            # clock paces the cycles, each served the newest frame (brain.yaml's camera
            # pace is the simulation's).
            Node(package="ab_bridge", executable="brain_session", name="brain_session",
                 parameters=[LaunchConfiguration("brain_params"), protocol_params,
                             {"url": LaunchConfiguration("brain_url"), "fresh_inputs": "",
                              "run_options": ""}],
                 output="screen"),
            # On the robot the target is only known from the detector: no ground truth; and
            # no joint_motion (the sim's report of each command's effect): judge each
            # command from the actuator_command arrivals around joint_states.
            Node(package="robot_bringup", executable="reward_from_detections",
                 name="reward_from_detections",
                 parameters=[sim_params, protocol_params,
                             {"use_ground_truth": use_sim, "judge_from":
                                          PythonExpression(["'joint_motion' if '", use_sim,
                                                            "'.lower() == 'true' else "
                                                            "'commands'"])}],
                 output="screen"),
            Node(package="robot_bringup", executable="spike_raster", name="spike_raster",
                 parameters=[sim_params], output="screen"),
        ]),
    ])
