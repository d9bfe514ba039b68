"""A brain as a plain process (no ROS): `python -m rl_agents.brain_server`.

    python -m rl_agents.brain_server --endpoint tcp://127.0.0.1:5599 \\
        --algorithm cem --params "{features: arm_reach}" --environment arm_reach \\
        --model-dir /tmp/brain

The sensors and actuators the brain learns for are those of a registered
environment (`--environment`), or none (the dummy brain needs none). With
`--model-dir` the brain resumes from its stored state and stores on exit
(SIGINT / SIGTERM) and every `--store-period-s`. Prints the bound endpoint.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from rl_agents.agent import FileBrainDumper
from rl_agents.registry import AGENTS, ENVIRONMENTS, make_brain, make_environment
from rl_agents.ros_params import parse_mapping
from rl_agents.transport import BrainServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="brain_server", description=__doc__.split("\n")[0])
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:5599")
    parser.add_argument("--algorithm", default="dummy", choices=sorted(AGENTS))
    parser.add_argument("--params", default="", help="algorithm parameters, a YAML mapping")
    parser.add_argument("--environment", default="", choices=["", *sorted(ENVIRONMENTS)])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-dir", default="")
    parser.add_argument("--store-period-s", type=float, default=30.0)
    args = parser.parse_args(argv)
    try:
        brain = make_brain(args.algorithm, parse_mapping("params", args.params))
    except ValueError as exc:
        parser.error(str(exc))
    sensors, actuators = [], []
    if args.environment:
        env = make_environment(args.environment)
        sensors, actuators = env.sensors(env.reset(args.seed)), env.actuators()
        env.close()
    brain.configure(sensors, actuators, args.seed,
                    [FileBrainDumper(args.model_dir)] if args.model_dir else [])
    if brain.load():
        print(f"resumed from {args.model_dir}", flush=True)
    server = BrainServer(brain, args.endpoint)
    print(f"brain ({args.algorithm}) serving at {server.bind()}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
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
