"""Hop stamps: when each brain cycle passed each point of its path, across processes.

Off unless the environment variable `BRAINSTEM_HOPS` names a directory when the module
is first imported; then `note(hop, cycle)` keeps (hop, cycle, time.time_ns()) in memory
and each process writes what it noted to `<directory>/<process label>-<pid>.jsonl`
every `FLUSH_EVERY` notes and at exit. Callers guard each note with `if hops.ON:`, so
off it costs one attribute read.

The clock is `time.time_ns()` (CLOCK_REALTIME): the clock of ROS header stamps (a
camera frame's stamp, an actuator command's) and of the loop probe, and one clock for
every process of the machine. `read(directory)` gathers every process's notes as
{hop: {cycle: ns}}; bench/loop.py prints the hops' p50 from it.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from pathlib import Path

#: The environment variable naming the directory the notes go to (unset: off).
ENV = "BRAINSTEM_HOPS"
DIRECTORY = os.environ.get(ENV, "")
ON = bool(DIRECTORY)
FLUSH_EVERY = 256

_notes: list[tuple[str, int, int]] = []
_label = ""


def label(name: str) -> None:
    """Name this process's file (default: the program's name)."""
    global _label
    _label = name


def note(hop: str, cycle: int, ns: int | None = None) -> None:
    """`hop` of `cycle` happened now (or at `ns`, time.time_ns()); nothing when off."""
    if not ON:
        return
    _notes.append((hop, int(cycle), time.time_ns() if ns is None else int(ns)))
    if len(_notes) >= FLUSH_EVERY:
        flush()


def flush() -> None:
    """Append what was noted so far to this process's file."""
    if not ON or not _notes:
        return
    notes = _notes[:]
    del _notes[:len(notes)]
    name = _label or Path(sys.argv[0] or "python").stem or "python"
    path = Path(DIRECTORY) / f"{name}-{os.getpid()}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as out:
        out.write("".join(json.dumps(n) + "\n" for n in notes))


def read(directory: str | Path) -> dict[str, dict[int, int]]:
    """Every process's notes under `directory`: {hop: {cycle: ns}} (the first note of a
    hop for a cycle wins)."""
    hops: dict[str, dict[int, int]] = {}
    for path in sorted(Path(directory).glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                hop, cycle, ns = json.loads(line)
            except ValueError:
                continue        # a line cut short by a process killed mid-write
            hops.setdefault(hop, {}).setdefault(int(cycle), int(ns))
    return hops


if ON:
    atexit.register(flush)
