"""A node's health on /diagnostics (diagnostic_msgs/DiagnosticArray), built one way.

    self.diagnostics = Diagnostics(self, self.health, period_s=1.0)

    def health(self) -> Status:
        return Status("detector", ERROR if broken else OK, "detecting",
                      hardware_id=self.camera_id, values={"frames": self.frames})

`report()` is called every `period_s` and returns one Status, several, or None (nothing
published). Values are written with str(); floats are given already formatted when
their digits matter. Nothing is published once the node's context has shut down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

OK = DiagnosticStatus.OK
WARN = DiagnosticStatus.WARN
ERROR = DiagnosticStatus.ERROR
STALE = DiagnosticStatus.STALE

#: The levels by name, for messages and parameters.
LEVELS = {"ok": OK, "warn": WARN, "error": ERROR, "stale": STALE}


@dataclass
class Status:
    """One component's state: what DiagnosticStatus holds, values as a mapping."""

    name: str
    level: bytes = OK  # OK, WARN, ERROR or STALE (DiagnosticStatus's constants)
    message: str = ""
    hardware_id: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.level not in LEVELS.values():
            raise ValueError(f"diagnostic level {self.level!r} is not one of OK, WARN, ERROR, "
                             f"STALE (node_kit.diagnostics)")

    def to_msg(self) -> DiagnosticStatus:
        return DiagnosticStatus(
            level=self.level, name=self.name, message=self.message, hardware_id=self.hardware_id,
            values=[KeyValue(key=str(k), value=str(v)) for k, v in self.values.items()])


def diagnostic_array(stamp: Any, statuses: Status | Iterable[Status]) -> DiagnosticArray:
    """A DiagnosticArray stamped `stamp` (a builtin_interfaces/Time) holding `statuses`."""
    if isinstance(statuses, Status):
        statuses = [statuses]
    array = DiagnosticArray(status=[s.to_msg() for s in statuses])
    array.header.stamp = stamp
    return array


class Diagnostics:
    """Publishes `report()` on the node's `diagnostics` topic every `period_s`."""

    def __init__(self, node: Node, report: Callable[[], Status | Iterable[Status] | None],
                 period_s: float = 1.0, qos: Any = 10, topic: str = "diagnostics") -> None:
        self.node = node
        self.report = report
        self.publisher = node.create_publisher(DiagnosticArray, topic, qos)
        self.timer = node.create_timer(period_s, self.publish)

    def set_period(self, period_s: float) -> None:
        """Publish every `period_s` from now on."""
        if not period_s > 0:
            raise ValueError(f"the diagnostics period must be > 0 s, got {period_s!r}")
        self.timer.timer_period_ns = int(period_s * 1e9)
        self.timer.reset()

    def publish(self) -> DiagnosticArray | None:
        """Publish the report now; the message published (None when there was nothing)."""
        if not self.node.context.ok():
            return None
        statuses = self.report()
        if statuses is None:
            return None
        array = diagnostic_array(self.node.get_clock().now().to_msg(), statuses)
        self.publisher.publish(array)
        return array
