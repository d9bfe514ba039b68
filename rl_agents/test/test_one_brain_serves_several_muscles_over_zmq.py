import threading
import time

import numpy as np
import pytest
import zmq

from rl_agents.agent import Brain, FileBrainDumper, Step
from rl_agents.transport import (
    BrainClient,
    BrainError,
    BrainServer,
    ProtocolVersionError,
    header,
)

pytestmark = pytest.mark.timeout(60)


class CountingBrain(Brain):
    """Answers each muscle with how many requests it sent; stores the counters."""

    def setup(self):
        self.counts = {}

    def thinking(self, muscle_id, data_from_muscle, step):
        self.counts[muscle_id] = self.counts.get(muscle_id, 0) + 1
        return self.counts[muscle_id]

    def dump(self):
        ids = sorted(getattr(self, "counts", {}))
        return {"counts": {"ids": np.array(ids, dtype="U64"),
                           "counts": np.array([self.counts[i] for i in ids], dtype=np.int64)}}

    def restore(self, states):
        c = states["counts"]
        self.counts = {str(i): int(n) for i, n in zip(c["ids"], c["counts"], strict=True)}


def a_step(value: float = 1.0, done: bool = False) -> Step:
    return Step(np.array([value, 0.0]), np.array([1.0]), np.array([value]), value,
                np.array([value + 1, 0.0]), done)


@pytest.fixture
def server():
    brain = CountingBrain()
    brain.configure([], [], 0)
    srv = BrainServer(brain, "tcp://127.0.0.1:0").start()
    yield srv
    srv.stop()


def test_each_muscle_gets_its_own_answers_from_one_brain(server):
    results: dict[str, list[int]] = {}

    def muscle(uid: str) -> None:
        client = BrainClient(server.endpoint, timeout_s=10.0)
        results[uid] = [client.think(uid, {"i": i}, a_step(i)) for i in range(50)]
        client.close()

    threads = [threading.Thread(target=muscle, args=(f"m{k}",)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {f"m{k}": list(range(1, 51)) for k in range(4)}
    assert server.muscles == {"m0", "m1", "m2", "m3"}
    assert len(server.brain.memory) == 200


def test_a_muscle_of_another_protocol_version_gets_a_clear_error(server):
    client = BrainClient(server.endpoint, timeout_s=10.0, protocol_version=99)
    with pytest.raises(ProtocolVersionError,
                       match="muscle speaks rl_agents protocol 99, brain speaks 1"):
        client.think("m", None, None)
    client.close()
    # and the brain still serves everyone else
    ok = BrainClient(server.endpoint, timeout_s=10.0)
    assert ok.think("m", None, None) == 1
    ok.close()


def test_a_brain_of_another_version_is_refused_by_the_muscle():
    brain = CountingBrain()
    brain.configure([], [], 0)
    srv = BrainServer(brain, "tcp://127.0.0.1:0", protocol_version=2).start()
    try:
        client = BrainClient(srv.endpoint, timeout_s=10.0)
        with pytest.raises(ProtocolVersionError, match="1, brain speaks 2"):
            client.think("m", None, None)
        client.close()
    finally:
        srv.stop()


def test_garbage_and_brain_failures_do_not_take_the_server_down(server):
    raw = zmq.Context.instance().socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect(server.endpoint)
    raw.send_multipart([b"hello"])                                   # too few frames
    raw.send_multipart([b"nonsense", b"think", b"\0" * 8, b"{}"])    # not our header
    assert raw.poll(10_000)
    reply = raw.recv_multipart()
    assert reply[1] == b"error" and b"not an rl_agents message" in reply[3]
    raw.send_multipart([header(), b"think", b"\0" * 8, b"\x80not json"])
    assert raw.poll(10_000)
    assert b"not JSON" in raw.recv_multipart()[3]
    raw.close()

    class Broken(Brain):
        def thinking(self, muscle_id, data, step):
            raise RuntimeError("boom")

    broken = Broken()
    broken.configure([], [], 0)
    srv = BrainServer(broken, "tcp://127.0.0.1:0").start()
    try:
        client = BrainClient(srv.endpoint, timeout_s=10.0)
        with pytest.raises(BrainError, match="brain failed: RuntimeError: boom"):
            client.think("m", None, None)
        with pytest.raises(BrainError, match="boom"):   # still answering
            client.think("m", None, None)
        client.close()
    finally:
        srv.stop()
    ok = BrainClient(server.endpoint, timeout_s=10.0)
    assert ok.think("m", None, None) == 1
    ok.close()


def test_muscles_survive_a_brain_restart_and_the_brain_resumes_from_its_store(tmp_path):
    def start_brain(endpoint: str) -> BrainServer:
        brain = CountingBrain()
        brain.configure([], [], 0, [FileBrainDumper(tmp_path)], load=True)
        return BrainServer(brain, endpoint).start()

    first = start_brain("tcp://127.0.0.1:0")
    endpoint = first.endpoint
    client = BrainClient(endpoint, timeout_s=0.5, reconnect_interval_s=0.2)
    assert [client.think("m", None, a_step()) for _ in range(3)] == [1, 2, 3]
    first.brain.store()
    first.stop()

    # brain gone: the muscle gets "no update" after its timeout, and does not raise
    started = time.monotonic()
    assert client.think("m", None, a_step()) is None
    assert not client.brain_up
    assert client.think("m", None, a_step()) is None   # dropped without waiting again
    assert time.monotonic() - started < 5.0

    second = start_brain(endpoint)
    try:
        deadline = time.monotonic() + 20
        answer = None
        while answer is None and time.monotonic() < deadline:
            answer = client.think("m", None, a_step())
            time.sleep(0.05)
        assert client.brain_up
        assert answer == 4    # the restarted brain loaded the stored counter (3)
        assert client.timeouts >= 1
    finally:
        client.close()
        second.stop()
