"""kill -9 the detector process while it is taking images, restart it: the Loop receives
every image the detector acknowledged exactly once, and nothing twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter

import pytest
import requests
from dn_helpers import ORG, PROJECT, jpeg_bytes, red_disc_bgr, wait_for


def start_detector(data_folder: str, loop_api: str, *extra: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "detector_node.service", "--port", "0", "--data-folder", data_folder,
         "--loop-url", loop_api, "--organization", ORG, "--project", PROJECT,
         "--upload-interval-s", "0.1", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()  # the first line says where it listens
    assert line, "detector process exited before listening"
    return process, json.loads(line)["listening"]


@pytest.mark.timeout(90)
def test_outbox_survives_kill_9(tmp_path, fake_loop):
    fake_loop.status_for = lambda ids: 503  # the Loop is down while we take images
    data_folder = str(tmp_path / "data")
    jpeg = jpeg_bytes(red_disc_bgr())
    acknowledged: list[str] = []
    process, url = start_detector(data_folder, fake_loop.api())
    try:
        stop = threading.Event()

        def send() -> None:
            n = 0
            while not stop.is_set():
                token = f"img-{n}"
                n += 1
                try:
                    if n % 5 == 0:
                        response = requests.post(f"{url}/upload?source={token}&upload_priority=true",
                                                 files=[("files", jpeg)], timeout=5)
                    else:
                        response = requests.post(f"{url}/detect", files={"file": ("a.jpg", jpeg)},
                                                 headers={"autoupload": "all", "source": token},
                                                 timeout=5)
                except requests.RequestException:
                    return  # the process is gone
                if response.status_code == 200:
                    acknowledged.append(token)

        sender = threading.Thread(target=send)
        sender.start()
        assert wait_for(lambda: len(acknowledged) >= 25, timeout_s=30)
        process.send_signal(signal.SIGKILL)  # mid-stream, requests in flight
        process.wait(10)
        stop.set()
        sender.join(10)
    finally:
        if process.poll() is None:
            process.kill()
    assert fake_loop.received == []
    queued = sum(len(os.listdir(os.path.join(data_folder, "outbox", q))) for q in ("normal", "priority"))
    assert queued >= len(acknowledged)

    fake_loop.status_for = lambda ids: 200  # the Loop is back
    process, url = start_detector(data_folder, fake_loop.api())
    try:
        assert wait_for(lambda: requests.get(f"{url}/outbox", timeout=5).json()["normal_queued"] == 0
                        and requests.get(f"{url}/outbox", timeout=5).json()["priority_queued"] == 0,
                        timeout_s=30)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)

    sources = Counter(meta["source"] for meta in fake_loop.metadata.values())
    ids = Counter(fake_loop.received)
    assert all(count == 1 for count in ids.values()), "an image was sent twice"
    assert all(count == 1 for count in sources.values()), "an image was stored twice"
    missing = [token for token in acknowledged if token not in sources]
    assert missing == [], f"acknowledged images lost: {missing}"


@pytest.mark.timeout(90)
def test_kill_9_during_an_upload_loses_nothing(tmp_path, fake_loop):
    """The known window: the Loop stored a batch but its answer never arrived. That one
    batch goes again after the restart; nothing is lost, nothing else repeats."""
    data_folder = str(tmp_path / "data")
    fake_loop.status_for = lambda ids: 503
    process, url = start_detector(data_folder, fake_loop.api())
    jpeg = jpeg_bytes(red_disc_bgr(160, 120, (80, 60), 10))
    try:
        for i in range(50):
            response = requests.post(f"{url}/upload?source=img-{i}", files=[("files", jpeg)], timeout=5)
            assert response.status_code == 200
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    fake_loop.status_for = lambda ids: 200
    fake_loop.answer_delay_s = 1.0
    process, url = start_detector(data_folder, fake_loop.api())
    try:
        assert wait_for(lambda: len(fake_loop.batches) >= 1, timeout_s=20)
        process.send_signal(signal.SIGKILL)  # the first batch is stored, its answer pending
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    first_batch = set(fake_loop.batches[0])

    fake_loop.answer_delay_s = 0.0
    process, url = start_detector(data_folder, fake_loop.api())
    try:
        assert wait_for(lambda: requests.get(f"{url}/outbox", timeout=5).json()["normal_queued"] == 0,
                        timeout_s=30)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)
    sources = Counter(meta["source"] for meta in fake_loop.metadata.values())
    assert sorted(sources) == sorted(f"img-{i}" for i in range(50)), "nothing lost"
    repeated = {i for i, n in Counter(fake_loop.received).items() if n > 1}
    assert repeated <= first_batch, "only the batch whose answer was lost goes twice"
