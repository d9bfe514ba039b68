"""Round-trip latency of a spikes message between two processes over DDS.

The floor every loop-latency figure of brainstem is compared to: one process
publishes a CycleSpikes bundle (4 populations x 64 neurons x 20 timesteps, ~5 %
firing), a second process republishes it as it arrives, and the first times
the round trip. Both are plain rclpy nodes on the default RMW (Fast DDS),
reliable QoS depth 10, discovery on localhost.

    python bench/ros_latency.py [--round-trips 2000] [--warmup 200]

Last line: JSON with rtt_p50_us, rtt_p90_us, rtt_p99_us (and the rest).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy

from ab_bridge.spikes import poisson_raster
from ab_bridge.spikes_msg import cycle_msg
from ab_interfaces.msg import CycleSpikes

QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def echo() -> None:
    """The second process: republish every `ping` on `pong`."""
    rclpy.init()
    node = rclpy.create_node("latency_echo")
    publisher = node.create_publisher(CycleSpikes, "pong", QOS)
    node.create_subscription(CycleSpikes, "ping", publisher.publish, QOS)
    print("ready", flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


def measure(round_trips: int, warmup: int) -> dict:
    rng = np.random.default_rng(0)
    msg = cycle_msg("bench", 0, [(f"out{i}", poisson_raster(rng, 20, 64, 50.0, 0.001))
                                 for i in range(4)], 0.001)
    payload_bytes = sum(len(p.bitmap) for p in msg.populations)

    env = dict(os.environ)
    peer = subprocess.Popen([sys.executable, __file__, "--echo"], stdout=subprocess.PIPE,
                            text=True, env=env)
    try:
        if peer.stdout.readline().strip() != "ready":
            raise RuntimeError("echo process did not start")
        rclpy.init()
        node = rclpy.create_node("latency_ping")
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        arrived: list[int] = []
        node.create_subscription(CycleSpikes, "pong", lambda m: arrived.append(m.cycle), QOS)
        publisher = node.create_publisher(CycleSpikes, "ping", QOS)

        # Wait until the echo is matched both ways before timing anything.
        print("waiting for discovery ...", flush=True)
        deadline = time.monotonic() + 30
        while not arrived and time.monotonic() < deadline:
            msg.cycle = 10**9
            publisher.publish(msg)
            executor.spin_once(timeout_sec=0.1)
        if not arrived:
            raise RuntimeError("no echo within 30 s: is DDS discovery blocked?")
        # Let stray discovery replies drain.
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)

        rtts_ns = np.empty(round_trips, dtype=np.int64)
        total = warmup + round_trips
        for i in range(total):
            arrived.clear()
            msg.cycle = i
            msg.header.stamp = node.get_clock().now().to_msg()
            start = time.perf_counter_ns()
            publisher.publish(msg)
            while i not in arrived:
                executor.spin_once(timeout_sec=1.0)
                if time.perf_counter_ns() - start > 5e9:
                    raise RuntimeError(f"round trip {i} lost (no echo within 5 s)")
            if i >= warmup:
                rtts_ns[i - warmup] = time.perf_counter_ns() - start
            if (i + 1) % 500 == 0:
                print(f"  {i + 1}/{total} round trips", flush=True)
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown()
    finally:
        peer.terminate()
        peer.wait(timeout=10)

    rtt_us = rtts_ns / 1000.0
    return {
        "round_trips": round_trips,
        "payload_bytes": payload_bytes,
        "rtt_mean_us": round(float(rtt_us.mean()), 1),
        "rtt_min_us": round(float(rtt_us.min()), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rtt_p50_us": round(float(np.percentile(rtt_us, 50)), 1),
        "rtt_p90_us": round(float(np.percentile(rtt_us, 90)), 1),
        "rtt_p99_us": round(float(np.percentile(rtt_us, 99)), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--echo", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo:
        echo()
        return
    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    figures = measure(args.round_trips, args.warmup)
    print(f"CycleSpikes ({figures['payload_bytes']} B of bitmaps) round trip over "
          f"{figures['round_trips']} trips: p50 {figures['rtt_p50_us']} us, "
          f"p90 {figures['rtt_p90_us']} us, p99 {figures['rtt_p99_us']} us, "
          f"min {figures['rtt_min_us']} us; peak RSS {figures['peak_rss_mb']} MB")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
