"""The `brain_server` node's device parameters: `device_brain` (a bundled design's name or
a path) is installed at start, `device_api_key` is the key the device checks; a key
without the plx_ prefix stops the node naming the parameter."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from rclpy.parameter import Parameter

from embedded_brain.brain_server_node import BrainServerNode


def test_node_installs_the_device_brain(ros_context, tmp_path: Path) -> None:
    node = BrainServerNode(context=ros_context, parameter_overrides=[
        Parameter("port", value=0), Parameter("state_dir", value=str(tmp_path)),
        Parameter("device_brain", value="demo_arm"),
        Parameter("device_api_key", value="plx_node_key")])
    try:
        url = f"http://127.0.0.1:{node.port}/api/status"
        assert requests.get(url, timeout=10).status_code == 401
        status = requests.get(url, headers={"Authorization": "Bearer plx_node_key"},
                              timeout=10).json()
        assert status["engine"]["has_brain"] and status["engine"]["state"] == "READY"
        assert status["package"]["active"]["name"] == "demo_arm"
    finally:
        node.destroy_node()


def test_a_key_of_another_form_is_refused(ros_context, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="device_api_key"):
        BrainServerNode(context=ros_context, parameter_overrides=[
            Parameter("port", value=0), Parameter("state_dir", value=str(tmp_path)),
            Parameter("device_api_key", value="sk-not-a-device-key")])
