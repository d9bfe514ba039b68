"""`make run`: the simulated arm learns to reach the target, with no cloud and no `ros2 launch`.

    python -m robot_bringup.demo [--duration S] [--no-learning] [--report DIR] [--seed N]

The graph of launch/sim.launch.py from the same config files: the embedded
brain server and the virtual Pi run as child processes; sim_arm, pilot,
detector, brain_session, reward_from_detections and spike_raster are composed
in this process on one single-threaded executor, each with its parameters from
robot_bringup/config/*.yaml (robot_bringup.config).

The run has four phases (robot_bringup.evaluation), each a brain run of its own with the
arm and the target schedule reset: frozen_initial (the network as initialised, learning
off), learning, retention (the learned weights frozen, the demo's targets) and
new_targets (the learned weights frozen, random targets it never saw). A refreshing line
shows the phase, the cycle, the reward moving average, the loop latency (camera frame
published → the actuator command answering it) and detections per second; a live page
on loopback (robot_bringup.live_view, its address printed at start) shows the arm, the
target, the spike raster, the reward curve and the latency. After --duration or on
Ctrl-C the actuators hold, the children stop, and a report folder gets
reward_curve.png, spike_raster.png, reach.png and metrics.json: every phase against
holding still and a proportional controller on the same targets, and the headline, the
learned and frozen brain on new targets, as the fraction of that gap it closes.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robot_bringup.config import ConfigError, config_file, node_parameters, unknown_sections
from robot_bringup.evaluation import PhaseResult
from robot_bringup.graph import DEMO_NODES, SECTION_NAMES
from robot_bringup.loop_timing import FrameTiming

DEMO_CONFIG = "demo.yaml"
# How often the report's reach plot samples the tip and the target (s).
REACH_PERIOD_S = 0.1


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


class Monitor:
    """What the demo watches, fed by ROS callbacks (any thread)."""

    def __init__(self, history_steps: int) -> None:
        from robot_bringup.raster import SpikeRaster

        self.lock = threading.Lock()
        self.phases: list[PhaseResult] = []
        # (t_s, tip x, tip y, target x, target y), at most every REACH_PERIOD_S
        self.reach: list[tuple[float, float, float, float, float]] = []
        self.target_xy: tuple[float, float] | None = None
        self.tip_xy: tuple[float, float] | None = None
        self.last_reach_s = -1.0
        self.arm_points: list[tuple[float, float]] | None = None
        self.reward_window: deque[float] = deque(maxlen=100)
        self.latencies_ms: deque[float] = deque(maxlen=2000)
        self.all_latencies_ms: list[float] = []
        self.detection_times: deque[float] = deque(maxlen=500)
        self.commands = 0
        self.last_cycle = 0
        self.raster = SpikeRaster(history_steps)
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def begin_phase(self, name: str, learning: bool, targets: str = "demo") -> None:
        with self.lock:
            if self.phases:
                self.phases[-1].end_s = self.now()
            self.phases.append(PhaseResult(name, learning, targets, self.now()))
            self.target_xy = None   # the phase's first target is recorded when it is seen
            self.last_cycle = 0  # every phase is a new brain run, counting from 0
            self.reward_window.clear()
            self.latencies_ms.clear()

    def end(self) -> None:
        with self.lock:
            if self.phases and math.isnan(self.phases[-1].end_s):
                self.phases[-1].end_s = self.now()

    def on_reward(self, msg) -> None:
        with self.lock:
            value = float(msg.global_reward)
            self.reward_window.append(value)
            if self.phases:
                self.phases[-1].rewards.append((self.now(), value))

    def on_target(self, x: float, y: float) -> None:
        """The sim's target (ground truth): each new position is one the phase visited."""
        with self.lock:
            xy = (round(float(x), 4), round(float(y), 4))
            if xy != self.target_xy:
                self.target_xy = xy
                if self.phases:
                    self.phases[-1].targets.append(xy)
                    self.phases[-1].target_starts.append(len(self.phases[-1].rewards))

    def on_arm(self, points) -> None:
        """The arm's base, elbow and tip (world x, y), from the joints."""
        with self.lock:
            self.arm_points = [(float(x), float(y)) for x, y in points]
        self.on_tip(*self.arm_points[-1])

    def on_tip(self, x: float, y: float) -> None:
        with self.lock:
            self.tip_xy = (float(x), float(y))
            now = self.now()
            if self.phases and self.target_xy is not None \
                    and now - self.last_reach_s >= REACH_PERIOD_S:
                self.last_reach_s = now
                self.reach.append((now, *self.tip_xy, *self.target_xy))

    def on_detections(self, msg) -> None:
        if any(b.category_name == "target" for b in msg.boxes) or msg.points:
            with self.lock:
                self.detection_times.append(time.monotonic())

    def on_command(self, msg, latency_ms: float | None) -> None:
        """A brain command arrived; `latency_ms`: since its cycle's camera frame was published."""
        with self.lock:
            self.commands += 1
            self.last_cycle = int(msg.cycle)
            if latency_ms is not None:
                self.latencies_ms.append(latency_ms)
                self.all_latencies_ms.append(latency_ms)

    def on_spikes(self, msg) -> None:
        from ab_bridge.spikes_msg import raster_of

        try:
            rasters = [(p.population_id, raster_of(p)) for p in msg.populations]
        except ValueError:
            return
        with self.lock:
            self.raster.add(rasters)

    def progress(self) -> dict[str, Any]:
        with self.lock:
            now = time.monotonic()
            detections = [t for t in self.detection_times if now - t <= 5.0]
            latencies = np.array(self.latencies_ms) if self.latencies_ms else None
            return {
                "cycle": self.last_cycle,
                "reward_avg": float(np.mean(self.reward_window)) if self.reward_window else None,
                "loop_p50_ms": float(np.percentile(latencies, 50)) if latencies is not None
                else None,
                "loop_p99_ms": float(np.percentile(latencies, 99)) if latencies is not None
                else None,
                "detections_per_s": len(detections) / 5.0,
            }


    def live_snapshot(self, window_m: list[float], points_per_phase: int = 300
                      ) -> dict[str, Any]:
        """What the live page shows now (robot_bringup.live_view)."""
        from robot_bringup.report import moving_average

        progress = self.progress()
        with self.lock:
            phases = []
            for phase in self.phases:
                data = np.array(phase.rewards, dtype=float).reshape(-1, 2)
                curve = []
                if len(data):
                    smooth = moving_average(data[:, 1], 100)
                    step = max(1, len(data) // points_per_phase)
                    curve = [[round(t - self.phases[0].start_s, 2), round(r, 4)]
                             for t, r in zip(data[::step, 0], smooth[::step], strict=True)]
                phases.append({"name": phase.name, "learning": phase.learning,
                               "start_s": round(phase.start_s - self.phases[0].start_s, 2),
                               "end_s": None if math.isnan(phase.end_s)
                               else round(phase.end_s - self.phases[0].start_s, 2),
                               "curve": curve})
            current = self.phases[-1] if self.phases else None
            return {
                "t_s": round(self.now() - (self.phases[0].start_s if self.phases else 0.0), 2),
                "phase": current.name if current else None,
                "learning": current.learning if current else None,
                "cycle": progress["cycle"],
                "reward_avg": progress["reward_avg"],
                "loop_p50_ms": progress["loop_p50_ms"],
                "loop_p99_ms": progress["loop_p99_ms"],
                "detections_per_s": progress["detections_per_s"],
                "commands": self.commands,
                "arm": self.arm_points,
                "target": self.target_xy,
                "window_m": list(window_m),
                "phases": phases,
            }

    def raster_png(self, scale: int = 2) -> bytes:
        import cv2

        with self.lock:
            pixels = self.raster.image()
        if scale > 1:
            pixels = np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)
        ok, data = cv2.imencode(".png", pixels)
        if not ok:
            raise OSError("could not encode the raster")
        return data.tobytes()


