"""Every section of every parameter file starts its node, and names only parameters the
node declares (rclpy would silently ignore a misspelt one)."""

from __future__ import annotations

import importlib

import pytest

from robot_bringup.config import config_file, node_parameters, parameter_overrides

pytestmark = pytest.mark.timeout(90)

# (file, node name, module, class, overrides that keep the test on free ports / tmp)
SECTIONS = [
    ("sim.yaml", "sim_arm", "robot_bringup.sim_arm_node", "SimArm", {}),
    ("sim.yaml", "reward_from_detections", "robot_bringup.reward_from_detections_node",
     "RewardFromDetections", {}),
    ("sim.yaml", "spike_raster", "robot_bringup.spike_raster_node", "SpikeRasterNode", {}),
    ("brain.yaml", "brain_session", "ab_bridge.brain_session_node", "BrainSession",
     {"auto_start": False}),
    ("brain.yaml", "brain_server", "embedded_brain.brain_server_node", "BrainServerNode",
     {"port": 0, "state_dir": "{tmp}/brain"}),
    ("detector.yaml", "detector", "detector_node.detector_node", "DetectorNode",
     {"http_port": 0, "data_folder": "{tmp}/detector"}),
    ("pilot_sim.yaml", "pilot", "pilot_hw.pilot_node", "PilotNode", {"port": "{pi_port}"}),
    ("pilot_robot.yaml", "pilot", "pilot_hw.pilot_node", "PilotNode",
     {"host": "127.0.0.1", "port": "{pi_port}"}),
    ("rl.yaml", "muscle", "rl_agents.muscle_node", "MuscleNode",
     {"brain_endpoint": ""}),
    ("rl.yaml", "rl_brain", "rl_agents.brain_node", "BrainNode",
     {"endpoint": "tcp://127.0.0.1:0"}),
]


@pytest.fixture
def virtual_pi():
    from pilot_hw.virtual_pi import VirtualPi

    pi = VirtualPi("127.0.0.1", 0).start()
    yield pi
    pi.stop()


@pytest.mark.parametrize("file, name, module, cls, extra", SECTIONS,
                         ids=[f"{s[0]}:{s[1]}" for s in SECTIONS])
def test_section_starts_its_node_with_declared_parameters(ros_context, tmp_path, virtual_pi,
                                                          file, name, module, cls, extra):
    extra = {k: (int(virtual_pi.port) if v == "{pi_port}" else
                 v.format(tmp=tmp_path) if isinstance(v, str) else v)
             for k, v in extra.items()}
    node_class = getattr(importlib.import_module(module), cls)
    node = node_class(context=ros_context,
                      parameter_overrides=parameter_overrides([config_file(file)], name,
                                                              extra=extra))
    try:
        assert node.get_name() == name
        undeclared = [p for p in node_parameters([config_file(file)], name)
                      if not node.has_parameter(p)]
        assert not undeclared, f"{file}: {name} does not declare {undeclared}"
    finally:
        node.destroy_node()
