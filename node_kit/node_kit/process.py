"""One node per process, ended cleanly by SIGINT and SIGTERM.

`ros2 launch` sends SIGINT to every node on Ctrl-C, and the terminal sends the
same Ctrl-C to the whole process group, so a node often gets two signals; a
supervisor sends SIGTERM. rclpy's own handler shuts the context down inside the
signal, while callbacks and the node's threads may still publish, and the
second SIGINT lands in the middle of the clean-up as a KeyboardInterrupt.

`run_node` takes the signals itself (rclpy's handler off): a signal only asks
the spin loop to end; the node is then destroyed in order (its destroy_node is
where actuators go safe and threads stop, with the context still valid), and
the process exits 0. A node that cannot start says why in one line and exits 1.

    def main(args=None):
        return run_node(SimArmNode, args)
"""

from __future__ import annotations

import signal
import sys
import traceback
from collections.abc import Callable

import rclpy
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from node_kit.signals import ignore_signals

#: How often the spin loop looks at the stop request (the longest a signal waits).
SPIN_PERIOD_S = 0.1


def run_node(make_node: Callable[[], Node], args: list[str] | None = None, *,
             executor_class: type[Executor] = SingleThreadedExecutor,
             program: str | None = None) -> int:
    """Initialise rclpy, build the node, spin it until SIGINT, SIGTERM or an external
    shutdown, destroy it, shut rclpy down. Returns the process exit code: 0 after a
    signal or shutdown, 1 when the node could not start or a callback raised."""
    program = program or getattr(make_node, "__name__", "node")
    # The stop request is a plain flag: a signal handler runs between two bytecodes of the
    # main thread, maybe inside another handler, so it must take no lock (a second signal
    # arriving while the first one's threading.Event.set held the event's lock waited
    # for that lock forever).
    stop = [False]

    def on_signal(signum: int, _frame: object) -> None:
        stop[0] = True  # a second signal during the clean-up changes nothing

    # A signal only sets `stop` from now on; once the node is gone, signals are ignored:
    # at exit Python puts SIG_DFL back in place of a Python handler, and a late second
    # SIGINT (ros2 launch sends one after the terminal's) would end the process by SIGINT
    # (exit code -2) while it finalises. SIG_IGN is left alone.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except Exception as error:  # bad --ros-args
        print(f"{program}: {error}", file=sys.stderr, flush=True)
        return 2
    code = 0
    node: Node | None = None
    executor: Executor | None = None
    try:
        try:
            node = make_node()
        except Exception as error:
            print(f"{program}: could not start: {_describe(error)}", file=sys.stderr, flush=True)
            return 1
        executor = executor_class()
        executor.add_node(node)
        while not stop[0]:
            executor.spin_once(timeout_sec=SPIN_PERIOD_S)
    except ExternalShutdownException:
        pass
    except Exception:
        traceback.print_exc()
        code = 1
    finally:
        if node is not None:
            try:
                node.destroy_node()
            except Exception:
                traceback.print_exc()
                code = code or 1
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)
        rclpy.try_shutdown()
        ignore_signals()
    return code


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if isinstance(error, (ValueError, OSError)) else f"{type(error).__name__}: {text}"
