"""The official `artificialbrains-sdk` client (ab_sdk 0.1.0), unmodified, runs a session
against the embedded brain: start, realtime join, inputs streamed on io:need, output
spikes decoded by the SDK's own decoder, rewards and feedback rasters, io state,
contract and policy sync, stop."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from support import wait_for

from embedded_brain.graph import bundled_graph_path, load_graph
from embedded_brain.server import BrainServer, ServerThread

ab_sdk = pytest.importorskip("ab_sdk")
from ab_sdk.input_streamer import InputStreamer  # noqa: E402
from ab_sdk.plugins.decoder import decode_stream_rows  # noqa: E402

API_KEY = "sdk-key"


@pytest.fixture
def brain(tmp_path: Path):
    thread = ServerThread(BrainServer([load_graph(bundled_graph_path("demo_arm"))],
                                      tmp_path / "state", api_key=API_KEY, realtime=False,
                                      deadline_ms=2000))
    thread.start()
    yield thread
    thread.stop()


@pytest.mark.timeout(90)
def test_official_client_runs_a_session(brain: ServerThread, tmp_path: Path) -> None:
    client = ab_sdk.ABClient(brain.url, api_key=API_KEY)     # host root: the SDK adds /api
    contract = client.get_contract("demo_arm")
    assert contract["ok"] and contract["constants"]["gamma"] == 20

    session = client.start("demo_arm")
    try:
        assert session.gamma == 20 and session.output_n == 32 and session.feedback_n == 8
        assert session.stdp_layers == ["hidden_to_joint0", "hidden_to_joint1"]
        assert set(session.io_inputs) == {"camera", "joints", "target"}

        frame = np.zeros((48, 64, 3), np.uint8)
        cv2.circle(frame, (40, 20), 6, (255, 255, 255), -1)
        jpeg = cv2.imencode(".jpg", frame)[1].tobytes()
        streamer = InputStreamer(session)
        streamer.register_input("camera", "Image", lambda: {
            "format": "jpeg", "meta": {"width": 64, "height": 48}, "data": jpeg})
        streamer.register_input("joints", "JointState", lambda: {
            "format": "json", "meta": {}, "data": json.dumps({"position": [0.3, -0.2]}).encode()})
        streamer.register_kind("Scalar", lambda: {
            "format": "f32", "meta": {}, "data": np.array([0.4, 0.1], "<f4").tobytes()})
        streamer.start()

        mapping = [{"node_id": "joint0", "channel": "joint:0", "scheme": "bipolarSplit",
                    "per_step_max": 0.01, "gain": 1.0},
                   {"node_id": "joint1", "channel": "joint:1", "scheme": "bipolarSplit",
                    "per_step_max": 0.01, "gain": 1.0}]
        updates: list[dict] = []
        commands: list[list[dict]] = []
        done = threading.Event()

        def on_update(telemetry: dict) -> None:
            updates.append(telemetry)
            commands.append(decode_stream_rows(telemetry["outputs"], mapping))
            session.send_reward(0.6 + 0.1 * (len(updates) % 2), {}, telemetry["cycle"])
            session.send_feedback_raster("arm_error", [0.25] * (session.gamma *
                                                                 session.feedback_n),
                                         telemetry["cycle"])
            if len(updates) >= 8:
                done.set()

        session.on_cycle_update(on_update)
        assert done.wait(60), f"only {len(updates)} cycle updates arrived"

        # Consecutive cycles (the first ones may pass before the handler is registered).
        first = updates[0]["cycle"]
        assert [u["cycle"] for u in updates[:8]] == list(range(first, first + 8))
        assert all(u["runId"] == session.run_id for u in updates)
        # The SDK's decoder turns our rows into one command per timestep.
        assert all([c["t"] for c in cmds] == list(range(20)) for cmds in commands[:8])
        channels = {ch for cmds in commands for c in cmds for ch in c["deltas"]}
        assert channels <= {"joint:0", "joint:1"} and channels, "no output spikes decoded"

        # The rewards sent with the cycles above reach the server a moment later.
        assert wait_for(lambda: client.get_io_state("demo_arm")["rewards"] >= 7)
        state = client.get_io_state("demo_arm")
        assert state["runId"] == session.run_id and state["cycle"] >= first + 8
        assert state["chunkErrors"] == 0

        sync = client.sync_policies("demo_arm", policies_dir=str(tmp_path / "policies"))
        assert sync["ok"] and sync["createdRewardPolicy"]
        view = json.loads((tmp_path / "policies" / "_contract.json").read_text())
        assert view["io"]["stdp3"]["layers"] == ["hidden_to_joint0", "hidden_to_joint1"]
        assert view["constants"]["feedbackN"] == 8
    finally:
        session.close()
        # ab_sdk 0.1.0's close() passes namespace= to Client.disconnect(), which
        # python-socketio 5.x does not take: disconnect the socket ourselves.
        session.socket.disconnect()
        stopped = client.stop("demo_arm", session.run_id)
        client.close()
    assert stopped == {"ok": True, "stopped": [session.run_id]}


@pytest.mark.timeout(90)
def test_official_robot_loop_state_without_joints_keeps_the_run_going(
        brain: ServerThread) -> None:
    """ab_sdk's RobotLoop sends its state provider's dict as is: `"q": None` from a robot
    without joint readings. The joints input (JointState) then gets no chunk and no q:
    the run must go on cycling, without io:error, and use q once it comes."""
    from ab_sdk.robot_loop import RobotLoop

    client = ab_sdk.ABClient(brain.url, api_key=API_KEY)
    session = client.start("demo_arm")
    errors: list[dict] = []
    session.socket.on("io:error", errors.append, namespace=session.namespace)
    joints: list[float] | None = None
    loop = None
    try:
        streamer = InputStreamer(session)
        frame = cv2.imencode(".jpg", np.full((24, 32, 3), 90, np.uint8))[1].tobytes()
        streamer.register_input("camera", "Image", lambda: {
            "format": "jpeg", "meta": {"width": 32, "height": 24}, "data": frame})
        streamer.register_kind("Scalar", lambda: {
            "format": "f32", "meta": {}, "data": np.array([0.4, 0.1], "<f4").tobytes()})
        streamer.start()
        loop = RobotLoop(session, state_provider=lambda: {"q": joints, "dq": None, "dt": 0.05},
                         command_executor=lambda command: None, tick_hz=50.0)
        threading.Thread(target=loop.run_forever, daemon=True).start()

        def io_state() -> dict:
            return client.get_io_state("demo_arm")

        assert wait_for(lambda: "q" in io_state()["robotState"], timeout_s=30), "no robot:state arrived"
        start_cycle = io_state()["cycle"]
        assert wait_for(lambda: io_state()["cycle"] >= start_cycle + 10, timeout_s=30), "the run stopped cycling"
        joints = [0.3, -0.2]
        assert wait_for(lambda: io_state()["robotState"]["q"] == [0.3, -0.2], timeout_s=30)
        cycle = io_state()["cycle"]
        assert wait_for(lambda: io_state()["cycle"] >= cycle + 10, timeout_s=30)
        assert errors == []
        assert io_state()["runId"] == session.run_id
    finally:
        if loop is not None:
            loop.stop()
        session.close()
        session.socket.disconnect()
        client.stop("demo_arm", session.run_id)
        client.close()
