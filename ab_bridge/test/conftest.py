"""ab_bridge test fixtures (the suite-wide ones are in the repository's conftest.py)."""

from __future__ import annotations

import os
import pathlib
import shutil
import uuid
from collections.abc import Callable

import pytest


@pytest.fixture
def installed_executable() -> Callable[[str], str]:
    """installed_executable(name) -> path of install/ab_bridge/lib/ab_bridge/<name> (skips if absent)."""

    def find(name: str) -> str:
        folder = pathlib.Path(__file__).resolve().parents[2] / "install" / "ab_bridge" / "lib" \
            / "ab_bridge"
        found = shutil.which(name, path=str(folder))
        if found is None:
            pytest.skip(f"ab_bridge/{name} is not installed (run make setup)")
        return found

    return find


@pytest.fixture
def ros_namespace() -> str:
    """A namespace of this test's own: test runs that share a DDS domain (other suites on
    the machine, a demo) never see each other's topics."""
    return f"/ab_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def device(tmp_path: pathlib.Path):
    """The embedded brain's device API (key session_helpers.DEVICE_KEY) with the demo
    arm's design installed."""
    from session_helpers import DEVICE_KEY

    from embedded_brain.abdesign import bundled_design_path
    from embedded_brain.graph import bundled_graph_path, load_graph
    from embedded_brain.server import BrainServer, ServerThread

    thread = ServerThread(BrainServer([load_graph(bundled_graph_path("demo_arm"))],
                                      tmp_path / "state", device_api_key=DEVICE_KEY,
                                      device_brain=bundled_design_path("demo_arm")))
    thread.start()
    yield thread
    thread.stop()
