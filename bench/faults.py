"""Faults and bad input, measured: kill -9 and restart, malformed input at each boundary.

Bounded and on loopback only: every server this benchmark starts listens on 127.0.0.1,
every request and wait has a timeout, and every scenario a bound. Scenarios are
registered per boundary (`@scenario(boundary, name)`); each prints what it injected and
what came of it, and returns its tally:

- `bad_inputs_tried` / `bad_inputs_clear_error`: malformed inputs sent, and those
  answered with an error naming the problem (the expected words) while the server kept
  serving (checked after each one: the brain's run still cycles, its REST API answers);
- `faults_injected` / `faults_recovered`: kill -9 (and restart) of a part, and those
  after which the system served again without help within `--recovery-bound-s`;
- `items_lost`: items a part accepted and then lost (outbox, uploads);
- `hangs`: requests or events that got no answer within their timeout.

Boundaries: the brain server's REST and Socket.IO, the detector's REST and Socket.IO
and its Learning Loop (path traversal, the outbox with the Loop away), the pigpio socket
of the virtual Pi, ROS parameters of the node executables, the YAML files (brain graph,
robot configs), and kill -9 and restart of the brain server, a brain client, the detector
and every node of a running `ros2 launch robot_bringup sim.launch.py` graph.

    python bench/faults.py [--quick] [--only SUBSTRING] [--recovery-bound-s 20]
                           [--scenario-bound-s 180]

Last line: JSON with faults_injected, faults_recovered, bad_inputs_tried,
bad_inputs_clear_error, items_lost, hangs, and the scenarios run and pending.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
LOOPBACK = "127.0.0.1"
NS = "/ab"
API_KEY = "faults-key"
ANSWER_TIMEOUT_S = 5.0        # an answer later than this is a hang
RECOVERY_BOUND_S = 20.0       # kill -9 → served again, without help


@dataclass
class Tally:
    faults_injected: int = 0
    faults_recovered: int = 0
    bad_inputs_tried: int = 0
    bad_inputs_clear_error: int = 0
    items_lost: int = 0
    hangs: int = 0
    failures: list[str] = field(default_factory=list)   # what did not hold, in words

    def add(self, other: Tally) -> None:
        for f in fields(self):
            if f.name == "failures":
                self.failures.extend(other.failures)
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def counts(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "failures"}


@dataclass
class Context:
    quick: bool = False
    recovery_bound_s: float = RECOVERY_BOUND_S
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="faults-")))
    say: Callable[[str], None] = print


@dataclass
class Scenario:
    boundary: str
    name: str
    what: str
    run: Callable[[Context, Tally], None] | None   # fills the tally; None: pending

    @property
    def title(self) -> str:
        return f"{self.boundary}: {self.name}"


SCENARIOS: list[Scenario] = []


def scenario(boundary: str, name: str, what: str) -> Callable:
    """Register `run(ctx, tally)`: it injects, says what came of it, and counts in tally."""
    def register(run: Callable[[Context, Tally], None]) -> Callable[[Context, Tally], None]:
        SCENARIOS.append(Scenario(boundary, name, what, run))
        return run
    return register


def pending(boundary: str, name: str, what: str) -> None:
    SCENARIOS.append(Scenario(boundary, name, what, None))


# ---- the embedded brain server, as its own process ---------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


# Every server process started, so none outlives the benchmark (a scenario stopped at its
# bound leaves its own cleanup undone).
_STARTED: list[subprocess.Popen] = []


@atexit.register
def _stop_leftovers() -> None:
    for proc in _STARTED:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class ServerProcess:
    """A server started as a child process (self.proc): alive, kill -9, stop (SIGINT,
    then SIGKILL after 15 s). BrainProcess, DetectorProcess and VirtualPiProcess."""

    proc: subprocess.Popen | None = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill9()


class BrainProcess(ServerProcess):
    """`python -m embedded_brain.server` on loopback (the demo graph, an API key)."""

    def __init__(self, ctx: Context, *extra: str, port: int | None = None,
                 graph: Path | None = None) -> None:
        from embedded_brain.graph import bundled_graph_path

        self.port = port or free_port()
        self.args = [sys.executable, "-m", "embedded_brain.server", "--host", LOOPBACK,
                     "--port", str(self.port), "--graph",
                     str(graph or bundled_graph_path("demo_arm")),
                     "--state-dir", str(ctx.workdir / "brain_state"), "--api-key", API_KEY,
                     "--log-level", "ERROR", *extra]
        self.proc: subprocess.Popen | None = None
        self.url = f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        _STARTED.append(self.proc)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.proc.stdout],
                         daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if "listening on" in line:
                return
        raise RuntimeError(f"brain server did not start: {' '.join(self.args)}")



@contextmanager
def brain_process(ctx: Context, *extra: str, **kwargs: Any) -> Iterator[BrainProcess]:
    brain = BrainProcess(ctx, *extra, **kwargs)
    brain.start()
    try:
        yield brain
    finally:
        brain.stop()


def auth() -> dict[str, str]:
    return {"x-api-key": API_KEY}


def serving(brain: BrainProcess) -> bool:
    """The server process is alive and its REST API answers."""
    import requests

    try:
        return brain.alive() and requests.get(f"{brain.url}/api/health", headers=auth(),
                                              timeout=ANSWER_TIMEOUT_S).status_code == 200
    except requests.RequestException:
        return False


def demo_chunks(run_id: str, cycle: int) -> list[dict[str, Any]]:
    """Good answers to the demo brain's io:need, all but `joints` (which then comes from
    robot:state's q: the path a malformed q once broke)."""
    frame = np.zeros((12, 16), np.uint8)
    frame[4:8, cycle % 12:cycle % 12 + 4] = 255
    return [
        {"runId": run_id, "inputId": "camera", "kind": "Image", "seq": cycle, "format": "mono8",
         "meta": {"width": 16, "height": 12, "cycle": cycle}, "data": frame.tobytes()},
        {"runId": run_id, "inputId": "target", "kind": "Scalar", "seq": cycle, "format": "f32",
         "meta": {"cycle": cycle}, "data": np.array([0.3, -0.2], "<f4").tobytes()},
        {"runId": run_id, "inputId": "arm_error", "kind": "Feedback", "seq": cycle,
         "format": "raster_f32", "meta": {"T": 20, "N": 8, "cycle": cycle},
         "data": np.full(160, 0.1, "<f4").tobytes()},
    ]


