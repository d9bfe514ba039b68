"""`brain_server`: the embedded brain server inside a ROS 2 node, so launch files can start it.

The server (REST + Socket.IO, see server.py) runs on its own asyncio loop in a thread;
the node publishes its state on `diagnostics` once per second. Destroying the node stops
every run and saves the weights.

    ros2 run embedded_brain brain_server --ros-args -p graph:=/path/demo_arm.yaml -p port:=8765
"""

from __future__ import annotations

import os

from rclpy.node import Node

from embedded_brain.abdesign import bundled_design_path
from embedded_brain.graph import GraphError, bundled_graph_path, load_graph
from embedded_brain.server import LEASE_S, MAX_RUNS, BrainServer, ServerThread
from node_kit import Params, run_node
from node_kit.diagnostics import OK, Diagnostics, Status


class BrainServerNode(Node):
    """Runs a BrainServer for the lifetime of the node."""

    def __init__(self, **kwargs) -> None:
        super().__init__("brain_server", **kwargs)
        self.thread: ServerThread | None = None
        params = Params(self)
        graph_path: str = params.declare(
            "graph", str(bundled_graph_path("demo_arm")),
            "Brain graph YAML file (default: the bundled demo_arm).")
        host: str = params.declare("host", "127.0.0.1", "Bind address.")
        port: int = params.declare("port", 8765, "TCP port (0 = any free port).",
                                   low=0, high=65535)
        state_dir: str = params.declare(
            "state_dir", os.path.expanduser("~/.brainstem/brain_state"),
            "Directory where the weights are saved and loaded.")
        api_key: str = params.declare(
            "api_key", "", "API key clients must send (empty: $AB_API_KEY, or none).")
        seed: int = params.declare("seed", -1, "Run seed (-1: the graph's seed).",
                                   low=-1, high=2 ** 31 - 1)
        learning: bool = params.declare("learning", True, "Reward-modulated STDP on.")
        deadline_ms: float = params.declare(
            "deadline_ms", 50.0, "How long a cycle waits for its inputs, in ms.",
            low=1.0, high=10000.0)
        realtime: bool = params.declare(
            "realtime", True, "Pace cycles to real time (gamma x dt each).")
        lease_s: float = params.declare(
            "lease_s", LEASE_S, "A run no client has joined or named for this long (s) is "
            "stopped.", low=0.1, high=86400.0)
        max_runs: int = params.declare("max_runs", MAX_RUNS,
                                       "Most runs at once; more starts answer 429.",
                                       low=1, high=1000)
        device_brain: str = params.declare(
            "device_brain", "", "Prima-Lux device API: a brain.abdesign.json to install at "
            "start, or the name of a bundled design (demo_arm); empty: none (build one with "
            "`ab build brain`).")
        device_api_key: str = params.declare(
            "device_api_key", "", "Prima-Lux device API key (plx_...); empty: "
            "$AB_DEVICE_API_KEY, or any plx_ key is accepted.")
        params.refuse_unknown()
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
                realtime=realtime, lease_s=lease_s, max_runs=max_runs,
                device_api_key=device_api_key or os.environ.get("AB_DEVICE_API_KEY") or None,
                device_brain=device_brain or None)
        except (ValueError, OSError) as exc:
            raise ValueError(f"parameter 'device_brain' or 'device_api_key': {exc}") from exc
        self.thread = ServerThread(self.server, host, port)
        self.port = self.thread.start()
        self.project = graph.project
        self.get_logger().info(f"brain server for project '{graph.project}' on "
                               f"http://{host}:{self.port} (state in {state_dir})")
        self.diagnostics = Diagnostics(self, self.health, period_s=1.0)

    def health(self) -> Status:
        runs = list(self.server.runs.values())
        return Status("brain_server", OK, f"{len(runs)} run(s) on port {self.port}",
                      hardware_id=self.project,
                      values={"port": self.port, **{f"run {r.run_id} cycle": r.cycle
                                                    for r in runs}})

    def destroy_node(self) -> None:
        """Stop every run (weights saved) and the server, then the node."""
        if self.thread is not None:
            self.thread.stop()
            self.thread = None
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(BrainServerNode, args, program="brain_server")


if __name__ == "__main__":
    raise SystemExit(main())