def fmt(value: float | None, spec: str) -> str:
    return "  -  " if value is None else format(value, spec)


class Demo:
    """Builds the graph, runs the phases, writes the report."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.settings = node_parameters([config_file(DEMO_CONFIG)], "demo")
        self.stop_event = threading.Event()
        self.children: list[Child] = []
        self.nodes: dict[str, Any] = {}
        self.missing: dict[str, str] = {}
        self.workdir = Path(tempfile.mkdtemp(prefix="brainstem-demo-"))
        self.monitor = Monitor(int(self.settings.get("raster_history_steps", 600)))
        self.context = None
        self.executor = None
        self.spin_thread: threading.Thread | None = None
        self.last_shown = 0.0
        self.demo_schedule = None
        self.live_view = None

    # ---- children -------------------------------------------------------------------------

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
            graph = seeded_graph_file(str(bundled_graph_path("demo_arm")), self.args.seed,
                                      self.workdir)
            state_dir = self.workdir / "brain_state"
            state_dir.mkdir()
            device = self.protocol_parameters("brain_server")   # --protocol device
            child = Child("brain_server", [
                "-m", "embedded_brain.server", "--host", "127.0.0.1", "--port", str(port),
                "--graph", graph, "--state-dir", str(state_dir),
                *(["--seed", str(self.args.seed)] if self.args.seed is not None else []),
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

    # ---- nodes ----------------------------------------------------------------------------

    def build_nodes(self, overrides: dict[str, dict[str, Any]]) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        from robot_bringup.config import parameter_overrides

        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        extra_by_node: dict[str, dict[str, Any]] = {
            "sim_arm": {} if self.args.seed is None else {"seed": self.args.seed},
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
                    and not self.settings.get("external_brain", False):
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
        # for it (robot_bringup README, "Benchmark"); measured on the demo, 100 s, seed 2:
        # 1507 -> 2682 brain cycles in the learning phase, loop p50 94 -> 54 ms.
        self.executor = SingleThreadedExecutor(context=self.context)
        for node in self.nodes.values():
            self.executor.add_node(node)
        self.monitor_node = self._monitor_node()
        self.executor.add_node(self.monitor_node)
        self.spin_thread = threading.Thread(target=self._spin, name="executor", daemon=True)
        self.spin_thread.start()

    def protocol_parameters(self, node: str) -> dict[str, Any]:
        """Parameters of config/brain_<protocol>.yaml for `node` (layered after its own)."""
        return node_parameters([config_file(f"brain_{self.args.protocol}.yaml")], node)

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            self.executor.spin()
        except (ExternalShutdownException, KeyboardInterrupt):
            pass
        except Exception as error:  # reported, the main thread shuts down cleanly
            say(f"executor stopped: {type(error).__name__}: {error}")
            self.stop_event.set()

    def _monitor_node(self):
        import rclpy
        from geometry_msgs.msg import PointStamped
        from rclpy.qos import QoSProfile, qos_profile_sensor_data
        from sensor_msgs.msg import JointState

        from ab_interfaces.msg import ActuatorCommand, CycleSpikes, Detections, Reward
        from robot_bringup.arm import forward_kinematics

        node = rclpy.create_node("demo_monitor", context=self.context)
        reliable = QoSProfile(depth=50)
        monitor = self.monitor
        timing = FrameTiming.attach(self.nodes["brain_session"]) \
            if "brain_session" in self.nodes else None

        def on_command(msg: ActuatorCommand) -> None:
            if msg.source in ("sim_arm", "demo") or not any(msg.deltas):
                return  # not a brain cycle, or a hold
            answered = timing.answered(int(msg.cycle), time.time_ns()) if timing else None
            monitor.on_command(msg, answered[0] if answered else None)

        node.create_subscription(Reward, "reward", monitor.on_reward, reliable)
        node.create_subscription(Detections, "detections", monitor.on_detections, reliable)
        node.create_subscription(ActuatorCommand, "actuator_command", on_command, reliable)
        node.create_subscription(CycleSpikes, "spikes", monitor.on_spikes, reliable)
        geometry = self.nodes["sim_arm"].geometry if "sim_arm" in self.nodes else None

        def on_joints(msg: JointState) -> None:
            if geometry is None or len(msg.position) < 2:
                return
            monitor.on_arm(forward_kinematics(geometry, msg.position[:2]))

        node.create_subscription(PointStamped, "sim/target",
                                 lambda m: monitor.on_target(m.point.x, m.point.y), reliable)
        node.create_subscription(JointState, "joint_states", on_joints, qos_profile_sensor_data)
        self.hold_publisher = node.create_publisher(ActuatorCommand, "actuator_command", reliable)
        return node

    # ---- phases ---------------------------------------------------------------------------

    def call_session(self, service: str, options: dict[str, Any] | None = None,
                     timeout_s: float = 30.0) -> tuple[bool, str]:
        """Call brain_session/start_run or stop_run from the monitor node."""
        from ab_interfaces.srv import StartRun, StopRun

        kind = StartRun if service == "start_run" else StopRun
        client = self.monitor_node.create_client(kind, f"brain_session/{service}")
        try:
            if not client.wait_for_service(timeout_sec=10.0):
                return False, f"brain_session/{service} is not available"
            request = kind.Request()
            if options is not None:
                request.options_json = json.dumps(options)
            future = client.call_async(request)
            deadline = time.monotonic() + timeout_s
            while not future.done() and time.monotonic() < deadline:
                time.sleep(0.05)
            if not future.done():
                return False, f"brain_session/{service} timed out"
            result = future.result()
            return bool(result.success), result.message
        finally:
            self.monitor_node.destroy_client(client)

    def run_phase(self, name: str, learning: bool, duration_s: float,
                  targets: str = "demo") -> None:
        if "brain_session" in self.nodes:
            self.call_session("stop_run")
            # Let the last cycles and rewards of the previous run drain: they must not
            # count for this phase.
            self.stop_event.wait(1.0)
        sim = self.nodes.get("sim_arm")
        if sim is not None:
            sim.schedule = self.target_schedule(sim, targets, duration_s)
            sim.reset()
        self.monitor.begin_phase(name, learning, targets)
        if "brain_session" in self.nodes:
            options = {"learning": learning}   # a device learns only from forwarded rewards
            if self.args.seed is not None and self.args.protocol == "realtime":
                options["seed"] = self.args.seed
            ok, message = self.call_session("start_run", options)
            if not ok:
                say(f"{name}: could not start a brain run: {message}")
        end = time.monotonic() + duration_s
        while not self.stop_event.is_set() and time.monotonic() < end:
            self.show(name, duration_s - (end - time.monotonic()), duration_s)
            self.stop_event.wait(0.5)
            self.check_children()
        if sys.stdout.isatty():
            print(flush=True)

    def start_live_view(self) -> None:
        """Serve the live page on loopback (robot_bringup.live_view) and say where."""
        if self.args.live_port < 0:
            return
        from robot_bringup.live_view import LiveView

        sim = self.nodes.get("sim_arm")
        cam = sim.camera if sim is not None else None
        window = [cam.x_min_m, cam.x_max_m, cam.y_min_m, cam.y_max_m] if cam is not None \
            else [-1.0, 1.0, -0.5, 1.0]
        view = LiveView(lambda: self.monitor.live_snapshot(window), self.monitor.raster_png,
                        port=self.args.live_port)
        try:
            say(f"live view: {view.start()} (open it in a browser)")
            self.live_view = view
        except OSError as error:
            self.missing["live_view"] = str(error)
            say(f"without the live view: {error}")

    def target_schedule(self, sim: Any, targets: str, duration_s: float) -> Any:
        """The sim's target schedule for a phase: the demo's targets (sim.yaml), or as many
        random ones as the phase has target periods, drawn from a seed the demo's own
        schedule never uses (evaluation.NEW_TARGET_SEED_BASE + --seed)."""
        from robot_bringup.camera import TargetSchedule
        from robot_bringup.evaluation import NEW_TARGET_SEED_BASE
        from robot_bringup.offline_arm import random_targets

        if self.demo_schedule is None:
            self.demo_schedule = sim.schedule
        if targets == "demo":
            return self.demo_schedule
        period = self.demo_schedule.period_s
        count = max(1, int(math.ceil(duration_s / period))) if period > 0 else 1
        seed = NEW_TARGET_SEED_BASE + (self.args.seed or 0)
        return TargetSchedule(sim.geometry, period, random_targets(seed, count, sim.geometry))

    def check_children(self) -> None:
        for child in self.children:
            if not child.alive() and child.name not in self.missing:
                self.missing[child.name] = f"exited: {child.log_tail(3)}"
                print(flush=True)
                say(f"{child.name} stopped unexpectedly (log: {child.log_path})")

    def show(self, phase: str, elapsed_s: float, total_s: float) -> None:
        """One refreshing line on a terminal; a line every 10 s into a pipe or file."""
        tty = sys.stdout.isatty()
        if not tty:
            if time.monotonic() - self.last_shown < 10.0:
                return
            self.last_shown = time.monotonic()
        p = self.monitor.progress()
        line = (f"[{phase} {elapsed_s:5.0f}/{total_s:.0f} s] cycle {p['cycle']:6d} | "
                f"reward avg {fmt(p['reward_avg'], '5.3f')} | loop p50 "
                f"{fmt(p['loop_p50_ms'], '6.1f')} ms p99 {fmt(p['loop_p99_ms'], '6.1f')} ms | "
                f"detections {p['detections_per_s']:5.1f}/s")
        sys.stdout.write(f"\r{line}\x1b[K" if tty else f"{line}\n")
        sys.stdout.flush()

    # ---- shutdown and report -------------------------------------------------------------

    def hold(self) -> None:
        """Every actuator holds: a zero command on every channel of the arm."""
        try:
            from ab_interfaces.msg import ActuatorCommand

            msg = ActuatorCommand()
            msg.source = "demo"
            msg.channels = ["joint:0", "joint:1"]
            msg.step_count = 1
            msg.deltas = [0.0, 0.0]
            self.hold_publisher.publish(msg)
        except Exception:  # shutting down: holding is best effort, the session holds too
            pass

    def shutdown(self) -> None:
        self.monitor.end()
        if self.live_view is not None:
            self.live_view.stop()
        if self.executor is not None:
            if "brain_session" in self.nodes:
                try:
                    self.call_session("stop_run", timeout_s=5.0)
                except Exception:
                    pass
            self.hold()
            time.sleep(0.2)
            # Stop spinning before any node goes: no callback may run on a destroyed node.
            self.executor.shutdown(timeout_sec=5.0)
            if self.spin_thread is not None:
                self.spin_thread.join(timeout=5.0)
            for error in fetch_callback_errors(self.executor):
                say(f"a callback failed while stopping: {error}")
            # Hardware first: pilot drives its outputs to their safe state before anything else.
            for name, node in self.nodes.items():
                try:
                    node.destroy_node()
                except Exception as error:
                    say(f"{name}: {type(error).__name__} while stopping: {error}")
            self.monitor_node.destroy_node()
            self.context.try_shutdown()
        for child in reversed(self.children):
            child.stop()

    def metrics(self) -> dict[str, Any]:
        from robot_bringup.evaluation import headline, phase_metrics

        phases = self.monitor.phases
        latencies = np.array(self.monitor.all_latencies_ms)
        progress = self.monitor.progress()
        by_name = {p.name: phase_metrics(p) for p in phases}

        def figure(name: str, key: str = "reward_last_fifth") -> float | None:
            return by_name.get(name, {}).get(key)

        return {
            "headline": headline(phases),
            "frozen_initial_last_fifth": figure("frozen_initial"),
            "learning_last_fifth": figure("learning"),
            "retention_last_fifth": figure("retention"),
            "learned_frozen_new_targets_last_fifth": figure("new_targets"),
            "hold_demo_targets_last_fifth": figure("frozen_initial", "hold_last_fifth"),
            "proportional_demo_targets_last_fifth":
                figure("frozen_initial", "proportional_last_fifth"),
            "hold_new_targets_last_fifth": figure("new_targets", "hold_last_fifth"),
            "proportional_new_targets_last_fifth": figure("new_targets", "proportional_last_fifth"),
            "gap_closed_frozen_new_targets": figure("new_targets", "gap_closed_last_fifth"),
            "gap_closed_retention": figure("retention", "gap_closed_last_fifth"),
            "gap_closed_learning": figure("learning", "gap_closed_last_fifth"),
            "gap_closed_frozen_initial": figure("frozen_initial", "gap_closed_last_fifth"),
            "references": "hold and proportional run by robot_bringup.offline_arm on each "
                          "phase's own targets, cycle count and cycles per target "
                          "(robot_bringup.evaluation)",
            "phases": list(by_name.values()),
            "cycles_last_phase": self.monitor.last_cycle,
            "commands": self.monitor.commands,
            "loop_latency_p50_ms": float(np.percentile(latencies, 50)) if latencies.size
            else None,
            "loop_latency_p99_ms": float(np.percentile(latencies, 99)) if latencies.size
            else None,
            "detections_per_s": progress["detections_per_s"],
            "seed": self.args.seed,
            "protocol": self.args.protocol,
            "graph_seed": self.args.seed if self.args.seed is not None else None,
            "missing_parts": self.missing,
        }

    def write_report(self) -> Path:
        folder = Path(self.args.report).expanduser() if self.args.report else \
            Path("~/.brainstem/reports").expanduser() / time.strftime("demo-%Y%m%d-%H%M%S")
        folder.mkdir(parents=True, exist_ok=True)
        from robot_bringup.evaluation import run_references
        from robot_bringup.report import plot_raster, plot_reach, plot_reward_curve, save_raster

        for phase in self.monitor.phases:
            try:
                phase.references = run_references(phase)
            except Exception as error:  # the report is written without them, saying so
                self.missing[f"references of {phase.name}"] = f"{type(error).__name__}: {error}"
        metrics = self.metrics()
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        plot_reward_curve(folder / "reward_curve.png", self.monitor.phases)
        with self.monitor.lock:
            raster = self.monitor.raster.image()
            layout = dict(self.monitor.raster.layout)
            reach = np.array(self.monitor.reach, dtype=float)
        plot_raster(folder / "spike_raster.png", raster, layout)
        save_raster(folder / "spike_raster_pixels.png", raster)
        plot_reach(folder / "reach.png", reach, self.monitor.phases)
        # The weights the brain learned (the embedded server's saved state), for a look
        # offline: Network.load_state_arrays(np.load(...)) with the same seeded graph.
        for saved in (self.workdir / "brain_state").glob("*.npz"):
            shutil.copy2(saved, folder / f"brain_state_{saved.name}")
        for graph in self.workdir.glob("*-seed*.yaml"):
            shutil.copy2(graph, folder / graph.name)
        return folder

    def run(self) -> int:
        from robot_bringup.evaluation import plan_phases

        overrides = self.start_children()
        self.build_nodes(overrides)
        plans = plan_phases(float(self.args.duration), self.args.no_learning)
        self.start_live_view()
        say(f"running {float(self.args.duration):.0f} s: " + ", ".join(
            f"{p.name} {p.duration_s:.0f} s" for p in plans)
            + " (Ctrl-C stops early and still writes the report)")
        for plan in plans:
            if self.stop_event.is_set():
                break
            self.run_phase(plan.name, plan.learning, plan.duration_s, plan.targets)
        return 0


def summary_line(metrics: dict[str, Any]) -> str:
    """The report's headline in one line."""
    head = metrics.get("headline", {})
    if not head.get("available"):
        return (f"no headline ({head.get('why', 'no rewards in the new_targets phase')}); "
                f"frozen initial {fmt(metrics.get('frozen_initial_last_fifth'), '.3f')}, "
                f"learning {fmt(metrics.get('learning_last_fifth'), '.3f')} (last fifths)")
    return (f"learned, frozen, on new targets: {fmt(head['learned_frozen_new_targets_last_fifth'], '.3f')}"
            f" vs holding still {fmt(head['hold_new_targets_last_fifth'], '.3f')} and a "
            f"proportional controller {fmt(head['proportional_new_targets_last_fifth'], '.3f')}: "
            f"{fmt(head['gap_closed_frozen_new_targets'], '.0%')} of the gap closed "
            f"(retention {fmt(metrics.get('retention_last_fifth'), '.3f')}, frozen initial "
            f"{fmt(metrics.get('frozen_initial_last_fifth'), '.3f')}, last fifths)")


