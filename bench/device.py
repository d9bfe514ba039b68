"""The embedded brain as a Prima-Lux device, under the official client and under
brain_session's device backend, beside the 0.1 protocol in the same run.

One embedded brain server (a child process: the demo graph for the 0.1 protocol, the
arm's brain design installed on its device API) serves, one after the other:

1. the official artificialbrains-sdk 0.4.0 client (its own venv, `.venv-ref/ab-sdk-040`):
   `start_from_env`, `on_output`, a sensor frame posted every 20 ms by `publish_input`;
2. ab_bridge's DeviceSession (brain_session's device backend, no ROS): the same posts;
3. the 0.1 protocol (REST + Socket.IO, python-socketio as brain_session uses it): a run
   of the demo graph whose every `io:need` is answered at once.

Figures: sensor post -> the first output frame of the step it drives (the device answers
each post with that step), p50/p99; output frames (timesteps) delivered per second; steps
lost over `--steps` consecutive steps (a frame missing or repeated in the stream); and
for the 0.1 protocol io:need -> its cycle:update, p50/p99. The last line is JSON with
`steps_lost`, `step_latency_p99_ms` (brain_session's backend) and
`realtime_step_latency_p99_ms`.

    python bench/device.py [--steps 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from refvenv import reference_python  # noqa: E402

KEY = "plx_bench_key"
POST_PERIOD_S = 0.02

# The application the official client runs (written to a temp file, run with the SDK's
# own python in a project folder with .env and the design).
SDK_APP = r'''
import json, sys, threading, time
from ab import ABClient
steps_wanted = int(sys.argv[1])
client = ABClient.from_env(env_path=".env")
session = client.start_from_env(env_path=".env")
device = session.python_client.device
arrivals = {}
first = []
lock = threading.Lock()
def on_output(item):
    now = time.perf_counter()
    with lock:
        arrivals[item["step"]] = now
        first.append(item["step"])
session.on_output(on_output)
posted = []          # (perf time of the post, first step it drives)
send = device.send_sensors
def send_and_note(channels):
    t0 = time.perf_counter()
    answer = send(channels)
    posted.append((t0, answer.get("step")))
    return answer
device.send_sensors = send_and_note     # the app notes what the device answers
values = [[0.0] * 16, [1.0] * 8 + [0.0] * 8]
i = 0
while True:
    with lock:
        n = len(first)
    if n >= steps_wanted:
        break
    session.publish_sensor_frame({"E0_POS": values[i % 2], "E1_NEG": values[(i + 1) % 2]})
    i += 1
    time.sleep(0.02)
session.stop()
client.close()
steps = first
latencies = []
for t0, step in posted:
    later = [arrivals[s] for s in range(step, step + 50) if s in arrivals]
    if later:
        latencies.append((later[0] - t0) * 1000.0)
span = (arrivals[steps[-1]] - arrivals[steps[0]]) if len(steps) > 1 else 0.0
print("RESULT " + json.dumps({
    "steps": len(steps), "duplicates": len(steps) - len(set(steps)),
    "missing": (steps[-1] - steps[0] + 1) - len(set(steps)) if steps else 0,
    "steps_per_s": (len(steps) - 1) / span if span else 0.0,
    "latencies_ms": latencies, "error": session.output_stream.error}))
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(name: str, values_ms: list[float]) -> dict[str, float]:
    return {f"{name}_p{q}_ms": round(float(np.percentile(values_ms, q)), 2) for q in (50, 99)}


def start_server(state_dir: Path, port: int) -> subprocess.Popen:
    from embedded_brain.abdesign import bundled_design_path
    from embedded_brain.graph import bundled_graph_path

    server = subprocess.Popen(
        [sys.executable, "-m", "embedded_brain.server", "--port", str(port),
         "--graph", str(bundled_graph_path("demo_arm")), "--state-dir", str(state_dir),
         "--device-api-key", KEY, "--device-brain", str(bundled_design_path("demo_arm")),
         "--log-level", "WARNING"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"brain server did not start: {server.stdout.read()[-2000:]}")


def run_official(url: str, steps: int, work: Path) -> dict:
    python = reference_python("ab-sdk-040", ["artificialbrains-sdk==0.4.0"])
    project = work / "sdk-app"
    project.mkdir()
    from embedded_brain.abdesign import bundled_design_path

    (project / "brain.abdesign.json").write_text(bundled_design_path("demo_arm").read_text())
    (project / ".env").write_text(f"AB_DEVICE_URL={url}/\nAB_DEVICE_API_KEY={KEY}\n")
    (project / "app.py").write_text(SDK_APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AB_")}
    done = subprocess.run([str(python), "app.py", str(steps)], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"official client failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return json.loads(line[len("RESULT "):])


class Collect:
    def __init__(self) -> None:
        self.steps: list[int] = []
        self.arrivals: list[float] = []
        self.errors: list[str] = []

    def on_cycle(self, result) -> None:
        now = time.perf_counter()
        for t in result.decoded.timesteps.tolist():
            self.steps.append(int(t))
            self.arrivals.append(now)

    def on_hold(self, reason: str) -> None:
        pass

    def on_link(self, state: str, detail: str) -> None:
        pass

    def on_error(self, message: str) -> None:
        self.errors.append(message)


def run_backend(url: str, steps: int) -> dict:
    from ab_bridge.device_session import DeviceSession
    from ab_bridge.session import SessionConfig

    collect = Collect()
    mapping = [{"node_id": f"JOINT{j}", "channel": f"joint:{j}", "scheme": "bipolarSplit",
                "per_step_max": 0.004, "n": 32} for j in (0, 1)]
    session = DeviceSession(SessionConfig(url=url, project_id="demo_arm", api_key=KEY,
                                          decoder_mapping=mapping), collect)
    session.start()
    values = [[0.0] * 16, [1.0] * 8 + [0.0] * 8]
    i = 0
    t_start = time.perf_counter()
    while len(collect.steps) < steps and time.perf_counter() - t_start < 300:
        session.post({"E0_POS": values[i % 2], "E1_NEG": values[(i + 1) % 2]})
        i += 1
        time.sleep(POST_PERIOD_S)
    session.stop()
    session.close()
    got = collect.steps
    span = collect.arrivals[-1] - collect.arrivals[0]
    return {"steps": len(got), "duplicates": len(got) - len(set(got)),
            "missing": (got[-1] - got[0] + 1) - len(set(got)),
            "stream_steps_lost": session.stats.steps_lost,
            "steps_per_s": (len(got) - 1) / span if span else 0.0,
            "latencies_ms": [x * 1000.0 for x in session.stats.latencies_s],
            "errors": collect.errors[:5]}


def run_realtime(url: str, cycles: int) -> dict:
    import requests
    import socketio

    from node_kit.socketio_overrides import FastPacket

    start = requests.post(f"{url}/api/robot/demo_arm/start", json={"learning": True},
                          timeout=10).json()
    run_id = start["runId"]
    need_at: dict[int, float] = {}
    latencies: list[float] = []
    done = threading.Event()
    client = socketio.Client(serializer=FastPacket)
    target = np.array([0.3, -0.2], "<f4").tobytes()

    @client.on("io:need", namespace="/ab")
    def on_need(data):
        need_at[data["cycle"]] = time.perf_counter()
        for need in data["needs"]:
            if need["kind"] == "Scalar":
                client.emit("io:chunk", {"runId": run_id, "inputId": need["id"],
                                         "format": "f32", "meta": {"cycle": data["cycle"]},
                                         "data": target}, namespace="/ab")

    @client.on("cycle:update", namespace="/ab")
    def on_update(data):
        t0 = need_at.pop(data["cycle"], None)
        if t0 is not None:
            latencies.append((time.perf_counter() - t0) * 1000.0)
        if len(latencies) >= cycles:
            done.set()

    client.connect(url, namespaces=["/ab"], transports=["websocket"])
    client.call("run:join", {"runId": run_id}, namespace="/ab", timeout=10)
    done.wait(cycles * 0.1 + 60)
    requests.post(f"{url}/api/robot/demo_arm/stop", json={"runId": run_id}, timeout=10)
    client.disconnect()
    return {"cycles": len(latencies), "latencies_ms": latencies}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/device.py", description=__doc__)
    parser.add_argument("--steps", type=int, default=10000,
                        help="consecutive device steps per client (default 10000)")
    parser.add_argument("--cycles", type=int, default=500,
                        help="0.1 protocol cycles (default 500, 20 steps each)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-device-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(work / "state", port)
    try:
        official = run_official(url, args.steps, work)
        backend = run_backend(url, args.steps)
        realtime = run_realtime(url, args.cycles)
    finally:
        server.terminate()
        server.wait(30)
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f} (shared: figures noisy)")
    figures: dict[str, float] = {}
    for name, result in (("official", official), ("backend", backend)):
        lost = result["missing"] + result["duplicates"]
        print(f"{name:9s} device: {result['steps']} steps, {result['steps_per_s']:.0f} steps/s "
              f"delivered, lost or repeated {lost}; sensor post -> output frame of its step "
              f"p50 {np.percentile(result['latencies_ms'], 50):.1f} ms, p99 "
              f"{np.percentile(result['latencies_ms'], 99):.1f} ms "
              f"({len(result['latencies_ms'])} posts)")
        figures.update({f"{name}_steps_lost": lost,
                        f"{name}_steps_per_s": round(result["steps_per_s"], 1),
                        **percentiles(f"{name}_step_latency", result["latencies_ms"])})
    print(f"realtime  0.1 protocol: {realtime['cycles']} cycles; io:need -> cycle:update "
          f"p50 {np.percentile(realtime['latencies_ms'], 50):.1f} ms, p99 "
          f"{np.percentile(realtime['latencies_ms'], 99):.1f} ms")
    figures.update(percentiles("realtime_step_latency", realtime["latencies_ms"]))
    steps_lost = figures["official_steps_lost"] + figures["backend_steps_lost"] \
        + backend["stream_steps_lost"]
    print(json.dumps({"steps_lost": steps_lost,
                      "step_latency_p99_ms": figures["backend_step_latency_p99_ms"],
                      "realtime_step_latency_p99_ms": figures["realtime_step_latency_p99_ms"],
                      **figures, "load_average": round(load, 2)}))
    return 0 if steps_lost == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