class BrainClient:
    """A client that keeps a run of the demo brain served, as a robot would: it answers
    each io:need with good inputs and sends robot:state; when its run is gone (the server
    restarted: `unknown run` on join, or run:stopped) it starts a new one and joins it."""

    def __init__(self, url: str) -> None:
        import requests
        import socketio

        self.url = url
        self.http = requests.Session()
        self.http.headers.update(auth())
        self.run_id: str | None = None
        self.cycles: queue.Queue = queue.Queue()       # (run_id, cycle) of cycle:update
        self.errors: queue.Queue = queue.Queue()       # io:error payloads
        self.stopped: queue.Queue = queue.Queue()
        self.runs_started = 0
        self._lock = threading.Lock()
        self.sio = socketio.Client(reconnection=True, reconnection_delay=0.2,
                                   reconnection_delay_max=1.0)
        self.sio.on("io:need", self._on_need, namespace=NS)
        self.sio.on("cycle:update", lambda d: self.cycles.put((d["runId"], d["cycle"])),
                    namespace=NS)
        self.sio.on("io:error", self.errors.put, namespace=NS)
        self.sio.on("run:stopped", self._on_stopped, namespace=NS)
        self.sio.on("connect", self._on_connect, namespace=NS)

    def start(self) -> None:
        self.sio.connect(self.url, namespaces=[NS], transports=["websocket"],
                         auth={"token": API_KEY}, wait_timeout=10)

    def _new_run(self) -> None:
        reply = self.http.post(f"{self.url}/api/robot/demo_arm/start", json={},
                               timeout=ANSWER_TIMEOUT_S)
        reply.raise_for_status()
        self.run_id = reply.json()["runId"]
        self.runs_started += 1
        answer = self.sio.call("run:join", {"runId": self.run_id}, namespace=NS,
                               timeout=ANSWER_TIMEOUT_S)
        if not answer.get("ok"):
            raise RuntimeError(f"could not join the new run: {answer}")

    def _on_connect(self) -> None:
        # Called from python-socketio's own thread; joins in another so the handshake ends.
        threading.Thread(target=self._rejoin, daemon=True).start()

    def _rejoin(self) -> None:
        with self._lock:
            try:
                if self.run_id is not None:
                    answer = self.sio.call("run:join", {"runId": self.run_id}, namespace=NS,
                                           timeout=ANSWER_TIMEOUT_S)
                    if answer.get("ok"):
                        return
                self._new_run()
            except Exception as exc:      # the server may be down again: the next connect retries
                self.errors.put({"event": "client", "error": f"rejoin failed: {exc}"})

    def _on_stopped(self, data: dict[str, Any]) -> None:
        self.stopped.put(data)
        if data.get("runId") == self.run_id:
            threading.Thread(target=self._rejoin, daemon=True).start()

    def _on_need(self, need: dict[str, Any]) -> None:
        import socketio

        run_id = need["runId"]
        try:
            for chunk in demo_chunks(run_id, need["cycle"]):
                self.sio.emit("io:chunk", chunk, namespace=NS)
            self.sio.emit("robot:state", {"runId": run_id, "state": {"q": [0.2, -0.1]}},
                          namespace=NS)
        except socketio.exceptions.BadNamespaceError:
            pass          # disconnected meanwhile (the server was killed): reconnect answers

    def next_cycle(self, after: float, run_id: str | None = None,
                   timeout_s: float = ANSWER_TIMEOUT_S) -> tuple[str, int] | None:
        """The first cycle:update (of run_id, when given) arriving before the timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                rid, cycle = self.cycles.get(timeout=0.05)
            except queue.Empty:
                continue
            if run_id is None or rid == run_id:
                return rid, cycle
        return None

    def drain(self) -> None:
        for q in (self.cycles, self.errors, self.stopped):
            while not q.empty():
                q.get_nowait()

    def close(self) -> None:
        self.sio.disconnect()
        self.http.close()


# ---- brain REST: the malformed-input corpus -----------------------------------------------
@dataclass
class BadRequest:
    name: str
    method: str
    path: str                   # under the server's root
    status: int
    says: str                   # words the error must contain
    body: Any = None            # JSON body, or raw bytes / str sent as is
    headers: dict[str, str] = field(default_factory=dict)
    keyed: bool = True          # send the API key


def rest_corpus() -> list[BadRequest]:
    p = "/api/robot/demo_arm"
    raw = {"Content-Type": "application/json"}
    return [
        BadRequest("start: body not JSON", "POST", f"{p}/start", 400, "body is not JSON",
                   "{oops", raw),
        BadRequest("start: body a list", "POST", f"{p}/start", 400, "must be a JSON object",
                   [1, 2]),
        BadRequest("start: body nested 100k deep", "POST", f"{p}/start", 400,
                   "nested too deeply", "[" * 100_000, raw),
        BadRequest("start: body not UTF-8", "POST", f"{p}/start", 400, "body is not JSON",
                   b"\xff\xfe{", raw),
        BadRequest("start: misspelled option", "POST", f"{p}/start", 400,
                   "unknown option(s) ['pase']; did you mean 'pace'?", {"pase": "inputs"}),
        BadRequest("start: learning a string", "POST", f"{p}/start", 400,
                   "'learning' must be a boolean", {"learning": "yes"}),
        BadRequest("start: negative seed", "POST", f"{p}/start", 400,
                   "'seed' a non-negative integer", {"seed": -1}),
        BadRequest("start: fractional seed", "POST", f"{p}/start", 400,
                   "'seed' a non-negative integer", {"seed": 1.5}),
        BadRequest("start: unknown pace", "POST", f"{p}/start", 400, "'pace' must be one of",
                   {"pace": "fast"}),
        BadRequest("start: unknown project", "POST", "/api/robot/nope/start", 404,
                   "unknown project 'nope'", {}),
        BadRequest("start: body of 17 MB", "POST", f"{p}/start", 413,
                   "Maximum request body size", b"{" + b" " * (17 * 1024 * 1024) + b"}", raw),
        BadRequest("start: no API key", "POST", f"{p}/start", 401, "missing or invalid API key",
                   {}, keyed=False),
        BadRequest("start: wrong API key", "POST", f"{p}/start", 401,
                   "missing or invalid API key", {}, {"x-api-key": "wrong"}, keyed=False),
        BadRequest("stop: runId a number", "POST", f"{p}/stop", 400,
                   "'runId' must be a string", {"runId": 5}),
        BadRequest("stop: unknown run", "POST", f"{p}/stop", 404, "no run 'nope'",
                   {"runId": "nope"}),
        BadRequest("stop: body not JSON", "POST", f"{p}/stop", 400, "body is not JSON", "}",
                   raw),
        BadRequest("stop: unknown project", "POST", "/api/robot/nope/stop", 404,
                   "unknown project 'nope'", {}),
        BadRequest("io/state: unknown project", "GET", "/api/robot/nope/io/state", 404,
                   "unknown project 'nope'"),
        BadRequest("io/state: POST", "POST", f"{p}/io/state", 405,
                   "method POST is not allowed", {}),
        BadRequest("contract: unknown project", "GET", "/api/robot/nope/contract", 404,
                   "unknown project 'nope'"),
        BadRequest("contract: DELETE", "DELETE", f"{p}/contract", 405,
                   "method DELETE is not allowed"),
        BadRequest("health: POST", "POST", "/api/health", 405, "method POST is not allowed", {}),
        BadRequest("misspelled route", "POST", f"{p}/strat", 404,
                   "did you mean '/api/robot/demo_arm/start'", {}),
        BadRequest("foreign Host (DNS rebinding)", "GET", f"{p}/contract", 403,
                   "is not this machine's loopback", headers={"Host": "rebind.example"}),
        BadRequest("foreign Origin", "POST", f"{p}/start", 403, "is not a loopback page", {},
                   {"Origin": "http://evil.example"}),
        BadRequest("Origin null", "GET", f"{p}/io/state", 403, "is not a loopback page",
                   headers={"Origin": "null"}),
    ]


def send(brain: BrainProcess, bad: BadRequest) -> tuple[int | None, str]:
    import requests

    headers = dict(auth() if bad.keyed else {})
    headers.update(bad.headers)
    kwargs: dict[str, Any] = {"headers": headers, "timeout": ANSWER_TIMEOUT_S}
    if isinstance(bad.body, (bytes, str)):
        kwargs["data"] = bad.body
    elif bad.body is not None:
        kwargs["json"] = bad.body
    try:
        reply = requests.request(bad.method, brain.url + bad.path, **kwargs)
    except requests.Timeout:
        return None, "no answer"
    except requests.ConnectionError as exc:
        return -1, f"connection failed: {exc}"
    try:
        return reply.status_code, str(reply.json().get("error", reply.text))
    except ValueError:
        return reply.status_code, f"(not JSON) {reply.text[:200]}"


def judge(tally: Tally, ctx: Context, name: str, answered: bool, clear: bool, detail: str,
          still_serving: bool) -> None:
    tally.bad_inputs_tried += 1
    if not answered:
        tally.hangs += 1
    ok = answered and clear and still_serving
    tally.bad_inputs_clear_error += ok
    verdict = "clear error" if ok else ("NO ANSWER" if not answered else "NOT CLEAR" if not clear
                                        else "SERVER STOPPED SERVING")
    ctx.say(f"  {name:42s} -> {verdict}: {detail[:150]}")
    if not ok:
        tally.failures.append(f"{name}: {verdict}: {detail[:300]}")


@scenario("brain REST", "malformed corpus",
          "every route with malformed bodies, options, ids, methods, keys, Host and Origin")
def brain_rest_corpus(ctx: Context, tally: Tally) -> None:
    with brain_process(ctx) as brain:
        for bad in rest_corpus():
            status, error = send(brain, bad)
            judge(tally, ctx, bad.name, status is not None,
                  status == bad.status and bad.says in error, f"{status} {error}",
                  serving(brain))


@scenario("brain REST", "run flood",
          "POST /start far past the run cap; memory after the runs stop")
def brain_run_flood(ctx: Context, tally: Tally) -> None:
    import psutil
    import requests

    cap = 4
    with brain_process(ctx, "--max-runs", str(cap)) as brain:
        server = psutil.Process(brain.proc.pid)
        url = f"{brain.url}/api/robot/demo_arm"
        before = server.memory_info().rss
        floods = 20 if ctx.quick else 50
        started, refused = [], 0
        for n in range(floods):
            try:
                reply = requests.post(f"{url}/start", json={}, headers=auth(),
                                      timeout=ANSWER_TIMEOUT_S)
            except requests.Timeout:
                judge(tally, ctx, f"start #{n + 1} past the cap", False, False, "no answer",
                      serving(brain))
                continue
            if reply.status_code == 200:
                started.append(reply.json()["runId"])
                continue
            refused += 1
            error = reply.json().get("error", "")
            clear = reply.status_code == 429 and "too many runs" in error \
                and reply.headers.get("Retry-After") is not None
            if refused in (1, floods - cap) or not clear:   # print the first and the last
                judge(tally, ctx, f"start #{n + 1} past the cap", True, clear,
                      f"{reply.status_code} {error}", serving(brain))
            else:
                tally.bad_inputs_tried += 1
                tally.bad_inputs_clear_error += 1
        during = server.memory_info().rss
        for rid in started:
            requests.post(f"{url}/stop", json={"runId": rid}, headers=auth(),
                          timeout=ANSWER_TIMEOUT_S)
        after = server.memory_info().rss
        ctx.say(f"  {floods} starts: {len(started)} runs (the cap is {cap}), {refused} refused "
                f"with 429; server RSS +{(during - before) / 1e6:.1f} MB with the runs, "
                f"+{(after - before) / 1e6:.1f} MB after stopping them")
        if len(started) != cap:
            tally.failures.append(f"run flood: {len(started)} runs started, the cap is {cap}")


# ---- brain Socket.IO: the malformed-input corpus ------------------------------------------
def sio_corpus(run_id: str) -> list[tuple[str, str, tuple, str]]:
    """(name, event, args, words the io:error must contain)."""
    jpeg_garbage = b"\xff\xd8 not a jpeg"

    def chunk(**fields: Any) -> dict[str, Any]:
        payload = {"runId": run_id, "inputId": "target", "kind": "Scalar", "seq": 1,
                   "format": "f32", "meta": {}, "data": np.zeros(2, "<f4").tobytes()}
        payload.update(fields)
        return payload

    fb = {"inputId": "arm_error", "kind": "Feedback", "format": "raster_f32"}
    return [
        ("run:join without payload", "run:join", (), "expected one payload object"),
        ("run:join with two arguments", "run:join", ({"runId": run_id}, 1), "got 2 arguments"),
        ("run:join with a list", "run:join", ([run_id],), "must be an object with a runId"),
        ("run:join runId a number", "run:join", ({"runId": 12},), "'runId' must be a string"),
        ("run:join unknown run", "run:join", ({"runId": "ghost"},), "unknown run 'ghost'"),
        ("io:chunk without payload", "io:chunk", (), "expected one payload object"),
        ("io:chunk without runId", "io:chunk", ({"inputId": "camera"},),
         "must be an object with a runId"),
        ("io:chunk without data", "io:chunk", (chunk(data=None),), "data must be bytes"),
        ("io:chunk data a string", "io:chunk", (chunk(data="0.1,0.2"),), "data must be bytes"),
        ("io:chunk inputId missing", "io:chunk", (chunk(inputId=None),),
         "'inputId' must be a string"),
        ("io:chunk misspelled inputId", "io:chunk", (chunk(inputId="targt"),),
         "did you mean 'target'"),
        ("io:chunk unknown format", "io:chunk", (chunk(format="yaml"),),
         "unsupported format 'yaml'"),
        ("io:chunk f32 of 3 values", "io:chunk", (chunk(data=np.zeros(3, "<f4").tobytes()),),
         "got 3 values, the encoder codes 2"),
        ("io:chunk f32 of 7 bytes", "io:chunk", (chunk(data=bytes(7)),), "not a multiple of 4"),
        ("io:chunk json NaN", "io:chunk", (chunk(format="json", data=b"[NaN, 1]"),),
         "must be finite"),
        ("io:chunk json of words", "io:chunk", (chunk(format="json", data=b'["a", "b"]'),),
         "JSON must hold numbers"),
        ("io:chunk json not UTF-8", "io:chunk", (chunk(format="json", data=b"\xff\xfe"),),
         "not valid JSON"),
        ("io:chunk jpeg garbage", "io:chunk",
         (chunk(inputId="camera", kind="Image", format="jpeg", data=jpeg_garbage),),
         "cannot decode jpeg"),
        ("io:chunk mono8 of the wrong size", "io:chunk",
         (chunk(inputId="camera", kind="Image", format="mono8", meta={"width": 16, "height": 12},
                data=bytes(10)),), "mono8 data has 10 bytes, expected 16x12x1"),
        ("io:chunk mono8 without size", "io:chunk",
         (chunk(inputId="camera", kind="Image", format="mono8", meta="16x12", data=bytes(192)),),
         "need integer meta width and height"),
        ("io:chunk feedback of 12 bytes", "io:chunk", (chunk(**fb, data=bytes(12)),),
         "not a whole number of 8-channel rows"),
        ("io:chunk feedback empty", "io:chunk", (chunk(**fb, data=b""),), "the raster is empty"),
        ("io:chunk feedback meta N a word", "io:chunk",
         (chunk(**fb, meta={"N": "eight"}, data=np.zeros(160, "<f4").tobytes()),),
         "meta N='eight' but the brain has 8 channels"),
        ("learn:reward without payload", "learn:reward", (), "expected one payload object"),
        ("learn:reward globalReward a word", "learn:reward",
         ({"runId": run_id, "globalReward": "high"},), "globalReward must be a finite number"),
        ("learn:reward without globalReward", "learn:reward", ({"runId": run_id},),
         "globalReward must be a finite number, got None"),
        ("learn:reward NaN", "learn:reward", ({"runId": run_id, "globalReward": float("nan")},),
         "globalReward must be a finite number"),
        ("learn:reward byLayer a list", "learn:reward",
         ({"runId": run_id, "globalReward": 0.5, "byLayer": [0.5]},),
         "byLayer must be an object"),
        ("learn:reward unknown layer", "learn:reward",
         ({"runId": run_id, "globalReward": 0.5, "byLayer": {"hidden_to_joint9": 1}},),
         "unknown layer(s) ['hidden_to_joint9']"),
        ("learn:reward cycle -1", "learn:reward",
         ({"runId": run_id, "globalReward": 0.5, "cycle": -1},),
         "cycle must be a non-negative integer"),
        ("robot:state without payload", "robot:state", (), "expected one payload object"),
        ("robot:state q a number", "robot:state", ({"runId": run_id, "state": {"q": 5}},),
         "'q' must be a list of joint positions"),
        ("robot:state q too short", "robot:state", ({"runId": run_id, "state": {"q": [0.1]}},),
         "'q' has 1 joint position(s)"),
        ("robot:state q of words", "robot:state",
         ({"runId": run_id, "state": {"q": ["a", "b"]}},), "'q' must be a list"),
        ("robot:state q of 401 digits", "robot:state",
         ({"runId": run_id, "state": {"q": [10 ** 400, 0]}},),
         "too large"),
        ("robot:state q infinite", "robot:state",
         ({"runId": run_id, "state": {"q": [float("inf"), 0]}},), "finite numbers"),
        ("robot:state state a number", "robot:state", ({"runId": run_id, "state": 5},),
         "'state' must be an object"),
        ("robot:state without state", "robot:state", ({"runId": run_id},),
         "'state' must be an object"),
        ("robot:state with binary data", "robot:state",
         ({"runId": run_id, "state": {"q": [0.1, 0.2], "blob": b"\x00\x01"}},),
         "no binary data"),
        ("unknown event io:chunks", "io:chunks", ({"runId": run_id},),
         "did you mean 'io:chunk'"),
        ("server event sent by a client", "cycle:update", ({"runId": run_id},),
         "unknown event 'cycle:update'"),
    ]


def next_error(client: BrainClient, timeout_s: float = ANSWER_TIMEOUT_S) -> dict | None:
    try:
        return client.errors.get(timeout=timeout_s)
    except queue.Empty:
        return None


@scenario("brain Socket.IO", "malformed corpus",
          "every event with malformed payloads while a client keeps a run cycling; the run "
          "must answer each with io:error and cycle on")
def brain_sio_corpus(ctx: Context, tally: Tally) -> None:
    with brain_process(ctx) as brain:
        client = BrainClient(brain.url)
        client.start()
        try:
            if client.next_cycle(time.monotonic(), timeout_s=15) is None:
                raise RuntimeError("the client's run never cycled")
            # The official SDK's RobotLoop sends q null without joints: not an error.
            client.drain()
            client.sio.emit("robot:state", {"runId": client.run_id, "state": {"q": None}},
                            namespace=NS)
            client.next_cycle(time.monotonic(), client.run_id)
            if not client.errors.empty():
                tally.failures.append(f"robot:state with q null (the SDK's RobotLoop) was "
                                      f"refused: {client.errors.get_nowait()}")
            for name, event, args, says in sio_corpus(client.run_id):
                client.drain()
                if len(args) == 1:
                    client.sio.emit(event, args[0], namespace=NS)
                else:
                    client.sio.emit(event, args, namespace=NS)
                error = next_error(client)
                run_id = client.run_id
                cycled = client.next_cycle(time.monotonic(), run_id) is not None
                judge(tally, ctx, name, error is not None,
                      error is not None and says in str(error.get("error")),
                      str(error.get("error") if error else "no io:error"),
                      cycled and client.runs_started == 1 and serving(brain))
            handshakes = [("handshake: wrong API key", {"token": "wrong"}, None,
                           "missing or invalid API key"),
                          ("handshake: foreign Origin", {"token": API_KEY},
                           "http://evil.example", "is not a loopback page")]
            for name, key, origin, says in handshakes:
                answered, error = refused_handshake(brain, key, origin)
                cycled = client.next_cycle(time.monotonic(), client.run_id) is not None
                judge(tally, ctx, name, answered, says in error, error, cycled)
        finally:
            client.close()


def refused_handshake(brain: BrainProcess, key: dict[str, str],
                      origin: str | None) -> tuple[bool, str]:
    """(answered, the refusal's words) of a Socket.IO connection attempt."""
    import socketio
    import websocket

    if origin is not None:       # refused at the HTTP upgrade: the words are in its body
        try:
            ws = websocket.create_connection(
                f"ws://{LOOPBACK}:{brain.port}/socket.io/?EIO=4&transport=websocket",
                origin=origin, timeout=ANSWER_TIMEOUT_S)
        except websocket.WebSocketBadStatusException as exc:
            return True, str(exc)
        except (OSError, websocket.WebSocketException) as exc:
            return False, str(exc)
        ws.close()
        return True, "accepted"
    errors: queue.Queue = queue.Queue()
    sio = socketio.Client(reconnection=False)
    sio.on("connect_error", errors.put, namespace=NS)
    try:
        sio.connect(brain.url, namespaces=[NS], transports=["websocket"], auth=key,
                    wait_timeout=ANSWER_TIMEOUT_S)
        sio.disconnect()
        return True, "accepted"
    except socketio.exceptions.ConnectionError:
        try:
            return True, str(errors.get(timeout=ANSWER_TIMEOUT_S))
        except queue.Empty:
            return False, "refused without a reason"


# ---- kill -9 ------------------------------------------------------------------------------
@scenario("kill -9 and restart", "embedded brain server",
          "kill -9 of the brain server mid-run, restarted on its port; its client must start "
          "a new run and be served again")
def brain_kill9(ctx: Context, tally: Tally) -> None:
    port = free_port()
    brain = BrainProcess(ctx, port=port)
    brain.start()
    client = BrainClient(brain.url)
    try:
        client.start()
        if client.next_cycle(time.monotonic(), timeout_s=15) is None:
            raise RuntimeError("the client's run never cycled")
        for n in range(1 if ctx.quick else 3):
            old_run = client.run_id
            killed_at = time.monotonic()
            brain.kill9()
            tally.faults_injected += 1
            brain = BrainProcess(ctx, port=port)       # as a supervisor restarts it
            brain.start()
            restarted_s = time.monotonic() - killed_at
            served = None
            deadline = killed_at + ctx.recovery_bound_s
            while served is None and time.monotonic() < deadline:
                got = client.next_cycle(time.monotonic(), timeout_s=deadline - time.monotonic())
                if got is not None and got[0] != old_run:
                    served = time.monotonic() - killed_at
            if served is not None:
                tally.faults_recovered += 1
                ctx.say(f"  kill -9 #{n + 1}: server back in {restarted_s:.1f} s; the client "
                        f"was served by a new run {served:.1f} s after the kill "
                        f"(bound {ctx.recovery_bound_s:g} s)")
            else:
                ctx.say(f"  kill -9 #{n + 1}: NOT served again within "
                        f"{ctx.recovery_bound_s:g} s")
                tally.failures.append(f"brain kill -9 #{n + 1}: client not served again")
    finally:
        client.close()
        brain.stop()


CLIENT_SCRIPT = """
import sys, time, socketio, requests
url, key = sys.argv[1], sys.argv[2]
run = requests.post(url + "/api/robot/demo_arm/start", json={}, headers={"x-api-key": key},
                    timeout=5).json()["runId"]
sio = socketio.Client()
sio.connect(url, namespaces=["/ab"], transports=["websocket"], auth={"token": key})
sio.call("run:join", {"runId": run}, namespace="/ab", timeout=5)
print(run, flush=True)
time.sleep(600)
"""


@scenario("kill -9 and restart", "brain client",
          "kill -9 of a client mid-run: the server releases its run after the lease")
def brain_client_kill9(ctx: Context, tally: Tally) -> None:
    import requests

    lease_s = 2.0
    with brain_process(ctx, "--lease-s", str(lease_s), "--max-runs", "1") as brain:
        child = subprocess.Popen([sys.executable, "-c", CLIENT_SCRIPT, brain.url, API_KEY],
                                 stdout=subprocess.PIPE, text=True)
        _STARTED.append(child)
        try:
            run_id = child.stdout.readline().strip()
            if not run_id:
                raise RuntimeError("the client process did not start its run")
            killed_at = time.monotonic()
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            tally.faults_injected += 1

            def runs() -> list[str]:
                state = requests.get(f"{brain.url}/api/robot/demo_arm/io/state",
                                     headers=auth(), timeout=ANSWER_TIMEOUT_S).json()
                return [r["runId"] for r in state["runs"]]

            deadline = killed_at + lease_s + ctx.recovery_bound_s
            while run_id in runs() and time.monotonic() < deadline:
                time.sleep(0.1)
            released = time.monotonic() - killed_at
            # With the cap of one run, a new client can only start once the old run is gone.
            ok = run_id not in runs() and requests.post(
                f"{brain.url}/api/robot/demo_arm/start", json={}, headers=auth(),
                timeout=ANSWER_TIMEOUT_S).status_code == 200
            tally.faults_recovered += ok
            ctx.say(f"  client kill -9: its run {'released' if ok else 'NOT released'} "
                    f"{released:.1f} s after the kill (lease {lease_s:g} s); a new run "
                    f"{'started' if ok else 'could not start'} under a cap of 1")
            if not ok:
                tally.failures.append("brain client kill -9: run not released")
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()


# ---- YAML files: the brain graph -----------------------------------------------------------
@scenario("YAML files", "brain graph",
          "the brain server started on graphs too large, misspelled or not YAML: it must exit "
          "at once naming the problem")
def brain_graph_files(ctx: Context, tally: Tally) -> None:
    import yaml

    from embedded_brain.graph import bundled_graph_path

    demo = bundled_graph_path("demo_arm").read_text()
    raw = yaml.safe_load(demo)

    def with_hidden(size: int) -> str:
        for pop in raw["populations"]:
            if pop["id"] == "hidden":
                pop["size"] = size
        return yaml.safe_dump(raw)

    cases = [("3,000,000-neuron population", with_hidden(3_000_000),
              "too large: a run would need about"),
             ("gamma 1e8", demo.replace("gamma: 20", "gamma: 100000000"),
              "above the limit of"),
             ("misspelled key", demo.replace("gamma: 20", "gama: 20"),
              "(did you mean 'gamma'?)"),
             ("not YAML", "project: [unclosed\n", "not valid YAML")]
    for name, text, says in cases:
        path = ctx.workdir / f"graph-{len(name)}.yaml"
        path.write_text(text)
        brain = BrainProcess(ctx, graph=path)
        try:
            out = subprocess.run(brain.args, capture_output=True, text=True,
                                 timeout=ANSWER_TIMEOUT_S * 6)
            answered, output = True, out.stdout + out.stderr
            clear = out.returncode == 2 and says in output
        except subprocess.TimeoutExpired:
            answered, output, clear = False, "still running", False
        said = [line for line in output.splitlines() if "error" in line] or ["(no output)"]
        judge(tally, ctx, f"graph: {name}", answered, clear, said[0], True)


@scenario("YAML files", "the demo's exit code",
          "make run's demo on parameter files with a part that cannot start (brain_session's "
          "fresh_wait_ms out of range) or a misspelled node section: it must exit non-zero naming it")
def demo_exit_code(ctx: Context, tally: Tally) -> None:
    import shutil

    from robot_bringup.config import package_config_dir

    shipped = package_config_dir()
    cases = [("part that cannot start", "brain.yaml", "    fresh_wait_ms: 30.0",
              "    fresh_wait_ms: 5000.0", 3, "brain_session"),
             ("misspelled node section", "sim.yaml", "/**/sim_arm:", "/**/sim_ar:", 2,
              "did you mean")]
    for name, file, old, new, code, says in cases:
        folder = ctx.workdir / f"demo-config-{code}"
        shutil.copytree(shipped, folder, dirs_exist_ok=True)
        text = (folder / file).read_text()
        if old not in text:
            raise RuntimeError(f"{file} has no {old.strip()!r} to break")
        (folder / file).write_text(text.replace(old, new, 1))
        env = {**os.environ, "BRAINSTEM_CONFIG_DIR": str(folder)}
        args = [sys.executable, "-m", "robot_bringup.demo", "--duration", "4", "--live-port",
                "-1", "--domain-id", str(ros_domain()), "--report", str(folder / "report")]
        demo = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env)
        try:
            output, _ = demo.communicate(timeout=240)
            answered = True
            clear = demo.returncode == code and says in output and "Traceback" not in output
            detail = f"exit {demo.returncode}: " + next(
                (x for x in output.splitlines() if says in x), "(not named)").strip()
        except subprocess.TimeoutExpired:
            demo.send_signal(signal.SIGINT)          # as a user would; then what it said
            try:
                output, _ = demo.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                demo.kill()
                output, _ = demo.communicate()
            tail = " | ".join(output.strip().splitlines()[-8:])
            answered, clear, detail = False, False, f"still running after 240 s: {tail}"
        judge(tally, ctx, f"demo: {name}", answered, clear, detail, True)


