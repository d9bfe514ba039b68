"""Agents written for palaestrAI 3.5.18 run unchanged in rl_agents, with the same
learning curve step for step.

The reference is palaestrAI itself, installed in a venv of its own
(scripts/refvenv.py: about 2-5 min the first time, 74+ packages; reused after),
with the `environments` 1.0.1 package (its own venv, seconds). palaestrAI's
experiment runner needs ~31 s to start and does not end with more than one
episode, so `reference_agents/palaestrai_driver.py` drives palaestrAI's own
agent runtime instead: its Learner and RolloutWorker with the broker replaced
by direct calls (about 2 s for the runs below).

The same files run on both sides: `reference_agents/reach_agent.py` (a linear
muscle, a random-search brain storing through BrainDumper, an objective; it
imports only palaestrai), `reference_agents/reach_env.py` (an `environments`
environment), and palaestrAI's Dummy agent named by its palaestrAI path.
In rl_agents they are named by `module:Class` (an experiment file, too).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rl_agents import palaestrai_names
from rl_agents.agent import FileBrainDumper, Mode
from rl_agents.experiment import main as experiment_main
from rl_agents.loop import InProcessBrainLink, run_episode
from rl_agents.registry import make_brain, make_environment, make_muscle, make_objective

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]



@pytest.fixture(autouse=True, scope="module")
def _views_of_palaestrai_removed_after():
    yield
    palaestrai_names.uninstall()
    sys.path[:] = [p for p in sys.path if p != str(AGENTS_DIR)]
    for name in ("reach_agent", "reach_env"):
        sys.modules.pop(name, None)


AGENTS_DIR = Path(__file__).resolve().parent / "reference_agents"
SEED, UID, STEPS = 1, "reacher", 15
ENVIRONMENT = {"name": "reach_env:PointReach", "params": {"reward_channel": "reward"}}
REACH = {
    "brain": {"name": "reach_agent:RandomSearchBrain", "params": {"step_size": 0.2}},
    "muscle": {"name": "reach_agent:LinearMuscle", "params": {"noise": 0.05, "seed": 7}},
    "objective": {"name": "reach_agent:RewardObjective", "params": {}},
    "phases": [{"mode": "train", "episodes": 40}, {"mode": "test", "episodes": 2},
               {"mode": "evaluate", "episodes": 1}],
}
DUMMY = {
    "brain": {"name": "palaestrai.agent.dummy_brain:DummyBrain", "params": {}},
    "muscle": {"name": "palaestrai.agent.dummy_muscle:DummyMuscle",
               "params": {"count_upwards": True}},
    "objective": {"name": "palaestrai.agent.dummy_objective:DummyObjective", "params": {}},
    "phases": [{"mode": "train", "episodes": 5}, {"mode": "test", "episodes": 1}],
    "seed_actuator_spaces": True,
}


@pytest.fixture(scope="module")
def palaestrai(reference_python):
    python = reference_python("palaestrai", ["palaestrai==3.5.18"])
    envs = reference_python("environments", ["environments==1.0.1", "scicfg==1.0.1"])
    site = next(Path(envs).parent.parent.glob("lib/python*/site-packages"))

    def run(agent: dict, dump_dir: Path) -> dict:
        job = {"paths": [str(AGENTS_DIR), str(site)], "environment": ENVIRONMENT,
               "seed": SEED, "uid": UID, "steps": STEPS, "dump_dir": str(dump_dir), **agent}
        done = subprocess.run([str(python), str(AGENTS_DIR / "palaestrai_driver.py"),
                               json.dumps(job)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    return run


def run_in_rl_agents(agent: dict, dump_dir: Path) -> dict:
    """The same job in rl_agents: classes by module:Class, palaestrAI's order."""
    if str(AGENTS_DIR) not in sys.path:
        sys.path.insert(0, str(AGENTS_DIR))
    env = make_environment(ENVIRONMENT["name"], ENVIRONMENT["params"])
    dumper = FileBrainDumper(dump_dir)
    brain = make_brain(agent["brain"]["name"], agent["brain"]["params"])
    brain.configure(env.sensors(env.reset(SEED)), env.actuators(), SEED, [dumper],
                    name=UID, load=True)
    muscle = make_muscle(agent["muscle"]["name"], f"{UID}.0", agent["muscle"]["params"])
    muscle.configure(SEED * 1000, model_loaders=[dumper])
    objective = make_objective(agent["objective"]["name"], agent["objective"]["params"])
    module = sys.modules.get(agent["muscle"]["name"].partition(":")[0])
    if hasattr(module, "TRACE"):
        module.TRACE.clear()
    trace = []
    propose = muscle.propose_actions

    def recording(sensors, actuators):
        setpoints, data = propose(sensors, actuators)
        trace.append({"setpoints": [float(np.asarray(a.value).reshape(-1)[0])
                                    for a in setpoints], "data": data})
        return setpoints, data

    muscle.propose_actions = recording
    episodes, episode = [], 0
    for phase in agent["phases"]:
        for _ in range(phase["episodes"]):
            first = len(trace)
            result = run_episode(env, muscle, objective, InProcessBrainLink(brain),
                                 seed=SEED * 10**6 + episode, max_steps=STEPS,
                                 mode=Mode.parse(phase["mode"]))
            for row, reward in zip(trace[first:], [*result.rewards, None], strict=True):
                row["reward"] = reward
            episodes.append(result.reward_return)
            episode += 1
    muscle.teardown()
    dumps = {p.name: p.read_bytes().hex() for p in sorted(dump_dir.glob("*.bin"))}
    return {"episodes": episodes, "trace": trace, "dumps": dumps,
            "agent_trace": getattr(module, "TRACE", None)}


