"""`brain` (node name rl_brain): an agent's brain, serving its muscles over ZeroMQ.

Binds a ROUTER socket at `endpoint`; every muscle (the `muscle` node, or any
process with rl_agents.transport.BrainClient) sends its steps there and gets
the brain's updates back. With `model_dir` set, the brain loads its stored
state at start (so a restarted brain resumes), stores it every
`store_period_s` and on shutdown. Publishes `diagnostics`.

    ros2 run rl_agents brain --ros-args --params-file rl_agents/config/arm_reach_brain.yaml
"""

from __future__ import annotations

import sys
from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSProfile

from node_kit import Params, run_node
from node_kit.diagnostics import OK, Diagnostics, Status
from rl_agents.agent import FileBrainDumper
from rl_agents.registry import make_brain
from rl_agents.ros_params import declare_agent_parameters
from rl_agents.transport import BrainServer


class BrainNode(Node):
    """Runs a Brain behind a BrainServer; see the module docstring."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("rl_brain", **kwargs)
        params = Params(self)
        agent = declare_agent_parameters(params)
        endpoint = params.declare(
            "endpoint", "tcp://127.0.0.1:5599",
            "ZeroMQ endpoint to bind (tcp://HOST:PORT; port 0 = any free port, see the log).")
        self.model_dir = params.declare(
            "model_dir", "", "Directory for stored brain states ('' = do not store).")
        store_period_s = float(params.declare(
            "store_period_s", 30.0, "Store the brain state this often (s).",
            low=0.1, high=86400.0))
        params.refuse_unknown()
        if not str(endpoint).startswith(("tcp://", "ipc://", "inproc://")):
            raise ValueError(f"parameter 'endpoint' must be a ZeroMQ endpoint such as "
                             f"tcp://127.0.0.1:5599, got {endpoint!r}")
        self.brain = make_brain(agent.algorithm, agent.agent_params
                                if agent.brain_params is None else agent.brain_params)
        if self.brain.configure(agent.sensor_infos(), agent.actuator_infos(), agent.seed,
                                [FileBrainDumper(self.model_dir)] if self.model_dir else [],
                                name=self.get_name(), load=bool(self.model_dir)):
            self.get_logger().info(f"resumed the brain stored in {self.model_dir}")
        self.server = BrainServer(self.brain, endpoint)
        try:
            self.endpoint = self.server.bind()
        except Exception as exc:
            raise ValueError(f"parameter 'endpoint': cannot bind {endpoint!r}: {exc}") from None
        self.server.start()
        self.store_timer = (self.create_timer(store_period_s, self.store)
                            if self.model_dir else None)
        self.diagnostics = Diagnostics(self, self.health, period_s=1.0, qos=QoSProfile(depth=10))
        self.get_logger().info(f"brain ({agent.algorithm}) serving muscles at {self.endpoint}")

    def store(self) -> None:
        with self.server.lock:
            self.brain.store()

    def health(self) -> Status:
        return Status("rl_brain", OK, f"{len(self.server.muscles)} muscle(s)",
                      hardware_id=self.endpoint,
                      values={"requests": self.server.requests, "errors": self.server.errors,
                              "muscles": ",".join(sorted(self.server.muscles))})

    def destroy_node(self) -> None:
        server = getattr(self, "server", None)
        if server is not None:
            server.stop()
            self.server = None
            if self.model_dir:
                self.brain.store()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; the brain stores on the way out (exit code 0)."""
    return run_node(BrainNode, args)


if __name__ == "__main__":
    sys.exit(main())
