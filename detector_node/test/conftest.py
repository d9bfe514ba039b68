"""Fixtures for detector_node tests: a running detector service and a fake Learning Loop."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from dn_helpers import FakeLoop, jpeg_bytes, red_disc_bgr, running_fake_loop

from detector_node.host import ServiceThread
from detector_node.service import ServiceConfig


@pytest.fixture
def red_disc_jpeg() -> bytes:
    return jpeg_bytes(red_disc_bgr())


@pytest.fixture
def start_service(tmp_path) -> Iterator[Callable[..., ServiceThread]]:
    """start_service(**config) -> a running ServiceThread on an ephemeral port."""
    started: list[ServiceThread] = []

    def start(**overrides) -> ServiceThread:
        values = {"data_folder": str(tmp_path / "data"), "upload_interval_s": 0.1}
        values.update(overrides)
        host = ServiceThread(ServiceConfig(**values), "127.0.0.1", 0)
        host.start()
        started.append(host)
        return host

    yield start
    for host in started:
        host.stop()


@pytest.fixture
def fake_loop() -> Iterator[FakeLoop]:
    with running_fake_loop() as loop:
        yield loop
