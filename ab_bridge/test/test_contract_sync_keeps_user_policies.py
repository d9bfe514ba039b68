"""Contract sync: machine files always rewritten, user policies created once; policies load
and drive rewards and feedback in a session."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from protocol_server import ProtocolServer, demo_contract
from session_helpers import Recorder, wait_until

from ab_bridge.contract import ContractError, load_policies, parse_contract, sync_policies
from ab_bridge.session import BrainSession, SessionConfig


def test_sync_rewrites_contract_files_and_never_user_files(tmp_path):
    folder = tmp_path / "policies"
    first = sync_policies(demo_contract("run-A"), folder)
    assert sorted(first.created) == ["error_deviation_policy.py", "reward_policy.py"]
    view = json.loads((folder / "_contract.json").read_text())
    assert "runId" not in json.dumps(view) and view["constants"]["gamma"] == 8
    canonical = json.dumps(view, sort_keys=True, separators=(",", ":")).encode()
    assert (folder / "_contract.sha256").read_text().strip() == hashlib.sha256(
        canonical).hexdigest() == first.sha256
    namespace: dict = {}
    exec((folder / "_contract.py").read_text(), namespace)
    assert namespace["STDP3_LAYERS"] == ["hidden_to_joint0", "hidden_to_joint1"]
    assert namespace["OUTPUT_IDS"] == ["joint0", "joint1"] and namespace["FEEDBACK_T"] == 8
    assert namespace["FEEDBACK_INFO"][0]["fromOutput"] == "joint0"

    (folder / "reward_policy.py").write_text("def compute_reward(summary, *, stdp_layers):\n"
                                             "    return 0.9, {}\n")
    (folder / "_contract.py").write_text("garbage")
    changed = demo_contract("run-B", gamma=16)
    second = sync_policies(changed, folder)
    assert second.created == [] and second.sha256 != first.sha256
    assert "0.9" in (folder / "reward_policy.py").read_text()
    assert "GAMMA = 16" in (folder / "_contract.py").read_text()
    # Same contract, another run: same hash (run-specific fields are not part of it).
    assert sync_policies(demo_contract("run-C", gamma=16), folder).sha256 == second.sha256


def test_load_policies_reports_broken_files(tmp_path):
    assert load_policies(tmp_path).compute_reward is None
    (tmp_path / "reward_policy.py").write_text("def compute_reward(:\n")
    with pytest.raises(ContractError, match="reward_policy.py failed to import"):
        load_policies(tmp_path)
    (tmp_path / "reward_policy.py").write_text("x = 1\n")
    with pytest.raises(ContractError, match="does not define compute_reward"):
        load_policies(tmp_path)


@pytest.mark.parametrize("raw, message", [
    ({"constants": {}}, "no 'runId'"),
    ({"runId": "r", "constants": {"gamma": 0}}, "'gamma' must be a positive integer"),
    ({"runId": "r", "io": {"outputs": [{"n": 3}]}}, r"io.outputs\[0\] needs"),
    ({"runId": "r", "io": {"stdp3": {"layers": "l1"}}}, "layers must be a list"),
    ("nope", "must be a JSON object"),
])
def test_bad_contracts_are_named(raw, message):
    with pytest.raises(ContractError, match=message):
        parse_contract(raw)


@pytest.mark.timeout(60)
def test_user_policies_drive_rewards_and_feedback(tmp_path):
    folder = tmp_path / "policies"
    sync_policies(demo_contract(), folder)
    (folder / "reward_policy.py").write_text(
        "def compute_reward(summary, *, stdp_layers):\n"
        "    total = sum(summary.spike_counts.values())\n"
        "    return (2.0 if total > 10 else 0.25), {stdp_layers[0]: -1}\n")
    (folder / "error_deviation_policy.py").write_text(
        "def compute_deviation(feedback_id, *, T, ctx=None):\n"
        "    return [0.25] * T\n")
    server = ProtocolServer().start()
    recorder = Recorder()
    brain = BrainSession(SessionConfig(url=server.url, project_id="demo_arm",
                                       policies_dir=str(folder), use_reward_policy=True,
                                       request_timeout_s=3.0), recorder)
    try:
        # Sync without a run: GET /contract.
        assert brain.sync_policies() == (folder / "_contract.sha256").read_text().strip()
        assert brain.policies.compute_reward is not None
        assert brain.io_state() == {"cycle": 0, "needs": []}
        brain.start()
        assert wait_until(lambda: "run-1" in server.joined)
        server.emit_cycle(4, {"joint0": np.ones((8, 16), np.uint8)})
        assert wait_until(lambda: server.received_of("learn:reward"))
        assert server.received_of("learn:reward")[0] == {
            "runId": "run-1", "cycle": 4, "globalReward": 1.0,
            "byLayer": {"hidden_to_joint0": 0.0, "hidden_to_joint1": 1.0}}
        server.emit_need(5, [{"id": "arm_error", "kind": "Feedback"}])
        assert wait_until(lambda: server.received_of("io:chunk"))
        raster = np.frombuffer(server.received_of("io:chunk")[0]["data"], "<f4")
        assert raster.size == 8 * 4 and np.allclose(raster, 0.25)
    finally:
        brain.close()
        server.stop()
