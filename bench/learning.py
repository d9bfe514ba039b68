"""Does the demo brain learn a policy that lasts and generalises? Offline, on the demo's task.

    python bench/learning.py [--seeds 1 2 3] [--learning-cycles 6600] [--new-targets 10]

For every seed (which draws the network's connections and initial weights, and its noise),
on the demo's task as robot_bringup.offline_arm runs it (the demo graph, arm, reward and
decoding; the target switching every --cycles-per-target cycles, inputs
--observation-lag and rewards --reward-delay cycles late), the same target schedule is run
by:
- `hold`: no command, the arm stays at its start pose;
- `proportional`: each joint moves 0.3 × the joint error the brain's `target` input
  carries, as late as the brain sees it (offline_arm.PROPORTIONAL_GAIN);
- `frozen_initial`: the brain as initialised, learning off;
- `learning`: the brain learning, --learning-cycles cycles (the live demo's learning
  phase: 132 s at 50 cycles/s);
- `retention`: the brain it learned, learning off, on the demo targets again;
- `frozen_new_targets`: the brain it learned, learning off, on --new-targets random
  targets it never saw (sim_arm's random mode); `hold` and `proportional` run the same
  new targets.

Every figure is the mean reward of the last fifth of its run. The headline,
`gap_closed_frozen_new_targets`, is the mean over seeds of
(frozen_new − hold_new) / (proportional_new − hold_new): the fraction of the gap between
holding still and the proportional controller that the learned, frozen brain closes on
targets it never saw. Last line: one JSON object with it and every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for package in ("ab_bridge", "robot_bringup"):
    if str(ROOT / package) not in sys.path:
        sys.path.insert(0, str(ROOT / package))

from embedded_brain.graph import bundled_graph_path, load_graph  # noqa: E402
from robot_bringup.offline_arm import DemoSettings, random_targets, run_arm  # noqa: E402

# Random targets of the generalisation runs: drawn from seeds the demo's schedule never uses.
NEW_TARGET_SEED_BASE = 1000


def gap_closed(value: float, hold: float, proportional: float) -> float:
    """(value − hold) / (proportional − hold): 0 holding still, 1 the proportional controller."""
    span = proportional - hold
    return float((value - hold) / span) if span > 1e-9 else float("nan")


def run_seed(seed: int, args: argparse.Namespace, graph, settings: DemoSettings) -> dict:
    common = dict(graph=graph, cycles_per_target=args.cycles_per_target,
                  reward_delay=args.reward_delay, observation_lag=args.observation_lag,
                  settings=settings)
    demo = list(settings.targets)
    new = random_targets(NEW_TARGET_SEED_BASE + seed, args.new_targets)
    eval_demo = args.cycles_per_target * args.demo_eval_targets
    eval_new = args.cycles_per_target * args.new_targets
    started = time.monotonic()
    runs = {
        "hold": run_arm(seed, False, eval_demo, policy="hold", targets=demo, **common),
        "proportional": run_arm(seed, False, eval_demo, policy="proportional", targets=demo,
                                **common),
        "frozen_initial": run_arm(seed, False, eval_demo, targets=demo, **common),
        "hold_new_targets": run_arm(seed, False, eval_new, policy="hold", targets=new, **common),
        "proportional_new_targets": run_arm(seed, False, eval_new, policy="proportional",
                                            targets=new, **common),
    }
    learning = run_arm(seed, True, args.learning_cycles, targets=demo, **common)
    runs["learning"] = learning
    runs["retention"] = run_arm(seed, False, eval_demo, network=learning.network,
                                targets=demo, **common)
    runs["frozen_new_targets"] = run_arm(seed, False, eval_new, network=learning.network,
                                         targets=new, **common)
    figures = {name: round(run.last_fifth(), 4) for name, run in runs.items()}
    figures["gap_closed_frozen_new_targets"] = round(gap_closed(
        figures["frozen_new_targets"], figures["hold_new_targets"],
        figures["proportional_new_targets"]), 4)
    figures["gap_closed_retention"] = round(gap_closed(
        figures["retention"], figures["hold"], figures["proportional"]), 4)
    figures["gap_closed_frozen_initial"] = round(gap_closed(
        figures["frozen_initial"], figures["hold"], figures["proportional"]), 4)
    curve = learning.rewards.reshape(10, -1).mean(axis=1) \
        if learning.rewards.size % 10 == 0 else learning.rewards
    print(f"seed {seed} ({time.monotonic() - started:.0f} s): "
          + " ".join(f"{k} {v:.3f}" for k, v in figures.items()), flush=True)
    print(f"  learning curve (tenths): {' '.join(f'{b:.2f}' for b in curve)}", flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", default=str(bundled_graph_path("demo_arm")))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--learning-cycles", type=int, default=6600)
    parser.add_argument("--cycles-per-target", type=int, default=300,
                        help="the demo's 6 s per target at 50 cycles/s")
    parser.add_argument("--demo-eval-targets", type=int, default=4,
                        help="target periods of the runs on the demo targets")
    parser.add_argument("--new-targets", type=int, default=10)
    parser.add_argument("--observation-lag", type=int, default=2)
    parser.add_argument("--reward-delay", type=int, default=3)
    args = parser.parse_args(argv)
    graph = load_graph(Path(args.graph))
    settings = DemoSettings.load()
    print(f"graph {args.graph}; seeds {args.seeds}; {args.learning_cycles} learning cycles; "
          f"{args.cycles_per_target} cycles per target; inputs {args.observation_lag} and "
          f"rewards {args.reward_delay} cycles late (a shared, busy machine: timings vary)",
          flush=True)
    per_seed = {seed: run_seed(seed, args, graph, settings) for seed in args.seeds}
    names = list(next(iter(per_seed.values())))
    summary = {name: round(float(np.mean([f[name] for f in per_seed.values()])), 4)
               for name in names}
    summary["gap_closed_frozen_new_targets_min"] = round(float(min(
        f["gap_closed_frozen_new_targets"] for f in per_seed.values())), 4)
    summary["seeds"] = args.seeds
    summary["per_seed"] = {str(s): f for s, f in per_seed.items()}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
