"""The demo's live page, as a person would open it: a real headless Chromium (Debian's
`chromium` and `chromium-driver`, driven over the W3C WebDriver protocol) loads the address
`make run` prints, sees the page update from the running demo, and saves a screenshot."""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest
import requests
from support import free_port, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                       reason="needs Debian's chromium and chromium-driver "
                              "(apt-get install -y chromium chromium-driver)"),
]


class Browser:
    """A headless Chromium behind chromedriver, spoken to in plain WebDriver HTTP."""

    def __init__(self, start_process) -> None:
        port = free_port()
        self.driver = start_process([CHROMEDRIVER, f"--port={port}"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return requests.get(f"{self.base}/status", timeout=2).json()["value"]["ready"]
            except (requests.RequestException, ValueError, KeyError):
                return False

        assert wait_for(ready, 30), "chromedriver did not come up"
        options = {"binary": CHROMIUM,
                   "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                            "--disable-dev-shm-usage", "--window-size=1250,820"]}
        reply = requests.post(f"{self.base}/session", json={"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options}}}, timeout=60).json()
        assert "sessionId" in reply.get("value", {}), reply
        self.session = f"{self.base}/session/{reply['value']['sessionId']}"

    def open(self, url: str) -> None:
        requests.post(f"{self.session}/url", json={"url": url}, timeout=60).raise_for_status()

    def run(self, script: str):
        reply = requests.post(f"{self.session}/execute/sync",
                              json={"script": script, "args": []}, timeout=30)
        reply.raise_for_status()
        return reply.json()["value"]

    def screenshot(self) -> bytes:
        reply = requests.get(f"{self.session}/screenshot", timeout=30)
        reply.raise_for_status()
        return base64.b64decode(reply.json()["value"])

    def close(self) -> None:
        try:
            requests.delete(self.session, timeout=10)
        except requests.RequestException:
            pass


def test_the_live_page_updates_in_a_browser_while_the_demo_runs(start_process, tmp_path):
    # PYTHONFAULTHANDLER: a demo that never gets to its live view dumps every thread's
    # stack on SIGABRT, and the failure shows where it stood.
    demo = start_process([sys.executable, "-m", "robot_bringup.demo", "--duration", "45",
                          "--report", str(tmp_path / "report"), "--seed", "3"],
                         env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout), daemon=True)
    reader.start()
    if not wait_for(lambda: any("live view: http://127.0.0.1:" in line for line in lines), 120):
        demo.send_signal(signal.SIGABRT)
        reader.join(20)
        pytest.fail("the demo printed no live view address within 120 s; its output and "
                    "stacks:\n" + "".join(lines[-200:]))
    url = re.search(r"live view: (http://127\.0\.0\.1:\d+/)", "".join(lines)).group(1)
    browser = Browser(start_process)
    try:
        browser.open(url)
        state = "return [Number(document.body.dataset.updates || 0), " \
                "Number(document.body.dataset.cycle || -1), document.body.dataset.phase || '', " \
                "document.getElementById('status').textContent]"
        # The page keeps polling the demo: updates count up and the brain's cycle advances.
        assert wait_for(lambda: browser.run(state)[1] > 0, 90), browser.run(state)
        first = browser.run(state)
        assert wait_for(lambda: browser.run(state)[0] >= first[0] + 4
                        and browser.run(state)[1] > first[1], 60), (first, browser.run(state))
        updates, cycle, phase, status = browser.run(state)
        assert phase in ("frozen_initial", "learning", "retention", "new_targets"), phase
        assert f"cycle {cycle}" in status or "cycle" in status
        # The raster image was loaded (a real PNG the page got from the demo), and the arm
        # canvas shows the arm's dark blue and the target's red.
        assert wait_for(lambda: browser.run(
            "const i = document.getElementById('raster'); "
            "return i.complete && i.naturalWidth > 0"), 30)
        colours = browser.run(
            "const c = document.getElementById('arm'), d = c.getContext('2d')"
            ".getImageData(0, 0, c.width, c.height).data; let red = 0, arm = 0; "
            "for (let k = 0; k < d.length; k += 4) { "
            "if (d[k] > 200 && d[k+1] < 40 && d[k+2] < 40) red++; "
            "if (d[k] < 60 && d[k+1] < 90 && d[k+2] > 90 && d[k+2] < 130) arm++; } "
            "return [red, arm]")
        assert colours[0] > 50 and colours[1] > 50, colours
        png = browser.screenshot()
        (tmp_path / "live_view.png").write_bytes(png)
        image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape[1] >= 1000 and image.std() > 10
        print(f"live view screenshot: {tmp_path / 'live_view.png'} ({updates} updates, "
              f"cycle {cycle}, phase {phase})")
    finally:
        browser.close()
    demo.send_signal(signal.SIGINT)
    assert demo.wait(timeout=90) == 0
    reader.join(timeout=10)
    assert "Traceback" not in "".join(lines)
    # The page's server went with the demo.
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)
