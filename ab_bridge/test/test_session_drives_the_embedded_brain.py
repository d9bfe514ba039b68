"""The bridge's session against this package's embedded brain server (the demo_arm graph):
the same protocol as the cloud, end to end on loopback."""

from __future__ import annotations

import numpy as np
import pytest
from session_helpers import Recorder, wait_until

import embedded_brain.graph as graphs
import embedded_brain.server as embedded
from ab_bridge.inputs import image_frame, joint_state_frame, scalar_frame
from ab_bridge.session import BrainSession, SessionConfig

KEY = "embedded-key"


@pytest.mark.timeout(90)
def test_a_run_on_the_embedded_brain(tmp_path):
    graph = graphs.load_graph(graphs.bundled_graph_path("demo_arm"))
    thread = embedded.ServerThread(embedded.BrainServer([graph], tmp_path / "state",
                                                        api_key=KEY, seed=1))
    thread.start()
    recorder = Recorder()
    mapping = [{"node_id": "joint0", "channel": "joint:0", "scheme": "bipolarSplit",
                "per_step_max": 0.01},
               {"node_id": "joint1", "channel": "joint:1", "scheme": "bipolarSplit",
                "per_step_max": 0.01}]
    brain = BrainSession(SessionConfig(url=thread.url, project_id="demo_arm", api_key=KEY,
                                       decoder_mapping=mapping,
                                       policies_dir=str(tmp_path / "policies"),
                                       request_timeout_s=5.0), recorder)
    pixels = np.zeros((48, 64, 3), np.uint8)
    pixels[10:30, 20:40] = 255
    brain.streamer.register_input("camera", lambda: image_frame(pixels))
    brain.streamer.register_input("joints", lambda: joint_state_frame(["a", "b"], [0.2, -0.4]))
    brain.streamer.register_input("target", lambda: scalar_frame([0.5, -0.5]))
    try:
        contract = brain.start()
        assert contract.gamma == 20 and contract.output_ids == ["joint0", "joint1"]
        assert wait_until(lambda: len(recorder.cycles) >= 3, timeout_s=60), recorder.errors
        result = recorder.cycles[-1]
        assert result.spikes.populations == ["joint0", "joint1"]
        assert all(r.shape == (20, 32) for r in result.spikes.rasters)
        assert result.decoded.deltas.shape == (2, 20)
        assert brain.stats.chunks_sent >= 3
        assert brain.send_reward(result.cycle, 0.9)
        assert brain.send_deviation("arm_error", [0.1] * 20, result.cycle)
        cycles = len(recorder.cycles)
        assert wait_until(lambda: len(recorder.cycles) > cycles + 1, timeout_s=30)
        assert not [e for e in recorder.errors if "io:need" in e or "cycle:update" in e]
    finally:
        brain.close()
        thread.stop()
    assert recorder.holds[-1] == "run stopped"
