"""Fixtures of pilot_hw's tests: a virtual Pi on an ephemeral port and pigpio clients of it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pigpio
import pytest

from pilot_hw.config import load_config
from pilot_hw.hardware import PilotHardware
from pilot_hw.virtual_pi import VirtualPi


@pytest.fixture
def vpi() -> Iterator[VirtualPi]:
    pi = VirtualPi("127.0.0.1", 0).start()
    try:
        yield pi
    finally:
        pi.stop()


@pytest.fixture
def client(vpi: VirtualPi) -> Iterator[pigpio.pi]:
    """The unmodified pigpio client, connected to the virtual Pi."""
    pi = pigpio.pi("127.0.0.1", vpi.port, show_errors=False)
    assert pi.connected
    try:
        yield pi
    finally:
        pi.stop()


@pytest.fixture
def hardware(vpi: VirtualPi) -> Iterator[Callable[..., PilotHardware]]:
    """hardware(yaml_text, **kwargs) -> a started PilotHardware on the virtual Pi."""
    made: list[PilotHardware] = []

    def make(devices_yaml: str, **kwargs) -> PilotHardware:
        kwargs.setdefault("heartbeat_period_s", 0.05)
        kwargs.setdefault("reconnect_period_s", 0.1)
        hw = PilotHardware(load_config(devices_yaml), "127.0.0.1", vpi.port, **kwargs)
        made.append(hw)
        assert hw.start()
        return hw

    yield make
    for hw in made:
        hw.close()