# ---- the detector: REST and Socket.IO corpus, the Loop, the outbox -----------------------
DETECTOR_TESTS = HERE.parent / "detector_node" / "test"


def detector_test_module() -> Any:
    """detector_node's fault tests: their malformed-input corpus and their Learning Loop
    (a protocol-faithful aiohttp server on loopback)."""
    for folder in (DETECTOR_TESTS, HERE.parent / "tests"):   # and the shared support.py
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    import test_faults_and_guards

    return test_faults_and_guards


class DetectorProcess(ServerProcess):
    """`python -m detector_node.service` on loopback, its data folder kept across restarts."""

    def __init__(self, data_folder: Path, *extra: str, log: Path | None = None) -> None:
        self.args = [sys.executable, "-m", "detector_node.service", "--host", LOOPBACK,
                     "--port", "0", "--data-folder", str(data_folder), *extra]
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.log = log          # its stderr (the log), else dropped

    def start(self, timeout_s: float = 30.0) -> None:
        stderr = self.log.open("a") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=stderr,
                                     text=True)
        if self.log:
            stderr.close()
        _STARTED.append(self.proc)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.proc.stdout],
                         daemon=True).start()
        try:
            self.url = json.loads(lines.get(timeout=timeout_s))["listening"]
        except (queue.Empty, ValueError, KeyError) as exc:
            raise RuntimeError(f"detector did not start: {' '.join(self.args)}") from exc

    def serving(self) -> bool:
        import requests

        try:
            return self.alive() and requests.get(f"{self.url}/about",
                                                 timeout=ANSWER_TIMEOUT_S).status_code == 200
        except requests.RequestException:
            return False



