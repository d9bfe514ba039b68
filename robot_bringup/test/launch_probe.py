"""What the launch tests use: a record of every process a launch started (pid, output,
exit code), a topic probe that measures rates from its own rclpy context, and the
reason launch tests cannot run here when `launch_pytest` is missing."""

from __future__ import annotations

import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

BRINGUP = Path(__file__).resolve().parents[1]
LAUNCH_DIR = BRINGUP / "launch"

try:
    import launch_pytest  # noqa: F401
    MISSING_LAUNCH = ""
except ImportError as error:  # setup says why (BRAINSTEM_ROS2_TOOLS)
    MISSING_LAUNCH = f"launch_pytest is not installed ({error}): make setup installs the ROS " \
                     "2 tools from BRAINSTEM_ROS2_TOOLS (a source folder or 'upstream')"
    if os.environ.get("BRAINSTEM_ROS2_TOOLS", "none") != "none":
        # Asked for (CI sets it): a missing tool is a failure, not a skip.
        raise ImportError(MISSING_LAUNCH) from error

TRACEBACK = re.compile(r"Traceback \(most recent call last\)")


class ProcessLog:
    """Event handlers that record each process of a launch: pid, output, exit code."""

    def __init__(self) -> None:
        self.pids: dict[str, int] = {}
        self.output: dict[str, list[str]] = defaultdict(list)
        self.exits: dict[str, int] = {}
        self._lock = threading.Lock()

    def actions(self) -> list:
        from launch.actions import RegisterEventHandler
        from launch.event_handlers import OnProcessExit, OnProcessIO, OnProcessStart

        return [
            RegisterEventHandler(OnProcessStart(on_start=self._started)),
            RegisterEventHandler(OnProcessIO(on_stdout=self._io, on_stderr=self._io)),
            RegisterEventHandler(OnProcessExit(on_exit=self._exited)),
        ]

    def _started(self, event, _context) -> None:
        with self._lock:
            self.pids[event.process_name] = event.pid

    def _io(self, event) -> None:
        with self._lock:
            self.output[event.process_name].append(event.text.decode(errors="replace"))

    def _exited(self, event, _context) -> None:
        with self._lock:
            self.exits[event.process_name] = event.returncode

    def names(self) -> set[str]:
        """Process names without launch's -N suffix."""
        return {re.sub(r"-\d+$", "", name) for name in self.pids}

    def problems(self) -> list[str]:
        """Every process that exited other than with 0, printed a traceback, or is still
        alive; empty when the launch ended cleanly."""
        found = []
        with self._lock:
            for name, pid in self.pids.items():
                code = self.exits.get(name)
                text = "".join(self.output.get(name, []))
                if code is None:
                    found.append(f"{name} (pid {pid}): no exit seen")
                elif code != 0:
                    found.append(f"{name}: exit code {code}\n{text[-1500:]}")
                if TRACEBACK.search(text):
                    found.append(f"{name}: traceback\n{text[-2500:]}")
                if _alive(pid):
                    found.append(f"{name} (pid {pid}): still running after the launch ended")
        return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class TopicProbe:
    """Subscribes to topics in an rclpy context of its own (spun on a thread) and keeps
    each message's arrival time."""

    def __init__(self, topics: dict[str, type], sensor_topics: Iterable[str] = ()) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, qos_profile_sensor_data

        self.arrivals: dict[str, list[float]] = {t: [] for t in topics}
        self.last: dict[str, object] = {}
        self._context = rclpy.Context()
        rclpy.init(context=self._context)
        self.node = rclpy.create_node("launch_probe", context=self._context)
        sensor = set(sensor_topics)
        for topic, msg_type in topics.items():
            qos = qos_profile_sensor_data if topic in sensor else QoSProfile(depth=50)
            self.node.create_subscription(msg_type, topic, self._callback(topic), qos)
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _callback(self, topic: str):
        def record(msg) -> None:
            self.arrivals[topic].append(time.monotonic())
            self.last[topic] = msg
        return record

    def _spin(self) -> None:
        while not self._stop.is_set():
            try:
                self._executor.spin_once(timeout_sec=0.05)
            except Exception:  # context shut down under us
                return

    def wait_all(self, timeout_s: float, topics: Iterable[str] | None = None) -> list[str]:
        """Waits until every topic has had a message; the topics still silent."""
        wanted = list(topics or self.arrivals)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(self.arrivals[t] for t in wanted):
                return []
            time.sleep(0.05)
        return [t for t in wanted if not self.arrivals[t]]

    def rates_hz(self, window_s: float) -> dict[str, float]:
        """Messages per second of each topic over the next `window_s` seconds."""
        counts = {t: len(a) for t, a in self.arrivals.items()}
        time.sleep(window_s)  # the measurement window itself, not a wait for a condition
        return {t: (len(a) - counts[t]) / window_s for t, a in self.arrivals.items()}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        self._context.try_shutdown()
