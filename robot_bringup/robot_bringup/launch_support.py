"""What brainstem's launch files share: checks that stop a launch before anything
starts when an argument asks for a package that is not installed, and the
choice of starting an optional package only where it is installed.

    LaunchDescription([*arguments, require_package("rviz2", LaunchConfiguration("rviz"),
                       "rviz:=true"), ...nodes])

A launch file puts these first: `ros2 launch` visits its actions in order, so a
failed check ends the launch with exit code 1 before any process was started.
"""

from __future__ import annotations

from launch.actions import IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch.utilities import perform_substitutions
from launch_ros.substitutions import FindPackageShare

#: How to get each optional package on a ROS distro (and why it is not on PyPI).
INSTALL_HINTS = {
    "rviz2": "install ros-$ROS_DISTRO-rviz2 (a ROS distro: rviz2 is not on PyPI)",
    "robot_state_publisher": "install ros-$ROS_DISTRO-robot-state-publisher (a ROS distro: "
                             "it is not on PyPI)",
}


class MissingPackageError(RuntimeError):
    """A launch argument asked for a package that is not installed."""


def package_available(name: str) -> bool:
    """Whether ROS package `name` is installed (in the ament index)."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        get_package_prefix(name)
    except PackageNotFoundError:
        return False
    return True


def _truthy(text: str, argument: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off", ""):
        return False
    raise MissingPackageError(f"launch argument {argument}: expected true or false, got {text!r}")


def require_package(package: str, when: LaunchConfiguration | str, argument: str
                    ) -> OpaqueFunction:
    """An action that ends the launch, naming the package and how to get it, when `when`
    is true and `package` is missing."""

    def check(context, *args, **kwargs):
        wanted = when if isinstance(when, str) else perform_substitutions(context, [when])
        if _truthy(wanted, argument) and not package_available(package):
            hint = INSTALL_HINTS.get(package, f"install {package}")
            raise MissingPackageError(f"{argument} needs the ROS package {package!r}, which "
                                      f"is not installed: {hint}. Nothing was started.")
        return []

    return OpaqueFunction(function=check)


def optional_choice(text: str, package: str, argument: str) -> bool:
    """'auto' / 'true' / 'false' for an optional package: auto means 'if installed'.
    'true' with the package missing raises MissingPackageError."""
    value = text.strip().lower()
    if value == "auto":
        return package_available(package)
    wanted = _truthy(value, argument)
    if wanted and not package_available(package):
        hint = INSTALL_HINTS.get(package, f"install {package}")
        raise MissingPackageError(f"{argument} needs the ROS package {package!r}, which is "
                                  f"not installed: {hint}. Nothing was started.")
    return wanted


def include(name: str, arguments: tuple[str, ...]) -> IncludeLaunchDescription:
    """Include robot_bringup's launch file `name`, passing on the launch arguments
    `arguments` under the same names."""
    source = PythonLaunchDescriptionSource(
        PathJoinSubstitution([FindPackageShare("robot_bringup"), "launch", name]))
    return IncludeLaunchDescription(source, launch_arguments={
        a: LaunchConfiguration(a) for a in arguments}.items())


def arm_tf(context, *args, **kwargs) -> list:
    """OpaqueFunction body: robot_state_publisher with the arm's URDF (TF from
    joint_states) when the `tf` launch argument wants it and it is installed; otherwise
    one line saying why there is no TF."""
    from pathlib import Path

    from ament_index_python.packages import get_package_share_directory
    from launch.actions import LogInfo
    from launch_ros.actions import Node

    if not optional_choice(LaunchConfiguration("tf").perform(context),
                           "robot_state_publisher", "tf:=true"):
        return [LogInfo(msg="tf: robot_state_publisher is not installed (or tf:=false): the "
                            "arm's transforms are not published; rviz shows its markers")]
    urdf = Path(get_package_share_directory("robot_bringup")) / "urdf" / "arm.urdf"
    return [Node(package="robot_state_publisher", executable="robot_state_publisher",
                 name="robot_state_publisher", output="screen",
                 parameters=[{"robot_description": urdf.read_text()}])]


def protocol_params() -> PathJoinSubstitution:
    """config/brain_<protocol>.yaml (the `protocol` launch argument): the protocol's
    settings, layered after brain.yaml."""
    config = PathJoinSubstitution([FindPackageShare("robot_bringup"), "config"])
    # One path part built from three: PathJoinSubstitution takes no nested lists.
    return PathJoinSubstitution([config, PythonExpression(
        ["'brain_' + '", LaunchConfiguration("protocol"), "' + '.yaml'"])])


#: The nodes brainstem's launch files start, by name: a parameter file section for any
#: other name is a misspelling that would leave its node on its defaults.
GRAPH_NODES = ("sim_arm", "reward_from_detections", "spike_raster", "brain_server",
               "brain_session", "detector", "pilot", "muscle", "rl_brain",
               "robot_state_publisher", "demo")


def check_parameter_files(*arguments: str) -> OpaqueFunction:
    """An action that ends the launch before anything starts when a parameter file given
    by one of the launch `arguments` cannot be read or has a section for no node of the
    graph (naming the close match)."""

    def check(context, *args, **kwargs):
        from robot_bringup.config import ConfigError, unknown_sections

        problems = []
        for argument in arguments:
            path = LaunchConfiguration(argument).perform(context)
            try:
                unknown = unknown_sections(path, GRAPH_NODES)
            except ConfigError as error:
                problems.append(f"{argument}: {error}")
                continue
            problems += [f"{argument}:={path}: section {u} is for no node of the graph"
                         for u in unknown]
        if problems:
            raise ValueError("; ".join(problems) + ". Nothing was started.")
        return []

    return OpaqueFunction(function=check)
