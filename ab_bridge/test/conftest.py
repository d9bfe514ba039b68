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