def red_disc_jpeg() -> bytes:
    dn = detector_test_module()
    return dn.jpeg_bytes(dn.red_disc_bgr())


@scenario("detector REST", "malformed corpus",
          "every detector route with malformed bodies, images, headers, methods and paths, "
          "raw bytes that are no HTTP, a foreign Host and Origin")
def detector_rest_corpus(ctx: Context, tally: Tally) -> None:
    import requests

    dn = detector_test_module()
    detector = DetectorProcess(ctx.workdir / "detector_rest")
    detector.start()
    try:
        corpus = [(f"{m} {path} ({status} '{needle}')", m, path, kwargs, status, needle)
                  for m, path, kwargs, status, needle in dn.REST_CORPUS]
        corpus += [("foreign Host (DNS rebinding)", "GET", "/about",
                    {"headers": {"Host": "rebind.example"}}, 421, "DNS rebinding"),
                   ("foreign Origin", "GET", "/about",
                    {"headers": {"Origin": "http://evil.example"}}, 403, "Origin"),
                   ("Origin null", "GET", "/about", {"headers": {"Origin": "null"}}, 403,
                    "Origin")]
        for name, method, path, kwargs, status, needle in corpus:
            try:
                reply = requests.request(method, detector.url + path, timeout=ANSWER_TIMEOUT_S,
                                         **kwargs)
                answered = True
                try:
                    detail = reply.json().get("detail")
                    said = detail if isinstance(detail, str) else json.dumps(detail)
                except ValueError:
                    said = f"(not JSON) {reply.text[:200]}"
                clear = reply.status_code == status and needle in said
                said = f"{reply.status_code} {said}"
            except requests.Timeout:
                answered, clear, said = False, False, "no answer"
            judge(tally, ctx, name[:42], answered, clear, said, detector.serving())
        with socket.create_connection((LOOPBACK, int(detector.url.rsplit(":", 1)[1])),
                                      timeout=ANSWER_TIMEOUT_S) as raw:
            raw.sendall(b"\x16\x03\x01\x02\x00 not http\r\n\r\n")
            try:
                answer = raw.recv(400)
            except TimeoutError:
                answer = b""
        first = answer.split(b"\r\n")[0].decode(errors="replace")
        judge(tally, ctx, "TLS bytes on the HTTP port", bool(answer),
              first.endswith("400 Bad Request") and b"HTTPS traffic" in answer,
              first or "no answer", detector.serving())
        good = requests.post(f"{detector.url}/detect",
                             files={"file": ("a.jpg", red_disc_jpeg())},
                             headers={"autoupload": "disabled"}, timeout=ANSWER_TIMEOUT_S)
        if good.status_code != 200 or not good.json().get("box_detections"):
            tally.failures.append(f"detector REST: a good image after the corpus: "
                                  f"{good.status_code} {good.text[:200]}")
    finally:
        detector.stop()


@scenario("detector Socket.IO", "malformed corpus",
          "detect, batch_detect, upload and the mode events with malformed payloads "
          "(dtype object, bad shapes, wrong types), unknown events, foreign Origin")
def detector_sio_corpus(ctx: Context, tally: Tally) -> None:
    import socketio

    dn = detector_test_module()
    detector = DetectorProcess(ctx.workdir / "detector_sio")
    detector.start()
    client = socketio.Client(reconnection=False)
    client.connect(detector.url, socketio_path="/ws/socket.io", transports=["websocket"],
                   wait_timeout=10)
    try:
        # Two arguments where one is expected: an error that says so.
        corpus = list(dn.SIO_CORPUS) + [("about", ("a", "b"), "positional arguments")]
        for event, data, needle in corpus:
            name = f"{event} {str(data)[:28]}"
            try:
                if data is None:
                    answer = client.call(event, timeout=ANSWER_TIMEOUT_S)
                else:
                    answer = client.call(event, data, timeout=ANSWER_TIMEOUT_S)
                answered = True
            except socketio.exceptions.TimeoutError:
                answer, answered = None, False
            clear = isinstance(answer, dict) and needle in str(answer.get("error", ""))
            said = str(answer.get("error") if isinstance(answer, dict) else answer)
            alive = client.connected and detector.serving()
            judge(tally, ctx, name, answered, clear, said, alive)
        import websocket

        port = int(detector.url.rsplit(":", 1)[1])
        for origin in ("http://evil.example", "null"):
            try:
                ws = websocket.create_connection(
                    f"ws://{LOOPBACK}:{port}/ws/socket.io/?EIO=4&transport=websocket",
                    origin=origin, timeout=ANSWER_TIMEOUT_S)
                ws.close()
                answered, said = True, "ACCEPTED"
            except websocket.WebSocketBadStatusException as exc:
                answered, said = True, f"{exc.status_code} {exc.resp_body!r}"[:200]
            except (OSError, websocket.WebSocketException) as exc:
                answered, said = False, str(exc)
            judge(tally, ctx, f"handshake from Origin {origin}", answered,
                  said.startswith("403") and "Origin" in said, said,
                  client.connected and detector.serving())
        answer = client.call("detect", {"image": {"format": "jpeg", "bytes": red_disc_jpeg()},
                                        "autoupload": "disabled"}, timeout=ANSWER_TIMEOUT_S)
        if not answer.get("box_detections"):
            tally.failures.append(f"detector Socket.IO: a good image after the corpus: {answer}")
    finally:
        client.disconnect()
        detector.stop()


@scenario("detector", "Loop path traversal",
          "a Learning Loop whose deployment target's version is ../../escaped, an absolute "
          "path or 1.0/../../../escaped, its model id a path: refused, nothing outside the "
          "data folder; a proper version afterwards is followed")
