"""A dead-man switch that lives inside the pigpio daemon.

When the process driving the outputs dies (SIGKILL, power loss of the host, a
cut network link to a remote Pi), nothing in that process can run. So the safe
state is stored in the daemon as a pigpio script: it samples parameter p0,
sleeps `timeout_ms`, and if p0 did not change meanwhile it applies the safe ops
and halts. The owner bumps p0 (`beat()`) several times per timeout. Latency to
safe after the owner stops: between timeout_ms and 2 x timeout_ms.

Scripts of killed owners stay halted in the daemon's table; `remove_stale_scripts` deletes
them (they carry MARKER in p9) when a pilot connects.

Limits: it needs the daemon alive (if pigpiod itself dies the pins keep their
last levels; use pull resistors so that an undriven pin is safe), and a stalled
owner (e.g. starved of CPU for longer than the timeout) trips it too, which
`beat()` reports so the owner can re-arm.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import pigpio

from pilot_hw.devices import SafeOp, render_safe_ops


def deadman_script(ops: Iterable[SafeOp], timeout_ms: int) -> bytes:
    """The script text: loop while p0 keeps changing, else make `ops` safe and halt."""
    lines = ["tag 0", "ld v0 p0", f"mils {int(timeout_ms)}", "lda p0", "cmp v0", "jnz 0",
             *render_safe_ops(ops), "halt"]
    return " ".join(lines).encode("ascii")


SCRIPT_SLOTS = 32  # pigpio's script table size
MARKER = 0x50494C54  # parameter p9 of every dead-man script ("PILT"): finds leftovers


def remove_stale_scripts(pi: pigpio.pi) -> int:
    """Delete dead-man scripts that already fired (left by a pilot that was killed);
    running ones belong to live pilots and stay. Returns how many were deleted."""
    deleted = 0
    for script_id in range(SCRIPT_SLOTS):
        status, params = pi.script_status(script_id)
        if status == pigpio.PI_SCRIPT_HALTED and len(params) == 10 and params[9] == MARKER:
            pi.delete_script(script_id)
            deleted += 1
    return deleted


class DeadmanSwitch:
    """Stores, runs, feeds and removes the dead-man script on one pigpio connection."""

    def __init__(self, pi: pigpio.pi, ops: Iterable[SafeOp], timeout_ms: int) -> None:
        self.pi = pi
        self.script = deadman_script(ops, timeout_ms)
        self.script_id: int | None = None
        self.counter = 0
        self.fired_count = 0

    def arm(self, ready_timeout_s: float = 2.0) -> None:
        if self.script_id is None:
            self.script_id = self.pi.store_script(self.script)
        deadline = time.monotonic() + ready_timeout_s
        while self.pi.script_status(self.script_id)[0] == pigpio.PI_SCRIPT_INITING:
            if time.monotonic() > deadline:
                raise TimeoutError("the pigpio daemon did not compile the dead-man script")
            time.sleep(0.01)
        self.counter += 1
        self.pi.run_script(self.script_id, [self.counter, 0, 0, 0, 0, 0, 0, 0, 0, MARKER])

    def beat(self) -> bool:
        """Feed the switch; False if it had already fired (outputs were made safe) or failed."""
        self.counter = (self.counter + 1) & 0x7FFFFFFF
        try:
            self.pi.update_script(self.script_id, [self.counter])
        except pigpio.error:  # deleted behind our back (e.g. as stale): store it again
            self.script_id = None
            self.fired_count += 1
            return False
        status, _ = self.pi.script_status(self.script_id)
        if status in (pigpio.PI_SCRIPT_RUNNING, pigpio.PI_SCRIPT_WAITING):
            return True
        self.fired_count += 1
        return False

    def disarm(self) -> None:
        if self.script_id is None:
            return
        try:
            self.pi.stop_script(self.script_id)
            self.pi.delete_script(self.script_id)
        finally:
            self.script_id = None
