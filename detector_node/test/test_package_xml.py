"""package.xml declares what detector_node's code imports (so `rosdep install` gives a
working install): every imported third-party module maps to an exec_depend key."""

from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]

# module -> rosdep key (python.yaml of ros/rosdistro; pip keys end in -pip)
KEYS = {"rclpy": "rclpy", "node_kit": "node_kit", "rcl_interfaces": "rcl_interfaces", "ab_interfaces": "ab_interfaces",
        "std_msgs": "std_msgs", "sensor_msgs": "sensor_msgs", "diagnostic_msgs": "diagnostic_msgs",
        "numpy": "python3-numpy", "cv2": "python3-opencv", "aiohttp": "python3-aiohttp",
        "socketio": "python3-socketio", "simplejpeg": "python3-simplejpeg-pip",
        "onnxruntime": "python3-onnxruntime-pip"}
NO_KEY = {"onnx"}  # no rosdep key exists; package.xml says so in a comment


def imported_modules() -> set[str]:
    found = set()
    for source in (PACKAGE / "detector_node").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in ("detector_node", "__future__")}


def test_every_import_is_declared():
    root = ET.parse(PACKAGE / "package.xml").getroot()
    declared = {e.text for e in root.iter() if e.tag in ("exec_depend", "depend")}
    modules = imported_modules()
    assert modules - set(KEYS) - NO_KEY == set(), "an import without a known rosdep key"
    missing = {KEYS[m] for m in modules if m in KEYS} - declared
    assert not missing, f"package.xml lacks exec_depend {sorted(missing)}"
    text = (PACKAGE / "package.xml").read_text(encoding="utf-8")
    assert all(f"{m} (" in text or f"{m} " in text for m in NO_KEY & modules)