def same_trace(ours: list[dict], theirs: list[dict]) -> None:
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a["setpoints"] == b["setpoints"], f"step {i}: {a} != {b}"
        assert a["data"] == b["data"], f"step {i}: {a} != {b}"
        assert a["reward"] == b["reward"], f"step {i}: {a} != {b}"


def test_ported_agent_learns_the_same_curve_step_for_step(palaestrai, tmp_path):
    theirs = palaestrai(REACH, tmp_path / "palaestrai")
    ours = run_in_rl_agents(REACH, tmp_path / "rl_agents")
    n_episodes = sum(p["episodes"] for p in REACH["phases"])
    assert len(theirs["episodes"]) == n_episodes
    assert len(theirs["trace"]) == n_episodes * (STEPS + 1)   # the terminal step acts too
    same_trace(ours["trace"], theirs["trace"])
    assert ours["episodes"] == theirs["episodes"]
    # what the agent saw: modes while acting (evaluate acts as test), objective values
    assert ours["agent_trace"] == theirs["agent_trace"]
    modes = [row[1] for row in theirs["agent_trace"] if row[0] == "act"]
    assert modes.count("test") == 3 * (STEPS + 1)
    # the brain stored its best weights through BrainDumper at every episode end: same bytes
    assert list(theirs["dumps"]) == ["policy.bin"]
    assert ours["dumps"] == theirs["dumps"]
    # and it learnt: the stored policy is not the initial zeros
    import io
    best = np.load(io.BytesIO(bytes.fromhex(ours["dumps"]["policy.bin"])))
    assert best.shape == (2, 6) and np.any(best != 0.0)


def test_palaestrai_dummy_agent_runs_the_same(palaestrai, tmp_path):
    theirs = palaestrai(DUMMY, tmp_path / "palaestrai")
    ours = run_in_rl_agents(DUMMY, tmp_path / "rl_agents")
    same_trace(ours["trace"], theirs["trace"])
    assert ours["episodes"] == theirs["episodes"]
    # DummyBrain answers data + 1, 0 when there is none: each episode counts 0..STEPS
    assert [row["data"] for row in theirs["trace"][:STEPS + 1]] == list(range(STEPS + 1))
    assert ours["dumps"] == theirs["dumps"] and "brain.bin" in theirs["dumps"]


EXPERIMENT_FILE = """\
name: ported
seeds: [1]
max_steps: 15
environment: {name: "reach_env:PointReach", params: {reward_channel: reward}}
agents:
  - uid: reacher
    brain: {name: "reach_agent:RandomSearchBrain", params: {step_size: 0.2}}
    muscle: {name: "reach_agent:LinearMuscle", params: {noise: 0.05, seed: 7}}
    objective: {name: "reach_agent:RewardObjective"}
phases:
  - {name: train, mode: train, episodes: 40}
  - {name: test, mode: test, episodes: 2}
  - {name: evaluate, mode: evaluate, episodes: 1}
"""


def test_experiment_file_names_the_custom_agent_by_module_and_class(palaestrai, tmp_path,
                                                                     monkeypatch):
    theirs = palaestrai(REACH, tmp_path / "palaestrai")
    monkeypatch.syspath_prepend(str(AGENTS_DIR))
    path = tmp_path / "ported.yaml"
    path.write_text(EXPERIMENT_FILE)
    assert experiment_main([str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    with open(tmp_path / "out" / "learning_curve.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["mode"] for r in rows] == ["train"] * 40 + ["test"] * 2 + ["evaluate"]
    assert np.allclose([float(r["return"]) for r in rows], theirs["episodes"], rtol=1e-5)
    assert (tmp_path / "out" / "learning_curve.png").stat().st_size > 0


def test_spaces_behave_as_palaestrai_s(reference_python):
    """to_vector (Discrete one-hot), reshape_to_space, Box.scale, len, Discrete.shape,
    contains, and seeded sampling (gymnasium's draws) agree with palaestrAI's types."""
    python = reference_python("palaestrai", ["palaestrai==3.5.18"])
    probe = AGENTS_DIR / "spaces_probe.py"
    theirs = json.loads(subprocess.run([str(python), str(probe)], capture_output=True,
                                       text=True, check=True, timeout=120).stdout)
    ours = json.loads(subprocess.run([sys.executable, str(probe), "--rl-agents"],
                                     capture_output=True, text=True, check=True,
                                     timeout=120).stdout)
    assert ours == theirs
    assert theirs["discrete"][2] == [0.0, 0.0, 1.0, 0.0]
