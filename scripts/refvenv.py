"""Reference packages in venvs of their own.

The clients and libraries brainstem is measured against (the official
Artificial Brains SDK releases, learning-loop-node, gpiozero, palaestrAI,
brian2, ...) are never installed into the project's .venv: each gets a venv
under `.venv-ref/<name>`, made on first use and reused while its pins are the
same. Tests and benchmarks share this one way of doing it:

    from refvenv import reference_python
    python = reference_python("gpiozero", ["gpiozero==2.0.1", "pigpio==1.78"])
    subprocess.run([str(python), "client.py"], check=True)

Creation is serialised with a file lock, so parallel test runs and a
benchmark can ask for the same venv at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENVS = Path(os.environ.get("BRAINSTEM_REF_VENVS", ROOT / ".venv-ref"))


class ReferenceVenvError(RuntimeError):
    """A reference venv could not be made; the message has pip's last words."""


def _base_python() -> str:
    # The interpreter the project's venv was made from (a venv made from inside
    # a venv would be based on it anyway; this keeps the chain short).
    return getattr(sys, "_base_executable", None) or sys.executable


def reference_python(name: str, requirements: list[str], *, pip_args: list[str] | None = None,
                     timeout_s: float = 900.0) -> Path:
    """The python of venv `name` with `requirements` installed (pinned specs).

    Made once; made again when the requirements change. Raises
    ReferenceVenvError naming the package step that failed.
    """
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"reference venv name {name!r}: letters, digits, - and _ only")
    pins = "\n".join([*requirements, *(pip_args or [])])
    digest = hashlib.sha256(pins.encode()).hexdigest()
    venv = VENVS / name
    python = venv / "bin" / "python"
    marker = venv / ".pins-sha256"
    VENVS.mkdir(parents=True, exist_ok=True)
    (VENVS / "COLCON_IGNORE").touch()  # a colcon build of the workspace must not crawl it
    with open(VENVS / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and marker.exists() and marker.read_text().strip() == digest:
            return python
        shutil.rmtree(venv, ignore_errors=True)
        print(f"[refvenv] making {venv} with {', '.join(requirements)}", file=sys.stderr, flush=True)
        steps = [
            [_base_python(), "-m", "venv", str(venv)],
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             *(pip_args or []), *requirements],
        ]
        for step in steps:
            try:
                done = subprocess.run(step, capture_output=True, text=True, timeout=timeout_s)
            except subprocess.TimeoutExpired as exc:
                raise ReferenceVenvError(f"{' '.join(step[:4])}: no answer in {timeout_s:.0f} s") from exc
            if done.returncode != 0:
                tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
                raise ReferenceVenvError(f"{' '.join(step)} failed ({done.returncode}):\n{tail}")
        marker.write_text(digest + "\n")
        return python


if __name__ == "__main__":  # python scripts/refvenv.py NAME REQ... -> prints the python path
    if len(sys.argv) < 3:
        sys.exit("usage: refvenv.py NAME REQUIREMENT...")
    print(reference_python(sys.argv[1], sys.argv[2:]))
