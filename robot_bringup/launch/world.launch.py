"""The simulated world around a brain: the virtual Pi (a pigpio daemon stand-in) with
the pilot on it (gripper servo, LED, button), the simulated arm and its camera, the
reward from detections, and the arm's TF from robot_state_publisher where installed.
sim.launch.py and rl_sim.launch.py include it.

    ros2 launch robot_bringup world.launch.py [namespace:=demo] [pi_port:=8888] [tf:=auto]
"""

from launch import LaunchDescription
from launch.actions import ExecuteProcess, GroupAction, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import PushRosNamespace
from launch_ros.substitutions import FindPackagePrefix

from robot_bringup.graph import GRAPH
from robot_bringup.launch_support import arguments, arm_tf, graph_node

# The virtual Pi is a plain process (a pigpio daemon stand-in), not a ROS node.
VIRTUAL_PI = GRAPH["virtual_pi"]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        *arguments("namespace", "pi_port", "tf", "protocol", "sim_params", "pilot_params",
                   "params_file"),
        GroupAction([
            PushRosNamespace(LaunchConfiguration("namespace")),
            OpaqueFunction(function=arm_tf),
            ExecuteProcess(cmd=[PathJoinSubstitution([
                FindPackagePrefix(VIRTUAL_PI.package), "lib", VIRTUAL_PI.package,
                VIRTUAL_PI.executable]), "--host", "127.0.0.1", "--port",
                LaunchConfiguration("pi_port")], name=VIRTUAL_PI.name, output="screen"),
            graph_node("pilot", overrides={"port": LaunchConfiguration("pi_port")}),
            graph_node("sim_arm"),
            graph_node("reward_from_detections"),
        ]),
    ])
