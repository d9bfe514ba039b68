"""Nothing a client sends stops a run of the embedded brain server: malformed payloads are
answered with an error naming the problem and the run keeps cycling; a run loop that
fails anyway says so; abandoned runs end after their lease; runs are capped; memory comes
back when runs stop; bound to loopback, requests naming another Host or Origin are
refused. (The full corpus of malformed inputs runs in tests/test_fault_scenarios.py.)"""

from __future__ import annotations

import queue
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
import requests
import socketio
from support import wait_for
from test_embedded_server_protocol import NS, Client, demo_inputs

from embedded_brain.graph import bundled_graph_path, load_graph
from embedded_brain.server import BrainServer, ServerThread

DEMO = bundled_graph_path("demo_arm")


def serve(tmp_path: Path, graph: Any = None, **kwargs: Any) -> ServerThread:
    kwargs.setdefault("realtime", False)
    kwargs.setdefault("deadline_ms", 2000)
    thread = ServerThread(BrainServer([graph or load_graph(DEMO)], tmp_path / "state",
                                      **kwargs))
    thread.start()
    return thread


@pytest.fixture
def brain(tmp_path: Path):
    thread = serve(tmp_path)
    yield thread
    thread.stop()


def start(url: str, body: dict[str, Any] | None = None) -> str:
    reply = requests.post(f"{url}/api/robot/demo_arm/start", json=body or {}, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()["runId"]


def runs_of(url: str) -> list[str]:
    state = requests.get(f"{url}/api/robot/demo_arm/io/state", timeout=10).json()
    return [r["runId"] for r in state["runs"]]


def drain(q: queue.Queue) -> list[Any]:
    items = []
    while True:
        try:
            items.append(q.get_nowait())
        except queue.Empty:
            return items


@pytest.mark.timeout(60)
def test_a_malformed_binary_chunk_is_answered_and_the_next_one_counts(brain: ServerThread
                                                                     ) -> None:
    """A binary io:chunk whose text is not JSON (written as the client's first frame of
    one) gets its io:error; the well-formed chunks after it (the server's shorter path
    for binary events) feed the next cycles."""
    rid = start(brain.url)
    client = Client(brain.url)
    try:
        client.join(rid)
        client.sio.eio.send('51-' + NS + ',["io:chunk",{"runId":"' + rid + '","data":')
        error = client.next("io:error")
        assert error["error"].startswith("malformed Socket.IO packet: Expecting value"), error
        cycles = []
        for _ in range(3):
            need = client.next("io:need")
            for payload in demo_inputs(rid, need["cycle"]):
                client.emit("io:chunk", payload)
            cycles.append(client.next("cycle:update")["cycle"])
        assert cycles == list(range(cycles[0], cycles[0] + 3))
        assert client.events["io:error"].empty()
    finally:
        client.close()


@pytest.mark.timeout(60)
def test_malformed_robot_state_never_stops_the_run(brain: ServerThread) -> None:
    """q null (the SDK's RobotLoop without joints) is no q; q 5, too short or not numbers
    is refused at once; the JointState input that gets no chunk keeps the run going."""
    rid = start(brain.url)
    client = Client(brain.url)
    try:
        client.join(rid)
        bad = [({"q": 5}, "'q' must be a list of joint positions"),
               ({"q": [0.1]}, "'q' has 1 joint position(s); the brain's JointState input "
                              "codes 2"),
               ({"q": ["a", "b"]}, "'q' must be a list of joint positions"),
               ({"q": [float("nan"), 0.0]}, "must be plain JSON (finite numbers"),
               ({"q": [0.1, 0.2], "raw": b"\x00"}, "no binary data"),
               (5, "'state' must be an object")]
        for state, message in bad:
            client.emit("robot:state", {"runId": rid, "state": state})
            error = client.next("io:error")
            assert error["event"] == "robot:state" and message in error["error"], error
        client.emit("robot:state", {"runId": rid, "state": {"q": None, "dt": 0.05}})
        cycles = []
        for cycle in range(4):
            need = client.next("io:need")
            for payload in demo_inputs(rid, need["cycle"]):
                if payload["inputId"] != "joints":      # joints only through robot:state
                    client.emit("io:chunk", payload)
            cycles.append(client.next("cycle:update")["cycle"])
            client.emit("robot:state", {"runId": rid, "state": {"q": [0.1 * cycle, 0.2]}})
        assert cycles == list(range(cycles[0], cycles[0] + 4))
        assert client.events["io:error"].empty()
        state = requests.get(f"{brain.url}/api/robot/demo_arm/io/state", timeout=10).json()
        assert state["robotState"]["q"][1] == 0.2 and state["runs"][0]["runId"] == rid
    finally:
        client.close()


@pytest.mark.timeout(60)
def test_events_without_payload_or_fields_are_answered(brain: ServerThread) -> None:
    rid = start(brain.url)
    client = Client(brain.url)
    try:
        answer = client.sio.call("run:join", namespace=NS, timeout=10)
        assert answer["ok"] is False and "expected one payload object" in answer["error"]
        assert "expected one payload object" in client.next("io:error")["error"]
        client.sio.emit("run:join", ({"runId": rid}, "extra"), namespace=NS)
        assert "got 2 arguments" in client.next("io:error")["error"]
        answer = client.sio.call("run:join", {"runId": 7}, namespace=NS, timeout=10)
        assert "'runId' must be a string, got int" in answer["error"]
        client.next("io:error")
        client.join(rid)
        client.emit("io:chunk", {"runId": rid, "inputId": "camera", "format": "jpeg"})
        error = client.next("io:error")
        assert error["inputId"] == "camera" and "data must be bytes, got NoneType" in \
            error["error"]
        client.emit("io:chunk", {"runId": rid, "inputId": None})
        assert "'inputId' must be a string" in client.next("io:error")["error"]
        client.emit("io:chunk", {"runId": rid, "inputId": "camra", "format": "jpeg",
                                 "data": b""})
        assert "did you mean 'camera'" in client.next("io:error")["error"]
        client.emit("io:chunks", {"runId": rid})
        error = client.next("io:error")
        assert error["event"] == "io:chunks" and "did you mean 'io:chunk'" in error["error"]
        for payload in demo_inputs(rid, 0):     # and the run goes on
            client.emit("io:chunk", payload)
        client.next("cycle:update")
    finally:
        client.close()


@pytest.mark.timeout(60)
def test_a_failing_run_loop_ends_its_run_and_says_why(brain: ServerThread) -> None:
    rid = start(brain.url)
    network = brain.server.runs[rid].network

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("simulated fault in the network")

    network.run_cycle = broken
    client = Client(brain.url)
    try:
        client.join(rid)
        client.next("io:need")
        for payload in demo_inputs(rid, 0):
            client.emit("io:chunk", payload)
        error = client.next("io:error")
        assert error["event"] == "run" and "simulated fault in the network" in error["error"]
        stopped = client.next("run:stopped")
        assert stopped["runId"] == rid and "the run failed at cycle 0: RuntimeError" in \
            stopped["reason"]
        assert runs_of(brain.url) == []
        assert start(brain.url) != rid          # still serving
    finally:
        client.close()


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_abandoned_runs_end_after_their_lease(tmp_path: Path) -> None:
    lease_s = 0.6
    thread = serve(tmp_path, lease_s=lease_s)
    try:
        url = thread.url
        never_joined = start(url)
        assert wait_for(lambda: never_joined not in runs_of(url))
        held, abandoned = start(url), start(url)
        holder, leaver = Client(url), Client(url)
        holder.join(held)
        leaver.join(abandoned)
        leaver.close()                               # the client is gone
        assert wait_for(lambda: abandoned not in runs_of(url))
        gone_at = time.monotonic()
        # A joined client holds its run well past the lease.
        while time.monotonic() - gone_at < 3 * lease_s:
            assert held in runs_of(url)
            time.sleep(0.1)
        run = thread.server.runs[held]
        leaving = time.monotonic()
        holder.close()
        assert wait_for(lambda: held not in runs_of(url))
        assert run.renewed_s >= leaving, "the lease must count from when the client left"
        assert "lease expired" in run.stop_reason
    finally:
        thread.stop()


@pytest.mark.timeout(60)
def test_runs_are_capped(tmp_path: Path) -> None:
    thread = serve(tmp_path, max_runs=3)
    try:
        url = thread.url
        runs = [start(url) for _ in range(3)]
        refused = requests.post(f"{url}/api/robot/demo_arm/start", json={}, timeout=10)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
        assert "too many runs: 3 are running, the server's limit (max_runs 3)" in \
            refused.json()["error"]
        requests.post(f"{url}/api/robot/demo_arm/stop", json={"runId": runs[0]}, timeout=10)
        start(url)
    finally:
        thread.stop()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_memory_comes_back_when_runs_stop(tmp_path: Path) -> None:
    # demo_arm with 2000 hidden neurons: each run holds megabytes, so what 50 of them
    # hold stands well above the process's own noise.
    import yaml

    from embedded_brain.graph import parse_graph
    raw = yaml.safe_load(Path(DEMO).read_text())
    next(p for p in raw["populations"] if p["id"] == "hidden")["size"] = 2000
    thread = serve(tmp_path, graph=parse_graph(raw), max_runs=50)
    process = psutil.Process()
    try:
        url = f"{thread.url}/api/robot/demo_arm"
        requests.post(f"{url}/stop", json={"runId": start(thread.url)}, timeout=10)
        before = process.memory_info().rss
        runs = [start(thread.url) for _ in range(50)]
        running = process.memory_info().rss
        for rid in runs:
            requests.post(f"{url}/stop", json={"runId": rid}, timeout=10)
        after = process.memory_info().rss
    finally:
        thread.stop()
    print(f"50 runs: +{(running - before) / 1e6:.1f} MB; after stopping them "
          f"+{(after - before) / 1e6:.1f} MB")
    assert running - before > 50 * 1e6           # the runs did hold memory
    assert after - before < 0.25 * (running - before)


@pytest.mark.timeout(60)
def test_foreign_host_and_origin_are_refused_on_loopback(brain: ServerThread) -> None:
    url = f"{brain.url}/api/robot/demo_arm/contract"
    port = brain.port
    for headers, message in (
            ({"Host": f"rebind.example:{port}"}, "Host 'rebind.example:"),
            ({"Origin": "http://evil.example"}, "Origin 'http://evil.example' is not a loopback"),
            ({"Origin": "null"}, "Origin 'null'")):
        reply = requests.get(url, headers=headers, timeout=10)
        assert reply.status_code == 403 and message in reply.json()["error"], reply.text
    for headers in ({"Host": f"localhost:{port}"}, {"Host": f"[::1]:{port}"},
                    {"Origin": f"http://127.0.0.1:{port}"}, {"Origin": "http://localhost:3000"}):
        assert requests.get(url, headers=headers, timeout=10).status_code == 200, headers
    with pytest.raises(socketio.exceptions.ConnectionError):
        Client(brain.url, headers={"Origin": "http://evil.example"})
    client = Client(brain.url)                   # ours (websocket-client sends its Origin)
    client.close()
    server = brain.server
    assert server.foreign_host_or_origin("robot.lan:8765", None) is not None
    server.allowed_hosts.add("robot.lan")
    assert server.foreign_host_or_origin("robot.lan:8765", "http://robot.lan") is None
    server.loopback_only = False                 # bound elsewhere: no such check
    assert server.foreign_host_or_origin("evil.example", "http://evil.example") is None


@pytest.mark.timeout(60)
def test_rest_refusals_name_the_problem(brain: ServerThread) -> None:
    api = f"{brain.url}/api/robot/demo_arm"
    cases = [
        (requests.post, f"{api}/start", {"json": {"pase": "inputs"}}, 400,
         "unknown option(s) ['pase']; did you mean 'pace'?"),
        (requests.post, f"{api}/stop", {"json": {"runId": 5}}, 400, "'runId' must be a string"),
        (requests.post, f"{api}/strat", {"json": {}}, 404, "did you mean '/api/robot/demo_arm/start'"),
        (requests.get, f"{api}/start", {}, 405, "method GET is not allowed"),
        (requests.post, f"{api}/start", {"data": "[" * 100_000,
                                         "headers": {"Content-Type": "application/json"}},
         400, "nested too deeply"),
    ]
    for call, url, kwargs, status, message in cases:
        reply = call(url, timeout=10, **kwargs)
        assert reply.status_code == status and message in reply.json()["error"], reply.text
    assert requests.get(f"{brain.url}/api/health", timeout=10).json()["ok"]


def test_the_reward_history_is_not_lost_by_validation(brain: ServerThread) -> None:
    """learn:reward still counts (the guard passes good payloads through unchanged)."""
    rid = start(brain.url)
    client = Client(brain.url)
    try:
        client.join(rid)
        client.next("io:need")
        for payload in demo_inputs(rid, 0):
            client.emit("io:chunk", payload)
        cycle = client.next("cycle:update")["cycle"]
        client.emit("learn:reward", {"runId": rid, "cycle": cycle, "globalReward": 0.7})
        assert wait_for(lambda: requests.get(f"{brain.url}/api/robot/demo_arm/io/state",
                                             timeout=10).json()["rewards"] == 1)
        assert drain(client.events["io:error"]) == []
        assert np.isfinite(brain.server.runs[rid].network.weights).all()
    finally:
        client.close()
