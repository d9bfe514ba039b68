"""What the demo watches while it runs: the reward, the loop latency (camera frame
published → the actuator command answering it), detections, the arm and the target,
the spike raster. `Monitor` holds it (fed by ROS callbacks on any thread, read by the
progress line, the live page and the report); `MonitorNode` subscribes it to the
graph's topics and publishes the demo's hold command.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from robot_bringup.evaluation import PhaseResult
from robot_bringup.loop_timing import loop_time
from robot_bringup.report import fmt

# How often the report's reach plot samples the tip and the target (s).
REACH_PERIOD_S = 0.1


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


class MonitorNode:
    """The demo's own node: feeds `monitor` from the graph's topics (the latency from
    brain_session's frame stamps) and publishes the hold command."""

    def __init__(self, context: Any, monitor: Monitor, nodes: dict[str, Any]) -> None:
        import rclpy
        from geometry_msgs.msg import PointStamped
        from rclpy.qos import QoSProfile, qos_profile_sensor_data
        from sensor_msgs.msg import JointState

        from ab_interfaces.msg import ActuatorCommand, CycleSpikes, Detections, Reward
        from robot_bringup.arm import forward_kinematics

        node = rclpy.create_node("demo_monitor", context=context)
        reliable = QoSProfile(depth=50)

        def on_command(msg: ActuatorCommand) -> None:
            if msg.source in ("sim_arm", "demo") or not any(msg.deltas):
                return  # not a brain cycle, or a hold
            timed = loop_time(msg, time.time_ns())   # from the frame the command answers
            monitor.on_command(msg, timed.total_ms if timed else None)

        node.create_subscription(Reward, "reward", monitor.on_reward, reliable)
        node.create_subscription(Detections, "detections", monitor.on_detections, reliable)
        node.create_subscription(ActuatorCommand, "actuator_command", on_command, reliable)
        node.create_subscription(CycleSpikes, "spikes", monitor.on_spikes, reliable)
        geometry = nodes["sim_arm"].geometry if "sim_arm" in nodes else None

        def on_joints(msg: JointState) -> None:
            if geometry is None or len(msg.position) < 2:
                return
            monitor.on_arm(forward_kinematics(geometry, msg.position[:2]))

        node.create_subscription(PointStamped, "sim/target",
                                 lambda m: monitor.on_target(m.point.x, m.point.y), reliable)
        node.create_subscription(JointState, "joint_states", on_joints, qos_profile_sensor_data)
        self.node = node
        self.hold_publisher = node.create_publisher(ActuatorCommand, "actuator_command", reliable)

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

    def destroy_node(self) -> None:
        self.node.destroy_node()


def progress_line(progress: dict[str, Any], phase: str, elapsed_s: float, total_s: float
                  ) -> str:
    """The refreshing line: phase, cycle, reward average, loop latency, detections."""
    p = progress
    return (f"[{phase} {elapsed_s:5.0f}/{total_s:.0f} s] cycle {p['cycle']:6d} | "
            f"reward avg {fmt(p['reward_avg'], '5.3f')} | loop p50 "
            f"{fmt(p['loop_p50_ms'], '6.1f')} ms p99 {fmt(p['loop_p99_ms'], '6.1f')} ms | "
            f"detections {p['detections_per_s']:5.1f}/s")
