"""The real robot: the pilot on the Raspberry Pi's pigpio daemon, the detector on
the robot's camera, a brain session to a remote (or embedded) brain paced by the
brain's clock, the reward from detections judged from the commands, the arm's TF
from robot_state_publisher, and the spike raster. With use_sim:=true the simulated
world (world.launch.py) stands in for the hardware.

    ros2 launch robot_bringup robot.launch.py brain_url:=https://brain.example \
        pilot_params:=/path/to/my_pi.yaml
    ros2 launch robot_bringup robot.launch.py use_sim:=true embedded_brain:=true
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, OpaqueFunction
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.substitutions import FindPackageShare

from embedded_brain.graph import bundled_graph_path
from robot_bringup.launch_support import arm_tf, check_parameter_files, include, protocol_params


def generate_launch_description() -> LaunchDescription:
    config = PathJoinSubstitution([FindPackageShare("robot_bringup"), "config"])
    use_sim = LaunchConfiguration("use_sim")
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="",
                              description="ROS namespace of every node."),
        DeclareLaunchArgument("use_sim", default_value="false",
                              description="Simulated arm + virtual Pi instead of hardware."),
        DeclareLaunchArgument("pi_port", default_value="8888",
                              description="Port of the virtual Pi (use_sim)."),
        DeclareLaunchArgument("detector_port", default_value="8004",
                              description="Port of the detector's REST + Socket.IO API."),
        DeclareLaunchArgument("brain_port", default_value="8765",
                              description="Port of the embedded brain server."),
        DeclareLaunchArgument("brain_url", default_value=["http://127.0.0.1:",
                                                          LaunchConfiguration("brain_port")],
                              description="URL of the (remote) brain."),
        DeclareLaunchArgument("brain_graph", default_value=str(bundled_graph_path("demo_arm")),
                              description="Graph of the embedded brain (default: ab_bridge's "
                              "bundled demo_arm)."),
        DeclareLaunchArgument("embedded_brain", default_value="false",
                              description="Start the embedded brain server here too."),
        # A real camera has its own rate and a remote brain its own clock.
        DeclareLaunchArgument("pace", default_value="clock",
                              description="What paces the brain's cycles: clock or camera."),
        DeclareLaunchArgument("tf", default_value="auto",
                              description="The arm's TF through robot_state_publisher: auto "
                              "(if installed), true, false."),
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
            [config, "pilot_robot.yaml"]),
            description="Parameters of the pilot on the robot's pigpio daemon."),
        DeclareLaunchArgument("pilot_sim_params", default_value=PathJoinSubstitution(
            [config, "pilot_sim.yaml"]), description="Parameters of the pilot when use_sim "
            "is true."),
        check_parameter_files("sim_params", "brain_params", "detector_params", "pilot_params", "pilot_sim_params"),
        GroupAction([
            include("world.launch.py", ("namespace", "pi_port", "tf", "sim_params",
                                        "protocol")),
        ], condition=IfCondition(use_sim), scoped=True, forwarding=True,
            launch_configurations={"pilot_params": LaunchConfiguration("pilot_sim_params")}),
        GroupAction([
            PushRosNamespace(LaunchConfiguration("namespace")),
            OpaqueFunction(function=arm_tf),
            Node(package="pilot_hw", executable="pilot", name="pilot",
                 parameters=[LaunchConfiguration("pilot_params")], output="screen"),
            # No ground truth on the robot, and no joint_motion (the sim's report of each
            # command's effect): each command is judged from the actuator_command
            # arrivals around joint_states.
            Node(package="robot_bringup", executable="reward_from_detections",
                 name="reward_from_detections",
                 parameters=[LaunchConfiguration("sim_params"),
                             protocol_params(),
                             {"use_ground_truth": False, "judge_from": "commands"}],
                 output="screen"),
        ], condition=UnlessCondition(use_sim)),
        include("detector.launch.py", ("namespace", "detector_port", "detector_params")),
        include("brain.launch.py", ("namespace", "brain_port", "brain_url", "brain_graph",
                                    "embedded_brain", "brain_params", "sim_params", "pace",
                                    "protocol")),
    ])
