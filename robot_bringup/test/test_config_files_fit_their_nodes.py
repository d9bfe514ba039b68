"""Every section of every parameter file starts its node, and names only parameters the
node declares (rclpy would silently ignore a misspelt one)."""

from __future__ import annotations

import importlib

import pytest

from robot_bringup.config import config_file, node_parameters, parameter_overrides
from robot_bringup.graph import NODES, parameter_sections

pytestmark = pytest.mark.timeout(90)

# Overrides that keep the test on free ports / tmp, by node name.
EXTRA = {
    "brain_session": {"auto_start": False},
    "brain_server": {"port": 0, "state_dir": "{tmp}/brain"},
    "detector": {"http_port": 0, "data_folder": "{tmp}/detector"},
    "pilot": {"host": "127.0.0.1", "port": "{pi_port}"},
    "muscle": {"brain_endpoint": ""},
    "rl_brain": {"endpoint": "tcp://127.0.0.1:0"},
}
SECTIONS = parameter_sections()


def test_every_node_of_the_graph_has_its_sections_tested():
    tested = {node.name for _, node in SECTIONS}
    assert tested == {n.name for n in NODES if n.ros_node and not n.external}
    assert {"sim.yaml", "brain.yaml", "detector.yaml", "pilot_sim.yaml", "pilot_robot.yaml",
            "rl.yaml"} == {file for file, _ in SECTIONS}


@pytest.fixture
def virtual_pi():
    from pilot_hw.virtual_pi import VirtualPi

    pi = VirtualPi("127.0.0.1", 0).start()
    yield pi
    pi.stop()


@pytest.mark.parametrize("file, node", SECTIONS,
                         ids=[f"{file}:{node.name}" for file, node in SECTIONS])
def test_section_starts_its_node_with_declared_parameters(ros_context, tmp_path, virtual_pi,
                                                          file, node):
    name = node.name
    extra = {k: (int(virtual_pi.port) if v == "{pi_port}" else
                 v.format(tmp=tmp_path) if isinstance(v, str) else v)
             for k, v in EXTRA.get(name, {}).items()}
    node_class = getattr(importlib.import_module(node.module), node.cls)
    started = node_class(context=ros_context,
                         parameter_overrides=parameter_overrides([config_file(file)], name,
                                                                 extra=extra))
    try:
        assert started.get_name() == name
        undeclared = [p for p in node_parameters([config_file(file)], name)
                      if not started.has_parameter(p)]
        assert not undeclared, f"{file}: {name} does not declare {undeclared}"
    finally:
        started.destroy_node()
