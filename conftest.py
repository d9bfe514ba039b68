"""Fixtures shared by every package's tests (pytest finds this file through
pytest.ini at the repository root, from `make test` and from `colcon test`).

Each test session talks DDS on its own domain id, so a test run never hears
another one (or a running demo) on the same machine.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

_ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_ROOT, "scripts"))   # refvenv
sys.path.insert(0, os.path.join(_ROOT, "tests"))     # support: free_port, wait_for
from refvenv import reference_python as _reference_python  # noqa: E402

# launch (imported by the launch_pytest plugin, before any conftest) makes every logger
# created afterwards a LaunchLogger that does not propagate: caplog and the root handlers
# would see nothing of the suite's own loggers. Plain loggers again, before the packages'
# test conftests import their modules.
if logging.getLoggerClass() is not logging.Logger:
    logging.setLoggerClass(logging.Logger)

# Domain 0 (the default) is left to demos; 1..200 keeps Fast DDS ports valid.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 200)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


@pytest.fixture
def ros_context() -> Iterator[object]:
    """A fresh, initialised rclpy context, shut down after the test."""
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        context.try_shutdown()


@pytest.fixture
def executor(ros_context) -> Iterator[object]:
    """A single-threaded executor on `ros_context`; nodes added to it are destroyed after."""
    from rclpy.executors import SingleThreadedExecutor

    ex = SingleThreadedExecutor(context=ros_context)
    try:
        yield ex
    finally:
        for node in list(ex.get_nodes()):
            ex.remove_node(node)
            node.destroy_node()
        ex.shutdown()


@pytest.fixture
def spin_until() -> Callable[..., bool]:
    """spin_until(executor, predicate, timeout_s=10) -> whether predicate became true."""

    def spin(executor, predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            executor.spin_once(timeout_sec=0.05)
        return predicate()

    return spin


@pytest.fixture
def start_process() -> Iterator[Callable[..., subprocess.Popen]]:
    """start_process(args, **popen_kw) starts a child (python -m ... or an executable);
    every child still running at the end gets SIGINT, then SIGKILL."""
    children: list[subprocess.Popen] = []

    def start(args: list[str], **kwargs) -> subprocess.Popen:
        if args and args[0] == "python":
            args = [sys.executable, *args[1:]]
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.STDOUT)
        kwargs.setdefault("text", True)
        child = subprocess.Popen(args, **kwargs)
        children.append(child)
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


@pytest.fixture(scope="session")
def reference_python() -> Callable[..., object]:
    """reference_python(name, [pins]) -> Path of the python of a venv of its own
    (.venv-ref/NAME) holding the pinned reference packages; see scripts/refvenv.py."""
    return _reference_python
