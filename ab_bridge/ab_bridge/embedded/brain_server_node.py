"""`brain_server`: the embedded brain server inside a ROS 2 node, so launch files can start it.

The server (REST + Socket.IO, see server.py) runs on its own asyncio loop in a thread;
the node publishes its state on `diagnostics` once per second. Destroying the node stops
every run and saves the weights.

    ros2 run ab_bridge brain_server --ros-args -p graph:=/path/demo_arm.yaml -p port:=8765
"""

from __future__ import annotations

import os

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from ab_bridge.embedded.abdesign import bundled_design_path
from ab_bridge.embedded.graph import GraphError, bundled_graph_path, load_graph
from ab_bridge.embedded.server import BrainServer, ServerThread


class BrainServerNode(Node):
    """Runs a BrainServer for the lifetime of the node."""

    def __init__(self, **kwargs) -> None:
        super().__init__("brain_server", **kwargs)
        graph_path: str = self.declare_parameter(
            "graph", str(bundled_graph_path("demo_arm")), ParameterDescriptor(
                description="Brain graph YAML file (default: the bundled demo_arm).")).value
        host: str = self.declare_parameter(
            "host", "127.0.0.1", ParameterDescriptor(description="Bind address.")).value
        port: int = self.declare_parameter(
            "port", 8765, ParameterDescriptor(
                description="TCP port (0 = any free port).",
                integer_range=[IntegerRange(from_value=0, to_value=65535, step=1)])).value
        state_dir: str = self.declare_parameter(
            "state_dir", os.path.expanduser("~/.brainstem/brain_state"), ParameterDescriptor(
                description="Directory where the weights are saved and loaded.")).value
        api_key: str = self.declare_parameter(
            "api_key", "", ParameterDescriptor(
                description="API key clients must send (empty: $AB_API_KEY, or none).")).value
        seed: int = self.declare_parameter(
            "seed", -1, ParameterDescriptor(
                description="Run seed (-1: the graph's seed).",
                integer_range=[IntegerRange(from_value=-1, to_value=2 ** 31 - 1, step=1)])).value
        learning: bool = self.declare_parameter(
            "learning", True, ParameterDescriptor(description="Reward-modulated STDP on.")).value
        deadline_ms: float = self.declare_parameter(
            "deadline_ms", 50.0, ParameterDescriptor(
                description="How long a cycle waits for its inputs, in ms.",
                floating_point_range=[FloatingPointRange(from_value=1.0, to_value=10000.0)])).value
        realtime: bool = self.declare_parameter(
            "realtime", True, ParameterDescriptor(
                description="Pace cycles to real time (gamma x dt each).")).value
        device_brain: str = self.declare_parameter(
            "device_brain", "", ParameterDescriptor(
                description="Prima-Lux device API: a brain.abdesign.json to install at start, "
                            "or the name of a bundled design (demo_arm); empty: none (build "
                            "one with `ab build brain`).")).value
        device_api_key: str = self.declare_parameter(
            "device_api_key", "", ParameterDescriptor(
                description="Prima-Lux device API key (plx_...); empty: $AB_DEVICE_API_KEY, "
                            "or any plx_ key is accepted.")).value
        if not host:
            raise ValueError("parameter 'host' must not be empty")
        if not state_dir:
            raise ValueError("parameter 'state_dir' must not be empty")
        try:
            graph = load_graph(graph_path)
        except GraphError as exc:
            raise ValueError(f"parameter 'graph': {exc}") from exc
        if device_brain and not device_brain.endswith(".json"):
            device_brain = str(bundled_design_path(device_brain))
        try:
            self.server = BrainServer(
                [graph], state_dir, api_key=api_key or os.environ.get("AB_API_KEY") or None,
                seed=None if seed < 0 else seed, learning=learning, deadline_ms=deadline_ms,
                realtime=realtime,
                device_api_key=device_api_key or os.environ.get("AB_DEVICE_API_KEY") or None,
                device_brain=device_brain or None)
        except (ValueError, OSError) as exc:
            raise ValueError(f"parameter 'device_brain' or 'device_api_key': {exc}") from exc
        self.thread = ServerThread(self.server, host, port)
        self.port = self.thread.start()
        self.project = graph.project
        self.get_logger().info(f"brain server for project '{graph.project}' on "
                               f"http://{host}:{self.port} (state in {state_dir})")
        self.diagnostics = self.create_publisher(DiagnosticArray, "diagnostics", 10)
        self.timer = self.create_timer(1.0, self.publish_diagnostics)

    def publish_diagnostics(self) -> None:
        runs = list(self.server.runs.values())
        status = DiagnosticStatus(
            level=DiagnosticStatus.OK, name="brain_server", hardware_id=self.project,
            message=f"{len(runs)} run(s) on port {self.port}",
            values=[KeyValue(key="port", value=str(self.port))] + [
                KeyValue(key=f"run {r.run_id} cycle", value=str(r.cycle)) for r in runs])
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics.publish(msg)

    def destroy_node(self) -> None:
        """Stop every run (weights saved) and the server, then the node."""
        self.thread.stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    try:
        with rclpy.init(args=args):
            node = BrainServerNode()
            try:
                rclpy.spin(node)
            finally:
                node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
