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
from launch.actions import GroupAction, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import PushRosNamespace
from launch_ros.parameter_descriptions import ParameterValue

from robot_bringup.launch_support import arguments, graph_node


def brain_session(context, *args, **kwargs):
    overrides = {"url": LaunchConfiguration("brain_url")}
    if LaunchConfiguration("pace").perform(context) == "clock":
        overrides.update({"fresh_inputs": "", "run_options": ""})
    return [graph_node("brain_session", overrides=overrides)]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        *arguments("namespace", "brain_port", "brain_url", "brain_graph", "embedded_brain",
                   "pace", "protocol", "brain_params", "sim_params", "params_file"),
        GroupAction([
            PushRosNamespace(LaunchConfiguration("namespace")),
            graph_node("brain_server", overrides={
                "graph": LaunchConfiguration("brain_graph"),
                "port": ParameterValue(LaunchConfiguration("brain_port"), value_type=int)},
                condition=IfCondition(LaunchConfiguration("embedded_brain"))),
            OpaqueFunction(function=brain_session),
            graph_node("spike_raster"),
        ]),
    ])
