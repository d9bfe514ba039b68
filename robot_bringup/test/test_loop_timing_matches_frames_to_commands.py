"""The loop latency is read off the command itself: arrival - input_stamp."""

from types import SimpleNamespace

import pytest

from ab_interfaces.msg import ActuatorCommand
from robot_bringup.loop_timing import loop_time, stamp_ns


def command(input_ns: int, made_ns: int) -> ActuatorCommand:
    msg = ActuatorCommand(source="brain_session", cycle=7)
    msg.input_stamp.sec, msg.input_stamp.nanosec = divmod(input_ns, 1_000_000_000)
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(made_ns, 1_000_000_000)
    return msg


def test_a_command_is_timed_from_the_input_it_answers():
    timed = loop_time(command(1_000_000_000, 1_030_000_000), arrived_ns=1_120_000_000)
    assert timed.total_ms == pytest.approx(120.0)
    assert timed.made_ms == pytest.approx(30.0)


def test_a_command_answering_no_stamped_input_is_not_timed():
    assert loop_time(ActuatorCommand(source="brain_session"), 1_000_000_000) is None
    assert loop_time(SimpleNamespace(), 1_000_000_000) is None


def test_stamps_are_whole_nanoseconds():
    assert stamp_ns(SimpleNamespace(sec=2, nanosec=5)) == 2_000_000_005
