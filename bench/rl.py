#!/usr/bin/env python3
"""Benchmark: environment steps per second through rl_agents' muscle -> brain path.

1. in one process: DummyMuscle -> DummyBrain through InProcessBrainLink;
2. across processes: the brain in `python -m rl_agents.brain_server`, the muscle
   here, over ZeroMQ on loopback, one request/reply per step (the JSON figure),
   and pipelined through AsyncBrainLink as the muscle node does (printed);
3. the same dummy experiment in palaestrAI (pinned below), in its own venv
   under .venv-bench/palaestrai (created on first run): palaestrAI's
   DummyEnvironment / DummyBrain / DummyMuscle / DummyObjective, where brain and
   muscle also live in separate processes and talk over ZeroMQ. Its start-up
   (process spawning, store set-up) is taken out by timing two run lengths:
   steps/s = (long - short steps) / (long - short seconds).

The environment is the same on both sides: 10 sensors in [0, 1], 10 Discrete(100)
actuators, a random reward, episodes of EPISODE_STEPS steps.
`speedup` = steps_per_s_zmq / reference_steps_per_s (both cross-process).
Last line: one JSON object.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "rl_agents"))

from rl_agents.agent import DummyBrain, DummyMuscle, DummyObjective  # noqa: E402
from rl_agents.environment import Assessment, Channel, Environment  # noqa: E402
from rl_agents.information import ActuatorInformation  # noqa: E402
from rl_agents.loop import InProcessBrainLink, run_episode  # noqa: E402
from rl_agents.spaces import Discrete  # noqa: E402
from rl_agents.transport import AsyncBrainLink, BrainClient  # noqa: E402

PALAESTRAI_VERSION = "3.5.18"
VENV = ROOT / ".venv-bench" / "palaestrai"
SETUP_BUDGET_S = 15 * 60
EPISODE_STEPS = 100
INPROC_STEPS = 20_000
ZMQ_STEPS = 10_000
REFERENCE_EPISODES = (2, 12)   # short and long palaestrAI runs


def say(text: str) -> None:
    print(f"[bench/rl] {text}", flush=True)


class TenChannelDummy(Environment):
    """palaestrAI's DummyEnvironment, as a channel environment."""

    s_channels = [Channel(str(i), (0.0, 1.0)) for i in range(10)]
    m_channels = [Channel(str(i), (0.0, 99.0)) for i in range(10)]

    def __init__(self, cfg=None) -> None:
        super().__init__(cfg)
        self.rng = random.Random(0)
        self.t = 0
        self._discrete = [Discrete(100) for _ in self.m_channels]

    def reset(self, seed=None):
        self.t = 0
        return {c.name: float(self.rng.randint(0, 1)) for c in self.s_channels}

    def _execute(self, m_signal, meta=None):
        self.t += 1
        return {c.name: float(self.rng.randint(0, 1)) for c in self.s_channels}

    def _assess(self, m_signal, s_signal) -> Assessment:
        return Assessment(reward=float(self.rng.randint(0, 1)), done=self.t >= EPISODE_STEPS)

    def actuators(self):
        return [ActuatorInformation(None, space, c.name)
                for c, space in zip(self.m_channels, self._discrete, strict=True)]


def play_episodes(link, steps: int, muscle_id: str = "m0") -> int:
    """Whole dummy episodes through `link` until at least `steps` steps; the steps done."""
    env = TenChannelDummy()
    muscle = DummyMuscle(muscle_id, count_upwards=True)
    muscle.configure(seed=0)
    objective = DummyObjective()
    done = 0
    while done < steps:
        done += run_episode(env, muscle, objective, link).steps
    return done


def run_steps(link, steps: int) -> float:
    started = time.perf_counter()
    done = play_episodes(link, steps)
    return done / (time.perf_counter() - started)


