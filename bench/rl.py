#!/usr/bin/env python3
"""Benchmark: environment steps per second through rl_agents' muscle -> brain path,
against palaestrAI 3.5.18 on the same work.

1. rl_agents in one process: DummyMuscle -> DummyBrain through InProcessBrainLink;
2. rl_agents across processes: the brain in `python -m rl_agents.brain_server`, the
   muscle here, over ZeroMQ on loopback, one request/reply per step, and pipelined
   through AsyncBrainLink as the muscle node does (printed);
3. palaestrAI in its reference venv (scripts/refvenv.py, `.venv-ref/palaestrai`,
   made on first use: minutes), twice:
   a. its experiment runner (`palaestrai experiment-start`): DummyEnvironment,
      DummyBrain / DummyMuscle / DummyObjective, brain and muscle in separate
      processes over ZeroMQ. One episode per run (with two episodes the runner
      never ends here); its start-up (~30 s: processes, store) is taken out by
      timing two episode lengths: steps/s = (long - short steps) / (long - short s);
   b. its agent runtime driven directly in one process (its Learner and
      RolloutWorker with the broker replaced by calls, as rl_agents' tests do).

The work is the same everywhere: 10 sensors in [0, 1], 10 Discrete(100)
actuators, a random reward, the Dummy agent. `speedup` = steps_per_s_zmq /
reference_steps_per_s (3a; both cross-process); `speedup_inproc` =
steps_per_s_inproc / reference_runtime_steps_per_s (3b; both in one process).
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

sys.path.insert(0, str(ROOT / "scripts"))

from refvenv import ReferenceVenvError, reference_python  # noqa: E402

from rl_agents.agent import DummyBrain, DummyMuscle, DummyObjective  # noqa: E402
from rl_agents.environment import Assessment, Channel, Environment  # noqa: E402
from rl_agents.information import ActuatorInformation  # noqa: E402
from rl_agents.loop import InProcessBrainLink, run_episode  # noqa: E402
from rl_agents.spaces import Discrete  # noqa: E402
from rl_agents.transport import AsyncBrainLink, BrainClient  # noqa: E402

PALAESTRAI_VERSION = "3.5.18"
EPISODE_STEPS = 100
INPROC_STEPS = 20_000
ZMQ_STEPS = 10_000
REFERENCE_STEPS = (100, 1100)   # short and long one-episode palaestrAI runs
RUNTIME_STEPS = 3000            # palaestrAI's agent runtime, driven in one process


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
                                   max_pending=ZMQ_STEPS * 4)
        self.sent = 0
        self.answered = 0

    def think(self, muscle_id, data, step, mode=None):
        self.link.submit(muscle_id, data, step, mode)
        self.sent += 1
        updates = self.link.updates()
        self.answered += len(updates)
        return updates[-1] if updates else None

    def drain(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.answered < self.sent and time.monotonic() < deadline:
            time.sleep(0.001)
            self.answered += len(self.link.updates())


def bench_zmq_pipelined(endpoint: str) -> float:
    link = PipelinedLink(endpoint)
    started = time.perf_counter()
    done = play_episodes(link, ZMQ_STEPS, muscle_id="pipelined")
    link.drain()   # until the brain has answered every request
    elapsed = time.perf_counter() - started
    link.link.close()
    if link.answered < link.sent:
        say(f"pipelined: the brain answered {link.answered} of {link.sent} requests")
    return done * link.answered / link.sent / elapsed


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
    """The reference venv's python with palaestrAI, or None (and the reason printed)."""
    say(f"palaestrAI {PALAESTRAI_VERSION} in .venv-ref/palaestrai (made on first use: "
        f"minutes, ~75 packages)")
    started = time.monotonic()
    try:
        python = reference_python("palaestrai", [f"palaestrai=={PALAESTRAI_VERSION}"])
    except ReferenceVenvError as exc:
        say(f"palaestrAI failed to install: {exc}")
        return None
    say(f"palaestrAI venv ready after {time.monotonic() - started:.0f} s")
    return Path(python)


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


def palaestrai_run(python: Path, workdir: Path, steps: int, timeout_s: float
                   ) -> tuple[float, int]:
    """Wall time of one palaestrAI dummy run: one episode of `steps` steps."""
    ids = ", ".join(f"myenv.{i}" for i in range(10))
    run_file = workdir / f"run_{steps}.yml"
    run_file.write_text(RUN_FILE.format(episodes=1, steps=steps, ids=ids))
    started = time.perf_counter()
    returncode, out = run_group([str(python.parent / "palaestrai"), "-c",
                                 str(workdir / "runtime.yml"), "experiment-start", str(run_file)],
                                workdir, timeout_s)
    elapsed = time.perf_counter() - started
    if returncode != 0:
        raise RuntimeError(f"palaestrai exited {returncode}: "
                           + " | ".join(out.strip().splitlines()[-5:]))
    return elapsed, steps


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


def bench_palaestrai(python: Path) -> float | None:
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
            short_s, short_steps = palaestrai_run(python, workdir, REFERENCE_STEPS[0], 300)
            say(f"palaestrAI: {short_steps} steps in {short_s:.1f} s (start-up included)")
            long_s, long_steps = palaestrai_run(python, workdir, REFERENCE_STEPS[1], 900)
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


