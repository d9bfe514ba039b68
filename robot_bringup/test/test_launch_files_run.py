"""Every launch file, run for real under launch_pytest: the nodes it must start come
up, their topics flow at their rates within a bounded time, and the launch's shutdown
(what Ctrl-C on `ros2 launch` does: SIGINT to each process) ends every process with
exit code 0, no traceback and nothing left running.

Each launch gets free ports, so these tests never meet a running demo or each other."""

from __future__ import annotations

import pytest
from launch_probe import LAUNCH_DIR, MISSING_LAUNCH, ProcessLog, TopicProbe

if MISSING_LAUNCH:
    pytest.skip(MISSING_LAUNCH, allow_module_level=True)

import launch
import launch_pytest
from e2e_helpers import free_port
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

#: How long a launched graph may take to bring every topic up (2 busy cores).
UP_WITHIN_S = 90.0
#: The camera paces the brain at 50 Hz (sim.yaml, brain.yaml): spikes and commands
#: must come at least this fast, measured over RATE_WINDOW_S.
MIN_CYCLE_HZ = 30.0
RATE_WINDOW_S = 4.0


def described(name: str, **arguments: str) -> tuple:
    """(LaunchDescription of launch/<name> with `arguments`, its ProcessLog)."""
    log = ProcessLog()
    source = PythonLaunchDescriptionSource(str(LAUNCH_DIR / name))
    return (launch.LaunchDescription([
        *log.actions(),
        IncludeLaunchDescription(source, launch_arguments=arguments.items()),
        launch_pytest.actions.ReadyToTest(),
    ]), log)


def ports() -> dict[str, str]:
    return {"pi_port": str(free_port()), "detector_port": str(free_port()),
            "brain_port": str(free_port())}


def msg_types() -> dict[str, type]:
    from sensor_msgs.msg import Image, JointState

    from ab_interfaces.msg import ActuatorCommand, CycleSpikes, Detections, Reward
    return {"spikes": CycleSpikes, "actuator_command": ActuatorCommand, "reward": Reward,
            "detections": Detections, "joint_states": JointState, "camera/image_raw": Image,
            "spike_raster": Image}


def probe(namespace: str, topics: list[str]) -> TopicProbe:
    types = msg_types()
    prefix = f"/{namespace}/" if namespace else "/"
    return TopicProbe({prefix + t: types[t] for t in topics},
                      sensor_topics=[prefix + t for t in ("joint_states", "camera/image_raw",
                                                          "spike_raster")])


def measure(namespace: str, topics: list[str]) -> dict[str, float]:
    """Rates (Hz) of `topics` once every one of them has a message."""
    probed = probe(namespace, topics)
    try:
        silent = probed.wait_all(UP_WITHIN_S)
        assert not silent, f"no message on {silent} within {UP_WITHIN_S} s"
        return probed.rates_hz(RATE_WINDOW_S)
    finally:
        probed.close()


def check_shutdown(log: ProcessLog, expected: set[str]) -> None:
    assert expected <= log.names(), f"not started: {expected - log.names()}"
    problems = log.problems()
    assert not problems, "\n\n".join(problems)


# -- sim.launch.py, in a namespace ------------------------------------------------------------
@launch_pytest.fixture
def sim_launch():
    return described("sim.launch.py", namespace="demo", **ports())


@pytest.mark.launch(fixture=sim_launch)
def test_sim_launch_in_a_namespace_drives_the_arm_at_the_camera_rate(sim_launch):
    _, log = sim_launch
    rates = measure("demo", ["spikes", "actuator_command", "reward", "detections"])
    assert rates["/demo/spikes"] >= MIN_CYCLE_HZ, rates
    assert rates["/demo/actuator_command"] >= MIN_CYCLE_HZ, rates
    assert rates["/demo/reward"] > 0 and rates["/demo/detections"] > 0, rates
    yield
    check_shutdown(log, {"virtual_pi", "pilot", "sim_arm", "reward_from_detections",
                         "detector", "brain_server", "brain_session", "spike_raster"})


# -- brain.launch.py alone --------------------------------------------------------------------
@launch_pytest.fixture
def brain_launch():
    return described("brain.launch.py", brain_port=str(free_port()), pace="clock")