def fetch_callback_errors(executor: Any) -> list[str]:
    """Errors of callbacks that failed as the executor stopped, other than the expected
    races with node destruction. rclpy's MultiThreadedExecutor (bench/loop.py's `multi`)
    fetches a callback's exception on its next turn; after the last turn nobody does, and
    rclpy prints them at interpreter exit. Fetching them here reports each once, where it
    belongs (executors without `_futures` have none to fetch)."""
    errors = []
    for future in list(getattr(executor, "_futures", [])):
        if not future.done():
            continue
        error = future.exception()
        if error is not None and "destruction was requested" not in str(error):
            errors.append(f"{type(error).__name__}: {error}")
    return errors


def parse_args(argv: list[str] | None, settings: dict[str, Any]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m robot_bringup.demo",
        description="The simulated arm learns to reach a target with the embedded spiking "
                    "brain; writes a report folder at the end.")
    parser.add_argument("--duration", type=float, default=float(settings.get("duration_s", 240)),
                        help="seconds in all, baseline included (default %(default)s)")
    parser.add_argument("--no-learning", action="store_true",
                        help="learning off for the whole run (no baseline phase)")
    parser.add_argument("--report", default=None,
                        help="report folder (default ~/.brainstem/reports/demo-<time>)")
    parser.add_argument("--seed", type=int, default=settings.get("seed"),
                        help="seed of the brain and the target schedule")
    parser.add_argument("--protocol", choices=("realtime", "device"),
                        default=settings.get("protocol", "realtime"),
                        help="how brain_session talks to the embedded brain: realtime (REST + "
                             "Socket.IO, SDK 0.1) or device (Prima-Lux, SDK 0.4) (default "
                             "%(default)s)")
    parser.add_argument("--live-port", type=int, default=0,
                        help="port of the live web page on 127.0.0.1 (default 0: any free "
                             "one, printed at start; -1: no live page)")
    parser.add_argument("--domain-id", type=int, default=None,
                        help="ROS_DOMAIN_ID of the demo's graph (default: $ROS_DOMAIN_ID, else "
                             "0); `ros2 topic echo` with the same id watches it")
    args = parser.parse_args(argv)
    if not args.duration > 0:
        parser.error("--duration must be positive")
    if args.domain_id is not None and not 0 <= args.domain_id <= 232:
        parser.error(f"--domain-id must be in 0..232, got {args.domain_id}")
    return args


