"""Closed-loop latency: camera frame published → the actuator command that answers it.

The sim graph's brain path at 50 Hz control, laid out as `ros2 launch robot_bringup
sim.launch.py` runs it: the simulated arm and reward_from_detections each in a process of
their own (their `main()`, parameters from config/sim.yaml; camera at 50 Hz), the embedded
brain server in another (demo_arm graph), brain_session (parameters from
config/brain.yaml) in this one, and the probe that times the commands in one more, where
an actuator would get them. The arm publishes camera frames and joint
states, reward_from_detections the target input and the rewards, the session streams the
inputs to the brain and publishes each cycle's decoded command.

Default pace `inputs`, as brain.yaml and the demo have it: the camera paces the brain.
brain_session has `fresh_inputs: camera` (each io:need is answered as soon as a frame no
earlier cycle had arrives) and starts its runs with `{"pace": "inputs"}` (the embedded
brain sends the next cycle's io:need as soon as a cycle's inputs are in, and runs a cycle
as soon as its own are), so each cycle starts on a frame. `--pace clock`, as
robot.launch.py runs the session: io:need every 20 ms on the brain's clock, answered with
the newest frame, however old.

Each command carries `input_stamp`, the stamp of the camera frame its cycle was served
(brain_session fills it in); the probe notes when each command arrives on
`actuator_command`: loop latency = arrival - input_stamp, from the topic alone
(`--probe here`: the probe runs on the session's executor instead). The command's header
stamp (when the session made it) splits that into frame → command made and command
made → arrived. The brain's compute time per cycle is the server's
own figure (`computeMs` of each cycle:update, on /spikes as
CycleSpikes.brain_compute_ms). The floor is bench/ros_latency.py's
two-process DDS round trip, run here first; target: loop p99 < 4 x floor p99 + brain p50.

The relay, run here second (`--no-relay` skips it): the same camera and probe processes
with a relay node in the session's place, which answers every frame at once with a
command of the session's shape (no brain, no encoding). It is the part of the loop no
brain can remove: two DDS hops at the camera's pace, each a process woken from idle (the
floor's round trips run back to back, with both processes awake). What 4 x floor p99
leaves after the relay's p99 is the budget for encoding, the brain link and the spread of
compute; when nothing is left, no brain meets the target on this machine.

The round trip, run third (`--no-round-trip` skips it): the relay again, with every other
frame's command held back for one round trip to a second Python process (TCP on loopback,
an asyncio server there, the bytes of a demo cycle's io:chunks one way and its
cycle:update the other, the answer read on a thread of its own). It is what the brain link
costs before any of its work: the protocol's own cost (below) less this is what Socket.IO,
the encoding and the decoding on both ends take. The frames between take the relay's path
in the same minutes, and the cost is the difference of the halves' p50.

    python bench/loop.py [--cycles 1500] [--warmup-s 5] [--pace inputs|clock]
                         [--compose] [--executor events|single|multi] [--probe process|here]
                         [--no-floor] [--no-relay] [--no-round-trip] [--hops]

`--hops`: the session, the brain server and the probe note when each cycle passes each
point of its path (node_kit.hops, time.time_ns on one clock: the camera's stamp, the
session taking the frame, its io:chunks built and written, the server reading and
handling the first chunk, all inputs in, its run loop, compute, the cycle:update's emit,
the session reading and decoding it, the command published, the probe getting it); the
table of the hops' p50 and p90 is printed before the relay. Off by default (no notes, no
cost).

`--compose` runs the arm and reward nodes in this process too, on the session's executor
(as `make run` composes the demo): one interpreter lock for all of them.

Last line: JSON with loop_p50_ms, loop_p99_ms, floor_p99_ms, brain_compute_p50_ms and
_p99_ms, the relay's relay_p50_ms, relay_p99_ms, the protocol's own cost
protocol_overhead_p50_ms / _p99_ms (loop − relay − compute at that percentile), the CPU
time per brain cycle of the server process (server_cpu_ms_per_cycle) and of this one
(session_cpu_ms_per_cycle: the session, its executor and the nodes composed here) while
the loop was timed, the round trip's own cost round_trip_cost_p50_ms, and the machine's
load average at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def floor_figures() -> dict:
    """Run bench/ros_latency.py and read its last line."""
    print("measuring the DDS floor (bench/ros_latency.py) ...", flush=True)
    out = subprocess.run([sys.executable, str(HERE / "ros_latency.py"), "--round-trips", "1000"],
                         capture_output=True, text=True, timeout=600)
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"ros_latency.py failed: {out.stderr[-2000:]}")
    return json.loads(lines[-1])


def make_executor(kind: str, context):
    """The executor the nodes share: `events` (rclpy's EventsExecutor, as brain_session's
    main runs it), `single` (SingleThreadedExecutor, as the composed demo runs) or `multi`
    (rclpy's MultiThreadedExecutor with 4 threads), whose spin thread holds the
    interpreter lock much of the time, rebuilding its wait set in Python while the
    callbacks it handed out run (docs/results.md, "the demo's executor")."""
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor

    if kind == "multi":
        return MultiThreadedExecutor(num_threads=4, context=context)
    if kind == "single":
        return SingleThreadedExecutor(context=context)
    if kind == "events":
        from rclpy.experimental import EventsExecutor

        return EventsExecutor(context=context)
    raise ValueError(f"unknown executor {kind!r}")


class ChildProcess:
    """A child of the benchmark: a world node run by its own `main()` (`node`), or the
    command probe (`--probe-worker`); its output goes to `log_path`."""

    def __init__(self, name: str, args: list[str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        with open(log_path, "w") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)

    @classmethod
    def node(cls, module: str, params_file: Path, overrides: dict, log_path: Path
             ) -> ChildProcess:
        args = [sys.executable, "-m", module, "--ros-args", "--params-file", str(params_file)]
        for name, value in overrides.items():
            args += ["-p", f"{name}:={str(value).lower() if isinstance(value, bool) else value}"]
        return cls(module, args, log_path)

    @classmethod
    def probe(cls, out_path: Path, source: str, log_path: Path) -> ChildProcess:
        """The command probe: notes when each command of `source` arrives (see probe_worker)."""
        return cls("the command probe", [sys.executable, str(Path(__file__).resolve()),
                                         "--probe-worker", str(out_path), source], log_path)

    def arrivals(self, out_path: Path, since_ns: int, count: int
                 ) -> list[tuple[float, float, int, int]]:
        """Stop the command probe (after the last commands arrive) and read what it noted:
        (loop ms, frame -> made ms, cycle, arrival time_ns) of the first `count` commands
        that arrived after `since_ns`."""
        time.sleep(0.5)
        self.stop()
        noted = json.loads(out_path.read_text()) if out_path.is_file() else []
        return [(total, made, cycle, arrived) for arrived, total, made, cycle in sorted(noted)
                if arrived >= since_ns][:count]

    def check(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited ({self.process.returncode}): "
                               f"{self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        from robot_bringup.composition import stop_process

        stop_process(self.process)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process `pid` has used so far (Linux /proc), in s."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentiles_ms(name: str, values_ms) -> dict[str, float]:
    """{name}_p50_ms, _p90_ms and _p99_ms of `values_ms`, rounded to 10 us."""
    return {f"{name}_p{q}_ms": round(float(np.percentile(values_ms, q)), 2) for q in (50, 90, 99)}


#: The points of a cycle's path, in order, as node_kit.hops notes them (--hops).
HOPS = ("camera: frame stamped", "session: frame callback", "session: answer starts",
        "session: io:chunks built", "session: io:chunks written", "server: first io:chunk read",
        "server: first chunk handled", "server: all inputs in", "server: run loop has them",
        "server: compute start", "server: compute end", "server: cycle:update emit starts",
        "session: cycle:update read", "session: decoded", "session: command published",
        "probe: command arrived")


def hop_table(noted: dict[str, dict[int, int]], cycles: set[int]) -> list[dict]:
    """Per hop (from the point before it to its own): p50 and p90 in ms over the timed
    `cycles` that have both points, and the p50 of its point from the frame's stamp."""
    rows = []
    start = noted.get(HOPS[0], {})
    for before, after in zip(HOPS, HOPS[1:], strict=False):
        a, b = noted.get(before, {}), noted.get(after, {})
        both = [c for c in cycles if c in a and c in b]
        since = [c for c in cycles if c in start and c in b]
        if not both:
            rows.append({"hop": after, "n": 0})
            continue
        delta = np.array([(b[c] - a[c]) / 1e6 for c in both])
        rows.append({"hop": after, "n": len(both),
                     "p50_ms": round(float(np.percentile(delta, 50)), 3),
                     "p90_ms": round(float(np.percentile(delta, 90)), 3),
                     "since_frame_p50_ms": round(float(np.percentile(
                         [(b[c] - start[c]) / 1e6 for c in since], 50)), 3) if since else None})
    return rows


def print_hops(rows: list[dict]) -> None:
    print("hop by hop (time.time_ns on one clock; p50 / p90 of each hop over the timed "
          "cycles, and the p50 of each point since the frame's stamp):")
    print(f"  {'point reached':34s} {'n':>5s} {'hop p50':>8s} {'hop p90':>8s} "
          f"{'since frame':>11s}")
    for row in rows:
        if not row["n"]:
            print(f"  {row['hop']:34s} {0:5d}        -        -           -")
            continue
        since = row["since_frame_p50_ms"]
        print(f"  {row['hop']:34s} {row['n']:5d} {row['p50_ms']:8.3f} {row['p90_ms']:8.3f} "
              f"{'-' if since is None else f'{since:.3f}':>11s}")


def spin_collecting_errors(executor, context, running: threading.Event,
                           errors: list[str]) -> None:
    """Spin `executor` while `running` is set, noting the errors of callbacks: a
    SingleThreadedExecutor raises them from the turn that ran the callback, rclpy's
    MultiThreadedExecutor (`multi`) from its next turn. After `running` is cleared, one
    last turn that waits for nothing fetches what the last callbacks raised. Races with
    node destruction at the end are expected and not noted."""
    def turn(timeout_s: float) -> None:
        try:
            executor.spin_once(timeout_sec=timeout_s)
        except Exception as exc:
            if "destruction was requested" not in str(exc):
                errors.append(f"{type(exc).__name__}: {exc}")

    while running.is_set() and context.ok():
        turn(0.1)
    if context.ok():
        turn(0.0)


def measure_loop(cycles: int, warmup_s: float, pace: str = "inputs", compose: bool = False,
                 executor_kind: str = "events", probe_here: bool = False) -> dict:
    import rclpy
    from rclpy.qos import QoSProfile
    from rclpy.signals import SignalHandlerOptions

    from ab_interfaces.msg import ActuatorCommand, CycleSpikes
    from embedded_brain.graph import bundled_graph_path
    from robot_bringup.composition import Child, free_port
    from robot_bringup.config import config_file, parameter_overrides
    from robot_bringup.loop_timing import loop_time

    workdir = Path(tempfile.mkdtemp(prefix="bench-loop-"))
    port = free_port()
    (workdir / "state").mkdir()
    server = Child("brain_server", [
        "-m", "embedded_brain.server", "--host", "127.0.0.1", "--port", str(port),
        "--graph", str(bundled_graph_path("demo_arm")), "--state-dir", str(workdir / "state"),
        "--log-level", "WARNING"], port, workdir / "brain_server.log")
    print("starting the embedded brain server ...", flush=True)
    if not server.start(90):
        raise RuntimeError(f"brain server did not start: {server.log_tail()}")

    from ab_bridge.brain_session_node import BrainSessionNode

    sim_yaml = config_file("sim.yaml")
    arm_overrides = {"hardware_commands": False}     # camera at 50 Hz: sim.yaml
    session_overrides = {"url": f"http://127.0.0.1:{port}", "auto_start": True}
    if pace == "inputs":     # as brain.yaml has it
        session_overrides.update({"fresh_inputs": "camera",
                                  "run_options": json.dumps({"pace": "inputs"})})
    else:                    # the brain's own clock, as robot.launch.py runs it
        session_overrides.update({"fresh_inputs": "", "run_options": ""})
    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    world: list[ChildProcess] = []
    nodes = []
    if compose:
        from robot_bringup.reward_from_detections_node import RewardFromDetectionsNode
        from robot_bringup.sim_arm_node import SimArmNode

        nodes += [SimArmNode(context=context, parameter_overrides=parameter_overrides(
                      [sim_yaml], "sim_arm", extra=arm_overrides)),
                  RewardFromDetectionsNode(context=context, parameter_overrides=parameter_overrides(
                      [sim_yaml], "reward_from_detections"))]
    else:
        print("starting sim_arm and reward_from_detections (a process each) ...", flush=True)
        world = [ChildProcess.node("robot_bringup.sim_arm_node", sim_yaml, arm_overrides,
                              workdir / "sim_arm.log"),
                 ChildProcess.node("robot_bringup.reward_from_detections_node", sim_yaml, {},
                              workdir / "reward_from_detections.log")]
    session_node = BrainSessionNode(context=context, parameter_overrides=parameter_overrides(
        [config_file("brain.yaml")], "brain_session", extra=session_overrides))
    nodes.append(session_node)
    session = session_node.session

    # The brain's own compute time per cycle, as the session publishes it on /spikes
    # (CycleSpikes.brain_compute_ms, from the brain's cycle:update).
    compute_ms: list[float] = []
    spikes_probe = rclpy.create_node("loop_compute_probe", context=context)

    def on_spikes(msg: CycleSpikes) -> None:
        if msg.brain_compute_ms >= 0:
            compute_ms.append(float(msg.brain_compute_ms))

    spikes_probe.create_subscription(CycleSpikes, "spikes", on_spikes, QoSProfile(depth=50))
    nodes.append(spikes_probe)

    latencies_ms: list[float] = []
    made_ms: list[float] = []  # frame stamp -> command made (the command's header stamp)
    started = threading.Event()
    lock = threading.Lock()

    arrived_ns: dict[int, int] = {}     # cycle -> when its command reached the probe

    def note(total: float, made: float) -> None:
        with lock:
            latencies_ms.append(total)
            made_ms.append(made)

    probes = []
    probe_process = None
    probe_out = workdir / "probe.json"
    if probe_here:
        probe = rclpy.create_node("loop_probe", context=context)

        def on_command(msg: ActuatorCommand) -> None:
            arrived = time.time_ns()
            timed = loop_time(msg, arrived)
            if msg.source == "brain_session" and started.is_set() and timed is not None:
                note(*timed)
                arrived_ns[msg.cycle] = arrived

        probe.create_subscription(ActuatorCommand, "actuator_command", on_command,
                                  QoSProfile(depth=50))
        probes.append(probe)
    else:
        # Commands are timed where an actuator would get them: in a process of their own.
        probe_process = ChildProcess.probe(probe_out, "brain_session", workdir / "probe.log")
    executor = make_executor(executor_kind, context)
    for node in [*nodes, *probes]:
        executor.add_node(node)
    spinning, callback_errors = threading.Event(), []
    spinning.set()
    spinner = threading.Thread(target=spin_collecting_errors, daemon=True,
                               args=(executor, context, spinning, callback_errors))
    spinner.start()
    try:
        deadline = time.monotonic() + 90
        while session.stats.cycles == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
            for process in world:
                process.check()
        if session.stats.cycles == 0:
            raise RuntimeError(f"no brain cycles within 90 s: {session.stats.last_error}")
        print(f"warming up {warmup_s:.0f} s ...", flush=True)
        time.sleep(warmup_s)
        compute_ms.clear()
        first_cycle = session.stats.cycles
        server_cpu_s, own_cpu_s = cpu_seconds(server.process.pid), cpu_seconds(os.getpid())
        started.set()
        start_ns = time.time_ns()
        t_start = time.monotonic()
        print(f"timing {cycles} cycles ...", flush=True)
        last_report = time.monotonic()
        limit = time.monotonic() + cycles / 5.0 + 60  # even at 5 Hz, stop eventually

        def timed() -> int:
            return len(latencies_ms) if probe_here else session.stats.cycles - first_cycle

        while timed() < cycles and time.monotonic() < limit:
            time.sleep(0.2)
            for process in [*world, *([probe_process] if probe_process else [])]:
                process.check()
            if time.monotonic() - last_report > 5:
                last_report = time.monotonic()
                print(f"  {timed()}/{cycles} cycles", flush=True)
        elapsed = time.monotonic() - t_start
        cycles_run = max(session.stats.cycles - first_cycle, 1)
        server_cpu_s = cpu_seconds(server.process.pid) - server_cpu_s
        own_cpu_s = cpu_seconds(os.getpid()) - own_cpu_s
        if probe_process is not None:
            for total, made, cycle, arrived in probe_process.arrivals(probe_out, start_ns,
                                                                      cycles):
                note(total, made)
                arrived_ns[cycle] = arrived
    finally:
        spinning.clear()
        spinner.join(timeout=5)
        executor.shutdown(timeout_sec=5)
        for error in callback_errors:
            print(f"a callback failed: {error}", flush=True)
        for node in [*nodes, *probes]:
            node.destroy_node()
        context.try_shutdown()
        for process in [*world, *([probe_process] if probe_process else [])]:
            process.stop()
        server.stop()
    hops_rows = None
    from node_kit import hops

    if hops.ON:
        hops.flush()
        noted = hops.read(hops.DIRECTORY)
        noted["probe: command arrived"] = dict(arrived_ns)
        hops_rows = hop_table(noted, set(arrived_ns))
    with lock:
        loop = np.array(latencies_ms)
    if loop.size == 0:
        raise RuntimeError("no command carried the stamp of its camera frame")
    return {
        "cycles_timed": int(loop.size),
        "control_rate_hz": round(loop.size / elapsed, 1),
        **percentiles_ms("loop", loop),
        "brain_compute_p50_ms": round(float(np.percentile(compute_ms, 50)), 2)
        if compute_ms else None,
        "brain_compute_p99_ms": round(float(np.percentile(compute_ms, 99)), 2)
        if compute_ms else None,
        "frame_to_made_p50_ms": round(float(np.percentile(made_ms, 50)), 2),
        "made_to_arrived_p50_ms": round(float(np.percentile(loop - np.array(made_ms), 50)), 2),
        # CPU per brain cycle of the server process and of this one (the session; with
        # --compose also the arm and reward nodes)
        "server_cpu_ms_per_cycle": round(server_cpu_s * 1000.0 / cycles_run, 2),
        "session_cpu_ms_per_cycle": round(own_cpu_s * 1000.0 / cycles_run, 2),
        "hops": hops_rows,
    }


def measure_relay(cycles: int, warmup_s: float, executor_kind: str = "events",
                  round_trip: bool = False) -> dict:
    """Frame -> command with no brain: the arm (camera at 50 Hz) and the probe in processes
    of their own as in measure_loop, and in this process, in the session's place, a relay
    node that publishes a command of the session's shape (its channels, one delta per
    timestep; source `loop_relay`, the frame's count as its cycle) as each frame arrives,
    on the session's executor (`executor_kind`). The reward node is left out: less load, so
    the relay is a lower bound of what a brain session can do.

    `round_trip`: every other frame (odd counts) takes one round trip to a second Python
    process before its command goes out, the hops the brain link cannot do without and
    nothing else: the frame's callback writes ROUND_TRIP_REQUEST bytes to a TCP socket
    (TCP_NODELAY, as websocket-client sets it), an asyncio server (`--echo-worker`, the
    event loop aiohttp serves on) answers each with ROUND_TRIP_REPLY bytes in one write,
    and a reader thread takes the answer and publishes the frame's command (as the
    session's Socket.IO thread does). No Socket.IO, no encoding, no brain. The even frames
    go straight out, so both halves share the processes and the minutes they ran in."""
    import rclpy
    from rclpy.qos import QoSProfile, qos_profile_sensor_data
    from rclpy.signals import SignalHandlerOptions
    from sensor_msgs.msg import Image

    from ab_bridge.decoding import Decoder, parse_mapping
    from ab_bridge.spikes_msg import command_msg
    from ab_interfaces.msg import ActuatorCommand
    from embedded_brain.graph import bundled_graph_path, load_graph
    from node_kit.config import load_structured
    from robot_bringup.config import config_file, node_parameters

    session_params = node_parameters([config_file("brain.yaml")], "brain_session")
    channels = Decoder(parse_mapping(load_structured(
        "decoder_mapping", session_params["decoder_mapping"]))).channels
    deltas = np.zeros((load_graph(bundled_graph_path("demo_arm")).gamma, len(channels)))
    workdir = Path(tempfile.mkdtemp(prefix="bench-relay-"))
    print("relay: sim_arm and the probe in processes of their own, a relay in this one ...",
          flush=True)
    arm = ChildProcess.node("robot_bringup.sim_arm_node", config_file("sim.yaml"),
                            {"hardware_commands": False},
                            workdir / "sim_arm.log")
    probe_out = workdir / "probe.json"
    probe = ChildProcess.probe(probe_out, "loop_relay", workdir / "probe.log")
    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("loop_relay", context=context)
    publisher = node.create_publisher(ActuatorCommand, "actuator_command",
                                      QoSProfile(depth=10))
    frames = [0]
    clock = node.get_clock()

    taken_ms: list[float] = []   # frame stamp -> the relay's callback

    link: RoundTrip | None = None

    def on_frame(msg: Image) -> None:
        taken_ms.append((time.time_ns() - msg.header.stamp.sec * 1_000_000_000
                         - msg.header.stamp.nanosec) / 1e6)
        cycle = frames[0]
        frames[0] += 1
        command = command_msg("loop_relay", cycle, channels, deltas, 0.001)
        command.input_stamp = msg.header.stamp     # as brain_session stamps its commands
        command.header.stamp = clock.now().to_msg()
        if link is not None and cycle % 2:
            link.send(command)
        else:
            publisher.publish(command)

    node.create_subscription(Image, "camera/image_raw", on_frame, qos_profile_sensor_data)
    executor = make_executor(executor_kind, context)
    executor.add_node(node)
    spinning, callback_errors = threading.Event(), []
    spinning.set()
    spinner = threading.Thread(target=spin_collecting_errors, daemon=True,
                               args=(executor, context, spinning, callback_errors))
    spinner.start()
    latencies_ms, timed_commands = [], []
    try:
        if round_trip:
            link = RoundTrip(workdir, publisher.publish)
        deadline = time.monotonic() + 60
        while frames[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
            arm.check()
            probe.check()
        if frames[0] == 0:
            raise RuntimeError("relay: no camera frame within 60 s")
        time.sleep(warmup_s)
        first = frames[0]
        start_ns = time.time_ns()
        limit = time.monotonic() + cycles / 5.0 + 60
        while frames[0] < first + cycles and time.monotonic() < limit:
            time.sleep(0.2)
            arm.check()
            probe.check()
        timed_commands = probe.arrivals(probe_out, start_ns, cycles)
        latencies_ms = [timed[0] for timed in timed_commands]
    finally:
        spinning.clear()
        spinner.join(timeout=5)
        executor.shutdown(timeout_sec=5)
        for error in callback_errors:
            print(f"a relay callback failed: {error}", flush=True)
        if link is not None:
            link.close()
        node.destroy_node()
        context.try_shutdown()
        for process in (probe, arm):
            process.stop()
    if not latencies_ms:
        raise RuntimeError("relay: no command carried the stamp of its camera frame")
    if round_trip:
        direct = [timed[0] for timed in timed_commands if timed[2] % 2 == 0]
        through = [timed[0] for timed in timed_commands if timed[2] % 2]
        if not direct or not through:
            raise RuntimeError("round trip: no command of one half arrived")
        figures = {"round_trip_cycles": len(through),
                   **percentiles_ms("round_trip_direct", direct),
                   **percentiles_ms("round_trip", through)}
        figures["round_trip_cost_p50_ms"] = round(figures["round_trip_p50_ms"]
                                                  - figures["round_trip_direct_p50_ms"], 2)
        return figures
    return {"relay_cycles": len(latencies_ms), **percentiles_ms("relay", latencies_ms),
            "relay_frame_callback_p50_ms": round(float(np.percentile(taken_ms[-cycles:], 50)), 3)}


#: The bytes of a demo cycle's brain link, as bench/loop.py's brain phase writes them (strace
#: of the server): the session's io:chunks in one write, the server's cycle:update.
ROUND_TRIP_REQUEST, ROUND_TRIP_REPLY = 1333, 3953


class RoundTrip:
    """The relay's round trip (measure_relay): a TCP connection to an `--echo-worker` child;
    `send(command)` writes a request, and a reader thread publishes each command when its
    answer is in."""

    def __init__(self, workdir: Path, publish) -> None:
        from robot_bringup.composition import Child, free_port

        port = free_port()
        self.echo = Child("echo server", [str(Path(__file__).resolve()), "--echo-worker",
                                          str(port)], port, workdir / "echo.log")
        if not self.echo.start(30):
            raise RuntimeError(f"round trip: the echo server did not start: "
                               f"{self.echo.log_tail()}")
        try:
            self.sock = socket.create_connection(("127.0.0.1", port))
        except OSError:
            self.echo.stop()
            raise
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.publish = publish
        self.waiting: deque = deque()     # commands sent, in order (deque: thread-safe ends)
        self.request = b"x" * ROUND_TRIP_REQUEST
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def send(self, command) -> None:
        self.waiting.append(command)
        self.sock.sendall(self.request)

    def _read(self) -> None:
        pending = 0
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            pending += len(data)
            while pending >= ROUND_TRIP_REPLY:
                pending -= ROUND_TRIP_REPLY
                self.publish(self.waiting.popleft())

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.reader.join(timeout=5)
        self.echo.stop()


def echo_worker(port: int) -> None:
    """The round trip's far end: an asyncio server on 127.0.0.1:`port` that answers every
    ROUND_TRIP_REQUEST bytes it reads with ROUND_TRIP_REPLY bytes in one write. Ends on
    SIGINT or SIGTERM."""
    import asyncio

    reply = b"y" * ROUND_TRIP_REPLY

    class Echo(asyncio.Protocol):
        def connection_made(self, transport) -> None:
            self.transport, self.pending = transport, 0

        def data_received(self, data: bytes) -> None:
            self.pending += len(data)
            while self.pending >= ROUND_TRIP_REQUEST:
                self.pending -= ROUND_TRIP_REQUEST
                self.transport.write(reply)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server = await loop.create_server(Echo, "127.0.0.1", port)
        await stop.wait()
        server.close()

    asyncio.run(serve())


def probe_worker(out_path: str, source: str = "brain_session") -> None:
    """The command probe in a process of its own: for each command of `source` that answers
    a stamped input, [arrival time_ns, loop ms, frame -> made ms, cycle]
    (robot_bringup.loop_timing),
    written to `out_path` on SIGINT or SIGTERM."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile
    from rclpy.signals import SignalHandlerOptions

    from ab_interfaces.msg import ActuatorCommand
    from robot_bringup.loop_timing import loop_time

    arrivals: list[tuple[int, float, float]] = []
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("loop_probe")

    def on_command(msg: ActuatorCommand) -> None:
        arrived = time.time_ns()
        timed = loop_time(msg, arrived) if msg.source == source else None
        if timed is not None:
            arrivals.append((arrived, *timed, msg.cycle))

    node.create_subscription(ActuatorCommand, "actuator_command", on_command,
                             QoSProfile(depth=50))
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    while not stop.is_set():
        executor.spin_once(timeout_sec=0.1)
    Path(out_path).write_text(json.dumps(arrivals))
    node.destroy_node()
    rclpy.try_shutdown()


def main() -> None:
    if len(sys.argv) in (3, 4) and sys.argv[1] == "--probe-worker":
        probe_worker(*sys.argv[2:])
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--echo-worker":
        echo_worker(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1500, help="cycles to time (50 Hz)")
    parser.add_argument("--warmup-s", type=float, default=5.0)
    parser.add_argument("--pace", choices=["inputs", "clock"], default="inputs",
                        help="inputs (default, as brain.yaml): the camera paces the brain; "
                        "clock: the brain's own 20 ms clock, as robot.launch.py runs it")
    parser.add_argument("--compose", action="store_true",
                        help="run the arm and reward nodes in this process, on the "
                        "session's executor (as make run composes the demo)")
    parser.add_argument("--executor", choices=["events", "single", "multi"], default="events",
                        help="the executor of this process (default events, as brain_session "
                        "runs; single as the composed demo runs)")
    parser.add_argument("--probe", choices=["process", "here"], default="process",
                        help="where commands are timed: a process of their own (default, "
                        "as an actuator gets them) or this one, on the session's executor")
    parser.add_argument("--no-floor", action="store_true",
                        help="skip bench/ros_latency.py (quick comparisons; no target)")
    parser.add_argument("--no-relay", action="store_true",
                        help="skip the relay (frame -> command with no brain)")
    parser.add_argument("--no-round-trip", action="store_true",
                        help="skip the relay with a bare round trip to a second process "
                        "(the brain link's hops with no Socket.IO and no encoding)")
    parser.add_argument("--hops", action="store_true",
                        help="note when each cycle passes each point of its path (the "
                        "session, the server and the probe; node_kit.hops) and print the "
                        "hops' p50; off by default")
    args = parser.parse_args()
    if args.hops:      # before node_kit.hops is imported here or in the server
        os.environ["BRAINSTEM_HOPS"] = tempfile.mkdtemp(prefix="bench-loop-hops-")
    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    floor = None if args.no_floor else floor_figures()
    relay = {} if args.no_relay else measure_relay(args.cycles, args.warmup_s, args.executor)
    round_trip = {} if args.no_relay or args.no_round_trip else measure_relay(
        args.cycles, args.warmup_s, args.executor, round_trip=True)
    print(f"pace {args.pace}; arm and reward nodes "
          f"{'in this process' if args.compose else 'in processes of their own'}; "
          f"executor {args.executor}; commands timed in "
          f"{'this process' if args.probe == 'here' else 'a process of their own'}", flush=True)
    figures = measure_loop(args.cycles, args.warmup_s, args.pace, args.compose, args.executor,
                           probe_here=args.probe == "here")
    floor_p99_ms = None if floor is None else floor["rtt_p99_us"] / 1000.0
    if floor is not None:
        print(f"DDS floor (two-process CycleSpikes round trip): p50 "
              f"{floor['rtt_p50_us'] / 1000:.3f} ms, p99 {floor_p99_ms:.3f} ms")
    print(f"loop (camera frame -> its actuator command) over {figures['cycles_timed']} cycles at "
          f"{figures['control_rate_hz']} Hz: p50 {figures['loop_p50_ms']} ms, p90 "
          f"{figures['loop_p90_ms']} ms, p99 {figures['loop_p99_ms']} ms; brain compute p50 "
          f"{figures['brain_compute_p50_ms']} ms")
    print(f"  CPU per cycle: brain server {figures['server_cpu_ms_per_cycle']} ms (compute p50 "
          f"{figures['brain_compute_p50_ms']} ms), this process (session) "
          f"{figures['session_cpu_ms_per_cycle']} ms")
    print(f"  of which p50: frame -> command made {figures['frame_to_made_p50_ms']} ms, "
          f"command made -> arrived {figures['made_to_arrived_p50_ms']} ms")
    if figures["hops"]:
        print_hops(figures["hops"])
    if relay:
        print(f"relay (camera frame -> a command at once, no brain) over {relay['relay_cycles']} "
              f"frames: p50 {relay['relay_p50_ms']} ms, p90 {relay['relay_p90_ms']} ms, p99 "
              f"{relay['relay_p99_ms']} ms; frame stamp -> its callback p50 "
              f"{relay['relay_frame_callback_p50_ms']} ms")
    if round_trip:
        print(f"relay with a bare round trip (every other frame: {ROUND_TRIP_REQUEST} bytes to "
              f"a second Python process and {ROUND_TRIP_REPLY} back over TCP before its "
              f"command; no Socket.IO, no encoding) over {round_trip['round_trip_cycles']} "
              f"frames: p50 {round_trip['round_trip_p50_ms']} ms against "
              f"{round_trip['round_trip_direct_p50_ms']} ms for the frames between them: "
              f"the round trip's own cost {round_trip['round_trip_cost_p50_ms']:.2f} ms at "
              "p50", flush=True)
    overhead = {}
    if relay and figures["brain_compute_p50_ms"] is not None:
        # The protocol's own cost: what the loop takes beyond the relay (the DDS hops no
        # brain can remove) and the brain's compute.
        for q in (50, 99):
            overhead[q] = round(figures[f"loop_p{q}_ms"] - relay[f"relay_p{q}_ms"]
                                - figures[f"brain_compute_p{q}_ms"], 2)
        print(f"  the protocol's own cost (encoding, Socket.IO both ways, decoding): loop - "
              f"relay - compute = {overhead[50]:.2f} ms at p50, {overhead[99]:.2f} ms at p99 "
              f"(compute p99 {figures['brain_compute_p99_ms']} ms)")
    if floor_p99_ms is not None:
        target_ms = 4 * floor_p99_ms + (figures["brain_compute_p50_ms"] or 0.0)
        verdict = "meets" if figures["loop_p99_ms"] < target_ms else "misses"
        print(f"target p99 < 4 x floor p99 + brain compute = {target_ms:.2f} ms: {verdict} it")
        if relay:
            left_ms = 4 * floor_p99_ms - relay["relay_p99_ms"]
            print(f"  of 4 x floor p99 ({4 * floor_p99_ms:.2f} ms) the relay's p99 takes "
                  f"{relay['relay_p99_ms']} ms: " + (
                      f"{left_ms:.2f} ms are left for encoding, the brain link and the "
                      "spread of compute" if left_ms > 0 else
                      "out of reach here, with no brain at all"))
    print(json.dumps({
        "loop_p50_ms": figures["loop_p50_ms"],
        "loop_p99_ms": figures["loop_p99_ms"],
        "floor_p99_ms": None if floor_p99_ms is None else round(floor_p99_ms, 3),
        "brain_compute_p50_ms": figures["brain_compute_p50_ms"],
        "relay_p50_ms": relay.get("relay_p50_ms"),
        "relay_p99_ms": relay.get("relay_p99_ms"),
        "brain_compute_p99_ms": figures["brain_compute_p99_ms"],
        "protocol_overhead_p50_ms": overhead.get(50),
        "protocol_overhead_p99_ms": overhead.get(99),
        "round_trip_cost_p50_ms": round_trip.get("round_trip_cost_p50_ms"),
        "server_cpu_ms_per_cycle": figures["server_cpu_ms_per_cycle"],
        "session_cpu_ms_per_cycle": figures["session_cpu_ms_per_cycle"],
        "load_average": round(os.getloadavg()[0], 1),
    }))


if __name__ == "__main__":
    main()
