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
from launch.actions import GroupAction, OpaqueFunction
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import PushRosNamespace

from robot_bringup.launch_support import (
    arguments,
    arm_tf,
    check_parameter_files,
    config_path,
    graph_node,
    include,
)

FILES = ("sim_params", "brain_params", "detector_params", "pilot_params", "pilot_sim_params",
         "params_file")


def generate_launch_description() -> LaunchDescription:
    use_sim = LaunchConfiguration("use_sim")
    return LaunchDescription([
        # A real camera has its own rate and a remote brain its own clock.
        *arguments("namespace", "use_sim", "pi_port", "detector_port", "brain_port",
                   "brain_url", "brain_graph", "embedded_brain", "pace", "tf", "protocol",
                   *FILES, embedded_brain="false", pace="clock",
                   pilot_params=lambda: config_path("pilot_robot.yaml")),
        check_parameter_files(*FILES),
        GroupAction([
            include("world.launch.py", ("namespace", "pi_port", "tf", "sim_params",
                                        "protocol", "params_file")),
        ], condition=IfCondition(use_sim), scoped=True, forwarding=True,
            launch_configurations={"pilot_params": LaunchConfiguration("pilot_sim_params")}),
        GroupAction([
            PushRosNamespace(LaunchConfiguration("namespace")),
            OpaqueFunction(function=arm_tf),
            graph_node("pilot"),
            # No ground truth on the robot, and no joint_motion (the sim's report of each
            # command's effect): each command is judged from the actuator_command
            # arrivals around joint_states.
            graph_node("reward_from_detections", overrides={
                "use_ground_truth": False, "judge_from": "commands"}),
        ], condition=UnlessCondition(use_sim)),
        include("detector.launch.py", ("namespace", "detector_port", "detector_params",
                                       "params_file")),
        include("brain.launch.py", ("namespace", "brain_port", "brain_url", "brain_graph",
                                    "embedded_brain", "brain_params", "sim_params", "pace",
                                    "protocol", "params_file")),
    ])
