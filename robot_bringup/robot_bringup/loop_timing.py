"""Which camera frame each brain cycle was served, to time the loop frame → command.

The brain session answers the brain's `io:need` with the newest message of each
mapped topic. `FrameTiming.attach(session_node)` wraps the session's input
streamer (in-process) so that, for every cycle, the stamp of the camera frame it
served and the time it served it are noted; `answered(cycle, arrived_ns)` then
gives the loop latency of the command of that cycle. No rclpy import here.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any


class FrameTiming:
    """Frame stamps served per cycle (bounded), and the latency of answering commands."""

    def __init__(self, input_id: str = "camera", keep: int = 256) -> None:
        self.input_id = input_id
        self.keep = keep
        self.lock = threading.Lock()
        self.served: OrderedDict[int, tuple[int, int]] = OrderedDict()  # cycle -> (stamp, at)

    @classmethod
    def attach(cls, session_node: Any, input_id: str = "camera") -> FrameTiming | None:
        """Wrap `session_node`'s input streamer; None when the node does not look like
        ab_bridge's BrainSession (then the loop latency is not measured).

        The frame noted for a cycle is the message the session served that cycle (its
        `last_served`, read once the need is served: the session may wait for a fresh
        frame); nodes without it get the newest message as the need arrives."""
        session = getattr(session_node, "session", None)
        streamer = getattr(session, "streamer", None)
        latest = getattr(session_node, "latest", None)
        serve = getattr(streamer, "serve", None)
        if serve is None or latest is None or not hasattr(latest, "get"):
            return None
        timing = cls(input_id)
        served_by_node = getattr(session_node, "last_served", None)

        def serve_and_note(run_id, cycle, needs, now_s):
            if served_by_node is None:
                timing.note_frame(cycle, latest.get(input_id))
                return serve(run_id, cycle, needs, now_s)
            served_by_node.pop(input_id, None)
            result = serve(run_id, cycle, needs, now_s)
            timing.note_frame(cycle, served_by_node.get(input_id))
            return result

        streamer.serve = serve_and_note
        return timing

    def note_frame(self, cycle: int, msg: Any) -> None:
        stamp = getattr(getattr(msg, "header", None), "stamp", None)
        if stamp is not None:
            self.note(int(cycle), stamp.sec * 1_000_000_000 + stamp.nanosec)

    def note(self, cycle: int, frame_stamp_ns: int, served_ns: int | None = None) -> None:
        with self.lock:
            self.served[cycle] = (frame_stamp_ns, served_ns or time.time_ns())
            while len(self.served) > self.keep:
                self.served.popitem(last=False)

    def newest_cycle(self) -> int:
        """The newest cycle whose frame is noted (-1: none yet)."""
        with self.lock:
            return max(self.served, default=-1)

    def answered(self, cycle: int, arrived_ns: int) -> tuple[float, float] | None:
        """(frame published → command, frame age when served) in ms for the command of
        `cycle`, or None when that cycle's frame is unknown."""
        with self.lock:
            entry = self.served.pop(cycle, None)
        if entry is None:
            return None
        stamp, served = entry
        return (arrived_ns - stamp) / 1e6, (served - stamp) / 1e6
