"""The embedded brain server speaks the Artificial Brains REST + Socket.IO protocol:
contract, runs, io:need → io:chunk → cycle:update, rewards, bad payloads, API key,
several runs at once, weights surviving a restart, and the executable."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import requests
import socketio

from embedded_brain.graph import bundled_graph_path, load_graph
from embedded_brain.server import BrainServer, ServerThread

NS = "/ab"
DEMO = bundled_graph_path("demo_arm")


class Client:
    """A plain python-socketio client that queues every server event."""

    def __init__(self, url: str, auth: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.events: dict[str, queue.Queue] = {e: queue.Queue() for e in (
            "io:need", "cycle:update", "io:error", "run:stopped")}
        self.sio = socketio.Client(reconnection=False)
        for name, q in self.events.items():
            self.sio.on(name, q.put, namespace=NS)
        self.sio.connect(url, namespaces=[NS], transports=["websocket"], auth=auth,
                         headers=headers or {}, wait_timeout=10)

    def join(self, run_id: str) -> dict[str, Any]:
        return self.sio.call("run:join", {"runId": run_id}, namespace=NS, timeout=10)

    def next(self, event: str, timeout_s: float = 10.0) -> dict[str, Any]:
        return self.events[event].get(timeout=timeout_s)

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        self.sio.emit(event, payload, namespace=NS)

    def close(self) -> None:
        self.sio.disconnect()


def chunk(run_id: str, input_id: str, kind: str, fmt: str, data: bytes,
          meta: dict[str, Any] | None = None, seq: int = 1) -> dict[str, Any]:
    return {"runId": run_id, "inputId": input_id, "kind": kind, "seq": seq, "t": 0.0,
            "format": fmt, "meta": meta or {}, "data": data}


def demo_inputs(run_id: str, cycle: int) -> list[dict[str, Any]]:
    """One chunk for every need of demo_arm, each in a different supported format."""
    frame = np.zeros((24, 32, 3), np.uint8)
    cv2.circle(frame, (8 + cycle % 16, 12), 4, (0, 0, 255), -1)
    ok, jpeg = cv2.imencode(".jpg", frame)
    assert ok
    return [
        chunk(run_id, "camera", "Image", "jpeg", jpeg.tobytes(), {"width": 32, "height": 24}),
        chunk(run_id, "joints", "JointState", "json",
              json.dumps({"name": ["j0", "j1"], "position": [0.2, -0.4]}).encode()),
        chunk(run_id, "target", "Scalar", "f32", np.array([0.5, -0.5], "<f4").tobytes()),
        chunk(run_id, "arm_error", "Feedback", "raster_f32",
              np.full(20 * 8, 0.5, "<f4").tobytes(), {"T": 20, "N": 8, "cycle": cycle}),
    ]


@pytest.fixture
def brain(tmp_path: Path):
    server = BrainServer([load_graph(DEMO)], tmp_path / "state", realtime=False,
                         deadline_ms=2000)
    thread = ServerThread(server)
    thread.start()
    yield thread
    thread.stop()


def start(url: str, body: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    reply = requests.post(f"{url}/api/robot/demo_arm/start", json=body or {}, timeout=10, **kw)
    assert reply.status_code == 200, reply.text
    return reply.json()


@pytest.mark.timeout(60)
def test_contract_and_run_lifecycle_over_rest(brain: ServerThread) -> None:
    url = brain.url
    contract = requests.get(f"{url}/api/robot/demo_arm/contract", timeout=10).json()
    assert contract["ok"] and contract["projectId"] == "demo_arm"
    assert contract["constants"] == {"gamma": 20, "outputWindowN": 32, "feedbackN": 8,
                                     "feedbackT": 20, "dtMs": 1.0}
    assert [(i["id"], i["kind"]) for i in contract["io"]["inputs"]] == [
        ("camera", "Image"), ("joints", "JointState"), ("target", "Scalar")]
    assert [o["id"] for o in contract["io"]["outputs"]] == ["joint0", "joint1"]
    assert contract["io"]["feedback"][0]["id"] == "arm_error"
    assert contract["io"]["stdp3"]["layers"] == ["hidden_to_joint0", "hidden_to_joint1"]

    run = start(url)
    assert re.fullmatch(r"[0-9a-f]{12}", run["runId"])
    assert run["realtime"] == {"url": url, "namespace": NS}
    assert run["constants"] == contract["constants"] and run["io"] == contract["io"]
    state = requests.get(f"{url}/api/robot/demo_arm/io/state", timeout=10).json()
    assert state["runId"] == run["runId"]
    assert [n["id"] for n in state["needs"]] == ["camera", "joints", "target", "arm_error"]

    missing = requests.post(f"{url}/api/robot/demo_arm/stop", json={"runId": "nope"},
                            timeout=10)
    assert missing.status_code == 404 and "no run 'nope'" in missing.json()["error"]
    unknown = requests.get(f"{url}/api/robot/elsewhere/contract", timeout=10)
    assert unknown.status_code == 404 and "unknown project 'elsewhere'" in unknown.json()["error"]
    bad = requests.post(f"{url}/api/robot/demo_arm/start", data="{not json", timeout=10,
                        headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and "not JSON" in bad.json()["error"]
    stopped = requests.post(f"{url}/api/robot/demo_arm/stop", json={"runId": run["runId"]},
                            timeout=10).json()
    assert stopped == {"ok": True, "stopped": [run["runId"]]}
    assert requests.get(f"{url}/api/robot/demo_arm/io/state", timeout=10).json()["runs"] == []


@pytest.mark.timeout(60)
def test_inputs_requested_served_and_spikes_emitted_each_cycle(brain: ServerThread) -> None:
    run = start(brain.url)
    rid = run["runId"]
    client = Client(brain.url)
    try:
        assert client.join(rid) == {"ok": True, "runId": rid, "cycle": 0}
        total_spikes = 0
        for cycle in range(5):
            need = client.next("io:need")
            assert need["runId"] == rid and need["cycle"] == cycle
            assert need["needs"] == [{"id": "camera", "kind": "Image"},
                                     {"id": "joints", "kind": "JointState"},
                                     {"id": "target", "kind": "Scalar"},
                                     {"id": "arm_error", "kind": "Feedback"}]
            assert need["deadlineMs"] > 0
            for payload in demo_inputs(rid, cycle):
                client.emit("io:chunk", payload)
            update = client.next("cycle:update")
            assert update["runId"] == rid and update["cycle"] == cycle
            rows = update["outputs"]
            assert [(r["t"], r["id"]) for r in rows] == \
                [(t, pop) for pop in ("joint0", "joint1") for t in range(20)]
            assert all(len(r["bits"]) == 32 and set(r["bits"]) <= {0, 1} for r in rows)
            total_spikes += sum(sum(r["bits"]) for r in rows)
            assert sum(update["spikeCounts"].values()) == sum(sum(r["bits"]) for r in rows)
            client.emit("learn:reward", {"runId": rid, "cycle": cycle, "globalReward": 0.8,
                                         "byLayer": {"hidden_to_joint0": 0.3}})
            client.emit("robot:state", {"runId": rid, "state": {"q": [0.1, 0.2], "dt": 0.02}})
        assert total_spikes > 0
        assert client.events["io:error"].empty()
        state = requests.get(f"{brain.url}/api/robot/demo_arm/io/state", timeout=10).json()
        assert state["rewards"] >= 4 and state["robotState"]["q"] == [0.1, 0.2]
    finally:
        client.close()


@pytest.mark.timeout(60)
def test_bad_payloads_get_clear_errors_and_the_run_keeps_going(brain: ServerThread) -> None:
    rid = start(brain.url)["runId"]
    client = Client(brain.url)
    try:
        client.join(rid)
        client.next("io:need")
        bad = [
            (chunk(rid, "camera", "Image", "mono8", bytes(10), {"width": 32, "height": 24}),
             "input 'camera' (Image): mono8 data has 10 bytes, expected 32x24x1"),
            (chunk(rid, "camera", "Image", "jpeg", b"not a jpeg"), "cannot decode jpeg"),
            (chunk(rid, "target", "Scalar", "f32", np.zeros(3, "<f4").tobytes()),
             "got 3 values, the encoder codes 2"),
            (chunk(rid, "target", "Scalar", "json", b"[NaN, 1]"), "must be finite"),
            (chunk(rid, "joints", "JointState", "yaml", b"q: 1"), "unsupported format 'yaml'"),
            (chunk(rid, "smell", "Scalar", "f32", b""), "unknown inputId 'smell'"),
            (chunk(rid, "arm_error", "Feedback", "raster_f32", bytes(12)),
             "not a whole number of 8-channel rows"),
        ]
        for payload, message in bad:
            client.emit("io:chunk", payload)
            error = client.next("io:error")
            assert message in error["error"], error
        client.emit("learn:reward", {"runId": rid, "globalReward": 0.5, "byLayer": {"x": 1}})
        assert "unknown layer(s) ['x']" in client.next("io:error")["error"]
        client.emit("learn:reward", {"runId": rid, "globalReward": "high"})
        assert "globalReward must be a finite number" in client.next("io:error")["error"]
        client.emit("learn:reward", {"runId": rid, "cycle": "late", "globalReward": 0.5})
        assert "cycle must be a non-negative integer" in client.next("io:error")["error"]
        # A reward for a cycle that has not run is ignored (counted), not an error.
        client.emit("learn:reward", {"runId": rid, "cycle": 10 ** 9, "globalReward": 0.5})
        client.emit("io:chunk", {"runId": "ghost", "inputId": "camera"})
        assert "unknown run 'ghost'" in client.next("io:error")["error"]
        client.emit("learn:reward", [1, 2, 3])
        assert "must be an object with a runId" in client.next("io:error")["error"]
        # Still alive: good inputs give the next cycles.
        for payload in demo_inputs(rid, 0):
            client.emit("io:chunk", payload)
        first = client.next("cycle:update")["cycle"]
        client.next("io:need")
        for payload in demo_inputs(rid, 1):
            client.emit("io:chunk", payload)
        assert client.next("cycle:update")["cycle"] == first + 1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            state = requests.get(f"{brain.url}/api/robot/demo_arm/io/state", timeout=10).json()
            if state["rewardsIgnored"]:
                break
            time.sleep(0.05)
        assert state["rewardsIgnored"] == 1
    finally:
        client.close()


@pytest.mark.timeout(60)
def test_api_key_is_required_when_configured(tmp_path: Path) -> None:
    server = BrainServer([load_graph(DEMO)], tmp_path, api_key="s3cret", realtime=False)
    thread = ServerThread(server)
    thread.start()
    try:
        url = thread.url
        assert requests.post(f"{url}/api/robot/demo_arm/start", json={},
                             timeout=10).status_code == 401
        assert requests.get(f"{url}/api/robot/demo_arm/contract", timeout=10,
                            headers={"x-api-key": "wrong"}).status_code == 401
        run = start(url, headers={"x-api-key": "s3cret"})
        assert requests.get(f"{url}/api/robot/demo_arm/io/state", timeout=10,
                            headers={"Authorization": "Bearer s3cret"}).status_code == 200
        with pytest.raises(socketio.exceptions.ConnectionError):
            Client(url)
        with pytest.raises(socketio.exceptions.ConnectionError):
            Client(url, auth={"token": "wrong"})
        for kw in ({"auth": {"token": "s3cret", "apiKey": "s3cret"}},
                   {"headers": {"x-api-key": "s3cret"}},
                   {"headers": {"Authorization": "Bearer s3cret"}}):
            client = Client(url, **kw)
            assert client.join(run["runId"])["ok"]
            client.close()
    finally:
        thread.stop()


@pytest.mark.timeout(60)
def test_several_runs_at_once_each_get_their_own_cycles(brain: ServerThread) -> None:
    runs = [start(brain.url, {"seed": s})["runId"] for s in (1, 2)]
    assert runs[0] != runs[1]
    clients = [Client(brain.url) for _ in runs]
    try:
        for client, rid in zip(clients, runs, strict=True):
            client.join(rid)
        for cycle in range(3):
            for client, rid in zip(clients, runs, strict=True):
                need = client.next("io:need")
                assert (need["runId"], need["cycle"]) == (rid, cycle)
                for payload in demo_inputs(rid, cycle):
                    client.emit("io:chunk", payload)
            for client, rid in zip(clients, runs, strict=True):
                update = client.next("cycle:update")
                assert (update["runId"], update["cycle"]) == (rid, cycle)
        state = requests.get(f"{brain.url}/api/robot/demo_arm/io/state", timeout=10).json()
        assert sorted(r["runId"] for r in state["runs"]) == sorted(runs)
    finally:
        for client in clients:
            client.close()


@pytest.mark.timeout(90)
def test_weights_survive_a_server_restart(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"

    def serve() -> ServerThread:
        thread = ServerThread(BrainServer([load_graph(DEMO)], state_dir, realtime=False,
                                          deadline_ms=2000))
        thread.start()
        return thread

    first = serve()
    try:
        rid = start(first.url)["runId"]
        client = Client(first.url)
        client.join(rid)
        for cycle in range(6):
            client.next("io:need")
            for payload in demo_inputs(rid, cycle):
                client.emit("io:chunk", payload)
            client.next("cycle:update")
            client.emit("learn:reward", {"runId": rid, "cycle": cycle,
                                         "globalReward": float(cycle % 2)})
        client.close()
        network = first.server.runs[rid].network
        initial = load_graph(DEMO)
        requests.post(f"{first.url}/api/robot/demo_arm/stop", json={"runId": rid}, timeout=10)
        learned = network.weights.copy()
        cycles_run = network.cycle
    finally:
        first.stop()
    assert (state_dir / "demo_arm.npz").exists()
    from embedded_brain.snn import Network
    assert not np.array_equal(Network(initial).weights, learned), "rewards changed nothing"

    second = serve()
    try:
        rid = start(second.url)["runId"]
        restored = second.server.runs[rid].network
        assert np.array_equal(restored.weights, learned)
        assert restored.cycle == cycles_run
    finally:
        second.stop()


@pytest.mark.timeout(60)
def test_server_executable_serves_and_stops_on_sigint(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "embedded_brain.server", "--port", "0", "--graph", str(DEMO),
         "--state-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        port = None
        for _ in range(50):
            line = proc.stdout.readline()
            match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if match:
                port = int(match.group(1))
                break
        assert port, "server did not report its port"
        health = requests.get(f"http://127.0.0.1:{port}/api/health", timeout=10).json()
        assert health == {"ok": True, "projects": ["demo_arm"], "runs": 0}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_server_executable_rejects_an_invalid_graph(tmp_path: Path) -> None:
    graph = tmp_path / "bad.yaml"
    graph.write_text(DEMO.read_text().replace("tau_m_ms: 10.0", "tau_m_ms: -10.0"))
    proc = subprocess.run(
        [sys.executable, "-m", "embedded_brain.server", "--port", "0", "--graph", str(graph),
         "--state-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "population 'joint0'.neuron.tau_m_ms: must be > 0" in proc.stdout


@pytest.mark.timeout(90)
def test_feedback_sent_on_cycle_update_counts_for_the_next_cycle(tmp_path: Path) -> None:
    """The SDK pattern: feedback goes out when a cycle:update arrives, before the next
    io:need; it must count for the next cycle, not be waited for again (the deadline
    here is far longer than the test's waits, so a stall would fail the test)."""
    thread = ServerThread(BrainServer([load_graph(DEMO)], tmp_path, realtime=True,
                                      deadline_ms=60_000))
    thread.start()
    client = None
    try:
        rid = start(thread.url)["runId"]
        client = Client(thread.url)
        client.join(rid)
        inputs = demo_inputs(rid, 0)
        sensors, feedback = inputs[:3], inputs[3]
        client.next("io:need")
        for payload in inputs:
            client.emit("io:chunk", payload)
        for cycle in range(6):
            update = client.next("cycle:update", timeout_s=20)
            assert update["cycle"] == cycle
            client.emit("io:chunk", feedback)           # on cycle:update, like the SDK
            need = client.next("io:need", timeout_s=20)
            assert need["cycle"] == cycle + 1
            for payload in sensors:
                client.emit("io:chunk", payload)
    finally:
        if client is not None:
            client.close()
        thread.stop()
