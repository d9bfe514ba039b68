"""The detector alone: camera images in, detections and an annotated image out,
its REST + Socket.IO service (Learning Loop detector API) on detector_port.

    ros2 launch robot_bringup detector.launch.py [image_topic:=camera/image_raw] \
        [detector_port:=8004]
"""

from launch import LaunchDescription
from launch.actions import GroupAction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import PushRosNamespace
from launch_ros.parameter_descriptions import ParameterValue

from robot_bringup.launch_support import arguments, graph_node


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        *arguments("namespace", "image_topic", "detector_port", "detector_params",
                   "params_file"),
        GroupAction([
            PushRosNamespace(LaunchConfiguration("namespace")),
            graph_node("detector", overrides={"http_port": ParameterValue(
                LaunchConfiguration("detector_port"), value_type=int)},
                remappings=[("camera/image_raw", LaunchConfiguration("image_topic"))]),
        ]),
    ])
