"""The launch files are checked without starting them: they are valid Python, start
only nodes of the graph description (robot_bringup.graph) and declare the launch
arguments that name those nodes' parameter files, and the files exist with a
section for each node."""

import ast
from pathlib import Path

import pytest

from robot_bringup.config import node_parameters
from robot_bringup.graph import GRAPH, NODES, PARAMETER_ARGUMENTS

BRINGUP = Path(__file__).resolve().parent.parent
LAUNCH_FILES = sorted((BRINGUP / "launch").glob("*.launch.py"))
EXPECTED = {"sim.launch.py", "robot.launch.py", "brain.launch.py", "detector.launch.py",
            "rl_sim.launch.py", "world.launch.py"}


def constant(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", "")) == name]


def declared_arguments(tree: ast.AST) -> set[str]:
    """Names passed to launch_support.arguments(...) and FILES tuples."""
    names = set()
    for call in calls(tree, "arguments"):
        names |= {constant(a) for a in call.args if constant(a)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "FILES"
                                                for t in node.targets):
            names |= {constant(e) for e in node.value.elts}
    return names


def test_every_launch_file_the_issue_names_exists():
    assert {p.name for p in LAUNCH_FILES} == EXPECTED


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_is_valid_python_with_a_launch_description(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert "generate_launch_description" in functions


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_starts_only_nodes_of_the_graph(path):
    tree = ast.parse(path.read_text())
    assert not calls(tree, "Node"), f"{path.name}: start nodes with graph_node(name)"
    started = [constant(c.args[0]) for c in calls(tree, "graph_node")]
    assert started, f"{path.name} starts no node"
    unknown = [name for name in started if name not in GRAPH]
    assert not unknown, f"{path.name}: {unknown} not in robot_bringup.graph"


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_declares_the_parameter_files_of_its_nodes(path):
    tree = ast.parse(path.read_text())
    declared = declared_arguments(tree)
    for call in calls(tree, "graph_node"):
        node = GRAPH[constant(call.args[0])]
        if any(k.arg == "files" for k in call.keywords):
            continue
        needed = {PARAMETER_ARGUMENTS[f] for f in node.params} | {"params_file"}
        assert needed <= declared, \
            f"{path.name}:{call.lineno}: {node.name} needs arguments {sorted(needed - declared)}"


@pytest.mark.parametrize("node", [n for n in NODES if n.params], ids=lambda n: n.name)
def test_parameter_files_of_each_node_exist_and_configure_it(node):
    for file in node.params:
        assert file in PARAMETER_ARGUMENTS, f"{file}: no launch argument names it"
        assert node_parameters([BRINGUP / "config" / file], node.name), \
            f"{file} has no parameters for {node.name!r}"


def test_rviz_config_shows_the_camera_markers_and_raster_in_world():
    import yaml

    rviz = yaml.safe_load((BRINGUP / "rviz" / "brainstem.rviz").read_text())
    manager = rviz["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "world"
    topics = {d["Topic"]["Value"] for d in manager["Displays"] if "Topic" in d}
    assert {"detections/image", "markers", "spike_raster"} <= topics
    model = [d for d in manager["Displays"] if d["Class"] == "rviz_default_plugins/RobotModel"]
    assert model and model[0]["Description Topic"]["Value"] == "robot_description"


def test_urdf_joints_match_the_joint_states_of_the_sim():
    import xml.etree.ElementTree as ElementTree

    from robot_bringup.sim_arm_node import JOINT_NAMES

    robot = ElementTree.parse(BRINGUP / "urdf" / "arm.urdf").getroot()
    movable = {j.get("name") for j in robot.iter("joint") if j.get("type") != "fixed"}
    assert movable == set(JOINT_NAMES)
