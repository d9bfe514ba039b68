"""What brainstem's launch files share: every launch argument, defined once
(`arguments(...)`); the graph's nodes started from their description
(robot_bringup.graph) with their parameter files (`graph_node(...)`); checks that stop
a launch before anything starts when an argument asks for a package that is not
installed or a parameter file has a section for no node; and the choice of starting
an optional package only where it is installed.

    LaunchDescription([*arguments("namespace", "rviz", "sim_params"),
                       check_parameter_files("sim_params"),
                       require_package("rviz2", LaunchConfiguration("rviz"), "rviz:=true"),
                       graph_node("sim_arm"), ...])

A launch file puts the checks first: `ros2 launch` visits its actions in order, so a
failed check ends the launch with exit code 1 before any process was started.
"""

from __future__ import annotations

from typing import Any

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch.utilities import perform_substitutions
from launch_ros.substitutions import FindPackageShare

from robot_bringup.graph import GRAPH, PARAMETER_ARGUMENTS, SECTION_NAMES

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


def check_parameter_files(*arguments: str) -> OpaqueFunction:
    """An action that ends the launch before anything starts when a parameter file given
    by one of the launch `arguments` cannot be read or has a section for no node of the
    graph (naming the close match)."""

    def check(context, *args, **kwargs):
        from robot_bringup.config import ConfigError, unknown_sections

        problems = []
        for argument in arguments:
            path = LaunchConfiguration(argument).perform(context)
            if not path:   # params_file: none given
                continue
            try:
                unknown = unknown_sections(path, SECTION_NAMES)
            except ConfigError as error:
                problems.append(f"{argument}: {error}")
                continue
            problems += [f"{argument}:={path}: section {u} is for no node of the graph"
                         for u in unknown]
        if problems:
            raise ValueError("; ".join(problems) + ". Nothing was started.")
        return []

    return OpaqueFunction(function=check)


def config_path(name: str) -> PathJoinSubstitution:
    return PathJoinSubstitution([FindPackageShare("robot_bringup"), "config", name])


def _brain_graph() -> str:
    from embedded_brain.graph import bundled_graph_path

    return str(bundled_graph_path("demo_arm"))


#: Every launch argument of brainstem's launch files: name -> (default, description).
#: A launch file declares those it uses with `arguments(...)`, changing a default where
#: it differs (robot.launch.py: embedded_brain false, pace clock).
ARGUMENTS: dict[str, tuple[Any, str]] = {
    "namespace": ("", "ROS namespace of every node."),
    "use_sim": ("false", "Simulated arm + virtual Pi instead of hardware."),
    "pi_port": ("8888", "Port of the virtual Pi (pigpio protocol)."),
    "detector_port": ("8004", "Port of the detector's REST + Socket.IO API."),
    "brain_port": ("8765", "Port of the embedded brain server."),
    "brain_url": (["http://127.0.0.1:", LaunchConfiguration("brain_port")],
                  "URL of the brain the session connects to (default: the embedded one)."),
    "brain_graph": (_brain_graph, "Graph of the embedded brain (default: embedded_brain's "
                    "bundled demo_arm)."),
    "embedded_brain": ("true", "Start the embedded brain server here."),
    "pace": ("camera", "What paces the brain's cycles: camera (each cycle starts on a fresh "
             "camera frame: brain.yaml's fresh_inputs and run_options, the simulation's) or "
             "clock (the brain's own clock, each cycle served the newest frame: a real "
             "camera, a remote brain)."),
    "protocol": ("realtime", "How brain_session talks to the brain: realtime (REST + "
                 "Socket.IO) or device (Prima-Lux); picks config/brain_<protocol>.yaml, "
                 "layered after brain_params."),
    "tf": ("auto", "The arm's TF through robot_state_publisher: auto (if installed), true, "
           "false."),
    "rviz": ("false", "Start rviz2."),
    "image_topic": ("camera/image_raw", "Camera topic the detector subscribes to."),
    "params_file": ("", "One parameter file for any nodes of this launch (sections "
                    "/**/<node>), layered after their own files: a change to the shipped "
                    "configuration in one place."),
    "sim_params": (lambda: config_path("sim.yaml"),
                   "Parameters of sim_arm, reward_from_detections, spike_raster."),
    "brain_params": (lambda: config_path("brain.yaml"),
                     "Parameters of brain_server, brain_session."),
    "detector_params": (lambda: config_path("detector.yaml"), "Parameters of the detector."),
    "pilot_params": (lambda: config_path("pilot_sim.yaml"), "Parameters of the pilot."),
    "pilot_sim_params": (lambda: config_path("pilot_sim.yaml"),
                         "Parameters of the pilot when use_sim is true."),
    "rl_params": (lambda: config_path("rl.yaml"), "Parameters of the muscle and rl_brain."),
}

CHOICES = {"protocol": ["realtime", "device"], "pace": ["camera", "clock"]}

def arguments(*names: str, **defaults: Any) -> list[DeclareLaunchArgument]:
    """DeclareLaunchArgument for each of `names` from ARGUMENTS; `defaults` changes the
    default value of some."""
    declared = []
    for name in names:
        default, description = ARGUMENTS[name]
        default = defaults.get(name, default)
        if callable(default):
            default = default()
        declared.append(DeclareLaunchArgument(name, default_value=default,
                                              description=description,
                                              **({"choices": CHOICES[name]}
                                                 if name in CHOICES else {})))
    return declared


def graph_node(name: str, files: tuple[str, ...] | None = None,
               overrides: dict[str, Any] | None = None, **kwargs: Any) -> OpaqueFunction:
    """Start node `name` of the graph (robot_bringup.graph) with its parameter files: the
    launch arguments naming them (or those of `files`: argument names), then
    config/brain_<protocol>.yaml where the node takes it, then `params_file` when given,
    then `overrides`. `kwargs` go to launch_ros' Node (remappings, ...)."""
    node = GRAPH[name]
    if files is None:
        files = tuple(PARAMETER_ARGUMENTS[f] for f in node.params)
    condition = kwargs.pop("condition", None)

    def start(context, *args, **_):
        from launch_ros.actions import Node

        parameters: list[Any] = [LaunchConfiguration(f) for f in files]
        if node.protocol_params:
            parameters.append(protocol_params())
        if context.launch_configurations.get("params_file"):
            parameters.append(LaunchConfiguration("params_file"))
        if overrides:
            parameters.append(overrides)
        return [Node(package=node.package, executable=node.executable, name=node.name,
                     parameters=parameters, output="screen", **kwargs)]

    return OpaqueFunction(function=start, condition=condition)
