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

Boundaries registered as pending (detector REST and Socket.IO, pigpio socket, ROS
parameters, the robot's YAML files, kill -9 and restart of the detector, the virtual Pi
and the ROS nodes) print as such and count nothing; their owners fill them in.

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


class BrainProcess:
    """`python -m ab_bridge.embedded.server` on loopback (the demo graph, an API key)."""

    def __init__(self, ctx: Context, *extra: str, port: int | None = None,
                 graph: Path | None = None) -> None:
        from ab_bridge.embedded.graph import bundled_graph_path

        self.port = port or free_port()
        self.args = [sys.executable, "-m", "ab_bridge.embedded.server", "--host", LOOPBACK,
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

    from ab_bridge.embedded.graph import bundled_graph_path

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


# ---- pending: other boundaries, filled in by their owners --------------------------------
pending("detector REST", "malformed corpus", "every detector route with malformed input")
pending("detector Socket.IO", "malformed corpus", "detect with dtype object, bad frames ...")
pending("detector", "Loop path traversal", "a Loop deployment version of ../../escaped")
pending("pigpio socket", "malformed commands", "random and malformed pigpio commands")
pending("ROS parameters", "misspelled and invalid", "every node's parameters")
pending("YAML files", "robot configs", "sim.yaml / brain.yaml with misspelled keys")
pending("kill -9 and restart", "brain_session node", "the session re-starts its run")
pending("kill -9 and restart", "detector server", "outbox and uploads across kill -9")
pending("kill -9 and restart", "virtual Pi / pilot", "outputs go safe; pilot reconnects")


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
