"""A full BrainSession against the protocol server over real Socket.IO (no ROS)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from protocol_server import ProtocolServer
from session_helpers import Recorder, wait_until

from ab_bridge.inputs import scalar_frame
from ab_bridge.session import BrainSession, SessionConfig

MAPPING = [
    {"node_id": "joint0", "channel": "joint:0", "scheme": "bipolarSplit", "per_step_max": 0.01},
    {"nodeId": "joint1", "controllerChannel": "joint:1", "scheme": "addition",
     "perStepMax": 0.002, "gain": 0.5},
]
SECRET = "sk-test-0123456789abcdef"


@pytest.fixture
def server():
    srv = ProtocolServer(api_key=SECRET).start()
    yield srv
    srv.stop()


@pytest.fixture
def session(server, tmp_path):
    recorder = Recorder()
    config = SessionConfig(url=server.url, project_id="demo_arm", api_key=SECRET,
                           decoder_mapping=MAPPING, policies_dir=str(tmp_path / "policies"),
                           reconnect_delay_s=0.1, reconnect_delay_max_s=0.4,
                           request_timeout_s=3.0)
    brain = BrainSession(config, recorder)
    yield brain, recorder
    brain.close()


@pytest.mark.timeout(60)
def test_inputs_spikes_rewards_and_deviations_flow(server, session, caplog):
    caplog.set_level(logging.DEBUG)
    brain, recorder = session
    brain.streamer.register_input("target", lambda: scalar_frame([0.25, -0.5]))
    brain.streamer.register_kind("JointState", lambda: scalar_frame([1.0]))
    contract = brain.start()
    assert contract.run_id == "run-1" and contract.gamma == 8
    assert wait_until(lambda: "run-1" in server.joined)
    # Auth travels in headers and the handshake auth dict.
    connect = server.connects[-1]
    assert connect["auth"] == {"token": SECRET, "apiKey": SECRET}
    assert connect["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert server.rest_calls[0][2]["x-api-key"] == SECRET

    server.emit_need(3, [{"id": "target", "kind": "Scalar"}, {"id": "joints", "kind": "JointState"},
                         {"id": "arm_error", "kind": "Feedback"}])
    assert wait_until(lambda: len(server.received_of("io:chunk")) == 3)
    chunks = {c["inputId"]: c for c in server.received_of("io:chunk")}
    assert np.frombuffer(chunks["target"]["data"], "<f4").tolist() == [0.25, -0.5]
    assert chunks["target"]["meta"]["cycle"] == 3 and chunks["target"]["seq"] == 1
    assert chunks["arm_error"]["format"] == "raster_f32"
    assert len(chunks["arm_error"]["data"]) == 8 * 4 * 4

    rng = np.random.default_rng(5)
    rasters = {"joint0": (rng.random((8, 16)) < 0.3).astype(np.uint8),
               "joint1": (rng.random((8, 16)) < 0.3).astype(np.uint8)}
    server.emit_cycle(3, rasters)
    assert wait_until(lambda: len(recorder.cycles) == 1)
    result = recorder.cycles[0]
    assert result.cycle == 3 and result.input_to_output_s is not None
    joint0 = rasters["joint0"].astype(int)
    split = joint0[:, :8].sum(1) - joint0[:, 8:].sum(1)
    np.testing.assert_allclose(result.decoded.deltas[0], split * 0.01)
    np.testing.assert_allclose(result.decoded.deltas[1], rasters["joint1"].sum(1) * 0.002 * 0.5)

    # Triples are accepted as well.
    server.emit_cycle(4, rasters, triples=True)
    assert wait_until(lambda: len(recorder.cycles) == 2)
    np.testing.assert_array_equal(recorder.cycles[1].decoded.deltas, result.decoded.deltas)
    # And sparse neuron events (newer SDK releases): the cycle's spikes ORed, one step.
    server.emit_raw("cycle:update", {"cycle": 5, "outputs": [
        {"t": 0, "neurons": ["joint0:1", "joint0:2"]}, {"t": 3, "neurons": ["joint0:9"]}]})
    assert wait_until(lambda: len(recorder.cycles) == 3)
    sparse = recorder.cycles[2]
    assert sparse.spikes.populations == ["joint0", "joint1"]
    assert sparse.decoded.deltas[:, 0].tolist() == pytest.approx([0.01, 0.0])

    assert brain.send_reward(3, 1.7, {"hidden_to_joint0": -0.2})
    assert brain.send_deviation("arm_error", [0.5] * 8, 3)
    assert wait_until(lambda: server.received_of("learn:reward"))
    reward = server.received_of("learn:reward")[0]
    assert reward == {"runId": "run-1", "cycle": 3, "globalReward": 1.0,
                      "byLayer": {"hidden_to_joint0": 0.0, "hidden_to_joint1": 1.0}}
    assert wait_until(lambda: len(server.received_of("io:chunk")) == 4)
    feedback = server.received_of("io:chunk")[-1]
    assert feedback["kind"] == "Feedback" and feedback["meta"] == {"T": 8, "N": 4, "cycle": 3}
    assert np.allclose(np.frombuffer(feedback["data"], "<f4"), 0.5)

    assert brain.stop() == "run-1"
    assert recorder.holds == ["run stopped"]
    assert wait_until(lambda: any(c[1].endswith("/stop") for c in server.rest_calls))
    # The key never reaches the logs.
    assert SECRET not in caplog.text
    assert all(SECRET not in message for message in recorder.errors)
    assert SECRET not in repr(brain) and SECRET not in repr(brain.rest)


@pytest.mark.timeout(60)
def test_bad_payloads_are_reported_and_the_session_keeps_running(server, session):
    brain, recorder = session
    brain.start()
    assert wait_until(lambda: "run-1" in server.joined)
    good = {"joint0": np.eye(8, 16, dtype=np.uint8), "joint1": np.zeros((8, 16), np.uint8)}
    bad_payloads = {
        "must be an object": "hello",
        "'cycle'": {"cycle": "x", "outputs": []},
        "NaN": {"cycle": 1, "outputs": [{"t": 0, "id": "joint0", "bits": [float("nan")] * 16}]},
        "0 or 1": {"cycle": 1, "outputs": [{"t": 0, "id": "joint0", "bits": [2] * 16}]},
        "declares n=16": {"cycle": 1, "outputs": [{"t": 0, "id": "joint0", "bits": [0] * 5}]},
        "different widths": {"cycle": 1, "outputs": [
            {"t": 0, "id": "joint1", "bits": [0] * 16}, {"t": 1, "id": "joint1", "bits": [0] * 3}]},
        "exceed the limit": {"cycle": 1, "outputs": [{"t": 0, "id": "joint0",
                                                      "bits": [0] * 200_000}]},
        "rows, more than the limit": {"cycle": 1, "outputs": [
            {"t": t, "id": "joint0", "bits": [0] * 16} for t in range(50)]},
        "row must be": {"cycle": 1, "outputs": [[0, "joint0"]]},
        "two rows for t=0": {"cycle": 1, "outputs": [{"t": 0, "id": "joint0", "bits": [0] * 16}] * 2},
        "for run 'other'": {"runId": "other", "cycle": 1, "outputs": []},
    }
    for expected, payload in bad_payloads.items():
        before = len(recorder.errors)
        server.emit_raw("cycle:update", payload)
        assert wait_until(lambda before=before: len(recorder.errors) > before), expected
        assert expected in recorder.errors[-1], (expected, recorder.errors[-1])
    server.emit_raw("io:need", {"cycle": 2, "needs": "camera"})
    assert wait_until(lambda: "'needs' must be a list" in recorder.errors[-1])
    # Unknown population: reported, the known ones still decoded.
    server.emit_raw("cycle:update", {"cycle": 9, "outputs": [
        {"t": 0, "id": "joint0", "bits": [1] * 8 + [0] * 8},
        {"t": 0, "id": "mystery", "bits": [1, 1]}]})
    assert wait_until(lambda: len(recorder.cycles) == 1)
    assert "unknown population 'mystery'" in " ".join(recorder.errors)
    assert recorder.cycles[0].decoded.deltas[0, 0] == pytest.approx(0.08)
    # A need nobody provides for is reported, the rest of the session goes on.
    server.emit_need(10, [{"id": "camera", "kind": "Image"}])
    assert wait_until(lambda: "no provider for input 'camera'" in recorder.errors[-1])
    server.emit_cycle(10, good)
    assert wait_until(lambda: len(recorder.cycles) == 2)
    assert brain.stats.link == "connected"
    # Bad rewards and deviations from the robot side are refused with a reason.
    assert not brain.send_reward(1, float("nan"))
    assert "global reward must be finite" in recorder.errors[-1]
    assert not brain.send_deviation("arm_error", [0.0] * 3, 1)
    assert "expected 8" in recorder.errors[-1]
    assert not brain.send_deviation("nope", [0.0] * 8, 1)
    assert "unknown feedback input 'nope'" in recorder.errors[-1]


@pytest.mark.timeout(60)
def test_server_killed_mid_run_reconnects_and_holds(server, session):
    brain, recorder = session
    brain.start()
    assert wait_until(lambda: "run-1" in server.joined)
    server.emit_cycle(1, {"joint0": np.ones((8, 16), np.uint8)})
    assert wait_until(lambda: len(recorder.cycles) == 1)
    server.stop()
    assert wait_until(lambda: any(h.startswith("link lost") for h in recorder.holds))
    assert brain.stats.link in ("disconnected", "connecting")
    server.start()
    assert wait_until(lambda: server.joined.count("run-1") >= 2, timeout_s=20)
    assert wait_until(lambda: brain.stats.link == "connected")
    server.emit_cycle(2, {"joint0": np.ones((8, 16), np.uint8)})
    assert wait_until(lambda: len(recorder.cycles) == 2)
    assert brain.stats.reconnects >= 1
    # A server that closes the namespace (instead of dying) is rejoined too.
    server.kick()
    assert wait_until(lambda: server.joined.count("run-1") >= 3, timeout_s=20)
    assert len([h for h in recorder.holds if h.startswith("link lost")]) >= 2


@pytest.mark.timeout(30)
def test_start_fails_clearly_with_a_wrong_key(server, tmp_path):
    recorder = Recorder()
    brain = BrainSession(SessionConfig(url=server.url, project_id="demo_arm", api_key="wrong",
                                       request_timeout_s=3.0), recorder)
    with pytest.raises(Exception, match="HTTP 401"):
        brain.start()
    brain.close()


@pytest.mark.timeout(60)
def test_link_retries_until_the_realtime_server_is_up():
    from ab_bridge.realtime import RealtimeClient

    server = ProtocolServer()
    links: list[tuple[str, str]] = []
    client = RealtimeClient(server.url, "run-1", api_key=SECRET, on_event=lambda e, p: None,
                            on_link=lambda state, detail: links.append((state, detail)),
                            reconnect_delay_s=0.05, reconnect_delay_max_s=0.2,
                            connect_timeout_s=2.0)
    try:
        client.start()
        assert wait_until(lambda: sum(s == "connect_failed" for s, _ in links) >= 2)
        assert all(SECRET not in detail for _, detail in links)
        server.start()
        assert wait_until(lambda: client.connected and "run-1" in server.joined, timeout_s=20)
        assert client.emit("robot:state", {"runId": "run-1", "state": {"q": [0.1]}})
        assert wait_until(lambda: server.received_of("robot:state"))
    finally:
        client.close()
        server.stop()
    assert not client.emit("robot:state", {})


@pytest.mark.timeout(60)
def test_a_deviation_sent_is_not_sent_again_with_the_next_answer(server, session):
    brain, recorder = session
    brain.streamer.register_input("target", lambda: scalar_frame([0.25, -0.5]))
    brain.start()
    assert wait_until(lambda: "run-1" in server.joined)
    needs = [{"id": "target", "kind": "Scalar"}, {"id": "arm_error", "kind": "Feedback"}]

    def chunks_after(count: int, expected: int) -> list[str]:
        assert wait_until(lambda: len(server.received_of("io:chunk")) >= count + expected)
        assert wait_until(lambda: brain.stats.chunks_sent + brain.stats.deviations_sent
                          == len(server.received_of("io:chunk")))
        return [c["inputId"] for c in server.received_of("io:chunk")[count:]]

    assert brain.send_deviation("arm_error", [0.5] * 8, 3)
    assert chunks_after(0, 1) == ["arm_error"]
    server.emit_need(4, needs)      # the server has this cycle's feedback: target only
    assert chunks_after(1, 1) == ["target"]
    server.emit_need(5, needs)      # no deviation since: the answer carries zeros
    assert chunks_after(2, 2) == ["target", "arm_error"]
    zeros = server.received_of("io:chunk")[-1]
    assert zeros["meta"]["cycle"] == 5 and not np.frombuffer(zeros["data"], "<f4").any()
    assert not recorder.errors
