"""brain_session's device backend (device_session.DeviceSession) against the embedded
brain's device API: inputs encoded into their populations and posted as they arrive,
frames decoded per step into commands, rewards into the reward populations, a cut stream
resumed from its cursor without losing or repeating a step, a gap counted, holds on link
loss and stop, stop waiting for STOPPED and idle."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from session_helpers import DEVICE_KEY as KEY
from support import wait_for

from ab_bridge.device_session import DeviceSession, device_settings
from ab_bridge.inputs import scalar_frame
from ab_bridge.session import SessionConfig, SessionError
from embedded_brain.abdesign import bundled_design_path
from embedded_brain.graph import bundled_graph_path, load_graph
from embedded_brain.server import BrainServer, ServerThread

MAPPING = [{"node_id": f"JOINT{j}", "channel": f"joint:{j}", "scheme": "bipolarSplit",
            "per_step_max": 0.004, "n": 32} for j in (0, 1)]
INPUTS = {"target": {"topic": "target_error", "type": "std_msgs/Float32MultiArray",
                     "population": ["E0_POS", "E0_NEG", "E1_POS", "E1_NEG"],
                     "sign_split": True, "n": 16,
                     "mode": "positive_scalar_cumulative_population", "vmax": 1.0}}


class Listener:
    def __init__(self) -> None:
        self.cycles: list = []
        self.holds: list[str] = []
        self.errors: list[str] = []
        self.links: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def on_cycle(self, result) -> None:
        with self.lock:
            self.cycles.append(result)

    def on_hold(self, reason: str) -> None:
        self.holds.append(reason)

    def on_link(self, state: str, detail: str) -> None:
        self.links.append((state, detail))

    def on_error(self, message: str) -> None:
        self.errors.append(message)

    def steps(self) -> list[int]:
        with self.lock:
            return [int(t) for c in self.cycles for t in c.decoded.timesteps]


def on_loop(device: ServerThread, function):
    async def call():
        return function()
    return asyncio.run_coroutine_threadsafe(call(), device.loop).result(10)


def make_session(device: ServerThread, listener: Listener, **kwargs) -> DeviceSession:
    config = SessionConfig(url=device.url, project_id="demo_arm", api_key=KEY,
                           decoder_mapping=MAPPING, reconnect_delay_s=0.05,
                           reconnect_delay_max_s=0.2)
    return DeviceSession(config, listener, inputs=kwargs.pop("inputs", INPUTS), **kwargs)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_session_drives_the_device_and_resumes_its_stream(device: ServerThread) -> None:
    listener = Listener()
    session = make_session(device, listener)
    brain = device.server.device
    error = np.array([0.8, -0.4])
    session.streamer.register_input("target", lambda: scalar_frame(error))
    contract = session.start({"learning": True, "pace": "inputs"})
    try:
        assert contract.output_ids == ["JOINT0", "JOINT1"] and contract.gamma == 10
        assert brain.state == "RUNNING"
        for _ in range(20):
            assert session.input_arrived("target")
            time.sleep(0.01)
        # Each observation goes out, or is superseded by a newer one before it could.
        assert wait_for(lambda: 4 * session.stats.inputs_posted
                        + session.stats.inputs_superseded == 4 * 20, timeout_s=15)
        # Encoded as the SDK's cumulative population: neurons 0..int(v x 16) active, so
        # 0.8 -> 13 of 16, 0.4 -> 7, 0 -> 1.
        assert brain.values["E0_POS"].sum() == 13 and brain.values["E0_NEG"].sum() == 1
        assert brain.values["E1_POS"].sum() == 1 and brain.values["E1_NEG"].sum() == 7
        assert wait_for(lambda: len(listener.cycles) >= 30, timeout_s=15)
        assert session.stats.last_input_to_output_s is not None
        assert any(np.any(c.decoded.deltas) for c in listener.cycles)
        first = listener.cycles[0]
        assert first.decoded.channels == ["joint:0", "joint:1"]
        assert first.decoded.deltas.shape == (2, 10) and first.dt_s == 0.001

        # Rewards go to the reward populations (a named one its own, the rest the global).
        rewards = brain.stats.rewards
        assert session.send_reward(0, 0.2, {"REWARD_J0": 0.9})
        assert wait_for(lambda: brain.stats.rewards == rewards + 2, timeout_s=15)
        assert not session.send_reward(0, 0.5, {"hidden_to_joint0": 0.9})
        assert "not reward input populations" in listener.errors[-1]

        # A cut stream: resumed from the cursor, every step once, the actuators held.
        before = len(listener.steps())
        holds = len(listener.holds)
        assert on_loop(device, brain.drop_streams) == 1
        assert wait_for(lambda: session.stats.reconnects >= 1, timeout_s=15)
        assert wait_for(lambda: len(listener.steps()) >= before + 300, timeout_s=15)
        assert len(listener.holds) > holds and "stream lost" in listener.holds[holds]
        steps = listener.steps()
        assert steps == list(range(steps[0], steps[0] + len(steps)))
        assert session.stats.steps_lost == 0 and session.stats.steps_repeated == 0

        # What the device no longer holds is a gap, counted and reported.
        def cut_and_forget() -> int:
            dropped = brain.drop_streams()
            brain._cycle(brain.steps_per_cycle)   # 10 steps the client has not seen ...
            brain.history.records.clear()         # ... that a too short history lost
            return dropped
        assert on_loop(device, cut_and_forget) == 1
        assert wait_for(lambda: session.stats.gaps >= 1, timeout_s=15)
        assert session.stats.steps_lost >= 10
        assert any("gap" in e for e in listener.errors)
        assert wait_for(lambda: len(listener.steps()) > len(steps) + 100, timeout_s=15)
        assert session.extra_diagnostics()["steps_lost"] == session.stats.steps_lost
    finally:
        run_id = session.stop()
    assert run_id
    assert brain.state == "STOPPED" and not brain.busy
    assert listener.holds[-1] == "run stopped"
    assert not session.running and not session.input_arrived("target")


def test_a_run_without_learning_sends_no_rewards(device: ServerThread) -> None:
    listener = Listener()
    session = make_session(device, listener)
    session.start({"learning": False})
    try:
        assert not session.send_reward(0, 0.9, {})
        assert session.stats.rewards_sent == 0
        session.stop()
        with pytest.raises(SessionError, match="seed"):
            session.start({"seed": 3})
    finally:
        session.close()


def test_configuration_errors_name_what_is_wrong(device: ServerThread, monkeypatch) -> None:
    listener = Listener()
    monkeypatch.delenv("AB_DEVICE_API_KEY", raising=False)
    monkeypatch.delenv("AB_DEVICE_URL", raising=False)
    with pytest.raises(SessionError, match="plx_"):
        DeviceSession(SessionConfig(url=device.url, project_id="demo_arm", api_key="abc"),
                      listener)
    bad = {"target": {**INPUTS["target"], "n": 8}}
    with pytest.raises(SessionError, match=r"inputs.target.n: 8, but 'E0_POS' has 16"):
        make_session(device, listener, inputs=bad)
    bad = {"target": {**INPUTS["target"], "population": ["NOPE", "E0_NEG"]}}
    with pytest.raises(SessionError, match="no input population 'NOPE'"):
        make_session(device, listener, inputs=bad)
    with pytest.raises(SessionError, match="no output 'joint0'"):
        DeviceSession(SessionConfig(url=device.url, project_id="demo_arm", api_key=KEY,
                                    decoder_mapping=[{"node_id": "joint0", "channel": "j"}]),
                      listener)
    with pytest.raises(SessionError, match="policies_dir"):
        DeviceSession(SessionConfig(url=device.url, project_id="demo_arm", api_key=KEY,
                                    use_reward_policy=True), listener)
    with pytest.raises(SessionError, match="fresh_inputs"):
        make_session(device, listener).defer_needs(lambda: True, 0.03)
    # The URL and key from a .env file (as the SDK's `ab run` names it in $AB_ENV).
    env = Path(device.server.state_dir) / ".env"
    env.write_text(f"AB_DEVICE_URL={device.url}/\nAB_DEVICE_API_KEY={KEY}\n")
    monkeypatch.setenv("AB_ENV", str(env))
    assert device_settings("http://127.0.0.1:8765", "") == (device.url, KEY)
    assert device_settings("http://10.0.0.9:8080/", "plx_x") == ("http://10.0.0.9:8080", "plx_x")


def test_keep_run_starts_the_run_once_a_brain_is_installed(tmp_path: Path) -> None:
    thread = ServerThread(BrainServer([load_graph(bundled_graph_path("demo_arm"))],
                                      tmp_path / "state", device_api_key=KEY))
    thread.start()
    listener = Listener()
    runs = []
    listener.on_run = runs.append
    session = make_session(thread, listener)
    try:
        session.keep_run({"learning": True})
        assert wait_for(lambda: session.stats.start_attempts >= 2, timeout_s=15)
        assert "no brain installed" in session.stats.last_error
        on_loop(thread, lambda: thread.server.device.install(json.loads(bundled_design_path("demo_arm").read_text())))
        assert wait_for(lambda: session.running and runs and len(listener.cycles) >= 3, timeout_s=15)
        assert session.stats.runs_started == 1
        session.stop()          # ends the wish: nothing starts it again
        assert not wait_for(lambda: session.running, timeout_s=1.0)
    finally:
        session.close()
        thread.stop()