RUNTIME_DRIVER = textwrap.dedent("""\
    import asyncio, random, sys, time
    import numpy as np
    from palaestrai.agent import (ActuatorInformation, DummyBrain, DummyMuscle,
                                  DummyObjective, RewardInformation, SensorInformation)
    from palaestrai.agent.learner import Learner
    from palaestrai.agent.rollout_worker import RolloutWorker
    from palaestrai.core.protocol import AgentUpdateRequest, MuscleUpdateRequest
    from palaestrai.types import Box, Discrete, Mode

    steps, episode_steps = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(0)
    s_spaces = [Box(0.0, 1.0, shape=()) for _ in range(10)]
    a_spaces = [Discrete(100) for _ in range(10)]
    run = dict(experiment_run_id="b", experiment_run_instance_id="b0", experiment_run_phase=0)
    brain = DummyBrain()
    brain.sensors = [SensorInformation(np.float64(0), sp, str(i)) for i, sp in enumerate(s_spaces)]
    brain.actuators = [ActuatorInformation(space=sp, uid=str(i)) for i, sp in enumerate(a_spaces)]
    learner = Learner(brain, "a.Brain", "a")
    muscle = DummyMuscle(count_upwards=True)
    worker = RolloutWorker(muscle, DummyObjective(), uid="a.0", brain_uid=learner.uid)

    async def deliver(**kw):
        request = MuscleUpdateRequest(
            sender_rollout_worker_id=worker.uid, receiver_brain_id=learner.uid,
            muscle_uid=muscle.uid, sensor_readings=kw["sensors"],
            unfiltered_readings=kw["unfiltered_readings"], actuator_setpoints=kw["actuators"],
            unfiltered_setpoints=kw["unfiltered_setpoints"], rewards=kw["rewards"],
            objective=kw["objective"], done=worker._done, mode=worker.mode,
            data=kw["data_for_brain"], statistics=kw["statistics"], simtimes=kw["simtimes"],
            episode=kw["episode"], **run)
        await worker._handle_muscle_update_response(
            await learner._handle_muscle_update_request(request))

    async def main():
        learner.setup()
        worker.setup()
        worker._request_muscle_update = lambda **kw: asyncio.ensure_future(deliver(**kw))
        done, started = 0, time.perf_counter()
        while done < steps:
            rewards, terminal = None, False
            for t in range(episode_steps + 1):
                sensors = [SensorInformation(np.float64(rng.randint(0, 1)), sp, str(i))
                           for i, sp in enumerate(s_spaces)]
                await worker._handle_agent_update(AgentUpdateRequest(
                    sender_simulation_controller_id="s", receiver_rollout_worker_id=worker.uid,
                    episode=0, sensors=sensors, rewards=rewards, is_terminal=terminal,
                    actuators=[ActuatorInformation(space=sp, uid=str(i))
                               for i, sp in enumerate(a_spaces)],
                    mode=Mode.TRAIN, **run))
                if terminal:
                    break
                rewards = [RewardInformation(np.float64(rng.randint(0, 1)),
                                             Box(0.0, 1.0, shape=()), "r")]
                done += 1
                terminal = t + 1 >= episode_steps
        print(done / (time.perf_counter() - started))

    asyncio.run(main())
    """)


def bench_palaestrai_runtime(python: Path) -> float | None:
    """palaestrAI's Learner + RolloutWorker in one process, the broker replaced by calls."""
    with tempfile.TemporaryDirectory(prefix="bench-rl-runtime-") as tmp:
        script = Path(tmp) / "runtime.py"
        script.write_text(RUNTIME_DRIVER)
        done = subprocess.run([str(python), str(script), str(RUNTIME_STEPS),
                               str(EPISODE_STEPS)], capture_output=True, text=True,
                              timeout=600, cwd=tmp)
    if done.returncode != 0:
        say("palaestrAI runtime driver failed: " + " | ".join(done.stderr.splitlines()[-3:]))
        return None
    return float(done.stdout.strip().splitlines()[-1])


def main() -> int:
    say(f"in-process: {INPROC_STEPS} steps, DummyMuscle -> DummyBrain")
    inproc = bench_inproc()
    say(f"in-process: {inproc:,.0f} steps/s")
    say(f"ZeroMQ across processes: {ZMQ_STEPS} steps, muscle here, brain in brain_server")
    over_zmq, pipelined = bench_zmq()
    say(f"ZeroMQ, one request/reply per step: {over_zmq:,.0f} steps/s")
    say(f"ZeroMQ, pipelined (AsyncBrainLink, as the muscle node does): {pipelined:,.0f} steps/s "
        f"(counted when the brain has answered every step)")
    python = ensure_palaestrai()
    reference = runtime = None
    if python is not None:
        say(f"reference: palaestrAI {PALAESTRAI_VERSION} agent runtime in one process, "
            f"{RUNTIME_STEPS} steps")
        runtime = bench_palaestrai_runtime(python)
        if runtime is not None:
            say(f"palaestrAI agent runtime: {runtime:,.0f} steps/s")
        say(f"reference: palaestrAI {PALAESTRAI_VERSION} dummy experiment, one episode of "
            f"{REFERENCE_STEPS[0]} and of {REFERENCE_STEPS[1]} steps")
        reference = bench_palaestrai(python)
        if reference is not None:
            say(f"palaestrAI experiment runner: {reference:,.0f} steps/s (start-up excluded)")
    speedup = None if not reference else over_zmq / reference
    speedup_inproc = None if not runtime else inproc / runtime
    print(json.dumps({"steps_per_s_inproc": round(inproc, 1),
                      "steps_per_s_zmq": round(over_zmq, 1),
                      "steps_per_s_zmq_pipelined": round(pipelined, 1),
                      "reference_steps_per_s": None if reference is None else round(reference, 1),
                      "reference_runtime_steps_per_s":
                          None if runtime is None else round(runtime, 1),
                      "speedup": None if speedup is None else round(speedup, 2),
                      "speedup_inproc": None if speedup_inproc is None
                      else round(speedup_inproc, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
