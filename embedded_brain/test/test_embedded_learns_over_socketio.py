"""Through the real server and a plain python-socketio client, reward changes behaviour:
the closed-loop point task earns more with learning on than with learning off."""

from __future__ import annotations

import queue
from pathlib import Path

import numpy as np
import pytest
import requests
import socketio

from embedded_brain.point_task import PointTask, point_graph
from embedded_brain.server import BrainServer, ServerThread

NS = "/ab"
CYCLES = 500


def run_session(url: str, learning: bool, seed: int) -> np.ndarray:
    run = requests.post(f"{url}/api/robot/point1d/start",
                        json={"learning": learning, "seed": seed}, timeout=10).json()
    assert run["learning"] is learning
    rid = run["runId"]
    needs: queue.Queue = queue.Queue()
    updates: queue.Queue = queue.Queue()
    sio = socketio.Client(reconnection=False)
    sio.on("io:need", needs.put, namespace=NS)
    sio.on("cycle:update", updates.put, namespace=NS)
    sio.connect(url, namespaces=[NS], transports=["websocket"], wait_timeout=10)
    task = PointTask(seed)
    rewards = np.zeros(CYCLES)
    try:
        sio.call("run:join", {"runId": rid}, namespace=NS, timeout=10)
        for cycle in range(CYCLES):
            need = needs.get(timeout=10)
            assert need["cycle"] == cycle and need["needs"] == [{"id": "eye", "kind": "Image"}]
            frame, meta = task.observe()
            sio.emit("io:chunk", {"runId": rid, "inputId": "eye", "kind": "Image",
                                  "seq": cycle + 1, "t": 0.0, "format": "mono8",
                                  "meta": meta, "data": frame}, namespace=NS)
            update = updates.get(timeout=10)
            assert update["cycle"] == cycle
            bits = np.array([row["bits"] for row in update["outputs"] if row["id"] == "move"])
            rewards[cycle] = task.act(bits)
            sio.emit("learn:reward", {"runId": rid, "cycle": cycle,
                                      "globalReward": rewards[cycle],
                                      "byLayer": {"hidden_to_move": rewards[cycle]}},
                     namespace=NS)
    finally:
        sio.disconnect()
        requests.post(f"{url}/api/robot/point1d/stop", json={"runId": rid}, timeout=10)
    return rewards


@pytest.mark.timeout(180)
def test_learning_through_the_server_beats_the_frozen_brain(tmp_path: Path) -> None:
    thread = ServerThread(BrainServer([point_graph()], tmp_path, realtime=False,
                                      deadline_ms=5000, save_interval_s=1e9))
    thread.start()
    try:
        off = run_session(thread.url, learning=False, seed=0)
        on = run_session(thread.url, learning=True, seed=0)
    finally:
        thread.stop()
    fifth = CYCLES // 5
    print("reward per", fifth, "cycles, learning on :",
          " ".join(f"{m:.2f}" for m in on.reshape(5, -1).mean(axis=1)))
    print("reward per", fifth, "cycles, learning off:",
          " ".join(f"{m:.2f}" for m in off.reshape(5, -1).mean(axis=1)))
    gain = on[CYCLES // 2:].mean() - off[CYCLES // 2:].mean()
    print(f"gain over the second half: {gain:+.3f}")
    assert gain > 0.1
