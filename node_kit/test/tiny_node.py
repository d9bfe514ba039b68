"""A node for node_kit's tests: python tiny_node.py [fail|reenter] --ros-args ... ; prints
'ready' once spinning and 'destroyed' from destroy_node. `reenter`: once spinning, it
calls run_node's SIGINT handler as a signal would, and inside it, at every call the
handler makes, the SIGTERM handler (a second signal arriving at any moment of the first
one's handler)."""

import signal
import sys

from rclpy.node import Node

from node_kit import Params, run_node


class Tiny(Node):
    def __init__(self) -> None:
        super().__init__("tiny")
        params = Params(self)
        self.rate = params.declare("rate_hz", 10.0, "A live rate.", low=1.0, high=100.0,
                                   on_set=self._set_rate)
        params.declare("port", 8000, "A read-only port.", low=1, high=65535)
        params.refuse_unknown()
        if "fail" in sys.argv:
            raise ValueError("parameter 'port': cannot bind (a test failure)")
        self.create_timer(0.01, self._tick)
        self._said = False

    def _set_rate(self, value: float) -> None:
        if value == 13.0:
            raise ValueError("13 is unlucky")
        self.rate = value

    def _tick(self) -> None:
        if not self._said:
            print("ready", flush=True)
            self._said = True
            if "reenter" in sys.argv:
                signal_during_signal()

    def destroy_node(self) -> None:
        print("destroyed", flush=True)
        super().destroy_node()


def signal_during_signal() -> None:
    first, second = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    inside = [False]

    def at_each_call(_frame, event, _arg) -> None:
        if event in ("call", "c_call") and not inside[0]:
            inside[0] = True
            second(signal.SIGTERM, None)
            inside[0] = False

    sys.setprofile(at_each_call)
    try:
        first(signal.SIGINT, None)
    finally:
        sys.setprofile(None)


if __name__ == "__main__":
    raise SystemExit(run_node(Tiny, program="tiny"))
