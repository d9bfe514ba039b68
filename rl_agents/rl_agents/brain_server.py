"""A brain as a plain process (no ROS): `python -m rl_agents.brain_server`.

    python -m rl_agents.brain_server --endpoint tcp://127.0.0.1:5599 \\
        --algorithm cem --params "{features: arm_reach}" --environment arm_reach \\
        --model-dir /tmp/brain

`--algorithm` is a built-in (dummy, tile_q, cem) or any Brain class,
`pkg.module:Class`, made with `--params` as keywords. The sensors and actuators
the brain learns for are those of an environment (`--environment`, a built-in
name or `pkg.module:Class`, with `--env-params`), or none (the dummy brain
needs none). With
`--model-dir` the brain resumes from its stored state and stores on exit
(SIGINT / SIGTERM) and every `--store-period-s`. Prints the bound endpoint.
"""

from __future__ import annotations

import argparse
import sys
import threading

from node_kit.signals import stop_on_signals
from rl_agents.agent import FileBrainDumper
from rl_agents.registry import make_brain, make_environment, parse_mapping
from rl_agents.transport import BrainServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="brain_server", description=__doc__.split("\n")[0])
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:5599")
    parser.add_argument("--algorithm", default="dummy",
                        help="dummy, tile_q, cem, or a Brain class 'pkg.module:Class'")
    parser.add_argument("--params", default="", help="algorithm parameters, a YAML mapping")
    parser.add_argument("--environment", default="",
                        help="a built-in environment or 'pkg.module:Class' ('' = none)")
    parser.add_argument("--env-params", default="", help="environment cfg, a YAML mapping")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-dir", default="")
    parser.add_argument("--store-period-s", type=float, default=30.0)
    args = parser.parse_args(argv)
    try:
        brain = make_brain(args.algorithm, parse_mapping("params", args.params))
        sensors, actuators = [], []
        if args.environment:
            env = make_environment(args.environment, parse_mapping("env-params",
                                                                   args.env_params))
            sensors, actuators = env.sensors(env.reset(args.seed)), env.actuators()
            env.close()
    except ValueError as exc:
        parser.error(str(exc))
    if brain.configure(sensors, actuators, args.seed,
                       [FileBrainDumper(args.model_dir)] if args.model_dir else [],
                       name="brain", load=bool(args.model_dir)):
        print(f"resumed from {args.model_dir}", flush=True)
    server = BrainServer(brain, args.endpoint)
    print(f"brain ({args.algorithm}) serving at {server.bind()}", flush=True)
    stop = threading.Event()
    stop_on_signals(stop.set)
    server.start()
    try:
        while not stop.wait(args.store_period_s):
            if args.model_dir:
                with server.lock:
                    brain.store()
    finally:
        server.stop()
        if args.model_dir:
            brain.store()
    return 0


if __name__ == "__main__":
    sys.exit(main())
