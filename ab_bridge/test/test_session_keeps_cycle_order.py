"""Cycle order, server io:error reports and reconnection counts of a BrainSession, over
real Socket.IO against the protocol server (no ROS)."""

from __future__ import annotations

import numpy as np
import pytest
from protocol_server import ProtocolServer
from session_helpers import Recorder, wait_until

from ab_bridge.session import BrainSession, SessionConfig

MAPPING = [{"node_id": "joint0", "channel": "joint:0", "scheme": "bipolarSplit",
            "per_step_max": 0.01}]


class FakeClock:
    """A monotonic clock the test moves by hand (for the io:error throttle)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server():
    srv = ProtocolServer().start()
    yield srv
    srv.stop()


def make_session(server: ProtocolServer, clock=None) -> tuple[BrainSession, Recorder]:
    recorder = Recorder()
    config = SessionConfig(url=server.url, project_id="demo_arm", decoder_mapping=MAPPING,
                           reconnect_delay_s=0.1, reconnect_delay_max_s=0.3,
                           request_timeout_s=3.0)
    brain = BrainSession(config, recorder, **({"clock": clock} if clock else {}))
    brain.start()
    assert wait_until(lambda: "run-1" in server.joined and brain.stats.link == "connected")
    return brain, recorder


def rows(cycle: int, rng: np.random.Generator) -> dict:
    raster = (rng.random((8, 16)) < 0.3).astype(int)
    return {"runId": "run-1", "cycle": cycle,
            "outputs": [{"t": t, "id": "joint0", "bits": raster[t].tolist()}
                        for t in range(8)]}


@pytest.mark.timeout(60)
def test_a_burst_of_cycles_is_published_in_order(server):
    brain, recorder = make_session(server)
    try:
        rng = np.random.default_rng(1)
        server.emit_burst("cycle:update", [rows(c, rng) for c in range(300)])
        assert wait_until(lambda: len(recorder.cycles) + brain.stats.out_of_order >= 300,
                          timeout_s=30)
        assert [r.cycle for r in recorder.cycles] == list(range(300))
        assert brain.stats.out_of_order == 0 and not recorder.errors
    finally:
        brain.close()


@pytest.mark.timeout(60)
def test_an_older_or_repeated_cycle_is_dropped_and_reported(server):
    brain, recorder = make_session(server)
    try:
        rng = np.random.default_rng(2)
        server.emit_burst("cycle:update", [rows(7, rng), rows(5, rng), rows(7, rng),
                                           rows(8, rng)])
        assert wait_until(lambda: len(recorder.cycles) == 2 and len(recorder.errors) == 2)
        assert [r.cycle for r in recorder.cycles] == [7, 8]
        assert "cycle 5 arrived after cycle 7 was published" in recorder.errors[0]
        assert "cycle 7 arrived after cycle 7" in recorder.errors[1]
        assert brain.stats.out_of_order == 2
        # A new connection (e.g. a restarted server) may count from anywhere again.
        server.kick()
        assert wait_until(lambda: server.joined.count("run-1") >= 2, timeout_s=20)
        assert wait_until(lambda: brain.stats.link == "connected")
        server.emit_burst("cycle:update", [rows(1, rng)])
        assert wait_until(lambda: len(recorder.cycles) == 3)
        assert recorder.cycles[-1].cycle == 1
    finally:
        brain.close()


@pytest.mark.timeout(60)
def test_server_io_errors_are_reported_with_their_message_throttled(server):
    clock = FakeClock()
    brain, recorder = make_session(server, clock)
    try:
        bad = {"runId": "run-1", "event": "io:chunk", "inputId": "camera",
               "error": "image: cannot decode jpeg"}
        server.emit_burst("io:error", [bad] * 20)
        assert wait_until(lambda: brain.stats.server_errors == 20)
        assert recorder.errors == ["server rejected io:chunk (input 'camera'): image: cannot "
                                   "decode jpeg"]
        assert not any("unexpected event" in e for e in recorder.errors)
        clock.now += 1.5
        server.emit_burst("io:error", [{"runId": "run-1", "event": "learn:reward",
                                        "error": "unknown layer(s) ['x']"}, "not an object"])
        assert wait_until(lambda: brain.stats.server_errors == 22)
        assert len(recorder.errors) == 2
        assert recorder.errors[1] == ("server rejected learn:reward: unknown layer(s) ['x'] "
                                      "(19 more io:error not reported since the last one)")
        assert brain.stats.errors == 22 and brain.stats.link == "connected"
    finally:
        brain.close()


@pytest.mark.timeout(90)
def test_a_reconnection_after_failed_attempts_is_counted(server):
    brain, recorder = make_session(server)
    try:
        assert brain.stats.reconnects == 0
        server.stop()
        assert wait_until(lambda: "disconnected" in recorder.link_states())
        lost = recorder.link_states().index("disconnected")
        # Failed attempts set the link to "connecting" before it comes back.
        assert wait_until(lambda: "connect_failed" in recorder.link_states()[lost:],
                          timeout_s=20)
        server.start()
        assert wait_until(lambda: server.joined.count("run-1") >= 2, timeout_s=30)
        assert wait_until(lambda: brain.stats.link == "connected")
        assert brain.stats.reconnects == 1
    finally:
        brain.close()
