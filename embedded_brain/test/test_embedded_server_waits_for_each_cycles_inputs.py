"""A cycle runs on the answers to its own io:need: answers that come late (after the
deadline) keep their values but neither complete a later cycle's wait nor make the server
stop waiting for that input."""

from __future__ import annotations

import queue
from pathlib import Path

import pytest
from test_embedded_server_protocol import DEMO, NS, Client, demo_inputs

from embedded_brain.graph import load_graph
from embedded_brain.server import BrainServer, ServerThread


def answers(run_id: str, cycle: int) -> list[dict]:
    """demo_arm's chunks carrying the cycle they answer (`meta.cycle`, as brain_session
    sends them)."""
    chunks = demo_inputs(run_id, cycle)
    for chunk in chunks:
        chunk["meta"] = {**chunk["meta"], "cycle": cycle}
    return chunks


@pytest.mark.timeout(60)
def test_late_answers_do_not_put_the_loop_ahead_of_its_inputs(tmp_path: Path) -> None:
    thread = ServerThread(BrainServer([load_graph(DEMO)], tmp_path, realtime=True,
                                      deadline_ms=300))
    thread.start()
    client = None
    try:
        import requests

        rid = requests.post(f"{thread.url}/api/robot/demo_arm/start", json={},
                            timeout=10).json()["runId"]
        client = Client(thread.url)
        client.join(rid)
        assert client.next("io:need")["cycle"] == 0
        *sensors, feedback = answers(rid, 0)
        client.emit("io:chunk", feedback)             # only the feedback in time
        assert client.next("cycle:update", timeout_s=20)["cycle"] == 0   # after the deadline
        for payload in sensors:                        # the sensors, late
            client.emit("io:chunk", payload)
        client.emit("io:chunk", feedback)             # feedback on cycle:update (SDK pattern)
        for cycle in range(1, 5):
            assert client.next("io:need", timeout_s=20)["cycle"] == cycle
            # The server waits for this cycle's answers (well within its deadline) ...
            with pytest.raises(queue.Empty):
                client.next("cycle:update", timeout_s=0.1)
            for payload in answers(rid, cycle):
                client.emit("io:chunk", payload)
            # ... and runs the cycle once they are there.
            assert client.next("cycle:update", timeout_s=20)["cycle"] == cycle
    finally:
        if client is not None:
            client.close()
        thread.stop()


class OrderedClient(Client):
    """Also notes the order in which events arrive."""

    def __init__(self, url: str) -> None:
        self.order: list[tuple[str, int]] = []
        super().__init__(url)
        for name, q in self.events.items():
            self.sio.on(name, lambda data, name=name, q=q: (
                self.order.append((name, data.get("cycle"))), q.put(data)), namespace=NS)


@pytest.mark.timeout(60)
def test_paced_by_inputs_the_next_need_follows_the_update(tmp_path: Path) -> None:
    """Pace "inputs": the next cycle's io:need goes out right after a cycle's cycle:update
    (not before its compute, which it would delay), and each cycle waits for its own
    answers, however late."""
    thread = ServerThread(BrainServer([load_graph(DEMO)], tmp_path, realtime=True,
                                      deadline_ms=5000))
    thread.start()
    client = None
    try:
        import requests

        rid = requests.post(f"{thread.url}/api/robot/demo_arm/start", json={"pace": "inputs"},
                            timeout=10).json()["runId"]
        client = OrderedClient(thread.url)
        client.join(rid)
        assert client.next("io:need")["cycle"] == 0
        for cycle in range(4):
            if cycle:
                # Later than the 20 ms clock: the cycle still waits for its answers.
                with pytest.raises(queue.Empty):
                    client.next("cycle:update", timeout_s=0.2)
            for payload in answers(rid, cycle):
                client.emit("io:chunk", payload)
            assert client.next("cycle:update", timeout_s=20)["cycle"] == cycle
            assert client.next("io:need", timeout_s=20)["cycle"] == cycle + 1
        assert client.order[:9] == [("io:need", 0), ("cycle:update", 0), ("io:need", 1),
                                    ("cycle:update", 1), ("io:need", 2),
                                    ("cycle:update", 2), ("io:need", 3),
                                    ("cycle:update", 3), ("io:need", 4)]
    finally:
        if client is not None:
            client.close()
        thread.stop()
