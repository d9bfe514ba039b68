"""The embedded device API, driven over HTTP with requests (protocol facts from the SDK
0.4.0 source): keys, build validation, lifecycle, stream cursors (replay, resume, gap,
reset), bistable outputs, reset-dynamics and saved state; the 0.1 protocol still
answers beside it."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import requests
from support import wait_for

from embedded_brain.abdesign import design_sha256
from embedded_brain.device import DeviceBrain
from embedded_brain.graph import bundled_graph_path, load_graph
from embedded_brain.server import BrainServer, ServerThread

KEY = "plx_api_test"
AUTH = {"Authorization": f"Bearer {KEY}"}
HOLD_DESIGN = {
    "schema": "artificial-brains/design/v1", "name": "hold",
    "nodes": [{"name": "IN", "kind": "input", "neurons": 4},
              {"name": "STOP", "kind": "input", "neurons": 4},
              {"name": "RELAY", "kind": "opu", "rhythm": "high-gamma"},
              {"name": "VETO", "kind": "opu", "rhythm": "high-gamma"},
              {"name": "LATCH", "kind": "output", "neurons": 3}],
    "connections": [{"from": "IN", "to": "RELAY"}, {"from": "RELAY", "to": "LATCH"},
                    {"from": "STOP", "to": "VETO"},
                    {"from": "VETO", "to": "LATCH", "type": "inh", "strength": 2.0}]}


@pytest.fixture
def device(tmp_path: Path):
    thread = ServerThread(BrainServer([load_graph(bundled_graph_path("demo_arm"))],
                                      tmp_path / "state", device_api_key=KEY,
                                      api_key="old-protocol-key"))
    thread.start()
    yield thread
    thread.stop()


def call(device: ServerThread, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, device.url + path, headers=AUTH, timeout=10, **kwargs)


def install(device: ServerThread, design: dict) -> None:
    answer = call(device, "POST", "/api/brain/build",
                  json={"design": design, "design_sha256": design_sha256(design)}).json()
    assert answer["accepted"]
    assert wait_for(lambda: call(device, "GET", f"/api/brain/build/{answer['build_id']}")
                    .json()["status"] == "READY")


def events(device: ServerThread, cursor: str = "", replay: int = 0, count: int = 10
           ) -> list[tuple[str, dict, str | None]]:
    """The first `count` SSE events of a stream (kind, data, id)."""
    out = []
    with requests.get(device.url + "/api/brain/stream", headers=AUTH, stream=True, timeout=10,
                      params={"replay": replay, "cursor": cursor}) as response:
        assert response.status_code == 200
        kind, data, ident = "message", [], None
        for line in response.iter_lines(decode_unicode=True):
            if line == "":
                if data:
                    out.append((kind, json.loads("\n".join(data)), ident))
                    if len(out) >= count or kind in ("gap", "reset", "error"):
                        break
                kind, data, ident = "message", [], None
            elif line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line.startswith("id:"):
                ident = line[3:].strip()
    return out


def test_keys_are_checked_as_the_device_does(device: ServerThread) -> None:
    for headers in ({}, {"Authorization": "Bearer plx_wrong"}, {"x-api-key": KEY},
                    {"Authorization": KEY}):
        answer = requests.get(device.url + "/api/status", headers=headers, timeout=10)
        assert answer.status_code == 401 and "plx_" in answer.json()["detail"]
    assert call(device, "GET", "/api/status").json()["engine"]["state"] == "READY"
    # The 0.1 protocol keeps its own key beside the device's.
    assert requests.get(device.url + "/api/health", headers=AUTH, timeout=10).status_code == 401
    assert requests.get(device.url + "/api/health", headers={"x-api-key": "old-protocol-key"},
                        timeout=10).json()["ok"]


def test_a_key_without_the_device_prefix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="plx_"):
        DeviceBrain(tmp_path, api_key="not-a-device-key")


def test_bad_designs_are_refused_naming_what_is_wrong(device: ServerThread) -> None:
    bad = json.loads(json.dumps(HOLD_DESIGN))
    bad["nodes"][2]["rhythm"] = "kappa"
    answer = call(device, "POST", "/api/brain/build", json={"design": bad})
    assert answer.status_code == 422 and "'RELAY'.rhythm" in answer.json()["detail"]
    answer = call(device, "POST", "/api/brain/build",
                  json={"design": HOLD_DESIGN, "design_sha256": "0" * 64})
    assert answer.status_code == 422 and "does not match" in answer.json()["detail"]
    answer = call(device, "POST", "/api/brain/load", files={"file": ("x.abp", b"ABPKG001" * 8)})
    assert answer.status_code == 422 and "brain designs" in answer.json()["detail"]
    assert call(device, "POST", "/api/brain/run").status_code == 409   # nothing installed
    # ... and the device goes on serving.
    install(device, HOLD_DESIGN)
    status = call(device, "GET", "/api/status").json()
    assert status["engine"]["has_brain"] and status["package"]["active"]["design_sha256"] \
        == design_sha256(HOLD_DESIGN)


def test_outputs_hold_until_cleared_and_every_step_is_a_frame(device: ServerThread) -> None:
    install(device, HOLD_DESIGN)
    assert call(device, "POST", "/api/brain/run").json()["state"] == "RUNNING"

    def frames() -> list[dict]:
        return call(device, "GET", "/api/brain/events").json()["items"]

    def switched_on(items: list[dict]) -> list[str]:
        return [n for i in items for row in i["outputs"] for n in row["neurons"]]

    answer = call(device, "POST", "/api/brain/sensor", json={"IN": [1.0] * 4}).json()
    assert answer["ok"] is True and answer["queued"] is True
    seen: list[list[str]] = []
    assert wait_for(lambda: set(seen.append(switched_on(frames())) or seen[-1])
                    == {"LATCH:0", "LATCH:1", "LATCH:2"})
    assert sorted(seen[-1]) == ["LATCH:0", "LATCH:1", "LATCH:2"]     # each once
    # IN keeps driving the output, but each neuron holds: no event repeats it.
    on = frames()[-1]["step"]
    assert wait_for(lambda: frames()[-1]["step"] >= on + 60)
    assert switched_on(frames()[-50:]) == []
    steps = [i["step"] for i in frames()]
    assert steps == list(range(steps[0], steps[0] + len(steps)))
    # A clear releases them: still driven, they switch on again.
    cleared = call(device, "POST", "/api/brain/sensor", json={"STOP": [1.0] * 4}).json()["step"]
    assert wait_for(lambda: frames()[-1]["step"] >= cleared + 20)
    released = call(device, "POST", "/api/brain/sensor", json={"STOP": [0.0] * 4}).json()["step"]
    assert wait_for(lambda: switched_on([i for i in frames() if i["step"] > released + 5]))


def test_stream_replays_resumes_and_reports_gaps_and_resets(device: ServerThread) -> None:
    install(device, HOLD_DESIGN)
    call(device, "POST", "/api/brain/run")
    assert wait_for(lambda: call(device, "GET", "/api/status").json()["stream"]["sequence"] > 50)
    first = events(device, replay=1, count=30)
    hello, frames = first[0], first[1:]
    assert hello[0] == "hello" and hello[1]["cursor"].endswith(":0")
    epoch = hello[1]["epoch"]
    assert [f[2] for f in frames] == [f"{epoch}:{i}" for i in range(1, 30)]
    assert [f[1]["sequence"] for f in frames] == list(range(1, 30))
    # Resume from a cursor: the next frame, nothing lost or repeated.
    again = events(device, cursor=f"{epoch}:17", count=5)
    assert again[0][1]["cursor"] == f"{epoch}:17"
    assert [f[1]["sequence"] for f in again[1:]] == [18, 19, 20, 21]
    assert again[1][1]["item"] == frames[17][1]["item"]
    # Without replay: from now on.
    live = events(device, count=3)
    assert int(live[0][1]["cursor"].split(":")[1]) > 50
    # Frames older than the history: a gap, not a silent skip.
    async def shrink() -> None:       # as if the history held 20 frames
        history = device.server.device.history
        while len(history.records) > 20:
            history.records.popleft()
    asyncio.run_coroutine_threadsafe(shrink(), device.loop).result(10)
    gap = events(device, cursor=f"{epoch}:1", count=2)
    assert gap[0][0] == "gap" and gap[0][1]["from"] == 2
    # Another run: a reset, the client must start a fresh session.
    assert call(device, "POST", "/api/brain/reset-dynamics").json()["ok"]
    reset = events(device, cursor=f"{epoch}:20", count=2)
    assert reset[0][0] == "reset"
    bad = events(device, cursor="nonsense", count=2)
    assert bad[0][0] == "error" and "epoch:sequence" in bad[0][1]["message"]


def test_stop_saves_state_that_the_next_start_loads(device: ServerThread,
                                                    tmp_path: Path) -> None:
    design = json.loads(json.dumps(HOLD_DESIGN))
    design["nodes"].append({"name": "REWARD", "kind": "input", "neurons": 4})
    install(device, design)
    brain = device.server.device
    call(device, "POST", "/api/brain/run")
    for value in (1.0, 0.0, 1.0, 0.25, 1.0, 0.0):
        call(device, "POST", "/api/brain/sensor",
             json={"IN": [1.0] * 4, "REWARD": [value] * 4})
        time.sleep(0.05)
    assert call(device, "POST", "/api/brain/stop").json()["native_response"] == \
        {"accepted": "stop"}
    assert wait_for(lambda: (lambda e: e["state"] == "STOPPED" and not e["busy"])(
        call(device, "GET", "/api/status").json()["engine"]))
    learned = brain.network.weights.copy()
    # A device restarted on the same state folder: the brain is installed, state loaded.
    again = DeviceBrain(device.server.state_dir / "device", api_key=KEY)
    assert again.installed.design_sha256 == design_sha256(design)
    assert (again.network.weights == learned).all()
    assert again.step == brain.step
    # reset-dynamics forgets it.
    assert call(device, "POST", "/api/brain/reset-dynamics").json()["ok"]
    assert not (brain.network.weights == learned).all()
    assert not list((device.server.state_dir / "device").glob("brain-*.npz"))
