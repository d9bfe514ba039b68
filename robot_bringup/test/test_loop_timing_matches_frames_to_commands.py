from types import SimpleNamespace

import pytest

from robot_bringup.loop_timing import FrameTiming


def frame(stamp_ns: int):
    return SimpleNamespace(header=SimpleNamespace(stamp=SimpleNamespace(
        sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)))


def test_each_cycle_is_timed_from_the_frame_served_for_it():
    latest = {}
    served = []
    session_node = SimpleNamespace(
        latest=SimpleNamespace(get=latest.get),
        session=SimpleNamespace(streamer=SimpleNamespace(
            serve=lambda run_id, cycle, needs, now_s: served.append(cycle) or ([], []))))
    timing = FrameTiming.attach(session_node)
    latest["camera"] = frame(1_000_000_000)
    assert session_node.session.streamer.serve("run", 7, [], 0.0) == ([], [])
    assert served == [7]  # the real serve still runs
    latest["camera"] = frame(1_050_000_000)  # a newer frame does not change cycle 7's
    total, age = timing.answered(7, arrived_ns=1_120_000_000)
    assert total == pytest.approx(120.0)
    assert age >= 0.0
    assert timing.answered(7, 1_200_000_000) is None  # answered once
    assert timing.answered(8, 1_200_000_000) is None  # never served


def test_a_node_without_a_streamer_is_not_timed():
    assert FrameTiming.attach(SimpleNamespace()) is None


def test_only_the_latest_cycles_are_kept():
    timing = FrameTiming(keep=3)
    assert timing.newest_cycle() == -1
    for cycle in range(10):
        timing.note(cycle, 0, 0)
    assert list(timing.served) == [7, 8, 9]
    assert timing.newest_cycle() == 9
