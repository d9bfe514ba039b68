"""Every package.xml declares what its code imports and what its launch files start,
so `rosdep install --from-paths . --ignore-src` gives a working install.

Imports map to rosdep keys (ros/rosdistro's python.yaml; pip-only keys end in -pip;
ROS packages are their own keys). A module with no rosdep key at all is listed in
NO_KEY, and its package.xml says so in a comment."""

from __future__ import annotations

import ast
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p.parent.name for p in REPO.glob("*/package.xml"))

KEYS = {
    "numpy": "python3-numpy", "yaml": "python3-yaml", "socketio": "python3-socketio",
    "aiohttp": "python3-aiohttp", "requests": "python3-requests",
    "websocket": "python3-websocket", "cv2": "python3-opencv", "zmq": "python3-zmq",
    "matplotlib": "python3-matplotlib", "tqdm": "python3-tqdm", "pigpio": "python3-pigpio",
    "psutil": "python3-psutil", "engineio": "python3-engineio", "numba": "python3-numba", "simplejpeg": "python3-simplejpeg-pip",
    "onnxruntime": "python3-onnxruntime-pip", "ament_index_python": "ament_index_python",
}
NO_KEY = {"onnx"}
# ROS packages: the module is the key.
ROS = re.compile(r"^(rclpy|rcl_interfaces|launch|launch_ros|[a-z_]+_msgs|[a-z_]+_srvs|"
                 r"ab_interfaces|node_kit|embedded_brain|ab_bridge|detector_node|pilot_hw|rl_agents|"
                 r"robot_bringup|ament_index_python)$")


def declared(package: str) -> set[str]:
    root = ET.parse(REPO / package / "package.xml").getroot()
    return {e.text.strip() for e in root if e.tag in ("exec_depend", "depend") and e.text}


def parse(source: Path) -> ast.AST:
    """ast.parse, once more on CPython 3.11.7's spurious "AST constructor recursion depth
    mismatch" SystemError (python/cpython#106905, fixed in 3.11.8: the depth counter is
    shared with whatever else builds ASTs at that moment in the process)."""
    text = source.read_text(encoding="utf-8")
    try:
        return ast.parse(text, str(source))
    except SystemError:
        return ast.parse(text, str(source))


def optional(tree: ast.AST) -> set[int]:
    """ids of the import statements inside `try: ... except ImportError:` (optional ones,
    whose absence the code reports)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError",
                                                               "ModuleNotFoundError")
                for h in node.handlers):
            found |= {id(n) for stmt in node.body for n in ast.walk(stmt)
                      if isinstance(n, (ast.Import, ast.ImportFrom))}
    return found


def imports(package: str) -> set[str]:
    """Top-level modules imported by the package's code and launch files (not tests), but
    for optional imports (see `optional`)."""
    found: set[str] = set()
    sources = [*(REPO / package / package).rglob("*.py"), *(REPO / package / "launch").glob("*.py")]
    for source in sources:
        tree = parse(source)
        skip = optional(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names
            and m not in (package, "__future__")}


def launched(package: str) -> set[str]:
    """Packages whose executables the launch files start (Node(package=...), lib/<pkg>)."""
    found = set()
    for source in (REPO / package / "launch").glob("*.py"):
        text = source.read_text(encoding="utf-8")
        found |= set(re.findall(r'package="([a-z_0-9]+)"', text))
        found |= set(re.findall(r'FindPackagePrefix\("([a-z_0-9]+)"\)', text))
    return found - {package}


@pytest.mark.parametrize("package", [p for p in PACKAGES if p != "ab_interfaces"])
def test_package_xml_declares_every_import(package):
    keys = declared(package)
    unknown = {m for m in imports(package) if m not in KEYS and not ROS.match(m)
               and m not in NO_KEY}
    assert not unknown, f"{package} imports {sorted(unknown)}: add their rosdep keys here"
    wanted = {KEYS.get(m, m) for m in imports(package) if m not in NO_KEY}
    assert not wanted - keys, f"{package}/package.xml lacks exec_depend {sorted(wanted - keys)}"
    text = (REPO / package / "package.xml").read_text(encoding="utf-8")
    for module in NO_KEY & imports(package):
        assert module in text, f"{package}/package.xml: say that {module} has no rosdep key"


def test_robot_bringup_declares_every_package_its_launch_files_start():
    missing = launched("robot_bringup") - declared("robot_bringup")
    assert not missing, f"robot_bringup/package.xml lacks exec_depend {sorted(missing)}"
