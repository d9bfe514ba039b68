"""Experiment files: agents, an environment, phases, episodes, seeds -> a learning curve.

    experiment rl_agents/config/experiment_arm_reach.yaml [--out DIR]

runs every agent for every seed through the phases (train: the muscles
learn through the brain; test: they act with what was learnt), with a
progress bar, and writes `<out>/learning_curve.csv` (one row per episode) and
`<out>/learning_curve.png` (mean return per episode over seeds, min-max band).

File format (YAML):

    name: arm_reach_cem
    seeds: [0, 1, 2]
    environment: {name: arm_reach, params: {episode_steps: 50}}
    agents:
      - uid: reacher
        algorithm: cem              # dummy | tile_q | cem
        params: {features: arm_reach, population: 12}   # given to brain and muscle
        objective: dummy            # optional, with objective_params
        muscles: 2                  # workers sharing the brain (round robin), default 1
        transport: inproc           # or zmq: the brain behind a BrainServer on loopback
      - uid: mine                   # a custom agent, named as in palaestrAI's run files
        brain: {name: "my_pkg.agent:MyBrain", params: {step_size: 0.1}}
        muscle: {name: "my_pkg.agent:MyMuscle", params: {}}
        objective: {name: "my_pkg.agent:MyObjective", params: {}}

Every `name` (environment, brain, muscle, objective) is a built-in name or a
class `pkg.module:Class` (an environment also `pkg.module.Class`); the
environment's `params` are its cfg.
    phases:
      - {name: train, mode: train, episodes: 200}
      - {name: test, mode: test, episodes: 20}
    output: experiment_results/arm_reach   # optional; --out wins
    max_steps: 100                         # optional: end episodes after this many steps
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from rl_agents.agent import Mode
from rl_agents.loop import BrainLink, InProcessBrainLink, run_episode
from rl_agents.registry import (
    AGENTS,
    brain_class,
    environment_class,
    make_brain,
    make_environment,
    make_muscle,
    make_objective,
    muscle_class,
)


@dataclass
class AgentSpec:
    uid: str
    algorithm: str
    params: dict[str, Any] = field(default_factory=dict)
    objective: str = "dummy"
    objective_params: dict[str, Any] = field(default_factory=dict)
    muscles: int = 1
    transport: str = "inproc"
    brain: str = ""      # pkg.mod:Class or built-in name; "" = algorithm's
    brain_params: dict[str, Any] | None = None    # None = params
    muscle: str = ""
    muscle_params: dict[str, Any] | None = None


@dataclass
class PhaseSpec:
    name: str
    mode: Mode
    episodes: int


@dataclass
class ExperimentSpec:
    name: str
    seeds: list[int]
    environment: str
    environment_params: dict[str, Any]
    agents: list[AgentSpec]
    phases: list[PhaseSpec]
    output: str | None = None
    max_steps: int | None = None   # per episode, for environments that never say done


def _need(mapping: dict[str, Any], key: str, where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise ValueError(f"experiment file: {where} needs '{key}'")
    return mapping[key]


def parse_experiment(doc: dict[str, Any]) -> ExperimentSpec:
    """Validate a loaded experiment file; errors say which entry is wrong."""
    if not isinstance(doc, dict):
        raise ValueError("experiment file must be a YAML mapping")
    env = _need(doc, "environment", "the file")
    env_name = _need(env, "name", "'environment'")
    try:
        environment_class(env_name)
    except ValueError as exc:
        raise ValueError(f"experiment file: environment: {exc}") from None
    seeds = doc.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise ValueError(f"experiment file: 'seeds' must be a list of integers, got {seeds!r}")
    agents = []
    for i, a in enumerate(_need(doc, "agents", "the file")):
        where = f"agents[{i}]"
        parts = {}
        for key in ("brain", "muscle", "objective"):
            value = a.get(key) if isinstance(a, dict) else None
            if isinstance(value, dict):
                parts[key] = (str(_need(value, "name", f"{where}.{key}")),
                              dict(value.get("params") or {}))
            elif value is not None:
                parts[key] = (str(value), None)
        if "algorithm" in a:
            algorithm = str(a["algorithm"])
            if algorithm not in AGENTS:
                raise ValueError(f"experiment file: {where}.algorithm must be one of "
                                 f"{sorted(AGENTS)}, got {algorithm!r} (name custom "
                                 f"classes with brain: and muscle:)")
        elif "brain" in parts and "muscle" in parts:
            algorithm = ""
        else:
            raise ValueError(f"experiment file: {where} needs 'algorithm', or 'brain' and "
                             f"'muscle'")
        try:
            if "brain" in parts:
                brain_class(parts["brain"][0])
            if "muscle" in parts:
                muscle_class(parts["muscle"][0])
        except ValueError as exc:
            raise ValueError(f"experiment file: {where}: {exc}") from None
        objective, objective_params = parts.get("objective", ("dummy", None))
        if objective_params is None:
            objective_params = dict(a.get("objective_params") or {})
        transport = a.get("transport", "inproc")
        if transport not in ("inproc", "zmq"):
            raise ValueError(f"experiment file: {where}.transport must be inproc or zmq")
        muscles = int(a.get("muscles", 1))
        if muscles < 1:
            raise ValueError(f"experiment file: {where}.muscles must be >= 1")
        agents.append(AgentSpec(
            str(a.get("uid", a.get("name", f"agent{i}"))), algorithm,
            dict(a.get("params") or {}), objective, objective_params, muscles, transport,
            parts.get("brain", ("", None))[0], parts.get("brain", ("", None))[1],
            parts.get("muscle", ("", None))[0], parts.get("muscle", ("", None))[1]))
    if not agents:
        raise ValueError("experiment file: 'agents' must list at least one agent")
    phases = []
    for i, p in enumerate(_need(doc, "phases", "the file")):
        where = f"phases[{i}]"
        episodes = int(_need(p, "episodes", where))
        if episodes < 1:
            raise ValueError(f"experiment file: {where}.episodes must be >= 1")
        try:
            mode = Mode.parse(p.get("mode", "train"))
        except ValueError as exc:
            raise ValueError(f"experiment file: {where}.mode: {exc}") from None
        phases.append(PhaseSpec(str(p.get("name", f"phase{i}")), mode, episodes))
    if not phases:
        raise ValueError("experiment file: 'phases' must list at least one phase")
    max_steps = doc.get("max_steps")
    if max_steps is not None and (not isinstance(max_steps, int) or max_steps < 1):
        raise ValueError(f"experiment file: 'max_steps' must be an integer >= 1, "
                         f"got {max_steps!r}")
    return ExperimentSpec(str(doc.get("name", "experiment")), seeds, env_name,
                          dict(env.get("params") or {}), agents, phases, doc.get("output"),
                          max_steps)


def load_experiment(path: str | Path) -> ExperimentSpec:
    with open(path, encoding="utf-8") as f:
        return parse_experiment(yaml.safe_load(f))


@dataclass
class EpisodeRow:
    agent: str
    seed: int
    phase: str
    mode: str
    episode: int
    muscle: str
    reward_return: float
    objective_return: float
    steps: int


def run_agent(spec: ExperimentSpec, agent: AgentSpec, seed: int,
              on_episode: Any = None) -> list[EpisodeRow]:
    """One agent, one seed, every phase."""
    envs = [make_environment(spec.environment, {**spec.environment_params,
                                                "seed": seed * 1000 + m})
            for m in range(agent.muscles)]
    server = None
    links: list[BrainLink] = []
    muscles = []
    try:
        brain_params = agent.params if agent.brain_params is None else agent.brain_params
        muscle_params = agent.params if agent.muscle_params is None else agent.muscle_params
        brain = make_brain(agent.brain or agent.algorithm, brain_params)
        probe = envs[0]
        brain.configure(probe.sensors(probe.reset(seed)), probe.actuators(), seed,
                        name=agent.uid)
        if agent.transport == "zmq":
            from rl_agents.transport import BrainClient, BrainServer
            server = BrainServer(brain, "tcp://127.0.0.1:0").start()
            links = [BrainClient(server.endpoint, timeout_s=10.0) for _ in envs]
        else:
            links = [InProcessBrainLink(brain) for _ in envs]
        for m in range(agent.muscles):
            muscle = make_muscle(agent.muscle or agent.algorithm, f"{agent.uid}.{m}",
                                 muscle_params)
            muscle.configure(seed * 1000 + m)
            muscles.append(muscle)
        objective = make_objective(agent.objective, agent.objective_params)
        rows, episode = [], 0
        for phase in spec.phases:
            for muscle in muscles:
                muscle.mode = phase.mode
            for k in range(phase.episodes):
                m = k % agent.muscles
                result = run_episode(envs[m], muscles[m], objective, links[m],
                                     seed=seed * 10**6 + episode, mode=phase.mode,
                                     max_steps=spec.max_steps)
                rows.append(EpisodeRow(agent.uid, seed, phase.name, phase.mode.value, episode,
                                       muscles[m].uid, result.reward_return,
                                       result.objective_return, result.steps))
                episode += 1
                if on_episode is not None:
                    on_episode(rows[-1])
        return rows
    finally:
        for muscle in muscles:
            muscle.teardown()
        for env in envs:
            env.close()
        if server is not None:
            for link in links:
                link.close()
            server.stop()


def run_experiment(spec: ExperimentSpec, progress: bool = True) -> list[EpisodeRow]:
    from tqdm import tqdm

    total = len(spec.seeds) * len(spec.agents) * sum(p.episodes for p in spec.phases)
    rows: list[EpisodeRow] = []
    with tqdm(total=total, desc=spec.name, unit="episode", disable=not progress,
              file=sys.stderr) as bar:
        def tick(row: EpisodeRow) -> None:
            bar.update(1)
            bar.set_postfix(agent=row.agent, seed=row.seed, phase=row.phase,
                            ret=f"{row.reward_return:.1f}", refresh=False)

        for agent in spec.agents:
            for seed in spec.seeds:
                rows.extend(run_agent(spec, agent, seed, tick))
    return rows


def write_csv(rows: list[EpisodeRow], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["agent", "seed", "phase", "mode", "episode", "muscle",
                         "return", "objective_return", "steps"])
        for r in rows:
            writer.writerow([r.agent, r.seed, r.phase, r.mode, r.episode, r.muscle,
                             f"{r.reward_return:.6g}", f"{r.objective_return:.6g}", r.steps])


def plot_curve(rows: list[EpisodeRow], spec: ExperimentSpec, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for agent in spec.agents:
        mine = [r for r in rows if r.agent == agent.uid]
        episodes = max(r.episode for r in mine) + 1
        table = np.full((len(spec.seeds), episodes), np.nan)
        for r in mine:
            table[spec.seeds.index(r.seed), r.episode] = r.reward_return
        x = np.arange(episodes)
        ax.plot(x, np.nanmean(table, axis=0), label=f"{agent.uid} ({agent.algorithm})")
        ax.fill_between(x, np.nanmin(table, axis=0), np.nanmax(table, axis=0), alpha=0.2)
    boundary = 0
    for phase in spec.phases[:-1]:
        boundary += phase.episodes
        ax.axvline(boundary - 0.5, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("episode")
    ax.set_ylabel("return (mean over seeds, min-max band)")
    ax.set_title(f"{spec.name}: " + ", ".join(f"{p.name} ({p.mode.value})" for p in spec.phases))
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="experiment", description=__doc__.split("\n")[0])
    parser.add_argument("file", help="experiment YAML file")
    parser.add_argument("--out", help="output directory (default: the file's 'output', "
                                      "else experiment_results/<name>)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        spec = load_experiment(args.file)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"experiment: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out or spec.output or f"experiment_results/{spec.name}")
    try:
        rows = run_experiment(spec, progress=not args.no_progress)
    except KeyboardInterrupt:
        print("experiment: interrupted", file=sys.stderr)
        return 130
    write_csv(rows, out / "learning_curve.csv")
    plot_curve(rows, spec, out / "learning_curve.png")
    for agent in spec.agents:
        for phase in spec.phases:
            values = [r.reward_return for r in rows if r.agent == agent.uid and r.phase == phase.name]
            print(f"{agent.uid} {phase.name}: mean return {np.mean(values):.2f} "
                  f"over {len(values)} episodes")
    print(f"wrote {out / 'learning_curve.csv'} and {out / 'learning_curve.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
