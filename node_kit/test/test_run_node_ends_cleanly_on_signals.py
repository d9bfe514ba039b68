"""run_node: SIGINT and SIGTERM, once or twice and at any moment, end the node with
exit code 0, no traceback, its destroy_node run; a node that cannot start says why in
one line and exits 1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TINY = Path(__file__).with_name("tiny_node.py")


def start(*args: str) -> subprocess.Popen:
    # faulthandler: a child that hangs prints every thread's stack on SIGABRT (ended())
    return subprocess.Popen([sys.executable, str(TINY), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONFAULTHANDLER": "1"})


def ended(child: subprocess.Popen, timeout_s: float = 20.0) -> str:
    """The child's output once it exits; if it has not within `timeout_s`, fail with its
    output and its threads' stacks."""
    try:
        return child.communicate(timeout=timeout_s)[0]
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGABRT)
        try:
            output = child.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:
            child.kill()
            output = child.communicate()[0]
        pytest.fail(f"the node did not end within {timeout_s} s; its output and stacks:\n"
                    f"{output}")


def wait_ready(child: subprocess.Popen) -> None:
    line = child.stdout.readline()
    assert line.strip() == "ready", line + child.stdout.read()


@pytest.mark.parametrize("signals", [
    (signal.SIGINT,), (signal.SIGTERM,), (signal.SIGINT, signal.SIGINT),
    (signal.SIGINT, signal.SIGTERM)], ids=["int", "term", "int-int", "int-term"])
def test_signals_end_the_node_with_0_after_its_clean_up(signals):
    for delay_s in (0.0, 0.02, 0.2):   # the second signal: at once, mid clean-up, after it
        child = start()
        wait_ready(child)
        for i, sig in enumerate(signals):
            if i:
                time.sleep(delay_s)
            child.send_signal(sig)
        output = ended(child)
        assert child.returncode == 0, (delay_s, output)
        assert "Traceback" not in output, output
        assert "destroyed" in output


def test_a_node_that_cannot_start_says_why_in_one_line():
    child = start("fail")
    output = ended(child)
    assert child.returncode == 1
    assert output.strip().splitlines()[0] == \
        "tiny: could not start: parameter 'port': cannot bind (a test failure)", output
    assert "Traceback" not in output


def test_a_misspelled_parameter_stops_the_start_naming_the_close_match():
    child = start("--ros-args", "-p", "rate_hzz:=5.0")
    output = ended(child)
    assert child.returncode == 1
    assert "unknown parameter for node 'tiny': 'rate_hzz' (did you mean 'rate_hz'?)" in output


def test_a_signal_during_the_handler_of_another_ends_the_node_with_0():
    """A signal may arrive while the handler of the last one runs (ros2 launch sends
    SIGINT, then SIGTERM): the handler takes no lock another handler could be waiting for
    (a threading.Event's did, and the node never ended)."""
    child = start("reenter")
    output = ended(child)   # (it ends by itself; its lines may come in one read)
    assert child.returncode == 0, output
    assert output.split() == ["ready", "destroyed"], output


def test_first_signal_only_runs_its_action_once_even_from_inside_itself():
    from node_kit.signals import first_signal_only

    calls = []

    def action():
        calls.append(1)
        handler(signal.SIGTERM, None)      # a second signal while the first's runs

    handler = first_signal_only(action)
    handler(signal.SIGINT, None)
    handler(signal.SIGINT, None)
    assert calls == [1]


def test_stop_on_signals_runs_its_action_once_for_sigint_then_sigterm():
    """One handler for both signals: ros2 launch sends SIGINT, then SIGTERM, and a SIGTERM
    arriving while the SIGINT's action runs must not run it again (a second Event.set
    inside the first waited for the event's lock forever)."""
    from node_kit.signals import stop_on_signals

    calls = []

    def action():
        calls.append(1)
        signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)   # SIGTERM arrives meanwhile

    previous = stop_on_signals(action)
    try:
        assert set(previous) == {signal.SIGINT, signal.SIGTERM}
        signal.getsignal(signal.SIGINT)(signal.SIGINT, None)
        signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
        assert calls == [1]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