def bench_inproc() -> float:
    brain = DummyBrain()
    brain.configure([], [], 0)
    run_steps(InProcessBrainLink(brain), 1000)   # warm up
    return run_steps(InProcessBrainLink(brain), INPROC_STEPS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PipelinedLink:
    """The muscle does not wait for each reply: steps go out through an AsyncBrainLink
    (a worker thread), updates are applied when they have arrived."""

    def __init__(self, endpoint: str) -> None:
        self.link = AsyncBrainLink(BrainClient(endpoint, timeout_s=10.0),
                                   max_pending=ZMQ_STEPS * 2)
        self.last = 0

    def think(self, muscle_id, data, step):
        self.link.submit(muscle_id, data, step)
        updates = self.link.updates()
        if updates:
            self.last = int(updates[-1])
            return updates[-1]
        return None

    def drain(self, expected: int, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.last < expected and time.monotonic() < deadline:
            time.sleep(0.001)
            updates = self.link.updates()
            if updates:
                self.last = int(updates[-1])


def bench_zmq_pipelined(endpoint: str) -> float:
    link = PipelinedLink(endpoint)
    started = time.perf_counter()
    done = play_episodes(link, ZMQ_STEPS, muscle_id="pipelined")
    link.drain(done)   # until the brain has answered every step
    elapsed = time.perf_counter() - started
    link.link.close()
    if link.last < done:
        say(f"pipelined: the brain answered {link.last} of {done} steps")
    return link.last / elapsed


def bench_zmq() -> tuple[float, float]:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "rl_agents") + os.pathsep
               + os.environ.get("PYTHONPATH", ""))
    server = subprocess.Popen([sys.executable, "-m", "rl_agents.brain_server",
                               "--endpoint", endpoint, "--algorithm", "dummy"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        line = server.stdout.readline()
        if "serving at" not in line:
            raise RuntimeError(f"brain_server did not start: {line!r}")
        client = BrainClient(endpoint, timeout_s=10.0)
        run_steps(client, 1000)   # warm up
        rate = run_steps(client, ZMQ_STEPS)
        client.close()
        return rate, bench_zmq_pipelined(endpoint)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def ensure_palaestrai() -> Path | None:
    """The venv's python with palaestrAI installed, or None (and the reason printed)."""
    python = VENV / "bin" / "python"
    marker = VENV / f".palaestrai-{PALAESTRAI_VERSION}"
    if marker.exists():
        return python
    started = time.monotonic()
    if not python.exists():
        say(f"creating {VENV}")
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "ensurepip", "-q"], check=True)
    say(f"installing palaestrai=={PALAESTRAI_VERSION} and its dependencies "
        f"(pandas, dask, sqlalchemy, gymnasium, ...; several minutes on first run)")
    try:
        done = subprocess.run([str(python), "-m", "pip", "install", "-q",
                               "--disable-pip-version-check",
                               f"palaestrai=={PALAESTRAI_VERSION}"],
                              capture_output=True, text=True,
                              timeout=max(60.0, SETUP_BUDGET_S - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        say(f"palaestrAI did not install within {SETUP_BUDGET_S / 60:.0f} min")
        return None
    if done.returncode != 0:
        errors = [ln for ln in done.stderr.splitlines() if "ERROR" in ln] or \
            done.stderr.splitlines()[-3:]
        say("palaestrAI failed to install: " + " | ".join(errors[:3]))
        return None
    marker.touch()
    return python


RUN_FILE = textwrap.dedent("""\
    uid: "bench-rl-{episodes}"
    seed: 47
    version: "3.5"
    schedule:
      - phase_0:
          environments:
            - environment:
                name: palaestrai.environment.dummy_environment:DummyEnvironment
                uid: myenv
                params: {{"discrete": true, "max_iter": {steps}}}
          agents:
            - name: dummy_agent
              brain:
                name: palaestrai.agent.dummy_brain:DummyBrain
                params: {{}}
              muscle:
                name: palaestrai.agent.dummy_muscle:DummyMuscle
                params: {{}}
              objective:
                name: palaestrai.agent.dummy_objective:DummyObjective
                params: {{"params": 1}}
              sensors: [{ids}]
              actuators: [{ids}]
          simulation:
            name: palaestrai.simulation:VanillaSimulationController
            conditions:
              - name: palaestrai.experiment:EnvironmentTerminationCondition
                params: {{}}
          phase_config:
            mode: train
            worker: 1
            episodes: {episodes}
    run_config:
      condition:
        name: palaestrai.experiment:VanillaRunGovernorTerminationCondition
        params: {{}}
    """)


def palaestrai_run(python: Path, workdir: Path, episodes: int, timeout_s: float
                   ) -> tuple[float, int]:
    """Wall time of one palaestrAI dummy run of `episodes` x EPISODE_STEPS steps."""
    ids = ", ".join(f"myenv.{i}" for i in range(10))
    run_file = workdir / f"run_{episodes}.yml"
    run_file.write_text(RUN_FILE.format(episodes=episodes, steps=EPISODE_STEPS, ids=ids))
    started = time.perf_counter()
    returncode, out = run_group([str(python.parent / "palaestrai"), "-c",
                                 str(workdir / "runtime.yml"), "experiment-start", str(run_file)],
                                workdir, timeout_s)
    elapsed = time.perf_counter() - started
    if returncode != 0:
        raise RuntimeError(f"palaestrai exited {returncode}: "
                           + " | ".join(out.strip().splitlines()[-5:]))
    return elapsed, episodes * EPISODE_STEPS


def kill_session(sid: int, timeout_s: float = 10.0) -> None:
    """SIGKILL every process of session `sid` until none is left (palaestrAI's run
    governor moves to a process group of its own, but stays in the session)."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.getsid(int(entry)) != sid:
                        continue
                    with open(f"/proc/{entry}/stat") as f:
                        if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                            continue   # already dead, waiting to be reaped
                    os.kill(int(entry), signal.SIGKILL)
                    alive.append(int(entry))
                except (ProcessLookupError, PermissionError, FileNotFoundError):
                    pass
        if not alive or time.monotonic() > deadline:
            return
        time.sleep(0.2)


def run_group(args: list[str], cwd: Path, timeout_s: float) -> tuple[int, str]:
    """Run a command in a session of its own, output to a file (no pipe that a
    straggler could hold open); afterwards (and on timeout) every process of the
    session is killed: palaestrAI spawns a broker, a run governor, conductors, ...
    that outlive their parent."""
    log = cwd / f"palaestrai-{time.monotonic_ns()}.log"
    with open(log, "w") as out:
        child = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        try:
            child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
            time.sleep(3)
            raise
        finally:
            kill_session(child.pid)
            child.wait(timeout=10)
    return child.returncode, log.read_text(errors="replace")


def bench_palaestrai() -> float | None:
    python = ensure_palaestrai()
    if python is None:
        return None
    with tempfile.TemporaryDirectory(prefix="bench-rl-palaestrai-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        (workdir / "runtime.yml").write_text(textwrap.dedent(f"""\
            store_uri: sqlite:///{workdir}/palaestrai.db
            executor_bus_port: {port}
            public_bind: false
            """))
        try:
            code, out = run_group([str(python.parent / "palaestrai"), "-c",
                                   str(workdir / "runtime.yml"), "database-create"], workdir, 300)
        except subprocess.TimeoutExpired:
            code, out = -1, "timed out"
        if code != 0:
            say("palaestrai database-create failed: " + " | ".join(out.strip().splitlines()[-3:]))
        try:
            short_s, short_steps = palaestrai_run(python, workdir, REFERENCE_EPISODES[0], 180)
            say(f"palaestrAI: {short_steps} steps in {short_s:.1f} s (start-up included)")
            long_s, long_steps = palaestrai_run(python, workdir, REFERENCE_EPISODES[1], 900)
            say(f"palaestrAI: {long_steps} steps in {long_s:.1f} s (start-up included)")
        except subprocess.TimeoutExpired as exc:
            say(f"palaestrAI dummy experiment could not run: the run did not end within "
                f"{exc.timeout:.0f} s (palaestrAI installed, its sqlite store created; its "
                f"processes were still running and were stopped)")
            return None
        except RuntimeError as exc:
            say(f"palaestrAI dummy experiment could not run: {exc}")
            return None
    if long_s <= short_s:
        say("palaestrAI timings too noisy to separate start-up from steps")
        return long_steps / long_s
    return (long_steps - short_steps) / (long_s - short_s)


def main() -> int:
    say(f"in-process: {INPROC_STEPS} steps, DummyMuscle -> DummyBrain")
    inproc = bench_inproc()
    say(f"in-process: {inproc:,.0f} steps/s")
    say(f"ZeroMQ across processes: {ZMQ_STEPS} steps, muscle here, brain in brain_server")
    over_zmq, pipelined = bench_zmq()
    say(f"ZeroMQ, one request/reply per step: {over_zmq:,.0f} steps/s")
    say(f"ZeroMQ, pipelined (AsyncBrainLink, as the muscle node does): {pipelined:,.0f} steps/s "
        f"(counted when the brain has answered every step)")
    say(f"reference: palaestrAI {PALAESTRAI_VERSION} dummy experiment")
    reference = bench_palaestrai()
    if reference is not None:
        say(f"palaestrAI: {reference:,.0f} steps/s (start-up excluded)")
    speedup = None if not reference else over_zmq / reference
    print(json.dumps({"steps_per_s_inproc": round(inproc, 1),
                      "steps_per_s_zmq": round(over_zmq, 1),
                      "reference_steps_per_s": None if reference is None else round(reference, 1),
                      "speedup": None if speedup is None else round(speedup, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