def detector_loop_traversal(ctx: Context, tally: Tally) -> None:
    import requests

    dn = detector_test_module()
    from detector_node.host import ServiceThread
    from detector_node.service import ServiceConfig

    root = ctx.workdir / "traversal"
    data = root / "deep" / "data"
    absolute = root / "escaped-absolute"
    cases = [("version ../../escaped", "../../escaped", "uuid-evil"),
             ("version an absolute path", str(absolute), "uuid-evil"),
             ("version 1.0/../../../escaped", "1.0/../../../escaped", "uuid-evil"),
             ("model id ../../../etc", "3.0", "../../../etc")]
    with dn.running_fake_loop() as loop:
        dn.write_fixed_model(str(root / "src" / "evil"), "1.0")
        host = ServiceThread(ServiceConfig(
            data_folder=str(data), loop_url=loop.api(), organization=dn.ORG,
            project=dn.PROJECT, model_poll_interval_s=0.05, upload_interval_s=0.1),
            LOOPBACK, 0)
        host.start()
        service = host.service
        try:
            for name, version, model_id in cases:
                outside_before = sorted(p for p in root.rglob("*")
                                        if data not in p.parents and p != data)
                loop.add_model_zip(model_id, version, str(root / "src" / "evil"))
                service.last_model_error = None
                loop.deployment = {"model_uuid": model_id, "version": version}
                polls = loop.target_requests
                # (the refusal names at most 80 characters of what the Loop said)
                words = (model_id if model_id != "uuid-evil" else version)[:40]
                refused = dn.wait_for(lambda w=words: w in (service.last_model_error or ""),
                                      timeout_s=ANSWER_TIMEOUT_S * 2)
                dn.wait_for(lambda p=polls: loop.target_requests >= p + 3,
                            timeout_s=ANSWER_TIMEOUT_S)
                outside_after = sorted(p for p in root.rglob("*")
                                       if data not in p.parents and p != data)
                contained = (outside_before == outside_after
                             and not (root / "escaped").exists() and not absolute.exists()
                             and not os.path.lexists(data / "current_model")
                             and service.active.info.version == "builtin")
                serving_now = requests.get(f"http://{LOOPBACK}:{host.port}/about",
                                           timeout=ANSWER_TIMEOUT_S).status_code == 200
                judge(tally, ctx, f"Loop {name}", refused, refused and contained,
                      (service.last_model_error or "no refusal")
                      + ("" if contained else "; WROTE OUTSIDE THE DATA FOLDER"), serving_now)
                loop.models.pop(model_id, None)
            dn.write_fixed_model(str(root / "src" / "good"), "2.0")
            loop.add_model_zip("uuid-good", "2.0", str(root / "src" / "good"))
            loop.deployment = {"model_uuid": "uuid-good", "version": "2.0"}
            followed = dn.wait_for(lambda: service.active.info.version == "2.0", timeout_s=15)
            ctx.say(f"  then a proper version 2.0: {'followed' if followed else 'NOT followed'}")
            if not followed:
                tally.failures.append("detector: a proper version after the refusals was "
                                      "not followed")
        finally:
            host.stop()


@scenario("detector", "outbox full, the Loop away",
          "a small outbox filled far past its size while the Loop is unreachable: the log "
          "summarises the repeats instead of a line per frame; the detector keeps serving, and "
          "uploads what it kept once the Loop is back")
def detector_outbox_full(ctx: Context, tally: Tally) -> None:
    import requests

    dn = detector_test_module()
    jpeg = dn.jpeg_bytes(dn.red_disc_bgr(160, 120, (80, 60), 10))
    log = ctx.workdir / "detector_full.log"
    with dn.running_fake_loop() as loop:
        loop.status_for = lambda ids: 503
        detector = DetectorProcess(ctx.workdir / "detector_full", "--loop-url", loop.api(),
                                   "--organization", dn.ORG, "--project", dn.PROJECT,
                                   "--upload-interval-s", "0.1", "--max-outbox-items", "5",
                                   log=log)
        detector.start()
        try:
            frames = 100 if ctx.quick else 400
            tally.faults_injected += 1
            acknowledged = 0
            for n in range(frames):
                reply = requests.post(f"{detector.url}/detect", files={"file": ("a.jpg", jpeg)},
                                      headers={"autoupload": "all", "source": f"f{n}"},
                                      timeout=ANSWER_TIMEOUT_S)
                acknowledged += reply.status_code == 200
            full_lines = [x for x in log.read_text().splitlines() if "outbox full" in x]
            loop.status_for = lambda ids: 200
            drained = dn.wait_for(lambda: requests.get(f"{detector.url}/outbox",
                                                       timeout=ANSWER_TIMEOUT_S).json()
                                  ["normal_queued"] == 0, timeout_s=ctx.recovery_bound_s)
            ok = acknowledged == frames and len(full_lines) <= 2 and drained
            tally.faults_recovered += ok
            ctx.say(f"  {frames} frames into an outbox of 5 with the Loop away: "
                    f"{acknowledged} answered, {len(full_lines)} 'outbox full' log line(s) "
                    f"({(full_lines or ['-'])[0][-90:]}); Loop back: the kept items "
                    f"{'uploaded' if drained else 'NOT uploaded'} ({len(loop.received)})")
            if not ok:
                tally.failures.append(f"outbox full: {acknowledged}/{frames} answered, "
                                      f"{len(full_lines)} log lines, drained {drained}")
        finally:
            detector.stop()


@scenario("kill -9 and restart", "detector server",
          "images taken while the Loop is away, kill -9 of the detector mid-stream, restart, "
          "the Loop back: every acknowledged image is uploaded once (items_lost)")
def detector_outbox_kill9(ctx: Context, tally: Tally) -> None:
    import requests

    dn = detector_test_module()
    jpeg = dn.jpeg_bytes(dn.red_disc_bgr(160, 120, (80, 60), 10))
    data = ctx.workdir / "detector_outbox"
    with dn.running_fake_loop() as loop:
        loop.status_for = lambda ids: 503                 # the Loop is away
        extra = ("--loop-url", loop.api(), "--organization", dn.ORG, "--project", dn.PROJECT,
                 "--upload-interval-s", "0.1")
        detector = DetectorProcess(data, *extra)
        detector.start()
        acknowledged: list[str] = []
        stop = threading.Event()

        def take_images() -> None:
            n = 0
            while not stop.is_set():
                token = f"img-{n}"
                n += 1
                try:
                    if n % 5 == 0:
                        reply = requests.post(f"{detector.url}/upload?source={token}"
                                              "&upload_priority=true", files=[("files", jpeg)],
                                              timeout=ANSWER_TIMEOUT_S)
                    else:
                        reply = requests.post(f"{detector.url}/detect",
                                              files={"file": ("a.jpg", jpeg)},
                                              headers={"autoupload": "all", "source": token},
                                              timeout=ANSWER_TIMEOUT_S)
                except requests.RequestException:
                    return          # the process is gone
                if reply.status_code == 200:
                    acknowledged.append(token)

        sender = threading.Thread(target=take_images, daemon=True)
        try:
            sender.start()
            wanted = 30 if ctx.quick else 150
            if not dn.wait_for(lambda: len(acknowledged) >= wanted, timeout_s=60):
                raise RuntimeError(f"only {len(acknowledged)} images taken in 60 s")
            detector.kill9()                      # mid-stream, requests in flight
            killed_at = time.monotonic()
            tally.faults_injected += 1
            stop.set()
            sender.join(10)
            loop.status_for = lambda ids: 200     # the Loop is back
            detector = DetectorProcess(data, *extra)
            detector.start()

            def drained() -> bool:
                try:
                    box = requests.get(f"{detector.url}/outbox", timeout=ANSWER_TIMEOUT_S).json()
                except (requests.RequestException, ValueError):
                    return False
                return box["normal_queued"] == 0 and box["priority_queued"] == 0

            recovered = dn.wait_for(drained, timeout_s=ctx.recovery_bound_s + 30)
            took = time.monotonic() - killed_at
        finally:
            stop.set()
            detector.stop()
        sources = [meta.get("source") for meta in loop.metadata.values()]
        lost = [t for t in acknowledged if t not in sources]
        twice = len(sources) - len(set(sources))
        tally.items_lost += len(lost)
        tally.faults_recovered += recovered
        ctx.say(f"  {len(acknowledged)} images acknowledged with the Loop away, kill -9, "
                f"restart, Loop back: outbox {'drained' if recovered else 'NOT drained'} "
                f"{took:.1f} s after the kill; {len(set(sources))} uploaded, {len(lost)} lost, "
                f"{twice} stored twice")
        if lost or not recovered:
            tally.failures.append(f"detector kill -9: {len(lost)} acknowledged images lost, "
                                  f"outbox {'drained' if recovered else 'not drained'}")


