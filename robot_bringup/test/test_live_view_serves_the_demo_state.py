"""The live page's server: loopback only, the page, the state and the raster; a snapshot
that fails is answered with its error and the server keeps serving."""

from __future__ import annotations

import pytest
import requests

from robot_bringup.live_view import LiveView


def test_serves_the_page_the_state_and_the_raster() -> None:
    calls = {"n": 0}

    def snapshot() -> dict:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("monitor busy")
        return {"phase": "learning", "cycle": calls["n"], "arm": [[0, 0], [0.5, 0], [0.9, 0]]}

    view = LiveView(snapshot, lambda: b"\x89PNG fake")
    url = view.start()
    try:
        assert url.startswith("http://127.0.0.1:") and view.port > 0
        page = requests.get(url, timeout=5)
        assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
        assert 'id="arm"' in page.text and "state.json" in page.text
        first = requests.get(url + "state.json", timeout=5).json()
        assert first["cycle"] == 1 and first["served"] == 1 and first["phase"] == "learning"
        failed = requests.get(url + "state.json", timeout=5)
        assert failed.status_code == 500 and "monitor busy" in failed.json()["error"]
        third = requests.get(url + "state.json", timeout=5).json()
        assert third["cycle"] == 3 and third["served"] == 2
        raster = requests.get(url + "raster.png", timeout=5)
        assert raster.headers["Content-Type"] == "image/png" and raster.content.startswith(b"\x89PNG")
        assert requests.get(url + "nothing", timeout=5).status_code == 404
    finally:
        view.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)


def test_refuses_to_serve_beyond_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        LiveView(dict, bytes, host="0.0.0.0")