# Topics only one robot graph per domain publishes: somebody else on them means two
# graphs would drive (and judge) each other's arms.
EXCLUSIVE_TOPICS = ("/joint_states", "/actuator_command", "/reward")


def busy_topics(wait_s: float = 3.0) -> list[str]:
    """The EXCLUSIVE_TOPICS another process already publishes on this ROS domain (waits
    `wait_s` for discovery)."""
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("demo_domain_check", context=context)
        deadline = time.monotonic() + wait_s
        busy: list[str] = []
        while time.monotonic() < deadline and not busy:
            busy = [t for t in EXCLUSIVE_TOPICS if node.count_publishers(t) > 0]
            time.sleep(0.1)
        node.destroy_node()
        return busy
    finally:
        rclpy.shutdown(context=context)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    try:
        settings = node_parameters([config_file(DEMO_CONFIG)], "demo")
    except ConfigError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 2
    args = parse_args(argv if argv is not None else sys.argv[1:], settings)
    problems = misspelled_sections(args.protocol)
    if problems:
        print(f"demo: {problems}", file=sys.stderr)
        return 2
    if args.domain_id is not None:
        os.environ["ROS_DOMAIN_ID"] = str(args.domain_id)
    domain = os.environ.get("ROS_DOMAIN_ID", "0")
    busy = busy_topics()
    if busy:
        print(f"demo: another ROS graph already publishes {', '.join(busy)} on ROS_DOMAIN_ID "
              f"{domain} (another demo, or sim.launch.py?): its arm and this one would "
              "answer each other's commands. Stop it, or run this one with --domain-id N "
              "(or ROS_DOMAIN_ID=N).", file=sys.stderr)
        return 2
    say(f"on ROS_DOMAIN_ID {domain}: watch with ROS_DOMAIN_ID={domain} ros2 topic echo ...")
    demo = Demo(args)
    previous = signal.signal(signal.SIGINT, lambda *_: demo.stop_event.set())
    signal.signal(signal.SIGTERM, lambda *_: demo.stop_event.set())
    code = 0
    metrics: dict[str, Any] = {}
    try:
        code = demo.run()
    except KeyboardInterrupt:
        demo.stop_event.set()
    except Exception as error:
        print(flush=True)
        say(f"stopped by {type(error).__name__}: {error}")
        code = 1
    finally:
        if demo.stop_event.is_set():
            print(flush=True)
            say("stopping: actuators hold, children stop")
        # A second Ctrl-C during shutdown must not leave children behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        demo.shutdown()
        folder = demo.write_report()
        signal.signal(signal.SIGINT, previous)
        metrics = json.loads((folder / "metrics.json").read_text())
        say(f"report: {folder}")
        say(summary_line(metrics))
        if demo.missing:
            say(f"children's logs and state kept in {demo.workdir}")
        else:
            shutil.rmtree(demo.workdir, ignore_errors=True)
    failed = failed_parts(demo.missing)
    if failed and code == 0:
        # The demo ran without part of its graph: say so in the exit code too.
        say("failed: " + "; ".join(f"{name}: {why}" for name, why in failed.items()))
        code = 3
    elif code == 0 and not metrics.get("commands") and not demo.stop_event.is_set():
        say("failed: the brain sent no commands")
        code = 3
    return code


def failed_parts(missing: dict[str, str]) -> dict[str, str]:
    """The graph's parts that did not start or died (the live page and the report's
    references are extras: their failures are reported, not counted)."""
    return {name: why for name, why in missing.items()
            if name != "live_view" and not name.startswith("references of")}


def misspelled_sections(protocol: str) -> str:
    """Sections of the demo's parameter files for no node of the graph (a misspelled
    node name would leave that node on its defaults), as one message; '' when none."""
    known = SECTION_NAMES
    problems = []
    for name in ("sim.yaml", "brain.yaml", f"brain_{protocol}.yaml", "detector.yaml",
                 "pilot_sim.yaml", DEMO_CONFIG):
        try:
            unknown = unknown_sections(config_file(name), known)
        except ConfigError as error:
            problems.append(str(error))
            continue
        problems += [f"{name}: section {u} is for no node of the demo" for u in unknown]
    return "; ".join(problems)


if __name__ == "__main__":
    sys.exit(main())