# ---- the pigpio socket: the virtual Pi -----------------------------------------------------
class VirtualPiProcess(ServerProcess):
    """`python -m pilot_hw.virtual_pi` on loopback."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.args = [sys.executable, "-m", "pilot_hw.virtual_pi", "--host", LOOPBACK,
                     "--port", str(self.port)]
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        _STARTED.append(self.proc)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.proc.stdout],
                         daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if "listening" in lines.get(timeout=0.2):
                    return
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
        raise RuntimeError(f"virtual Pi did not start: {' '.join(self.args)}")



def pigpio_command(cmd: int, p1: int = 0, p2: int = 0, ext: bytes = b"",
                   p3: int | None = None) -> bytes:
    return struct.pack("<IIII", cmd, p1, p2, len(ext) if p3 is None else p3) + ext


def pigpio_reply(sock: socket.socket) -> tuple[int, int] | None:
    """(command, result) of the next 16-byte reply; None when closed or silent."""
    data = b""
    try:
        while len(data) < 16:
            chunk = sock.recv(16 - len(data))
            if not chunk:
                return None
            data += chunk
    except (TimeoutError, OSError):
        return None
    cmd, _, _, res = struct.unpack("<IIIi", data)
    return cmd, res


def pigpio_serving(port: int) -> bool:
    """A fresh pigpio client gets the tick and can drive a pin."""
    import pigpio

    pi = pigpio.pi(LOOPBACK, port, show_errors=False)
    try:
        if not pi.connected:
            return False
        pi.set_mode(22, pigpio.OUTPUT)
        pi.write(22, 1)
        ok = pi.read(22) == 1
        pi.write(22, 0)
        return ok and pi.get_current_tick() >= 0
    except (pigpio.error, OSError):
        return False
    finally:
        pi.stop()


@scenario("pigpio socket", "malformed commands",
          "the virtual Pi sent pigpio commands out of range, unknown commands with and "
          "without extensions, an extension of 4 GB, a half command, random commands: each "
          "answered with pigpio's error code and in sync, the daemon still serving")
def pigpio_corpus(ctx: Context, tally: Tally) -> None:
    import random

    import pigpio

    TICK = 16
    vpi = VirtualPiProcess()
    vpi.start()
    try:
        # (name, bytes sent, the expected (command, result) answer or "closed")
        cases: list[tuple[str, bytes, Any]] = [
            ("MODES gpio 60", pigpio_command(0, 60, 1), (0, pigpio.PI_BAD_GPIO)),
            ("MODES mode 9", pigpio_command(0, 4, 9), (0, pigpio.PI_BAD_MODE)),
            ("PUD 5", pigpio_command(2, 4, 5), (2, pigpio.PI_BAD_PUD)),
            ("WRITE level 3", pigpio_command(4, 17, 3), (4, pigpio.PI_BAD_LEVEL)),
            ("SERVO 3000 us", pigpio_command(8, 18, 3000), (8, pigpio.PI_BAD_PULSEWIDTH)),
            ("PWM duty 300", pigpio_command(5, 4, 300), (5, pigpio.PI_BAD_DUTYCYCLE)),
            ("I2CO bus 3", pigpio_command(54, 3, 0x68, struct.pack("<I", 0)),
             (54, pigpio.PI_BAD_I2C_BUS)),
            ("WVTX unknown wave", pigpio_command(51, 77), (51, pigpio.PI_BAD_WAVE_ID)),
            ("unknown command 200 with a decoy extension",
             pigpio_command(200, 1, 2, pigpio_command(4, 17, 1) * 2 + b"\0" * 8),
             (200, pigpio.PI_UNKNOWN_COMMAND)),
            ("unknown command 0xFFFFFFFF", pigpio_command(0xFFFFFFFF),
             (0xFFFFFFFF, pigpio.PI_UNKNOWN_COMMAND)),
            ("WRITE with an unused extension", pigpio_command(4, 17, 0, b"abcde"), (4, 0)),
            ("extension of 64 KiB (the largest)", pigpio_command(57, 0, 0, b"\0" * 0xFFFF),
             (57, None)),
            ("extension length 0xFFFFFFF0", pigpio_command(57, 0, 0, b"\0" * 4096,
                                                           p3=0xFFFFFFF0), "closed"),
        ]
        for name, data, expected in cases:
            with socket.create_connection((LOOPBACK, vpi.port), timeout=ANSWER_TIMEOUT_S) as s:
                s.sendall(data)
                if expected == "closed":
                    try:
                        closed = s.recv(16) == b""
                    except (TimeoutError, OSError):
                        closed = False
                    judge(tally, ctx, name, closed, closed, "connection closed, nothing "
                          "buffered" if closed else "left open", pigpio_serving(vpi.port))
                    continue
                s.sendall(pigpio_command(TICK))
                answer = pigpio_reply(s)
                tick = pigpio_reply(s)
                in_sync = tick is not None and tick[0] == TICK
                clear = answer is not None and answer[0] == expected[0] and (
                    expected[1] is None or answer[1] == expected[1])
                said = ("no answer" if answer is None else
                        f"cmd {answer[0]} -> {answer[1]}"
                        + (f" ({pigpio.error_text(answer[1])})" if answer[1] < 0 else "")
                        + ("" if in_sync else "; OUT OF SYNC"))
                judge(tally, ctx, name, answer is not None, clear and in_sync, said,
                      pigpio_serving(vpi.port))
        # Half a command, then the client goes: the daemon keeps serving others.
        with socket.create_connection((LOOPBACK, vpi.port), timeout=ANSWER_TIMEOUT_S) as s:
            s.sendall(b"\x04\0\0\0\x11\0\0")
        judge(tally, ctx, "half a command, then gone", True, True, "nothing to answer",
              pigpio_serving(vpi.port))
        # Random commands (not NOIB, which turns the socket into a notification stream):
        # each answered, in order, with its own command number.
        rng = random.Random(17)
        count = 300 if ctx.quick else 3000
        answered = in_order = 0
        with socket.create_connection((LOOPBACK, vpi.port), timeout=ANSWER_TIMEOUT_S) as s:
            for _ in range(count):
                cmd = rng.choice([c for c in range(0, 140) if c != 99] + [rng.getrandbits(32)])
                ext = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 0, 4, 8, 12])))
                s.sendall(pigpio_command(cmd, rng.getrandbits(32), rng.getrandbits(32), ext))
                reply = pigpio_reply(s)
                if reply is None:
                    break
                answered += 1
                in_order += reply[0] == cmd
        judge(tally, ctx, f"{count} random commands", answered == count, in_order == count,
              f"{answered} answered, {in_order} with their own command number",
              pigpio_serving(vpi.port))
        # A network bind without an allow list: the pigpio protocol has no authentication.
        ended, code, lines = start_refused([sys.executable, "-m", "pilot_hw.virtual_pi",
                                            "--host", "0.0.0.0", "--port", "0"], os.environ)
        said = [x for x in lines if "--allow" in x]
        judge(tally, ctx, "virtual Pi on 0.0.0.0 without --allow", ended,
              ended and code not in (0, None) and bool(said),
              f"exit {code}: {(said or lines or ['-'])[-1][:140]}", True)
    finally:
        vpi.stop()


@scenario("pilot outputs", "commands stop",
          "every kind of pilot output driven, then the commands stop (the brain_session that "
          "sent them killed): each output must go to its safe value after its timeout")
def pilot_commands_stop(ctx: Context, tally: Tally) -> None:
    from pilot_hw.config import load_config
    from pilot_hw.hardware import PilotHardware
    from pilot_hw.virtual_pi import VirtualPi

    devices = """
devices:
  - {name: led, type: digital_output, pin: 17, channel: led}
  - {name: gripper, type: servo, pin: 18, safe_pulse_us: 1000, channel: gripper}
  - {name: fan, type: pwm, pin: 16, range: 100, safe_duty: 0.1, channel: fan}
  - {name: status, type: rgb_led, red_pin: 22, green_pin: 23, blue_pin: 24, channel: status}
  - {name: wheel, type: dc_motor, pwm_pin: 12, in1_pin: 5, in2_pin: 6, channel: wheel}
"""
    timeout_s = 0.3
    vpi = VirtualPi(LOOPBACK, 0).start()
    hw = PilotHardware(load_config(devices), LOOPBACK, vpi.port, heartbeat_period_s=0.05,
                       reconnect_period_s=0.1, command_timeout_s=timeout_s)
    try:
        if not hw.start():
            raise RuntimeError("the pilot's hardware did not connect to the virtual Pi")

        def outputs() -> dict[str, Any]:
            return {"led": vpi.level(17), "gripper": vpi.pin_state(18).servo_pulse_us,
                    "fan": vpi.pin_state(16).pwm_duty,
                    "status": [vpi.pin_state(p).pwm_duty for p in (22, 23, 24)],
                    "wheel": vpi.pin_state(12).pwm_duty}

        safe = {"led": 0, "gripper": 1000, "fan": 10, "status": [0, 0, 0], "wheel": 0}
        hw.apply_channel_deltas({"led": 1.0, "gripper": 1.0, "fan": 0.8, "status:r": 1.0,
                                 "wheel": 0.5})
        stopped_at = time.monotonic()
        driven = outputs()
        tally.faults_injected += 1
        while outputs() != safe and time.monotonic() - stopped_at < ctx.recovery_bound_s:
            time.sleep(0.01)
        took = time.monotonic() - stopped_at
        ok = outputs() == safe and driven != safe
        tally.faults_recovered += ok
        ctx.say(f"  driven {driven}; commands stopped: "
                + (f"all safe {took:.2f} s later (timeout {timeout_s:g} s)" if ok else
                   f"NOT safe: {outputs()}"))
        if not ok:
            tally.failures.append(f"pilot outputs after the commands stopped: {outputs()}")
    finally:
        hw.close()
        vpi.stop()


@scenario("pilot outputs", "daemon restart",
          "a held output (command_timeout_s 0) driven, the pigpio daemon stopped and started "
          "again on its port: the pilot reconnects and the output comes back at its safe "
          "value, not at the held one")
def pilot_daemon_restart(ctx: Context, tally: Tally) -> None:
    from pilot_hw.config import load_config
    from pilot_hw.hardware import PilotHardware
    from pilot_hw.virtual_pi import VirtualPi

    devices = """
devices:
  - {name: gripper, type: servo, pin: 18, safe_pulse_us: 1000, channel: gripper,
     command_timeout_s: 0}
"""
    vpi = VirtualPi(LOOPBACK, 0).start()
    port = vpi.port
    hw = PilotHardware(load_config(devices), LOOPBACK, port, heartbeat_period_s=0.05,
                       reconnect_period_s=0.1)
    try:
        if not hw.start():
            raise RuntimeError("the pilot's hardware did not connect to the virtual Pi")
        hw.apply_channel_deltas({"gripper": 0.5})
        held = vpi.pin_state(18).servo_pulse_us
        stopped_at = time.monotonic()
        vpi.stop()
        tally.faults_injected += 1
        vpi = VirtualPi(LOOPBACK, port).start()
        pulses = []
        while time.monotonic() - stopped_at < ctx.recovery_bound_s:
            pulse = vpi.pin_state(18).servo_pulse_us
            if not pulses or pulses[-1] != pulse:
                pulses.append(pulse)
            if pulse and hw.status().connected:
                break
            time.sleep(0.01)
        took = time.monotonic() - stopped_at
        ok = held == 1500 and pulses[-1] == 1000 and 1500 not in pulses
        hw.apply_channel_deltas({"gripper": 0.25})
        ok = ok and vpi.pin_state(18).servo_pulse_us == 1250      # driven again
        tally.faults_recovered += ok
        ctx.say(f"  held at {held} us; daemon restarted: pulses {pulses} until the pilot was "
                f"back ({took:.1f} s); then driven to {vpi.pin_state(18).servo_pulse_us} us")
        if not ok:
            tally.failures.append(f"pilot after a daemon restart: pulses {pulses}")
    finally:
        hw.close()
        vpi.stop()


# ---- ROS nodes as processes ----------------------------------------------------------------
INSTALL = HERE.parent / "install"


def node_executable(package: str, name: str) -> str:
    path = INSTALL / package / "lib" / package / name
    if not path.exists():
        raise RuntimeError(f"{path} is not installed (run make setup)")
    return str(path)


def ros_domain() -> int:
    """A ROS domain of its own (others on this machine use theirs)."""
    import random

    return random.SystemRandom().randint(120, 229)


class RosProbe:
    """rclpy in this process, in its own context on `domain`: subscriptions that count,
    parameter clients."""

    def __init__(self, domain: int, name: str = "faults_probe") -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set() and self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:        # shutting down
                if self._stop.is_set():
                    return
                raise

    def set_parameter(self, node_name: str, name: str, value: Any,
                      timeout_s: float = 20.0) -> tuple[bool, str] | None:
        """(successful, reason) of a SetParameters request; None if it was not answered."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        client = self.node.create_client(SetParameters, f"/{node_name}/set_parameters")
        try:
            if not client.wait_for_service(timeout_sec=timeout_s):
                return None
            request = SetParameters.Request()
            request.parameters = [Parameter(name, value=value).to_parameter_msg()]
            future = client.call_async(request)
            deadline = time.monotonic() + timeout_s
            while not future.done() and time.monotonic() < deadline:
                time.sleep(0.02)
            if not future.done():
                return None
            result = future.result().results[0]
            return result.successful, result.reason
        finally:
            self.node.destroy_client(client)

    def get_parameter(self, node_name: str, name: str, timeout_s: float = 10.0) -> Any:
        from rcl_interfaces.srv import GetParameters
        from rclpy.parameter import parameter_value_to_python

        client = self.node.create_client(GetParameters, f"/{node_name}/get_parameters")
        try:
            if not client.wait_for_service(timeout_sec=timeout_s):
                return None
            future = client.call_async(GetParameters.Request(names=[name]))
            deadline = time.monotonic() + timeout_s
            while not future.done() and time.monotonic() < deadline:
                time.sleep(0.02)
            return parameter_value_to_python(future.result().values[0]) if future.done() \
                else None
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


def start_refused(args: list[str], env: dict[str, str],
                  timeout_s: float = 60.0) -> tuple[bool, int | None, list[str]]:
    """Run a node that should refuse to start: (ended, exit code, its output lines)."""
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return False, None, ["still running"]
    lines = [x for x in (out.stderr + out.stdout).splitlines() if x.strip()]
    return True, out.returncode, lines


