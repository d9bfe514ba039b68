"""Each package's setup.py console_scripts start what robot_bringup.graph says:
executable -> module:main, and no other package declares a graph node's executable."""

import ast
import importlib
from pathlib import Path

import pytest

from robot_bringup.graph import NODES

REPO = Path(__file__).resolve().parent.parent.parent


def console_scripts(package: str) -> dict[str, str]:
    """Executable -> "module:function" from <package>/setup.py's console_scripts."""
    scripts = {}
    for node in ast.walk(ast.parse((REPO / package / "setup.py").read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and "=" in node.value and ":" in node.value:
            name, target = (part.strip() for part in node.value.split("=", 1))
            scripts[name] = target
    return scripts


OURS = [n for n in NODES if not n.external]
PACKAGES = sorted(p.parent.name for p in REPO.glob("*/setup.py"))


@pytest.mark.parametrize("node", OURS, ids=lambda n: n.name)
def test_setup_py_starts_the_described_module(node):
    assert node.package in PACKAGES, f"{node.name}: no package {node.package} in the repository"
    assert console_scripts(node.package).get(node.executable) == node.entry_point


@pytest.mark.parametrize("node", OURS, ids=lambda n: n.name)
def test_the_described_module_has_main_and_the_node_class(node):
    module = importlib.import_module(node.module)
    assert callable(getattr(module, "main", None))
    if node.cls:
        assert isinstance(getattr(module, node.cls, None), type)


def test_no_other_package_declares_a_graph_nodes_entry_point():
    """A stale copy (an executable left in the package a node moved out of) would
    start the old code under the same name."""
    modules = {n.module for n in OURS}
    stale = [f"{package}/setup.py: {name} = {target}" for package in PACKAGES
             for name, target in console_scripts(package).items()
             if target.split(":")[0] in modules
             and not any(n.package == package and n.executable == name for n in OURS)]
    assert not stale
