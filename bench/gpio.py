"""Benchmark: pigpio command round trips and GPIO events/s delivered to ROS, on the virtual Pi.

Three processes, as on a robot: the virtual Pi (`python -m pilot_hw.virtual_pi`), the
`pilot` node, and this script. It measures
  1. the round-trip time of pigpio commands through the unmodified `pigpio` client
     (get_current_tick and write), p50/p99 in microseconds;
  2. input edges per second that reach a ROS subscriber of `gpio/edges`: the virtual Pi
     generates bursts of button edges, the pilot publishes each one as a GpioEdge;
  3. what a gpiozero user pays per call through `PiGPIOFactory` (gpiozero 2.0.1 + pigpio
     1.78 in .venv-ref/gpiozero), against the pigpio write under it, in the same run:
     LED.toggle() and PWMLED.value = x, p50 in microseconds.
The last line is JSON: roundtrip_p50_us, roundtrip_p99_us, events_per_s,
gpiozero_led_toggle_p50_us, gpiozero_pwmled_value_p50_us.

    python bench/gpio.py [--commands 20000] [--events 30000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pigpio
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy

from ab_interfaces.msg import GpioEdge
from pilot_hw.virtual_pi import CF1_INPUT_BURST

BUTTON_PIN = 27


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles_us(samples_ns: list[int]) -> tuple[float, float]:
    values = np.asarray(samples_ns, dtype=float) / 1000.0
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def measure_roundtrips(port: int, count: int) -> dict[str, tuple[float, float]]:
    pi = pigpio.pi("127.0.0.1", port, show_errors=False)
    assert pi.connected, "cannot reach the virtual Pi"
    pi.set_mode(17, pigpio.OUTPUT)
    results = {}
    for name, call in (("tick", lambda i: pi.get_current_tick()),
                       ("write", lambda i: pi.write(17, i & 1))):
        for i in range(500):  # warm up
            call(i)
        samples = []
        for i in range(count):
            t0 = time.perf_counter_ns()
            call(i)
            samples.append(time.perf_counter_ns() - t0)
        results[name] = percentiles_us(samples)
    pi.stop()
    return results


GPIOZERO_TIMING = """
import json, sys, time
from gpiozero import LED, PWMLED
from gpiozero.pins.pigpio import PiGPIOFactory
factory = PiGPIOFactory(host="127.0.0.1", port=int(sys.argv[1]))
count = int(sys.argv[2])
led, pwmled = LED(22, pin_factory=factory), PWMLED(23, pin_factory=factory)
out = {}
for name, call in (("led_toggle", lambda i: led.toggle()),
                   ("pwmled_value", lambda i: setattr(pwmled, "value", (i % 100) / 100))):
    for i in range(200):
        call(i)
    samples = []
    for i in range(count):
        t0 = time.perf_counter_ns()
        call(i)
        samples.append(time.perf_counter_ns() - t0)
    samples.sort()
    out[name] = samples[len(samples) // 2] / 1000
led.close(); pwmled.close(); factory.close()
print(json.dumps(out))
"""


def measure_gpiozero(port: int, count: int) -> dict[str, float]:
    """p50 microseconds per gpiozero call through PiGPIOFactory, in its reference venv."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from refvenv import reference_python

    python = reference_python("gpiozero", ["gpiozero==2.0.1", "pigpio==1.78", "colorzero==2.0"])
    done = subprocess.run([str(python), "-c", GPIOZERO_TIMING, str(port), str(count)],
                          capture_output=True, text=True, timeout=600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_events(port: int, total: int, burst: int) -> tuple[float, int, int]:
    """Returns (events/s delivered, received, lost by sequence gaps)."""
    devices = Path(tempfile.mkdtemp()) / "devices.yaml"
    devices.write_text(f"devices:\n  - {{name: button, type: digital_input, pin: {BUTTON_PIN},"
                       f" pull: up}}\n")
    pilot = subprocess.Popen(
        [sys.executable, "-m", "pilot_hw.pilot_node", "--ros-args", "-p",
         f"devices:={devices}", "-p", f"port:={port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rclpy.init()
    node = rclpy.create_node("gpio_bench")
    received: list[tuple[int, float]] = []
    node.create_subscription(
        GpioEdge, "gpio/edges", lambda m: received.append((m.seq, time.perf_counter())),
        QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE))
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    injector = pigpio.pi("127.0.0.1", port, show_errors=False)
    try:
        print("[gpio] waiting for the pilot node to come up and match", flush=True)
        deadline = time.monotonic() + 60
        while node.count_publishers("gpio/edges") == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # discovery settles on both sides
        injector.custom_1(CF1_INPUT_BURST, BUTTON_PIN, struct.pack("<II", 2, 10))  # probe
        deadline = time.monotonic() + 30
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        if len(received) < 2:
            raise RuntimeError("no edges reached ROS")
        received.clear()
        print(f"[gpio] injecting {total} edges in bursts of {burst}", flush=True)
        start = time.perf_counter()
        sent = 0
        while sent < total:
            injector.custom_1(CF1_INPUT_BURST, BUTTON_PIN, struct.pack("<II", burst, 20))
            sent += burst
            # pace the bursts to what reaches ROS, keeping at most a few bursts in flight
            while sent - len(received) > 4 * burst and time.perf_counter() - start < 120:
                time.sleep(0.001)
        deadline = time.monotonic() + 10
        while len(received) < total and time.monotonic() < deadline:
            time.sleep(0.01)
            if received and time.perf_counter() - received[-1][1] > 2.0:
                break
        seqs = np.array([s for s, _ in received])
        lost = int(seqs.max() - seqs.min() + 1 - len(np.unique(seqs))) if len(seqs) else total
        elapsed = received[-1][1] - start
        return len(received) / elapsed, len(received), lost
    finally:
        injector.stop()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        pilot.terminate()
        pilot.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commands", type=int, default=20000)
    parser.add_argument("--events", type=int, default=30000)
    parser.add_argument("--burst", type=int, default=200)
    args = parser.parse_args()

    port = free_port()
    print(f"[gpio] starting the virtual Pi on 127.0.0.1:{port}", flush=True)
    daemon = subprocess.Popen([sys.executable, "-m", "pilot_hw.virtual_pi", "--port", str(port)],
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        print("[gpio] " + daemon.stdout.readline().strip(), flush=True)
        print(f"[gpio] {args.commands} command round trips per command", flush=True)
        roundtrips = measure_roundtrips(port, args.commands)
        for name, (p50, p99) in roundtrips.items():
            print(f"[gpio] round trip {name:5s}: p50 {p50:7.1f} us  p99 {p99:7.1f} us")
        events_per_s, received, lost = measure_events(port, args.events, args.burst)
        print(f"[gpio] edges delivered to ROS: {received} ({lost} lost), {events_per_s:.0f} /s")
        gz = measure_gpiozero(port, args.commands // 4)
        print(f"[gpio] gpiozero via PiGPIOFactory: LED.toggle p50 {gz['led_toggle']:.1f} us, "
              f"PWMLED.value p50 {gz['pwmled_value']:.1f} us (pigpio write under them: "
              f"p50 {roundtrips['write'][0]:.1f} us)")
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    p50, p99 = roundtrips["tick"]
    print(json.dumps({"roundtrip_p50_us": round(p50, 1), "roundtrip_p99_us": round(p99, 1),
                      "events_per_s": round(events_per_s, 1),
                      "gpiozero_led_toggle_p50_us": round(gz["led_toggle"], 1),
                      "gpiozero_pwmled_value_p50_us": round(gz["pwmled_value"], 1)}))


if __name__ == "__main__":
    main()
