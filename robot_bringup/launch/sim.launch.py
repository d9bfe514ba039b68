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
from launch.actions import GroupAction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import PushRosNamespace
from launch_ros.substitutions import FindPackageShare

from robot_bringup.launch_support import (
    arguments,
    check_parameter_files,
    graph_node,
    include,
    require_package,
)

FILES = ("sim_params", "brain_params", "detector_params", "pilot_params", "params_file")


def generate_launch_description() -> LaunchDescription:
    rviz_config = PathJoinSubstitution([FindPackageShare("robot_bringup"), "rviz",
                                        "brainstem.rviz"])
    return LaunchDescription([
        *arguments("namespace", "pi_port", "detector_port", "brain_port", "brain_url",
                   "brain_graph", "embedded_brain", "tf", "rviz", "protocol", *FILES),
        # Checked before anything starts: a missing rviz2 or a misspelled node section
        # leaves nothing half-started.
        check_parameter_files(*FILES),
        require_package("rviz2", LaunchConfiguration("rviz"), "rviz:=true"),
        include("world.launch.py", ("namespace", "pi_port", "tf", "sim_params",
                                    "pilot_params", "protocol", "params_file")),
        include("detector.launch.py", ("namespace", "detector_port", "detector_params",
                                       "params_file")),
        include("brain.launch.py", ("namespace", "brain_port", "brain_url", "brain_graph",
                                    "embedded_brain", "brain_params", "sim_params",
                                    "protocol", "params_file")),
        GroupAction([
            PushRosNamespace(LaunchConfiguration("namespace")),
            graph_node("rviz2", files=(), arguments=["-d", rviz_config],
                       condition=IfCondition(LaunchConfiguration("rviz"))),
        ]),
    ])
