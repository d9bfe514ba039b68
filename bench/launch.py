"""Start-ups of `ros2 launch robot_bringup sim.launch.py`, as a user starts it.

Each start-up runs the launch in a session of its own (free ports, its own ROS
domain), times launch → first /actuator_command from brain_session (seen by a
probe node), then ends it with Ctrl-C to the whole process group, as a terminal
does, and checks the ending: exit code 0, no traceback, nothing left running.
A start-up counts as ok when the brain ran without help (commands came within
--up-within-s, nobody called start_run) and the ending was clean. The brain
server and the session start at the same moment, so about half the time the
session asks before the server listens: it must retry until it answers.

    python bench/launch.py [--runs 10] [--up-within-s 90]

Last line: JSON with startup_ok_rate (0..1), first_command_s_p50, first_command_s_max,
clean_exits and the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_command(domain: str, timeout_s: float) -> float | None:
    """Seconds until the probe (a child process on `domain`) sees a command from
    brain_session on /actuator_command; None if none came in time."""
    probe = subprocess.Popen(
        [sys.executable, __file__, "--probe", str(timeout_s)], stdout=subprocess.PIPE,
        text=True, env={**os.environ, "ROS_DOMAIN_ID": domain})
    out, _ = probe.communicate(timeout=timeout_s + 30)
    match = re.search(r"first_command_at ([0-9.]+)", out)
    return float(match.group(1)) if match else None


def probe_main(timeout_s: float) -> None:
    import rclpy
    from rclpy.qos import QoSProfile

    from ab_interfaces.msg import ActuatorCommand

    rclpy.init()
    node = rclpy.create_node("launch_bench_probe")
    seen: list[float] = []

    def on_command(msg: ActuatorCommand) -> None:
        if msg.source == "brain_session" and not seen:
            seen.append(time.time())

    node.create_subscription(ActuatorCommand, "actuator_command", on_command,
                             QoSProfile(depth=10))
    deadline = time.monotonic() + timeout_s
    while not seen and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    if seen:
        print(f"first_command_at {seen[0]:.6f}", flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


def one_startup(up_within_s: float) -> dict:
    domain = str(random.SystemRandom().randint(101, 200))
    env = {**os.environ, "ROS_DOMAIN_ID": domain}
    args = ["ros2", "launch", "robot_bringup", "sim.launch.py", f"pi_port:={free_port()}",
            f"detector_port:={free_port()}", f"brain_port:={free_port()}"]
    started_wall = time.time()
    launch = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True, env=env)
    try:
        seen_at = first_command(domain, up_within_s)
    finally:
        try:
            os.killpg(launch.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        try:
            output, _ = launch.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(launch.pid, signal.SIGKILL)
            output, _ = launch.communicate()
    leftover = subprocess.run(["pgrep", "-s", str(launch.pid)], capture_output=True,
                              text=True).stdout.split()
    retries = len(re.findall(r"start run failed \(try", output))
    clean = launch.returncode == 0 and "Traceback" not in output \
        and "process has died" not in output and not leftover
    return {"first_command_s": None if seen_at is None else seen_at - started_wall,
            "start_retries": retries, "clean_exit": clean, "exit_code": launch.returncode,
            "leftover": leftover,
            "died": [line for line in output.splitlines() if "process has died" in line]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--up-within-s", type=float, default=90.0)
    parser.add_argument("--probe", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe is not None:
        probe_main(args.probe)
        return
    results = []
    for i in range(args.runs):
        result = one_startup(args.up_within_s)
        results.append(result)
        first = result["first_command_s"]
        print(f"start-up {i + 1}/{args.runs}: first command "
              f"{'none' if first is None else f'{first:.2f} s'}, session start retries "
              f"{result['start_retries']}, exit {'clean' if result['clean_exit'] else 'NOT clean'}"
              + (f" ({'; '.join(result['died'])[:300]})" if result["died"] else ""),
              flush=True)
    firsts = [r["first_command_s"] for r in results if r["first_command_s"] is not None]
    ok = [r for r in results if r["first_command_s"] is not None and r["clean_exit"]]
    summary = {
        "runs": len(results),
        "startup_ok_rate": len(ok) / len(results),
        "first_command_s_p50": float(np.percentile(firsts, 50)) if firsts else None,
        "first_command_s_max": max(firsts) if firsts else None,
        "brain_up": len(firsts),
        "clean_exits": sum(r["clean_exit"] for r in results),
        "startups_with_start_retries": sum(r["start_retries"] > 0 for r in results),
    }
    print(f"{summary['brain_up']}/{len(results)} start-ups drove the arm without help, "
          f"{summary['clean_exits']} ended cleanly; first command p50 "
          f"{summary['first_command_s_p50']} s, max {summary['first_command_s_max']} s; "
          f"{summary['startups_with_start_retries']} needed the session to retry its start")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
