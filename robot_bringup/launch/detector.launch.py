"""The detector alone: camera images in, detections and an annotated image out,
its REST + Socket.IO service (Learning Loop detector API) on detector_port.

    ros2 launch robot_bringup detector.launch.py [image_topic:=camera/image_raw] \
        [detector_port:=8004]
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    config = PathJoinSubstitution([FindPackageShare("robot_bringup"), "config"])
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="",
                              description="ROS namespace of the detector."),
        DeclareLaunchArgument("image_topic", default_value="camera/image_raw",
                              description="Camera topic the detector subscribes to."),
        DeclareLaunchArgument("detector_port", default_value="8004",
                              description="Port of the detector's REST + Socket.IO API."),
        DeclareLaunchArgument("detector_params", default_value=PathJoinSubstitution(
            [config, "detector.yaml"]), description="Parameters of the detector."),
        GroupAction([
            PushRosNamespace(LaunchConfiguration("namespace")),
            Node(package="detector_node", executable="detector", name="detector",
                 parameters=[LaunchConfiguration("detector_params"),
                             {"http_port": ParameterValue(LaunchConfiguration("detector_port"),
                                                          value_type=int)}],
                 remappings=[("camera/image_raw", LaunchConfiguration("image_topic"))],
                 output="screen"),
        ]),
    ])
