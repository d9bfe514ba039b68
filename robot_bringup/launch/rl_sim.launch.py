"""The simulation driven by an rl_agents muscle + brain instead of the spiking
brain: the simulated world (world.launch.py), the detector (detector.launch.py),
and the `muscle` node (sensors → actions on actuator_command) learning in the
`brain` process it talks to over ZeroMQ.

    ros2 launch robot_bringup rl_sim.launch.py [rl_params:=...]
"""

from launch import LaunchDescription
from launch.actions import GroupAction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import PushRosNamespace

from robot_bringup.launch_support import arguments, check_parameter_files, graph_node, include

FILES = ("sim_params", "detector_params", "pilot_params", "rl_params", "params_file")


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        *arguments("namespace", "pi_port", "detector_port", "tf", *FILES),
        check_parameter_files(*FILES),
        include("world.launch.py", ("namespace", "pi_port", "tf", "sim_params",
                                    "pilot_params", "params_file")),
        include("detector.launch.py", ("namespace", "detector_port", "detector_params",
                                       "params_file")),
        GroupAction([
            PushRosNamespace(LaunchConfiguration("namespace")),
            graph_node("rl_brain"),
            graph_node("muscle"),
        ]),
    ])
