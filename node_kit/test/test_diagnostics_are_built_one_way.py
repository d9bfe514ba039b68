"""node_kit.diagnostics: a node's report reaches /diagnostics as a stamped
DiagnosticArray, on its period (changeable), with values written as text."""

from __future__ import annotations

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node

from node_kit.diagnostics import ERROR, OK, WARN, Diagnostics, Status, diagnostic_array


def test_a_status_becomes_the_message_with_values_as_text():
    array = diagnostic_array(DiagnosticArray().header.stamp,
                             Status("detector", WARN, "outbox full", hardware_id="cam0",
                                    values={"dropped": 3, "rate": "1.50"}))
    [status] = array.status
    assert status.name == "detector" and status.message == "outbox full"
    assert status.level == DiagnosticStatus.WARN and status.hardware_id == "cam0"
    assert [(kv.key, kv.value) for kv in status.values] == [("dropped", "3"), ("rate", "1.50")]
    with pytest.raises(ValueError, match="diagnostic level 7 is not one of OK"):
        Status("x", 7)


def test_the_report_is_published_on_its_period(ros_context, executor, spin_until):
    node = Node("diag_rig", context=ros_context)
    listener = Node("diag_listener", context=ros_context)
    executor.add_node(node)
    executor.add_node(listener)
    calls = []

    def report():
        calls.append(len(calls))
        if len(calls) == 1:
            return None  # nothing to say yet: nothing published
        return [Status("a", OK, "fine", values={"n": len(calls)}), Status("b", ERROR, "broken")]

    diagnostics = Diagnostics(node, report, period_s=0.05)
    got: list[DiagnosticArray] = []
    listener.create_subscription(DiagnosticArray, "diagnostics", got.append, 10)
    assert spin_until(executor, lambda: len(got) >= 2)
    first = got[0]
    assert [s.name for s in first.status] == ["a", "b"]
    assert first.status[1].level == DiagnosticStatus.ERROR
    assert first.header.stamp.sec > 0
    assert int(first.status[0].values[0].value) >= 2
    diagnostics.set_period(0.2)
    assert diagnostics.timer.timer_period_ns == 200_000_000
    with pytest.raises(ValueError, match="must be > 0 s"):
        diagnostics.set_period(0.0)
