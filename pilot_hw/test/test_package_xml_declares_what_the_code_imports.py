"""pilot_hw's package.xml declares what its code imports (so `rosdep install` gives a working
pilot) and nothing it does not use."""

from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
# import name -> rosdep key, for the imports that are not ROS packages of the same name
ROSDEP_KEYS = {"pigpio": "python3-pigpio", "yaml": "python3-yaml", "numpy": "python3-numpy",
               "pytest": "python3-pytest"}


def imported(folder: Path) -> set[str]:
    names = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    local = {"pilot_hw", "pilot_test_helpers", "gpiozero_child", "gpiozero", "setuptools"}
    return {ROSDEP_KEYS.get(n, n) for n in names
            if n not in sys.stdlib_module_names and n not in local}


def declared(*tags: str) -> set[str]:
    root = ElementTree.parse(PACKAGE / "package.xml").getroot()
    return {e.text.strip() for tag in tags for e in root.iter(tag)}


def test_exec_depends_are_the_code_imports() -> None:
    assert declared("exec_depend", "depend") == imported(PACKAGE / "pilot_hw")


def test_test_depends_cover_the_test_imports() -> None:
    missing = imported(PACKAGE / "test") - declared("exec_depend", "depend", "test_depend")
    assert not missing, f"package.xml lacks <test_depend> for {sorted(missing)}"
