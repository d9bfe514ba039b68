"""The launch files are checked without `launch` installed: they are valid Python,
start only executables some package's setup.py declares (or a known ROS tool),
and pass only parameter files that exist and have a section for the node."""

import ast
from pathlib import Path

import pytest

from robot_bringup.config import _matches, load_file

BRINGUP = Path(__file__).resolve().parent.parent
REPO = BRINGUP.parent
LAUNCH_FILES = sorted((BRINGUP / "launch").glob("*.launch.py"))
# Executables of ROS packages that are not part of this repository.
EXTERNAL = {("rviz2", "rviz2"), ("robot_state_publisher", "robot_state_publisher")}
EXPECTED = {"sim.launch.py", "robot.launch.py", "brain.launch.py", "detector.launch.py",
            "rl_sim.launch.py", "world.launch.py"}


def console_scripts(package: str) -> set[str]:
    """Executable names in <package>/setup.py's console_scripts."""
    setup = REPO / package / "setup.py"
    if not setup.is_file():
        return set()
    names = set()
    for node in ast.walk(ast.parse(setup.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and "=" in node.value and ":" in node.value:
            names.add(node.value.split("=")[0].strip())
    return names


def constant(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def started_executables(tree: ast.AST) -> list[tuple[str, str, ast.Call]]:
    """(package, executable, call) for every Node(...) and every lib/<pkg>/<exe> path."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        keywords = {k.arg: k.value for k in node.keywords}
        if name == "Node":
            package, executable = constant(keywords.get("package")), \
                constant(keywords.get("executable"))
            assert package and executable, f"Node without literal package/executable at line " \
                                           f"{node.lineno}"
            found.append((package, executable, node))
        if name == "PathJoinSubstitution" and node.args and isinstance(node.args[0], ast.List):
            parts = [constant(e) for e in node.args[0].elts]
            if "lib" in parts and len(parts) >= parts.index("lib") + 3:
                i = parts.index("lib")
                found.append((parts[i + 1], parts[i + 2], node))
    return found


def test_every_launch_file_the_issue_names_exists():
    assert {p.name for p in LAUNCH_FILES} == EXPECTED


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_is_valid_python_with_a_launch_description(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert "generate_launch_description" in functions


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_starts_only_executables_that_exist(path):
    tree = ast.parse(path.read_text())
    started = started_executables(tree)
    assert started
    for package, executable, call in started:
        if (package, executable) in EXTERNAL:
            continue
        assert executable in console_scripts(package), \
            f"{path.name}:{call.lineno}: {package} has no executable {executable!r}"


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_parameter_files_exist_and_configure_their_nodes(path):
    tree = ast.parse(path.read_text())
    # Launch argument name -> default parameter file name.
    defaults = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "DeclareLaunchArgument":
            name = constant(node.args[0]) if node.args else None
            for k in node.keywords:
                if k.arg == "default_value":
                    parts = [constant(c) for c in ast.walk(k.value) if constant(c)]
                    if parts and parts[-1].endswith((".yaml", ".rviz")):
                        defaults[name] = "/".join(parts)
    for file in defaults.values():
        folder = "rviz" if file.endswith(".rviz") else "config"
        assert (BRINGUP / folder / file).is_file(), f"{path.name}: {folder}/{file} missing"
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Node"):
            continue
        keywords = {k.arg: k.value for k in node.keywords}
        node_name = constant(keywords.get("name"))
        for item in getattr(keywords.get("parameters"), "elts", []):
            if isinstance(item, ast.Call) and getattr(item.func, "id", "") == "LaunchConfiguration":
                argument = constant(item.args[0])
                assert argument in defaults, \
                    f"{path.name}:{node.lineno}: parameters from undeclared {argument!r}"
                sections = load_file(BRINGUP / "config" / defaults[argument])
                assert any(_matches(key, node_name, "") for key in sections), \
                    f"{path.name}:{node.lineno}: {defaults[argument]} has no section {node_name!r}"


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
