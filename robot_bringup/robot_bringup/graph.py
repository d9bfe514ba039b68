"""brainstem's graph, described once: every node (and plain process) the launch files
and the demo start, with its package, executable, Python module and class, and the
parameter files (config/) whose section `/**/<name>` configures it.

    from robot_bringup.graph import GRAPH
    GRAPH["sim_arm"].executable      # "sim_arm"
    GRAPH["sim_arm"].entry_point     # "robot_bringup.sim_arm_node:main"

The launch files start nodes through `launch_support.graph_node(name, ...)`, the demo
composes `DEMO_NODES` from it, the config tests start every section's node from it,
and a test checks each package's setup.py console_scripts against it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GraphNode:
    """One node (or, with `ros_node` false, one plain process) of the graph."""

    name: str
    package: str
    executable: str
    #: Python module of the executable (its `main`) and of the node class; None for a
    #: package outside this repository.
    module: str | None
    cls: str | None
    #: config/ files with a section for the node, in the order they are layered (each
    #: file is a complete configuration: pilot_sim.yaml or pilot_robot.yaml).
    params: tuple[str, ...] = ()
    #: config/brain_<protocol>.yaml is layered after `params` (the `protocol` argument).
    protocol_params: bool = False
    role: str = ""
    ros_node: bool = True

    @property
    def entry_point(self) -> str | None:
        """`module:main`, as the package's setup.py console_scripts names it."""
        return f"{self.module}:main" if self.module else None

    @property
    def external(self) -> bool:
        """A package of a ROS distro, not of this repository."""
        return self.module is None


NODES = (
    GraphNode("pilot", "pilot_hw", "pilot", "pilot_hw.pilot_node", "PilotNode",
              ("pilot_sim.yaml",), role="gripper servo, LED and button on the virtual Pi"),
    GraphNode("virtual_pi", "pilot_hw", "virtual_pi", "pilot_hw.virtual_pi", None,
              role="a pigpio daemon stand-in (a plain process)", ros_node=False),
    GraphNode("sim_arm", "robot_bringup", "sim_arm", "robot_bringup.sim_arm_node", "SimArmNode",
              ("sim.yaml",), role="the simulated arm"),
    GraphNode("detector", "detector_node", "detector", "detector_node.detector_node",
              "DetectorNode", ("detector.yaml",),
              role="target detection (else the reward uses the sim's ground truth)"),
    GraphNode("reward_from_detections", "robot_bringup", "reward_from_detections",
              "robot_bringup.reward_from_detections_node", "RewardFromDetectionsNode",
              ("sim.yaml",), protocol_params=True, role="the reward"),
    GraphNode("spike_raster", "robot_bringup", "spike_raster",
              "robot_bringup.spike_raster_node", "SpikeRasterNode", ("sim.yaml",),
              role="the spike raster image"),
    GraphNode("brain_server", "embedded_brain", "brain_server",
              "embedded_brain.brain_server_node", "BrainServerNode", ("brain.yaml",),
              protocol_params=True, role="the embedded spiking brain"),
    GraphNode("brain_session", "ab_bridge", "brain_session", "ab_bridge.brain_session_node",
              "BrainSessionNode", ("brain.yaml",), protocol_params=True,
              role="the link to the brain"),
    GraphNode("muscle", "rl_agents", "muscle", "rl_agents.muscle_node", "MuscleNode",
              ("rl.yaml",), role="an rl_agents muscle acting on actuator_command"),
    GraphNode("rl_brain", "rl_agents", "brain", "rl_agents.brain_node", "BrainNode",
              ("rl.yaml",), role="the rl_agents brain the muscle learns in"),
    GraphNode("robot_state_publisher", "robot_state_publisher", "robot_state_publisher",
              None, None, role="the arm's TF from its URDF"),
    GraphNode("rviz2", "rviz2", "rviz2", None, None, role="rviz"),
)

#: Node name -> description.
GRAPH = {node.name: node for node in NODES}

#: The nodes `python -m robot_bringup.demo` composes in its process, in start order
#: (the virtual Pi and the brain server run as its child processes).
DEMO_NODES = tuple(GRAPH[name] for name in (
    "pilot", "sim_arm", "detector", "reward_from_detections", "spike_raster",
    "brain_session"))

#: Parameter file sections that are not a node's: the demo's own settings.
SETTINGS_SECTIONS = ("demo",)

#: Every name a parameter file section may have: a section for any other name is a
#: misspelling that would leave its node on its defaults.
SECTION_NAMES = tuple(n.name for n in NODES if n.ros_node) + SETTINGS_SECTIONS

#: The launch argument that names each shipped parameter file of the nodes (launch
#: files: `sim_params:=my_sim.yaml`).
PARAMETER_ARGUMENTS = {"sim.yaml": "sim_params", "brain.yaml": "brain_params",
                       "detector.yaml": "detector_params", "pilot_sim.yaml": "pilot_params",
                       "rl.yaml": "rl_params"}

#: The shipped parameter files that configure the robot instead of the simulation: the
#: same node's section, for the real hardware.
ROBOT_PARAMS = {"pilot": "pilot_robot.yaml"}


def parameter_sections() -> list[tuple[str, GraphNode]]:
    """(file, node) for every shipped parameter file section of a node of this
    repository: the sections a config test starts nodes from."""
    sections = []
    for node in NODES:
        if node.external or not node.ros_node:
            continue
        files = node.params + ((ROBOT_PARAMS[node.name],) if node.name in ROBOT_PARAMS else ())
        sections += [(file, node) for file in files]
    return sections
