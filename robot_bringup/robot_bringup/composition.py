"""The demo's graph, composed from its description (robot_bringup.graph): the virtual Pi
and the embedded brain server as child processes, the nodes of `DEMO_NODES` in this
process on one single-threaded executor, each with its parameters from
robot_bringup/config/*.yaml (robot_bringup.config).

    graph = ComposedGraph(workdir, seed=3, protocol="realtime")
    graph.build_nodes(graph.start_children())
    graph.spin(monitor_node)      # extra nodes of the caller's, spun with the graph's
    ...
    graph.stop(monitor_node)

A part that cannot start is left out and named in `missing`; the others run.
"""

from __future__ import annotations

import importlib
import importlib.util
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robot_bringup.config import config_file, node_parameters
from robot_bringup.graph import DEMO_NODES


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, child: subprocess.Popen, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def stop_process(process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """Ctrl-C a child process and wait for it; killed if it does not exit in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Child:
    """A child process of the demo (brain server, virtual Pi)."""

    name: str
    args: list[str]
    port: int
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0) -> bool:
        log = open(self.log_path, "w")  # the child writes it; our handle closes below
        self.process = subprocess.Popen([sys.executable, *self.args], stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        log.close()
        if wait_for_port(self.port, self.process, timeout_s):
            return True
        self.stop()
        return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def log_tail(self, lines: int = 5) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""


class ComposedGraph:
    """The processes and nodes of the demo's graph, and the executor spinning the nodes."""

    def __init__(self, workdir: Path, seed: int | None, protocol: str,
                 external_brain: bool = False, failed: threading.Event | None = None
                 ) -> None:
        self.workdir = workdir
        self.seed = seed
        self.protocol = protocol
        self.external_brain = external_brain
        self.children: list[Child] = []
        self.nodes: dict[str, Any] = {}
        self.missing: dict[str, str] = {}
        self.context = None
        self.executor = None
        self.spin_thread: threading.Thread | None = None
        #: Set when the executor stopped on an error (said on stdout).
        self.failed = failed if failed is not None else threading.Event()

    def start_children(self) -> dict[str, Any]:
        """Start the virtual Pi and the embedded brain server; parameter overrides they imply."""
        overrides: dict[str, dict[str, Any]] = {}
        if importlib.util.find_spec("pilot_hw.virtual_pi") is not None:
            port = free_port()
            child = Child("virtual_pi", ["-m", "pilot_hw.virtual_pi", "--host", "127.0.0.1",
                                         "--port", str(port)], port,
                          self.workdir / "virtual_pi.log")
            if child.start(30):
                self.children.append(child)
                overrides["pilot"] = {"host": "127.0.0.1", "port": port}
                say(f"virtual Pi on 127.0.0.1:{port}")
            else:
                self.missing["virtual_pi"] = f"did not start: {child.log_tail()}"
        else:
            self.missing["virtual_pi"] = "pilot_hw.virtual_pi is not installed"
        if importlib.util.find_spec("embedded_brain.server") is not None:
            port = free_port()
            from embedded_brain.abdesign import bundled_design_path
            from embedded_brain.graph import bundled_graph_path
            from robot_bringup.evaluation import seeded_graph_file

            # --seed draws the network too (its connections and initial weights).
            graph = seeded_graph_file(str(bundled_graph_path("demo_arm")), self.seed,
                                      self.workdir)
            state_dir = self.workdir / "brain_state"
            state_dir.mkdir()
            device = self.protocol_parameters("brain_server")   # --protocol device
            child = Child("brain_server", [
                "-m", "embedded_brain.server", "--host", "127.0.0.1", "--port", str(port),
                "--graph", graph, "--state-dir", str(state_dir),
                *(["--seed", str(self.seed)] if self.seed is not None else []),
                *(["--device-brain", str(bundled_design_path(device["device_brain"]))]
                  if device.get("device_brain") else [])],
                port, self.workdir / "brain_server.log")
            say("starting the embedded brain server ...")
            if child.start(90):
                self.children.append(child)
                overrides["brain_session"] = {"url": f"http://127.0.0.1:{port}"}
                say(f"embedded brain on http://127.0.0.1:{port} (graph {graph})")
            else:
                self.missing["brain_server"] = f"did not start: {child.log_tail()}"
        else:
            self.missing["brain_server"] = "embedded_brain.server is not installed"
        return overrides

    def build_nodes(self, overrides: dict[str, dict[str, Any]]) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        from robot_bringup.config import parameter_overrides

        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        extra_by_node: dict[str, dict[str, Any]] = {
            "sim_arm": {} if self.seed is None else {"seed": self.seed},
            # The demo's own outbox and a free port: never collide with another detector.
            "detector": {"data_folder": str(self.workdir / "detector"), "http_port": 0},
            # The demo starts (and restarts) runs itself, one per phase.
            "brain_session": {"auto_start": False},
        }
        for part in DEMO_NODES:
            if part.name == "pilot" and "pilot" not in overrides:
                self.missing.setdefault("pilot", "no virtual Pi to drive")
                continue
            if part.name == "brain_session" and "brain_session" not in overrides \
                    and not self.external_brain:
                self.missing.setdefault("brain_session", "no brain server to talk to")
                continue
            try:
                cls = getattr(importlib.import_module(part.module), part.cls)
            except (ImportError, AttributeError) as error:
                self.missing[part.name] = f"{part.module}.{part.cls} not available ({error})"
                continue
            extra = {**extra_by_node.get(part.name, {}), **overrides.get(part.name, {})}
            try:
                params = parameter_overrides([config_file(f) for f in part.params], part.name, extra={
                    **self.protocol_parameters(part.name), **extra})
                self.nodes[part.name] = cls(context=self.context, parameter_overrides=params)
            except Exception as error:  # a part that cannot start must not stop the others
                self.missing[part.name] = f"could not start: {type(error).__name__}: {error}"
        for name, why in self.missing.items():
            say(f"without {name}: {why}")
        # One thread for every node's callbacks: with MultiThreadedExecutor(4) its spin
        # thread held the interpreter lock most of the time and everything else waited
        # for it (docs/results.md, "the demo's executor").
        self.executor = SingleThreadedExecutor(context=self.context)
        for node in self.nodes.values():
            self.executor.add_node(node)

    def protocol_parameters(self, node: str) -> dict[str, Any]:
        """Parameters of config/brain_<protocol>.yaml for `node` (layered after its own)."""
        return node_parameters([config_file(f"brain_{self.protocol}.yaml")], node)

    def spin(self, *extra_nodes: Any) -> None:
        """Spin the graph's nodes and `extra_nodes` on one thread."""
        for node in extra_nodes:
            self.executor.add_node(node)
        self.spin_thread = threading.Thread(target=self._spin, name="executor", daemon=True)
        self.spin_thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            self.executor.spin()
        except (ExternalShutdownException, KeyboardInterrupt):
            pass
        except Exception as error:  # reported, the main thread shuts down cleanly
            say(f"executor stopped: {type(error).__name__}: {error}")
            self.failed.set()

    def check_children(self) -> None:
        """Name each child process that died since the last look in `missing`."""
        for child in self.children:
            if not child.alive() and child.name not in self.missing:
                self.missing[child.name] = f"exited: {child.log_tail(3)}"
                print(flush=True)
                say(f"{child.name} stopped unexpectedly (log: {child.log_path})")

    def stop(self, *extra_nodes: Any) -> None:
        """Stop spinning, destroy the nodes (the pilot first: its outputs go safe before
        anything else) and `extra_nodes`, then stop the children."""
        if self.executor is not None:
            # Stop spinning before any node goes: no callback may run on a destroyed node.
            self.executor.shutdown(timeout_sec=5.0)
            if self.spin_thread is not None:
                self.spin_thread.join(timeout=5.0)
            for name, node in self.nodes.items():
                try:
                    node.destroy_node()
                except Exception as error:
                    say(f"{name}: {type(error).__name__} while stopping: {error}")
            for node in extra_nodes:
                node.destroy_node()
            self.context.try_shutdown()
        for child in reversed(self.children):
            child.stop()
