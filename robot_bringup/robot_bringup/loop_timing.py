"""Loop latency from what is on the topics: camera frame → the command that answers it.

brain_session stamps each ActuatorCommand with `input_stamp`, the header stamp of the
input message (the camera frame, in the demo) its cycle was served, and `header.stamp`
with when it made the command. A listener of `actuator_command` therefore times the
whole loop from the message alone: its arrival minus `input_stamp`. No rclpy import.
"""

from __future__ import annotations

from typing import Any, NamedTuple


def stamp_ns(stamp: Any) -> int:
    """A builtin_interfaces/Time as integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class LoopTime(NamedTuple):
    """One command's loop latency, in ms."""

    total_ms: float    # input stamped → command arrived
    made_ms: float     # input stamped → command made (its header stamp)


def loop_time(command: Any, arrived_ns: int) -> LoopTime | None:
    """The loop latency of `command` (an ActuatorCommand) that arrived at `arrived_ns`
    (time.time_ns(), the clock the stamps use), or None when it answers no stamped input."""
    stamp = getattr(command, "input_stamp", None)
    if stamp is None or (stamp.sec == 0 and stamp.nanosec == 0):
        return None
    stamped = stamp_ns(stamp)
    return LoopTime((arrived_ns - stamped) / 1e6,
                    (stamp_ns(command.header.stamp) - stamped) / 1e6)