@pytest.mark.launch(fixture=brain_launch)
def test_brain_launch_runs_the_brain_on_its_clock(brain_launch):
    _, log = brain_launch
    rates = measure("", ["spikes", "actuator_command", "spike_raster"])
    assert rates["/spikes"] >= MIN_CYCLE_HZ, rates
    assert rates["/actuator_command"] >= MIN_CYCLE_HZ, rates
    yield
    check_shutdown(log, {"brain_server", "brain_session", "spike_raster"})


# -- detector.launch.py alone -----------------------------------------------------------------
@launch_pytest.fixture
def detector_launch(tmp_path_factory):
    port = str(free_port())
    # params_file is layered after detector_params (detector.yaml: follow_loop).
    params_file = tmp_path_factory.mktemp("params") / "mine.yaml"
    params_file.write_text("/**/detector:\n  ros__parameters:\n    version_control: pause\n")
    ld, log = described("detector.launch.py", detector_port=port, image_topic="test/image",
                        params_file=str(params_file))
    return ld, log, port


@pytest.mark.launch(fixture=detector_launch)
def test_detector_launch_detects_on_its_image_topic_and_serves_its_api(detector_launch):
    import json
    import time
    import urllib.request

    import numpy as np
    from sensor_msgs.msg import Image

    from ab_interfaces.msg import Detections

    _, log, port = detector_launch
    topics = TopicProbe({"/detections": Detections})
    publisher = topics.node.create_publisher(Image, "/test/image", 10)
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[40:70, 60:90] = (0, 0, 255)  # a red blob (bgr8), what colour_blobs finds
    image = Image(height=120, width=160, encoding="bgr8", step=160 * 3, data=frame.tobytes())
    try:
        deadline = time.monotonic() + UP_WITHIN_S
        while time.monotonic() < deadline and not topics.arrivals["/detections"]:
            publisher.publish(image)
            time.sleep(0.1)
        assert topics.arrivals["/detections"], "no detections on /detections"
        about = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/about", timeout=10))
        assert "state" in about
        assert about["version_control"] == "pause", about
    finally:
        topics.close()
    yield
    check_shutdown(log, {"detector"})


# -- rl_sim.launch.py -------------------------------------------------------------------------
@launch_pytest.fixture
def rl_sim_launch():
    p = ports()
    return described("rl_sim.launch.py", pi_port=p["pi_port"], detector_port=p["detector_port"])


@pytest.mark.launch(fixture=rl_sim_launch)
def test_rl_sim_launch_lets_the_muscle_drive_the_arm(rl_sim_launch):
    _, log = rl_sim_launch
    rates = measure("", ["actuator_command", "reward", "joint_states"])
    assert rates["/actuator_command"] > 0 and rates["/reward"] > 0, rates
    yield
    check_shutdown(log, {"virtual_pi", "pilot", "sim_arm", "reward_from_detections",
                         "detector", "brain", "muscle"})


# -- robot.launch.py in its sim mode ----------------------------------------------------------
@launch_pytest.fixture
def robot_sim_launch():
    return described("robot.launch.py", use_sim="true", embedded_brain="true", **ports())


@pytest.mark.launch(fixture=robot_sim_launch)
def test_robot_launch_in_sim_mode_drives_the_arm(robot_sim_launch):
    _, log = robot_sim_launch
    rates = measure("", ["spikes", "actuator_command", "reward", "detections"])
    # The brain's own clock paces the robot (50 cycles/s with the demo graph).
    assert rates["/spikes"] >= MIN_CYCLE_HZ and rates["/actuator_command"] >= MIN_CYCLE_HZ
    yield
    check_shutdown(log, {"virtual_pi", "pilot", "sim_arm", "reward_from_detections",
                         "detector", "brain_server", "brain_session", "spike_raster"})


# -- sim.launch.py over the Prima-Lux device protocol ----------------------------------------
@launch_pytest.fixture
def sim_device_launch():
    return described("sim.launch.py", protocol="device", **ports())


@pytest.mark.launch(fixture=sim_device_launch)
def test_sim_launch_over_the_device_protocol_drives_the_arm(sim_device_launch):
    _, log = sim_device_launch
    rates = measure("", ["actuator_command", "spikes", "reward"])
    assert rates["/actuator_command"] > 0 and rates["/reward"] > 0, rates
    yield
    check_shutdown(log, {"virtual_pi", "pilot", "sim_arm", "reward_from_detections",
                         "detector", "brain_server", "brain_session", "spike_raster"})
