"""The sim's camera feeds the detector (a node process with config/detector.yaml,
autoupload all) while the Loop is down; the detector is killed (-9) and started
again: every image its outbox held reaches the Loop, and none twice."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from e2e_helpers import CONFIG, FakeLoop, executable, wait_for
from rclpy.parameter import Parameter

from robot_bringup.sim_arm_node import SimArmNode

pytestmark = pytest.mark.timeout(200)


def outbox_ids(data_folder: Path) -> set[str]:
    ids = set()
    for queue in ("normal", "priority"):
        folder = data_folder / "outbox" / queue
        if folder.is_dir():
            ids |= {p.name for p in folder.iterdir() if p.is_dir()}
    return ids


def start_detector(start_process, data_folder: Path, loop: FakeLoop):
    return start_process([
        executable("detector_node", "detector"), "--ros-args",
        "--params-file", str(CONFIG / "detector.yaml"),
        "-p", "autoupload:=all", "-p", f"data_folder:={data_folder}",
        "-p", f"loop_url:={loop.url}", "-p", "organization:=org", "-p", "project:=arm",
        "-p", "version_control:=pause", "-p", "upload_interval_s:=0.2",
        "-p", "http_port:=0", "-p", "publish_annotated:=false"])


def test_every_outbox_image_reaches_the_loop_once_across_a_kill(
        ros_context, executor, start_process, tmp_path):
    import threading

    loop = FakeLoop()
    data_folder = tmp_path / "detector"
    sim = SimArmNode(context=ros_context, parameter_overrides=[
        Parameter("camera.rate_hz", value=10.0)])
    executor.add_node(sim)
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.05)

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        detector = start_detector(start_process, data_folder, loop)
        assert wait_for(lambda: len(outbox_ids(data_folder)) >= 15, 60), \
            "the detector kept no camera images in its outbox"
        detector.send_signal(signal.SIGKILL)
        detector.wait(timeout=10)
        stop.set()
        spinner.join(timeout=5)
        held = outbox_ids(data_folder)
        assert len(held) >= 15 and not loop.received

        loop.accepting = True
        restarted = start_detector(start_process, data_folder, loop)
        delivered = wait_for(lambda: held <= set(loop.received), 90)
        if not delivered:
            restarted.send_signal(signal.SIGINT)
            log = restarted.communicate(timeout=20)[0]
            pytest.fail(f"{len(held - set(loop.received))} of {len(held)} images never reached "
                        f"the Loop; detector log:\n{log[-3000:]}")
        assert wait_for(lambda: not outbox_ids(data_folder), 30)
        duplicates = {i: n for i, n in loop.received.items() if n > 1}
        assert not duplicates
        restarted.send_signal(signal.SIGINT)
        restarted.wait(timeout=15)
    finally:
        stop.set()
        loop.close()
