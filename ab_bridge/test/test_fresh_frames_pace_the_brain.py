"""A session that defers each io:need until a fresh camera frame arrives, on an embedded
brain run with `"pace": "inputs"`: the camera paces the brain. Each cycle runs on a frame
of its own, as soon as it arrives, and the next cycle's need is already waiting for the
next frame; without frames the session answers at its deadline with what it has."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np
import pytest
from session_helpers import Recorder, wait_until

import embedded_brain.graph as graphs
import embedded_brain.server as embedded
from ab_bridge.inputs import image_frame, joint_state_frame, scalar_frame
from ab_bridge.session import BrainSession, SessionConfig

GRAPH = graphs.load_graph(graphs.bundled_graph_path("demo_arm"))


class Camera:
    """Frames numbered 1, 2, ...; the number is the first pixel. Notes which frame each
    cycle was served and whether a frame no cycle was served is there."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.frames = 0
        self.served_frame = 0
        self.served: list[int] = []

    def shoot(self) -> None:
        with self.lock:
            self.frames += 1

    def fresh(self) -> bool:
        with self.lock:
            return self.frames > self.served_frame

    def provide(self):
        with self.lock:
            self.served_frame = self.frames
            self.served.append(self.frames)
            return image_frame(np.full((12, 16, 3), self.frames % 256, np.uint8), jpeg_quality=None)


@contextmanager
def paced_brain(tmp_path, wait_s: float, deadline_ms: float = 5000.0):
    """An embedded demo_arm brain and a session on it whose needs wait for a fresh frame
    of `Camera` (at most `wait_s`); yields (session, camera, recorder). Runs are started
    by the test."""
    thread = embedded.ServerThread(embedded.BrainServer([GRAPH], tmp_path / "state", seed=1,
                                                        deadline_ms=deadline_ms))
    thread.start()
    camera, recorder = Camera(), Recorder()
    brain = BrainSession(SessionConfig(url=thread.url, project_id="demo_arm",
                                       request_timeout_s=5.0), recorder)
    brain.streamer.register_input("camera", camera.provide)
    brain.streamer.register_input("joints", lambda: joint_state_frame(["a", "b"], [0.2, -0.4]))
    brain.streamer.register_input("target", lambda: scalar_frame([0.5, -0.5]))
    brain.defer_needs(camera.fresh, wait_s)
    try:
        yield brain, camera, recorder
    finally:
        brain.close()
        thread.stop()


@pytest.mark.timeout(90)
def test_each_cycle_runs_on_a_frame_of_its_own_as_it_arrives(tmp_path) -> None:
    with paced_brain(tmp_path, wait_s=5.0) as (brain, camera, recorder):
        camera.shoot()
        contract = brain.start({"pace": "inputs"})
        assert contract.raw["pace"] == "inputs"
        assert wait_until(lambda: len(recorder.cycles) >= 1, timeout_s=30), recorder.errors
        for shot in range(2, 8):
            # The next cycle's need is here already, waiting for its frame: no cycle runs
            # without one (the brain's clock would run one every 20 ms) ...
            assert wait_until(lambda shot=shot: brain.deferred_cycle == shot - 1, timeout_s=10)
            cycles = len(recorder.cycles)
            assert not wait_until(lambda cycles=cycles: len(recorder.cycles) > cycles,
                                  timeout_s=0.15)
            # ... and the frame is answered as it arrives, on the thread that brings it.
            camera.shoot()
            assert brain.serve_pending()
            assert wait_until(lambda cycles=cycles: len(recorder.cycles) > cycles, timeout_s=10)
            assert camera.served[-1] == shot
        assert camera.served == list(range(1, 8))
        assert [c.cycle for c in recorder.cycles] == list(range(7))
        assert not recorder.errors


@pytest.mark.timeout(90)
def test_without_fresh_frames_needs_are_answered_at_the_deadline(tmp_path) -> None:
    with paced_brain(tmp_path, wait_s=0.05) as (brain, camera, recorder):
        camera.shoot()
        brain.start({"pace": "inputs"})
        # One frame only: the following cycles get it again, each after the session's wait.
        assert wait_until(lambda: len(recorder.cycles) >= 5, timeout_s=30), recorder.errors
        assert set(camera.served) == {1}
        assert not recorder.errors


@pytest.mark.timeout(60)
def test_a_brain_paced_by_inputs_never_runs_ahead_of_real_time(tmp_path) -> None:
    """A client that answers at once gets the clock's pace: gamma x dt per cycle."""
    with paced_brain(tmp_path, wait_s=0.0, deadline_ms=50.0) as (brain, _, recorder):
        brain.start({"pace": "inputs"})
        assert wait_until(lambda: len(recorder.cycles) >= 40, timeout_s=30), recorder.errors
        # The slots count from the start: the first cycles may come back to back while the
        # run catches up with the time its client took to join. From then on, up to one
        # period ahead of the slots, never more.
        times = [c.received_s for c in recorder.cycles][-30:]
        period_s = GRAPH.gamma * GRAPH.dt_ms / 1000.0
        assert times[-1] - times[0] >= (len(times) - 3) * period_s


def test_pace_must_be_known(tmp_path) -> None:
    thread = embedded.ServerThread(embedded.BrainServer([GRAPH], tmp_path / "state"))
    thread.start()
    try:
        import requests

        reply = requests.post(f"{thread.url}/api/robot/demo_arm/start",
                              json={"pace": "camera"}, timeout=10)
        assert reply.status_code == 400 and "'pace' must be one of" in reply.json()["error"]
    finally:
        thread.stop()


@pytest.mark.timeout(90)
def test_a_failing_ready_check_is_reported_and_the_deadline_still_answers(tmp_path) -> None:
    def broken() -> bool:
        raise RuntimeError("camera driver gone")

    with paced_brain(tmp_path, wait_s=0.05) as (brain, camera, recorder):
        brain.defer_needs(broken, 0.05)
        camera.shoot()
        brain.start({"pace": "inputs"})
        assert wait_until(lambda: len(recorder.cycles) >= 3, timeout_s=30), recorder.errors
        assert not brain.serve_pending()
        assert any("ready() failed: RuntimeError: camera driver gone" in e
                   for e in recorder.errors)
