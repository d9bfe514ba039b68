"""The official artificialbrains-sdk 0.4.0 (Prima-Lux device client), unmodified, in a
venv of its own, runs its README's flow against the embedded brain's device API:
`ab device status`, `ab build brain` until READY, `ABClient.from_env` +
`start_from_env`, `publish_input` in every encoding mode, `publish_sensor_frame`,
`on_output`, `GenericSpikeDecoder` + `on_command`, `publish_reward`, `RobotLoop`, `stop`
(STOPPED and idle, state saved), `ab device events`; and a session whose output stream
is cut resumes from its cursor with every step once.

The reference venv (.venv-ref/ab-sdk-040: the SDK, httpx, cryptography) is made on first
use, about 30 s from pip's cache."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from embedded_brain.graph import bundled_graph_path, load_graph
from embedded_brain.server import BrainServer, ServerThread

SDK = ["artificialbrains-sdk==0.4.0"]
KEY = "plx_test_device_key"
APP = Path(__file__).with_name("device_sdk_app.py")


@pytest.fixture
def sdk_python(reference_python) -> Path:
    return reference_python("ab-sdk-040", SDK)


@pytest.fixture
def device(tmp_path: Path):
    thread = ServerThread(BrainServer([load_graph(bundled_graph_path("demo_arm"))],
                                      tmp_path / "state", device_api_key=KEY))
    thread.start()
    yield thread
    thread.stop()


@pytest.fixture
def project(tmp_path: Path, device: ServerThread) -> Path:
    folder = tmp_path / "my-robot"
    folder.mkdir()
    (folder / ".env").write_text(f"AB_DEVICE_URL={device.url}/\nAB_DEVICE_API_KEY={KEY}\n")
    return folder


def run(python: Path, project: Path, *args: str, timeout_s: float = 120) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AB_")}
    done = subprocess.run([str(python), *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=timeout_s)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def ab(python: Path, project: Path, *args: str) -> dict:
    return json.loads(run(python, project, "-m", "ab", *args))


def result(stdout: str) -> dict:
    line = next(x for x in stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def build(python: Path, project: Path) -> None:
    run(python, project, str(APP), "design")
    assert ab(python, project, "device", "--env", ".env", "status")["engine"]["has_brain"] is False
    built = ab(python, project, "build", "brain", "--brain", "brain.abdesign.json",
               "--env", ".env")
    assert built["status"] == "READY" and built["device_ready"] is True


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_official_client_runs_the_readme_flow(sdk_python: Path, project: Path,
                                              device: ServerThread) -> None:
    build(sdk_python, project)
    status = ab(sdk_python, project, "device", "--env", ".env", "status")
    assert status["engine"]["state"] == "READY" and status["engine"]["has_brain"] is True
    assert status["package"]["active"]["name"] == "Device Test Brain"
    brain = device.server.device
    weights_before = brain.network.weights.copy()

    seen = result(run(sdk_python, project, str(APP), "run"))

    assert seen["first_outputs"] and seen["steps_consecutive"] and seen["stream_error"] is None
    assert all(answer["ok"] for answer in seen["modes"].values()), seen["modes"]
    assert seen["modes"]["sensor_frame"]["atomic_frame"] is True
    # Bad input is refused with what was wrong; the device goes on serving.
    assert "expected a list of 8 values, got 3" in seen["errors"]["width"]
    assert "in [0, 1]" in seen["errors"]["range"]
    assert "unknown input population 'NOPE'" in seen["errors"]["unknown"]
    # Outputs are neuron events the SDK's decoder turns into commands.
    assert seen["active_neurons"] > 0 and seen["nonzero_drive"] > 0
    assert 0 < seen["max_abs_drive"] <= 0.1
    assert seen["robot_loop_ran"] and seen["executed"] >= 200
    assert seen["stopped"]
    # stop() returned only once the device was STOPPED and idle, its state saved.
    assert brain.state == "STOPPED" and not brain.busy
    assert list((device.server.state_dir / "device").glob("brain-*.npz"))
    # Every posted frame reached the device; the rewards changed plastic weights.
    assert brain.stats.sensor_posts >= 8 + 2 * seen["robot_loop_ticks"]
    assert brain.stats.rewards >= 1 + seen["robot_loop_ticks"]
    assert not np.array_equal(weights_before, brain.network.weights)

    events = ab(sdk_python, project, "device", "--env", ".env", "events")
    assert events["ok"] and events["state"] == "STOPPED"
    assert [e["event"] for e in events["log"]][-2:] == ["run", "stopped"]
    steps = [item["step"] for item in events["items"]]
    assert steps == list(range(steps[0], steps[0] + len(steps)))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_official_client_resumes_a_cut_stream(sdk_python: Path, project: Path,
                                              device: ServerThread) -> None:
    build(sdk_python, project)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AB_")}
    app = subprocess.Popen([str(sdk_python), str(APP), "resume"], cwd=project, env=env,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        before = []
        for line in app.stdout:         # the SDK prints its own lines first
            before.append(line)
            if line.strip() == "READY":
                break
        assert before and before[-1].strip() == "READY", before
        async def drop() -> int:
            return device.server.device.drop_streams()

        assert asyncio.run_coroutine_threadsafe(drop(), device.loop).result(10) == 1
        app.stdin.write("go\n")
        app.stdin.flush()
        out, _ = app.communicate(timeout=120)
    finally:
        if app.poll() is None:
            app.kill()
    seen = result(out)
    assert "reconnecting from the last frame" in out
    assert seen["error"] is None
    # 1500 steps after the cut, every one once and in order.
    assert seen["resumed"] and seen["after_drop"] >= 1500, seen
    assert seen["duplicates"] == 0 and seen["consecutive"], seen
