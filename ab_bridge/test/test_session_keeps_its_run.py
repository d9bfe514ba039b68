"""keep_run: the session starts its run whenever the brain comes up (start-up order does
not matter), starts a new one when a restarted brain no longer knows it, and reports a
connected run without cycles as stalled."""

from __future__ import annotations

import numpy as np
import pytest
from session_helpers import Recorder, wait_until
from support import free_port

from ab_bridge.inputs import image_frame, joint_state_frame, scalar_frame
from ab_bridge.session import BrainSession, SessionConfig
from embedded_brain.graph import bundled_graph_path, load_graph
from embedded_brain.server import BrainServer, ServerThread

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

MAPPING = [{"node_id": "joint0", "channel": "joint:0", "scheme": "bipolarSplit",
            "per_step_max": 0.01},
           {"node_id": "joint1", "channel": "joint:1", "scheme": "bipolarSplit",
            "per_step_max": 0.01}]


def server(tmp_path, port: int) -> ServerThread:
    graph = load_graph(bundled_graph_path("demo_arm"))
    thread = ServerThread(BrainServer([graph], tmp_path / "state", seed=1), "127.0.0.1", port)
    thread.start()
    return thread


def session(port: int, recorder: Recorder, **config) -> BrainSession:
    brain = BrainSession(SessionConfig(url=f"http://127.0.0.1:{port}", project_id="demo_arm",
                                       decoder_mapping=MAPPING, request_timeout_s=5.0,
                                       start_retry_s=0.05, start_retry_max_s=0.2,
                                       reconnect_delay_s=0.05, reconnect_delay_max_s=0.2,
                                       **config), recorder)
    pixels = np.zeros((48, 64, 3), np.uint8)
    brain.streamer.register_input("camera", lambda: image_frame(pixels))
    brain.streamer.register_input("joints", lambda: joint_state_frame(["a", "b"], [0.2, -0.4]))
    brain.streamer.register_input("target", lambda: scalar_frame([0.5, -0.5]))
    return brain


def test_the_session_started_before_the_brain_starts_its_run_when_it_comes_up(tmp_path):
    port, recorder = free_port(), Recorder()
    brain = session(port, recorder)
    thread = None
    try:
        brain.keep_run({"seed": 2})
        # The brain is not there yet: each failed try is reported once, with backoff.
        assert wait_until(lambda: brain.stats.start_attempts >= 3, timeout_s=20)
        tries = [e for e in recorder.errors if e.startswith("start run failed (try ")]
        assert len(tries) == brain.stats.start_attempts
        assert brain.stats.link == "starting" and not recorder.cycles
        thread = server(tmp_path, port)
        assert wait_until(lambda: len(recorder.cycles) >= 3, timeout_s=60), recorder.errors
        assert brain.stats.start_attempts == 0 and brain.stats.runs_started == 1
    finally:
        brain.close()
        if thread is not None:
            thread.stop()


def test_a_restarted_brain_gets_a_new_run_with_the_same_options(tmp_path):
    port, recorder = free_port(), Recorder()
    thread = server(tmp_path, port)
    brain = session(port, recorder)
    try:
        brain.keep_run({"seed": 2})
        assert wait_until(lambda: len(recorder.cycles) >= 3, timeout_s=60), recorder.errors
        first_run = brain.run_id
        thread.stop()                      # the brain goes away with the run
        thread = server(tmp_path, port)    # and comes back knowing nothing of it
        assert wait_until(lambda: brain.run_id not in ("", first_run) and any(
            c.run_id == brain.run_id for c in list(recorder.cycles)), timeout_s=60), \
            (recorder.errors[-5:], recorder.holds[-5:])
        # A server shutting down may drop the run before it stops listening: the session
        # then starts one there that the restarted server does not know either.
        assert brain.stats.runs_lost >= 1, (recorder.holds, recorder.errors[-6:])
        assert brain.stats.runs_started == brain.stats.runs_lost + 1
        assert any("lost" in h and first_run in h for h in recorder.holds)
    finally:
        brain.close()
        thread.stop()


def test_stop_ends_keeping_the_run(tmp_path):
    port, recorder = free_port(), Recorder()
    thread = server(tmp_path, port)
    brain = session(port, recorder)
    try:
        brain.keep_run()
        assert wait_until(lambda: len(recorder.cycles) >= 1, timeout_s=60), recorder.errors
        brain.stop()
        assert not brain.keeping and not brain.running
        started = brain.stats.runs_started
        cycles = len(recorder.cycles)
        # Nothing starts a run again (the keeper is idle): checked over a few retry periods.
        assert not wait_until(lambda: brain.stats.runs_started > started, timeout_s=1.0)
        assert len(recorder.cycles) <= cycles + 1
    finally:
        brain.close()
        thread.stop()


def test_a_connected_run_without_cycles_is_reported_stalled_until_they_resume(tmp_path):
    import time

    port, recorder = free_port(), Recorder()
    thread = server(tmp_path, port)
    brain = session(port, recorder, stall_after_s=0.5)
    try:
        brain.keep_run()
        assert wait_until(lambda: len(recorder.cycles) >= 3, timeout_s=60), recorder.errors
        # The brain hangs (its loop blocked for 2 s) with the link still up.
        thread.loop.call_soon_threadsafe(time.sleep, 2.0)
        assert wait_until(lambda: brain.stats.stalled, timeout_s=10), brain.stats
        assert brain.stats.link == "connected"
        assert any(h.startswith("stalled: no cycle for") for h in recorder.holds)
        assert brain.stats.cycle_rate_hz(window_s=0.5) == 0.0
        assert wait_until(lambda: not brain.stats.stalled, timeout_s=20)
        assert ("resumed" in brain_links(recorder))
    finally:
        brain.close()
        thread.stop()


def brain_links(recorder: Recorder) -> list[str]:
    return recorder.link_states()


def test_close_is_bounded_when_the_brain_accepts_and_never_answers():
    """A brain going away at the same moment (Ctrl-C reaches every process) may take the
    connection and answer nothing: closing still ends within a few close_timeout_s, so
    `ros2 launch` never has to escalate to SIGKILL."""
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port, recorder = listener.getsockname()[1], Recorder()
    brain = session(port, recorder, close_timeout_s=0.5)
    brain.rest.timeout_s = 30.0          # the start in flight would wait this long
    try:
        brain.keep_run()
        listener.settimeout(10)
        connection, _ = listener.accept()    # the start request is in flight, unanswered
        started = time.monotonic()
        brain.close()
        assert time.monotonic() - started < 3 * 0.5 + 1.0
        connection.close()
    finally:
        listener.close()
