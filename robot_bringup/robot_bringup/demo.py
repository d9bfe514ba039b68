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
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from node_kit.signals import stop_on_signals
from robot_bringup.composition import Child, ComposedGraph, say
from robot_bringup.config import ConfigError, config_file, node_parameters, unknown_sections
from robot_bringup.graph import SECTION_NAMES
from robot_bringup.monitor import Monitor, MonitorNode, progress_line
from robot_bringup.report import summary_line, write_report

DEMO_CONFIG = "demo.yaml"


class Demo:
    """Builds the graph, runs the phases, writes the report."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.settings = node_parameters([config_file(DEMO_CONFIG)], "demo")
        self.stop_event = threading.Event()
        self.workdir = Path(tempfile.mkdtemp(prefix="brainstem-demo-"))
        self.graph = ComposedGraph(self.workdir, args.seed, args.protocol,
                                   bool(self.settings.get("external_brain", False)),
                                   failed=self.stop_event)
        self.monitor = Monitor(int(self.settings.get("raster_history_steps", 600)))
        self.monitor_node: MonitorNode | None = None
        self.last_shown = 0.0
        self.demo_schedule = None
        self.live_view = None

    # The graph's parts, as the phases and the tests use them.
    @property
    def nodes(self) -> dict[str, Any]:
        return self.graph.nodes

    @property
    def children(self) -> list[Child]:
        return self.graph.children

    @property
    def missing(self) -> dict[str, str]:
        return self.graph.missing

    @property
    def context(self) -> Any:
        return self.graph.context

    @property
    def executor(self) -> Any:
        return self.graph.executor

    def start_children(self) -> dict[str, Any]:
        """Start the virtual Pi and the embedded brain server; parameter overrides they imply."""
        return self.graph.start_children()

    def build_nodes(self, overrides: dict[str, dict[str, Any]]) -> None:
        """Compose the graph's nodes and the monitor's, and spin them."""
        self.graph.build_nodes(overrides)
        self.monitor_node = MonitorNode(self.context, self.monitor, self.nodes)
        self.graph.spin(self.monitor_node.node)

    # ---- phases ---------------------------------------------------------------------------

    def call_session(self, service: str, options: dict[str, Any] | None = None,
                     timeout_s: float = 30.0) -> tuple[bool, str]:
        """Call brain_session/start_run or stop_run from the monitor node."""
        from ab_interfaces.srv import StartRun, StopRun

        kind = StartRun if service == "start_run" else StopRun
        client = self.monitor_node.node.create_client(kind, f"brain_session/{service}")
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
            self.monitor_node.node.destroy_client(client)

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
            self.graph.check_children()
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

    def show(self, phase: str, elapsed_s: float, total_s: float) -> None:
        """One refreshing line on a terminal; a line every 10 s into a pipe or file."""
        tty = sys.stdout.isatty()
        if not tty:
            if time.monotonic() - self.last_shown < 10.0:
                return
            self.last_shown = time.monotonic()
        line = progress_line(self.monitor.progress(), phase, elapsed_s, total_s)
        sys.stdout.write(f"\r{line}\x1b[K" if tty else f"{line}\n")
        sys.stdout.flush()

    # ---- shutdown and report -------------------------------------------------------------

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
            self.monitor_node.hold()
            time.sleep(0.2)
        self.graph.stop(*([self.monitor_node] if self.monitor_node else []))

    def write_report(self) -> Path:
        return write_report(self.args.report, self.monitor, self.workdir, self.missing,
                            self.args.seed, self.args.protocol)

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
    previous = stop_on_signals(demo.stop_event.set)[signal.SIGINT]
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
