"""A muscle as a plain Python process (no ROS): `python -m rl_agents.muscle_runner`.

    python -m rl_agents.muscle_runner --brain tcp://10.0.0.5:5599 \\
        --muscle cem --params "{features: arm_reach}" --environment arm_reach \\
        --episodes 100 --seed 3 --uid reacher.3

Brains and muscles on several machines: start one brain
(`python -m rl_agents.brain_server --endpoint tcp://0.0.0.0:5599 ...` or the
`brain` node) and any number of these, each with its own `--uid`. Each runs
episodes of its environment (a built-in name or `pkg.mod:Class`) with its
muscle (`--muscle`, a built-in algorithm or `pkg.mod:Class`), the Objective
(`--objective`), in palaestrAI's call order (rl_agents.loop.MuscleWorker), and
prints one JSON line per episode: `{"episode", "return", "objective_return",
"steps"}`. Without `--brain` the brain runs inside the process (`--brain-class`,
default the muscle's algorithm). `--mode test` acts with the model stored in
`--model-dir`. SIGINT / SIGTERM end the episode at the next step, call
`Muscle.teardown()` and exit 0.

`MuscleRunner` is the same thing as a library class; the ROS `muscle` node is
built on it (it feeds `act()` from topics instead of an Environment).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Sequence
from typing import Any

from node_kit.signals import stop_on_signals
from rl_agents.agent import FileBrainDumper, Mode, Muscle, Objective
from rl_agents.environment import Environment
from rl_agents.information import ActuatorInformation, RewardInformation, SensorInformation
from rl_agents.loop import EpisodeResult, InProcessBrainLink, MuscleWorker, run_episode


class StopRequested(Exception):
    """The runner was asked to stop (SIGINT / SIGTERM) between two steps."""


class MuscleRunner:
    """A configured muscle, its objective and its brain link, stepped in palaestrAI's order.

    `act(sensors, actuators, rewards, done)` for callers that own the environment
    loop (the ROS node); `episode(env)` runs a whole episode of an Environment.
    """

    def __init__(self, muscle: Muscle, objective: Objective, link: Any = None,
                 mode: Mode | str = Mode.TRAIN) -> None:
        self.muscle = muscle
        self.objective = objective
        self.link = link
        self.mode = Mode.parse(mode)
        self.worker = MuscleWorker(muscle, objective, link, self.mode)
        self._stop = threading.Event()
        self.episodes = 0

    def act(self, sensors: list[SensorInformation], actuators: list[ActuatorInformation],
            rewards: list[RewardInformation] | None, done: bool = False,
            terminal: bool = False) -> tuple[list[ActuatorInformation], dict[str, Any]]:
        return self.worker.act(sensors, actuators, rewards, done, terminal)

    def episode(self, env: Environment, seed: int | None = None,
                max_steps: int | None = None) -> EpisodeResult:
        if self._stop.is_set():
            raise StopRequested()
        result = run_episode(env, self.muscle, self.objective, self.link, seed=seed,
                             max_steps=max_steps, worker=self.worker)
        self.episodes += 1
        return result

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        """`Muscle.teardown()`, then the link is closed; safe to call twice."""
        if self.muscle is not None:
            try:
                self.muscle.teardown()
            finally:
                self.muscle = None
                close = getattr(self.link, "close", None)
                if close is not None:
                    close()


def main(argv: Sequence[str] | None = None) -> int:
    from rl_agents.registry import (
        make_brain,
        make_environment,
        make_muscle,
        make_objective,
        parse_mapping,
    )

    parser = argparse.ArgumentParser(prog="muscle_runner", description=__doc__.split("\n")[0])
    parser.add_argument("--brain", default="", help="ZeroMQ endpoint of the brain; '' = "
                                                     "a brain inside this process")
    parser.add_argument("--brain-class", default="", help="in-process brain: algorithm or "
                                                           "pkg.mod:Class (default: --muscle)")
    parser.add_argument("--brain-params", default="", help="in-process brain params (YAML)")
    parser.add_argument("--muscle", default="dummy", help="algorithm or pkg.mod:Class")
    parser.add_argument("--params", default="", help="muscle params, a YAML mapping")
    parser.add_argument("--environment", default="arm_reach", help="name or pkg.mod:Class")
    parser.add_argument("--env-params", default="", help="environment cfg, a YAML mapping")
    parser.add_argument("--objective", default="dummy", help="name or pkg.mod:Class")
    parser.add_argument("--objective-params", default="")
    parser.add_argument("--episodes", type=int, default=1)
    parser.add_argument("--max-steps", type=int, default=0, help="per episode; 0 = the "
                                                                 "environment's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", default="train", choices=[m.value for m in Mode])
    parser.add_argument("--model-dir", default="")
    parser.add_argument("--uid", default="muscle")
    parser.add_argument("--timeout-s", type=float, default=5.0)
    args = parser.parse_args(argv)
    mode = Mode.parse(args.mode)
    try:
        muscle = make_muscle(args.muscle, args.uid, parse_mapping("params", args.params))
        objective = make_objective(args.objective,
                                   parse_mapping("objective-params", args.objective_params))
        env = make_environment(args.environment, parse_mapping("env-params", args.env_params))
    except ValueError as exc:
        parser.error(str(exc))
    loaders = [FileBrainDumper(args.model_dir)] if args.model_dir else []
    prepared = muscle.configure(args.seed, mode, loaders)
    if mode is not Mode.TRAIN and prepared is False:
        parser.error(f"--mode {mode.value}: no stored model in {args.model_dir!r}")
    brain = None
    if args.brain:
        from rl_agents.transport import BrainClient
        link: Any = BrainClient(args.brain, timeout_s=args.timeout_s)
    else:
        try:
            brain = make_brain(args.brain_class or args.muscle,
                               parse_mapping("brain-params", args.brain_params or args.params))
        except ValueError as exc:
            parser.error(str(exc))
        brain.configure(env.sensors(env.reset(args.seed)), env.actuators(), args.seed, loaders,
                        load=bool(loaders))
        link = InProcessBrainLink(brain)
    runner = MuscleRunner(muscle, objective, link, mode)
    stop_on_signals(runner.stop)
    original_act = runner.worker.act

    def act(*a: Any, **kw: Any) -> Any:   # stop between two steps
        if runner.stopping:
            raise StopRequested()
        return original_act(*a, **kw)

    runner.worker.act = act
    try:
        for k in range(args.episodes):
            result = runner.episode(env, seed=args.seed * 10**6 + k,
                                    max_steps=args.max_steps or None)
            print(json.dumps({"episode": k, "return": result.reward_return,
                              "objective_return": result.objective_return,
                              "steps": result.steps}), flush=True)
    except StopRequested:
        print(json.dumps({"stopped": True, "episodes": runner.episodes}), flush=True)
    finally:
        runner.close()
        env.close()
        if brain is not None and loaders:
            brain.store()
    return 0


if __name__ == "__main__":
    sys.exit(main())
