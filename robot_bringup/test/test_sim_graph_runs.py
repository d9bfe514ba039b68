"""The whole sim graph of sim.launch.py / `make run` (embedded brain server and virtual Pi
as processes, every node composed from config/*.yaml) runs for a bounded time: its topics
carry data at plausible rates; killing the brain server makes the arm hold still and the
session reconnect."""

from __future__ import annotations

import signal
import threading
import time
from collections import defaultdict

import numpy as np
import pytest
import rclpy
from e2e_helpers import wait_for
from rclpy.qos import QoSProfile, qos_profile_sensor_data

from robot_bringup.config import config_file, node_parameters
from robot_bringup.demo import Child, Demo, parse_args

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]   # 9-11 s each

CAMERA_HZ = float(node_parameters([config_file("sim.yaml")], "sim_arm")["camera.rate_hz"])
# topic -> (message type, QoS, nominal rate in Hz from the config files, or None)
TOPICS = {
    "joint_states": ("sensor_msgs.msg.JointState", "sensor", 50.0),
    "camera/image_raw": ("sensor_msgs.msg.Image", "sensor", CAMERA_HZ),
    "markers": ("visualization_msgs.msg.MarkerArray", "reliable", 10.0),
    "detections": ("ab_interfaces.msg.Detections", "reliable", CAMERA_HZ),
    "detections/image": ("sensor_msgs.msg.Image", "sensor", CAMERA_HZ),
    "spikes": ("ab_interfaces.msg.CycleSpikes", "reliable", 50.0),
    "actuator_command": ("ab_interfaces.msg.ActuatorCommand", "reliable", 50.0),
    "joint_motion": ("ab_interfaces.msg.JointMotion", "reliable", 50.0),
    "reward": ("ab_interfaces.msg.Reward", "reliable", 50.0),
    "deviation": ("ab_interfaces.msg.Deviation", "reliable", 50.0),
    "target_error": ("std_msgs.msg.Float32MultiArray", "reliable", 50.0),
    "spike_raster": ("sensor_msgs.msg.Image", "sensor", 10.0),
    "diagnostics": ("diagnostic_msgs.msg.DiagnosticArray", "reliable", None),
}


def message_class(path: str):
    import importlib

    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


class Probe:
    """Counts every message per topic (arrival times), keeps brain commands."""

    def __init__(self, demo: Demo) -> None:
        self.node = rclpy.create_node("e2e_probe", context=demo.context)
        self.lock = threading.Lock()
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.commands: list = []
        self.cycles: dict[str, list[int]] = defaultdict(list)   # joint_motion, reward
        for topic, (kind, qos, _) in TOPICS.items():
            profile = qos_profile_sensor_data if qos == "sensor" else QoSProfile(depth=50)
            self.node.create_subscription(message_class(kind), topic,
                                          lambda msg, t=topic: self.on(t, msg), profile)
        demo.executor.add_node(self.node)

    def on(self, topic: str, msg) -> None:
        with self.lock:
            self.arrivals[topic].append(time.monotonic())
            if topic == "actuator_command" and msg.source == "brain_session":
                self.commands.append((time.monotonic(), msg))
            if topic == "reward" or (topic == "joint_motion" and msg.source == "brain_session"):
                self.cycles[topic].append(int(msg.cycle))

    def count(self, topic: str, since: float = 0.0) -> int:
        with self.lock:
            return sum(1 for t in self.arrivals[topic] if t >= since)

    def brain_commands(self, since: float = 0.0) -> list:
        with self.lock:
            return [m for t, m in self.commands if t >= since]


@pytest.fixture
def graph(tmp_path):
    # The demo's own arguments, so every option it reads has its default.
    demo = Demo(parse_args(["--duration", "30", "--report", str(tmp_path), "--seed", "3",
                            "--live-port", "-1"], {}))
    try:
        demo.build_nodes(demo.start_children())
        assert not demo.missing, f"parts missing from the sim graph: {demo.missing}"
        probe = Probe(demo)
        yield demo, probe
    finally:
        demo.shutdown()


def test_every_topic_carries_data_at_a_plausible_rate(graph):
    demo, probe = graph
    ok, message = demo.call_session("start_run", {"learning": True, "seed": 3})
    assert ok, message
    assert wait_for(lambda: probe.count("reward") > 0, 60), "no reward within 60 s"
    start = time.monotonic()
    time.sleep(10.0)
    elapsed = time.monotonic() - start
    rates = {topic: probe.count(topic, start) / elapsed for topic in TOPICS}
    print("rates (Hz):", {t: round(r, 1) for t, r in rates.items()})
    for topic, (_, _, nominal) in TOPICS.items():
        assert rates[topic] > 0, f"nothing on {topic}"
        if nominal is not None:
            # Loose on purpose: 2 shared cores. Far below nominal means a broken stage;
            # far above means a feedback loop.
            assert nominal / 20 <= rates[topic] <= nominal * 3, (topic, rates[topic])
    cycles = [m.cycle for m in probe.brain_commands(start)]
    # Each cycle is answered once. (Order is not asserted: python-engineio's client runs
    # every incoming message on its own thread, so two cycles can swap places.)
    assert len(set(cycles)) == len(cycles)
    # The sim reports what each brain command did, and the reward judges exactly those.
    with probe.lock:
        moved, rewarded = set(probe.cycles["joint_motion"]), list(probe.cycles["reward"])
    assert rewarded and set(rewarded) <= moved
    assert len(set(rewarded)) == len(rewarded)


def test_killing_the_brain_holds_the_arm_and_the_session_reconnects(graph):
    demo, probe = graph
    sim = demo.nodes["sim_arm"]
    session = demo.nodes["brain_session"]
    ok, message = demo.call_session("start_run", {"learning": True, "seed": 3})
    assert ok, message
    assert wait_for(lambda: len(probe.brain_commands()) > 20, 60), "the brain never commanded"

    server = next(c for c in demo.children if c.name == "brain_server")
    killed = time.monotonic()     # before the kill: the hold may come at once
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)
    # The session says hold: an all-zero command on every channel.
    assert wait_for(lambda: any(not any(m.deltas) for m in probe.brain_commands(killed)), 20)
    assert wait_for(lambda: session.session.stats.link == "disconnected", 20)
    time.sleep(0.5)
    joints = sim.arm.joints_rad.copy()
    time.sleep(2.0)
    assert np.allclose(sim.arm.joints_rad, joints), "the arm moved without a brain"
    assert not any(any(m.deltas) for m in probe.brain_commands(killed + 0.5))

    # The brain comes back on the same port: the link reconnects by itself.
    restarted = Child(server.name, server.args, server.port, server.log_path)
    assert restarted.start(60), restarted.log_tail()
    demo.children.append(restarted)
    assert wait_for(lambda: session.session.stats.link == "connected", 60), \
        session.session.stats.link
    # A new run on the new server and the arm is driven again.
    demo.call_session("stop_run")
    ok, message = demo.call_session("start_run", {"learning": True, "seed": 3})
    assert ok, message
    resumed = time.monotonic()
    assert wait_for(lambda: any(any(m.deltas) for m in probe.brain_commands(resumed)), 60)