def judge_start(tally: Tally, ctx: Context, name: str, ended: bool, code: int | None,
                lines: list[str], says: list[str]) -> None:
    """A refused start: exit code 1, one line, naming the problem (every word of `says`)."""
    said = [x for x in lines if all(w in x for w in says)]
    clear = ended and code == 1 and len(lines) == 1 and bool(said) \
        and not any("Traceback" in x for x in lines)
    detail = f"exit {code}, {len(lines)} line(s): {(said or lines or ['(nothing)'])[0]}"
    # A start refused is the whole answer: there is no server left to keep serving.
    judge(tally, ctx, name, ended, clear, detail, True)


@scenario("ROS parameters", "misspelled and invalid",
          "node executables started with misspelled names, out-of-range values and wrong "
          "types (exit 1, one line naming the problem and the close match); then ros2 param "
          "set of read-only, out-of-range, wrongly typed and undeclared parameters on a "
          "running node (refused with a reason, the node still serving)")
def ros_parameters(ctx: Context, tally: Tally) -> None:
    from concurrent.futures import ThreadPoolExecutor

    domain = ros_domain()
    env = {**os.environ, "ROS_DOMAIN_ID": str(domain)}
    starts = [
        ("sim_arm -p joint_state_rate_hzz", "robot_bringup", "sim_arm",
         ["joint_state_rate_hzz:=10.0"],
         ["'joint_state_rate_hzz'", "did you mean 'joint_state_rate_hz'"]),
        ("sim_arm camera.rate_hz 5000", "robot_bringup", "sim_arm", ["camera.rate_hz:=5000.0"],
         ["camera.rate_hz", "5000"]),
        ("pilot -p heartbeat_perod_s", "pilot_hw", "pilot", ["heartbeat_perod_s:=0.1"],
         ["'heartbeat_perod_s'", "did you mean 'heartbeat_period_s'"]),
        ("pilot port 70000", "pilot_hw", "pilot", ["port:=70000"], ["port", "70000"]),
        ("pilot heartbeat_period_s a word", "pilot_hw", "pilot",
         ["heartbeat_period_s:=fast"], ["heartbeat_period_s"]),
        ("brain_session -p reconect_delay_s", "ab_bridge", "brain_session",
         ["reconect_delay_s:=1.0"], ["'reconect_delay_s'", "did you mean 'reconnect_delay_s'"]),
        ("brain_session fresh_wait_ms a list", "ab_bridge", "brain_session",
         ["fresh_wait_ms:=[1, 2]"], ["fresh_wait_ms"]),
        ("brain_server -p prot", "embedded_brain", "brain_server", ["prot:=9"],
         ["'prot'", "did you mean 'port'"]),
        ("detector autoupload sometimes", "detector_node", "detector",
         ["autoupload:=sometimes"], ["autoupload", "sometimes"]),
        ("detector -p min_confidance", "detector_node", "detector", ["min_confidance:=0.5"],
         ["'min_confidance'", "did you mean 'min_confidence'"]),
        ("detector data_folder a file's child", "detector_node", "detector",
         ["data_folder:=/etc/hostname/data"], ["data_folder", "/etc/hostname/data",
                                               "not usable"]),
    ]

    def attempt(item: tuple) -> tuple:
        name, package, exe, params, says = item
        args = [node_executable(package, exe), "--ros-args"]
        for p in params:
            args += ["-p", p]
        return (name, says, *start_refused(args, env))

    with ThreadPoolExecutor(3) as pool:
        for name, says, ended, code, lines in pool.map(attempt, starts):
            judge_start(tally, ctx, f"start: {name}", ended, code, lines, says)

    # ros2 param set on a running pilot (no daemon needed: it keeps trying to connect).
    from robot_bringup.config import config_file

    pilot = subprocess.Popen([node_executable("pilot_hw", "pilot"), "--ros-args",
                              "--params-file", str(config_file("pilot_sim.yaml")), "-p",
                              f"port:={free_port()}"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    _STARTED.append(pilot)
    probe = RosProbe(domain)
    try:
        sets = [("set read-only port", "port", 9000, False, "read-only parameter: port"),
                ("set heartbeat_period_s 100 (out of range)", "heartbeat_period_s", 100.0,
                 False, "heartbeat_period_s"),
                ("set heartbeat_period_s a string", "heartbeat_period_s", "fast", False,
                 "'heartbeat_period_s' takes a double"),
                ("set undeclared heartbeat_perod_s", "heartbeat_perod_s", 0.2, False,
                 "did you mean 'heartbeat_period_s'"),
                ("set heartbeat_period_s 0.2 (good)", "heartbeat_period_s", 0.2, True, "")]
        for name, param, value, should, says in sets:
            if pilot.poll() is not None:
                raise RuntimeError(f"the pilot exited: {pilot.stderr.read()[-300:]}")
            answer = probe.set_parameter("pilot", param, value)
            alive = pilot.poll() is None
            now = probe.get_parameter("pilot", "heartbeat_period_s")
            if answer is None:
                judge(tally, ctx, name, False, False, "no answer", alive)
                continue
            ok, reason = answer
            if should:          # a good set takes effect: the refusals were no deafness
                ctx.say(f"  {name:42s} -> {'took effect' if ok and now == value else 'FAILED'}")
                if not (ok and now == value):
                    tally.failures.append(f"{name}: {answer}, the value now {now}")
            else:
                judge(tally, ctx, name, True, not ok and says in reason,
                      f"refused: {reason}" if not ok else "ACCEPTED", alive and now is not None)
    finally:
        probe.close()
        pilot.send_signal(signal.SIGINT)
        try:
            pilot.wait(15)
        except subprocess.TimeoutExpired:
            pilot.kill()
            pilot.wait()


# ---- YAML files: the robot's parameter files -----------------------------------------------
@scenario("YAML files", "robot configs",
          "robot_bringup's sim.yaml with camera.rate_hzz (sim_arm refuses to start naming "
          "it), brain.yaml with a brain_sesion: section (unknown_sections names it), a file "
          "that is not YAML")
def robot_config_files(ctx: Context, tally: Tally) -> None:
    from robot_bringup.config import config_file, unknown_sections

    env = {**os.environ, "ROS_DOMAIN_ID": str(ros_domain())}
    sim = config_file("sim.yaml").read_text()
    if "      rate_hz: 50.0" not in sim:
        raise RuntimeError("sim.yaml has no camera rate_hz line to misspell")
    bad_sim = ctx.workdir / "sim-rate_hzz.yaml"
    bad_sim.write_text(sim.replace("      rate_hz: 50.0", "      rate_hzz: 50.0", 1))
    ended, code, lines = start_refused([node_executable("robot_bringup", "sim_arm"),
                                        "--ros-args", "--params-file", str(bad_sim)], env)
    judge_start(tally, ctx, "sim.yaml camera rate_hzz", ended, code, lines,
                ["'camera.rate_hzz'", "did you mean 'camera.rate_hz'"])

    brain = config_file("brain.yaml").read_text()
    bad_brain = ctx.workdir / "brain-sesion.yaml"
    bad_brain.write_text(brain.replace("/**/brain_session:", "/**/brain_sesion:"))
    problems = unknown_sections(bad_brain, ["brain_session", "brain_server"])
    said = "; ".join(problems) or "(nothing found)"
    judge(tally, ctx, "brain.yaml section brain_sesion:", True,
          any("brain_sesion" in p and "did you mean 'brain_session'" in p for p in problems),
          said, True)
    clean = unknown_sections(config_file("brain.yaml"), ["brain_session", "brain_server"])
    if clean:
        tally.failures.append(f"brain.yaml as shipped has unknown sections: {clean}")

    broken = ctx.workdir / "not-yaml.yaml"
    broken.write_text("/**/sim_arm:\n  ros__parameters: [unclosed\n")
    ended, code, lines = start_refused([node_executable("robot_bringup", "sim_arm"),
                                        "--ros-args", "--params-file", str(broken)], env)
    # rcl parses the file before any node code runs: its own words, not ours.
    clear_words = [x for x in lines if str(broken) in x and "parse" in x.lower()]
    judge(tally, ctx, "sim.yaml not YAML", ended, ended and code not in (0, None)
          and bool(clear_words), f"exit {code}: {(clear_words or lines or ['-'])[0][:140]}",
          True)


# ---- kill -9 and restart in a running graph ------------------------------------------------
GRAPH_UP_BOUND_S = 150.0          # ros2 launch → the brain drives the arm (busy machine)
GRIPPER_PIN, GRIPPER_SAFE_US = 18, 1000   # robot_bringup/config/pilot_sim.yaml


class Graph:
    """`ros2 launch robot_bringup sim.launch.py` on free ports in a ROS domain of its own,
    watched by a probe: brain_session's commands, the detector's detections, the gripper
    servo on the virtual Pi (driven by the probe's own actuator_command)."""

    NODES = {"brain_server": "/lib/embedded_brain/brain_server",
             "brain_session": "/lib/ab_bridge/brain_session",
             "detector": "/lib/detector_node/detector",
             "virtual_pi": "/lib/pilot_hw/virtual_pi",
             "pilot": "/lib/pilot_hw/pilot"}

    def __init__(self, ctx: Context) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        from ab_interfaces.msg import ActuatorCommand, Detections

        self.ctx = ctx
        self.domain = ros_domain()
        self.pi_port = free_port()
        self.env = {**os.environ, "ROS_DOMAIN_ID": str(self.domain)}
        self.log = open(ctx.workdir / "graph.log", "w")
        self.launch = subprocess.Popen(
            ["ros2", "launch", "robot_bringup", "sim.launch.py", f"pi_port:={self.pi_port}",
             f"detector_port:={free_port()}", f"brain_port:={free_port()}"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, env=self.env)
        _STARTED.append(self.launch)
        self.restarted: list[subprocess.Popen] = []
        self.commands: list[float] = []     # arrival of brain_session commands that move
        self.detections: list[float] = []
        self.probe = RosProbe(self.domain)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.probe.node.create_subscription(ActuatorCommand, "actuator_command",
                                            self._on_command, reliable)
        self.probe.node.create_subscription(Detections, "detections",
                                            lambda m: self.detections.append(time.monotonic()),
                                            10)
        self.gripper = self.probe.node.create_publisher(ActuatorCommand, "actuator_command",
                                                        reliable)
        # (when, level, message) of the pilot's and brain_session's link diagnostics
        self.links: dict[str, list[tuple[float, int, str]]] = {
            "pilot: pigpio link": [], "brain_session: brain link": []}
        self.probe.node.create_subscription(DiagnosticArray, "diagnostics", self._on_diagnostics,
                                            10)

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            if status.name in self.links:
                level = status.level      # a msg byte: bytes in rclpy
                level = level[0] if isinstance(level, bytes) else int(level)
                self.links[status.name].append((time.monotonic(), level, status.message))

    def says(self, link: str, after: float, ok: bool) -> str | None:
        """The first message of `link` since `after` at level OK (ok) or above (not ok)."""
        return next((m for t, lv, m in self.links[link] if t > after and (lv == 0) == ok),
                    None)

    def pilot_says(self, after: float, level: int) -> str | None:
        return self.says("pilot: pigpio link", after, level == 0)

    def _on_command(self, msg: Any) -> None:
        if msg.source == "brain_session" and any(msg.deltas):
            self.commands.append(time.monotonic())

    def process(self, name: str) -> Any:
        import psutil

        suffix = self.NODES[name]
        candidates = psutil.Process(self.launch.pid).children(recursive=True)
        candidates += [psutil.Process(p.pid) for p in self.restarted if p.poll() is None]
        for proc in candidates:
            try:
                if any(arg.endswith(suffix) for arg in proc.cmdline()):
                    return proc
            except psutil.Error:
                continue
        raise RuntimeError(f"no {name} process in the graph")

    def kill9(self, name: str) -> tuple[float, list[str], dict[str, str], str]:
        """kill -9 of the node's process: the moment, and what restarts it as it was (its
        command line, environment and folder)."""
        proc = self.process(name)
        cmdline, env, cwd = proc.cmdline(), proc.environ(), proc.cwd()
        killed_at = time.monotonic()
        proc.kill()
        proc.wait(10)
        return killed_at, cmdline, env, cwd

    def restart(self, cmdline: list[str], env: dict[str, str], cwd: str) -> None:
        child = subprocess.Popen(cmdline, env=env, cwd=cwd, stdout=self.log,
                                 stderr=subprocess.STDOUT)
        _STARTED.append(child)
        self.restarted.append(child)

    def launch_failed(self) -> str | None:
        """What ended or broke `ros2 launch`, if it did."""
        self.log.flush()
        text = (self.ctx.workdir / "graph.log").read_text(errors="replace")
        broken = [x for x in text.splitlines() if "[ERROR] [launch]" in x]
        if broken:
            return broken[0]
        if self.launch.poll() is not None:
            return f"ros2 launch exited with {self.launch.returncode}"
        return None

    def flowing(self, events: list[float], after: float, count: int = 5) -> bool:
        return sum(t > after for t in events) >= count

    def wait(self, predicate: Callable[[], bool], bound_s: float) -> float | None:
        started = time.monotonic()
        while time.monotonic() - started < bound_s:
            if predicate():
                return time.monotonic() - started
            time.sleep(0.1)
        return None

    def gripper_pulse(self) -> int | None:
        import pigpio

        pi = pigpio.pi(LOOPBACK, self.pi_port, show_errors=False)
        try:
            return pi.get_servo_pulsewidth(GRIPPER_PIN) if pi.connected else None
        except (pigpio.error, OSError):
            return None
        finally:
            pi.stop()

    def drive_gripper(self, to: float) -> None:
        """Gripper to `to` (0..1) through the pilot: all the way shut, then the rest."""
        from ab_interfaces.msg import ActuatorCommand

        for delta in (-1.0, to):
            self.gripper.publish(ActuatorCommand(source="faults_probe", channels=["gripper"],
                                                 step_count=1, step_dt_s=0.02, deltas=[delta]))

    def gripper_follows(self, to: float) -> bool:
        self.drive_gripper(to)
        time.sleep(0.2)
        want = GRIPPER_SAFE_US + round(to * 1000)
        pulse = self.gripper_pulse()
        return pulse is not None and abs(pulse - want) <= 2

    def stop(self) -> None:
        self.probe.close()
        for child in self.restarted:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        try:
            os.killpg(self.launch.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        for child in [*self.restarted, self.launch]:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        try:
            os.killpg(self.launch.pid, signal.SIGKILL)     # anything launch left behind
        except (ProcessLookupError, PermissionError):
            pass
        self.log.close()


@scenario("kill -9 and restart", "nodes in a running graph",
          "ros2 launch robot_bringup sim.launch.py; kill -9 of the brain server, "
          "brain_session, the detector, the virtual Pi and the pilot in turn, each restarted "
          "with its command line: the graph must drive the arm again without help")
def graph_kill9(ctx: Context, tally: Tally) -> None:
    graph = Graph(ctx)
    bound = ctx.recovery_bound_s
    try:
        up = graph.wait(lambda: graph.launch_failed() is not None
                        or graph.flowing(graph.commands, 0.0)
                        and graph.flowing(graph.detections, 0.0)
                        and graph.gripper_follows(0.5), GRAPH_UP_BOUND_S)
        if graph.launch_failed() is not None:
            raise RuntimeError(f"the graph did not start: {graph.launch_failed()}")
        if up is None:
            raise RuntimeError(f"the graph did not come up within {GRAPH_UP_BOUND_S:g} s "
                               f"(log: {ctx.workdir / 'graph.log'})")
        ctx.say(f"  graph up in {up:.0f} s (brain_session commands, detections, the gripper "
                f"follows the pilot); recovery bound {bound:g} s from each kill")

        def brain_drives(after: float) -> Callable[[], bool]:
            return lambda: graph.flowing(graph.commands, after)

        nodes = ("brain_server", "brain_session", "detector", "virtual_pi", "pilot")
        for name in nodes * (1 if ctx.quick else 2):
            if name == "pilot":     # the gripper somewhere not safe, so the change shows
                if graph.wait(lambda: graph.gripper_follows(0.5), 10.0) is None:
                    raise RuntimeError("the gripper does not follow before the pilot's kill")
            killed_at, cmdline, env, cwd = graph.kill9(name)
            tally.faults_injected += 1
            note = ""
            if name == "pilot":
                # The dead-man script on the daemon makes the outputs safe with no pilot.
                safe = graph.wait(lambda: graph.gripper_pulse() == GRIPPER_SAFE_US, 5.0)
                note = (f"; gripper safe ({GRIPPER_SAFE_US} us) "
                        f"{time.monotonic() - killed_at:.1f} s after the kill"
                        if safe is not None else "; gripper NOT safe within 5 s")
                if safe is None:
                    tally.failures.append("pilot kill -9: the gripper did not go safe")
            if name == "brain_server":
                # brain_session says so (not "OK connected" with a frozen cycle rate).
                link = "brain_session: brain link"
                said = graph.wait(lambda k=killed_at, n=link: graph.says(n, k, False)
                                  is not None, 10.0)
                note = (f"; brain_session diagnostics not OK: "
                        f"'{graph.says(link, killed_at, False)}'" if said is not None else
                        "; brain_session diagnostics did NOT say so")
                if said is None:
                    tally.failures.append("brain server kill -9: brain_session did not report it")
            if name == "virtual_pi":
                # The pilot says the link is down (the outputs are gone with the daemon), and
                # the restarted daemon's gripper stays safe until a command moves it.
                said = graph.wait(lambda k=killed_at: graph.pilot_says(k, 2) is not None, 10.0)
                note = (f"; pilot diagnostics ERROR: '{graph.pilot_says(killed_at, 2)}'"
                        if said is not None else "; pilot diagnostics did NOT say ERROR")
                if said is None:
                    tally.failures.append("virtual Pi kill -9: the pilot did not report it")
            graph.restart(cmdline, env, cwd)
            if name == "virtual_pi":
                restarted_at = time.monotonic()
                graph.wait(lambda r=restarted_at: graph.pilot_says(r, 0) is not None,
                           bound - (time.monotonic() - killed_at))
                note += (f"; pilot diagnostics OK again {time.monotonic() - killed_at:.1f} s "
                         f"after the kill (gripper then at {graph.gripper_pulse()} us)")
            if name in ("brain_server", "brain_session"):
                check, what = brain_drives(killed_at), "brain_session's commands flow"
            elif name == "detector":
                check, what = (lambda k=killed_at: graph.flowing(graph.detections, k),
                               "detections flow")
            else:
                check, what = (lambda: graph.gripper_follows(0.5 if int(time.monotonic()) % 2
                                                              else 0.25),
                               "the gripper follows actuator_command")
            took = graph.wait(check, bound - (time.monotonic() - killed_at))
            since_kill = time.monotonic() - killed_at
            # and the brain still drives the arm
            now = time.monotonic()
            driven = took is not None and graph.wait(brain_drives(now), bound) is not None
            ok = took is not None and driven
            tally.faults_recovered += ok
            ctx.say(f"  kill -9 {name:13s}: {what} again "
                    + (f"{since_kill:.1f} s after the kill" if took is not None else
                       f"NOT within {bound:g} s") + note)
            if not ok:
                tally.failures.append(f"graph kill -9 of {name}: not recovered within "
                                      f"{bound:g} s ({what}: {took is not None}, brain drives "
                                      f"the arm: {driven})")
    finally:
        graph.stop()

# ---- running -------------------------------------------------------------------------------
def run_scenario(item: Scenario, ctx: Context, bound_s: float = 180.0) -> Tally:
    """One scenario, its failures caught and its time bounded: past its bound it counts a
    hang, with where it was stuck, and what it had counted so far."""
    tally = Tally()

    def body() -> None:
        try:
            item.run(ctx, tally)
        except Exception as exc:
            tally.failures.append(f"{item.title}: {type(exc).__name__}: {exc}")

    worker = threading.Thread(target=body, daemon=True)
    worker.start()
    worker.join(bound_s)
    if worker.is_alive():
        import traceback

        stack = traceback.format_stack(sys._current_frames()[worker.ident])
        tally.hangs += 1
        tally.failures.append(f"{item.title}: still running after {bound_s:g} s, at "
                              f"{''.join(stack[-3:]).strip()}")
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--only", default="", help="run the scenarios whose title has this")
    parser.add_argument("--recovery-bound-s", type=float, default=RECOVERY_BOUND_S)
    parser.add_argument("--scenario-bound-s", type=float, default=180.0,
                        help="longest a scenario may run (past it: a hang)")
    args = parser.parse_args(argv)
    ctx = Context(quick=args.quick, recovery_bound_s=args.recovery_bound_s)
    total = Tally()
    ran, waiting = [], []
    started = time.monotonic()
    for item in SCENARIOS:
        if args.only.lower() not in item.title.lower():
            continue
        if item.run is None:
            print(f"== {item.title}: pending ({item.what})", flush=True)
            waiting.append(item.title)
            continue
        print(f"== {item.title}: {item.what}", flush=True)
        t0 = time.monotonic()
        tally = run_scenario(item, ctx, args.scenario_bound_s)
        print(f"   {tally.counts()} in {time.monotonic() - t0:.1f} s", flush=True)
        for failure in tally.failures:
            print(f"   FAILED: {failure}", flush=True)
        total.add(tally)
        ran.append(item.title)
    print(f"{len(ran)} scenarios in {time.monotonic() - started:.0f} s (machine shared: "
          f"load average {os.getloadavg()[0]:.1f}); {len(waiting)} pending", flush=True)
    print(json.dumps({**total.counts(), "scenarios_run": len(ran),
                      "scenarios_pending": waiting}))
    return 0 if not total.failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
