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

With `--protocol device` the same runs go over the Prima-Lux device path instead, offline
(robot_bringup.device_arm: the embedded device stepped in-process with the arm's brain
design, brain_device.yaml's input binding, decoder and reward populations): a cycle is a
device cycle of 10 timesteps (one command, 100 per second live), so the defaults become
13200 learning cycles (the same 132 s), 600 cycles per target (6 s), the joint errors
posted every 2 cycles (joint_states at 50 Hz) and 2 cycles old, rewards 3 cycles late;
`hold` and `proportional` run as in the live device demo's report
(robot_bringup.evaluation: offline_arm on the same cycle count and targets).

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

    def brain(learning: bool, cycles: int, targets, trained=None):
        return run_arm(seed, learning, cycles, network=trained, targets=targets, **common)

    return run_phases(seed, args, list(settings.targets), common, brain)


def run_seed_device(seed: int, args: argparse.Namespace) -> dict:
    """run_seed's figures over the device path (robot_bringup.device_arm), with the
    initial device on the new targets too."""
    from robot_bringup.device_arm import DeviceSettings, run_device_arm

    settings = DeviceSettings.load()
    references = dict(cycles_per_target=args.cycles_per_target, reward_delay=args.reward_delay,
                      observation_lag=args.observation_lag)

    def brain(learning: bool, cycles: int, targets, trained=None):
        return run_device_arm(seed, learning, cycles, design=args.design, device=trained,
                              targets=targets, settings=settings, **references)

    return run_phases(seed, args, list(settings.targets), references, brain,
                      initial_on_new_targets=True)


def run_phases(seed: int, args: argparse.Namespace, demo: list, references: dict,
               brain, initial_on_new_targets: bool = False) -> dict:
    """The references (hold, proportional: offline_arm.run_arm with `references`) and the
    brain's runs (`brain(learning, cycles, targets, trained)`) on the demo's targets and
    on new ones; their figures."""
    new = random_targets(NEW_TARGET_SEED_BASE + seed, args.new_targets)
    eval_demo = args.cycles_per_target * args.demo_eval_targets
    eval_new = args.cycles_per_target * args.new_targets
    started = time.monotonic()
    runs = {
        "hold": run_arm(seed, False, eval_demo, policy="hold", targets=demo, **references),
        "proportional": run_arm(seed, False, eval_demo, policy="proportional", targets=demo,
                                **references),
        "frozen_initial": brain(False, eval_demo, demo),
        "hold_new_targets": run_arm(seed, False, eval_new, policy="hold", targets=new,
                                    **references),
        "proportional_new_targets": run_arm(seed, False, eval_new, policy="proportional",
                                            targets=new, **references),
    }
    if initial_on_new_targets:
        runs["frozen_initial_new_targets"] = brain(False, eval_new, new)
    learning = brain(True, args.learning_cycles, demo)
    runs["learning"] = learning
    runs["retention"] = brain(False, eval_demo, demo, learning.network)
    runs["frozen_new_targets"] = brain(False, eval_new, new, learning.network)
    return figures_of(seed, runs, learning, started)


def figures_of(seed: int, runs: dict, learning, started: float) -> dict:
    figures = {name: round(run.last_fifth(), 4) for name, run in runs.items()}
    figures["gap_closed_frozen_new_targets"] = round(gap_closed(
        figures["frozen_new_targets"], figures["hold_new_targets"],
        figures["proportional_new_targets"]), 4)
    figures["gap_closed_retention"] = round(gap_closed(
        figures["retention"], figures["hold"], figures["proportional"]), 4)
    figures["gap_closed_frozen_initial"] = round(gap_closed(
        figures["frozen_initial"], figures["hold"], figures["proportional"]), 4)
    if "frozen_initial_new_targets" in figures:
        figures["gap_closed_frozen_initial_new_targets"] = round(gap_closed(
            figures["frozen_initial_new_targets"], figures["hold_new_targets"],
            figures["proportional_new_targets"]), 4)
    rewards = learning.rewards[: learning.rewards.size // 10 * 10]
    curve = rewards.reshape(10, -1).mean(axis=1)
    print(f"seed {seed} ({time.monotonic() - started:.0f} s): "
          + " ".join(f"{k} {v:.3f}" for k, v in figures.items()), flush=True)
    print(f"  learning curve (tenths): {' '.join(f'{b:.2f}' for b in curve)}", flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=("realtime", "device"), default="realtime",
                        help="the brain the demo runs: the realtime graph (default) or the "
                             "device's brain design over the device path (offline both)")
    parser.add_argument("--graph", default=str(bundled_graph_path("demo_arm")))
    parser.add_argument("--design", default=None,
                        help="--protocol device: a brain.abdesign.json (default: "
                             "brain_device.yaml's device_brain)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--learning-cycles", type=int, default=None,
                        help="default 6600 (realtime), 13200 (device): the live learning "
                             "phase, 132 s")
    parser.add_argument("--cycles-per-target", type=int, default=None,
                        help="default 300 (realtime), 600 (device): the demo's 6 s per target")
    parser.add_argument("--demo-eval-targets", type=int, default=4,
                        help="target periods of the runs on the demo targets")
    parser.add_argument("--new-targets", type=int, default=10)
    parser.add_argument("--observation-lag", type=int, default=2)
    parser.add_argument("--reward-delay", type=int, default=3)
    args = parser.parse_args(argv)
    device = args.protocol == "device"
    if args.learning_cycles is None:
        args.learning_cycles = 13200 if device else 6600
    if args.cycles_per_target is None:
        args.cycles_per_target = 600 if device else 300
    what = f"design {args.design or 'brain_device.yaml device_brain'} over the device path" \
        if device else f"graph {args.graph}"
    print(f"{what}; seeds {args.seeds}; {args.learning_cycles} learning cycles; "
          f"{args.cycles_per_target} cycles per target; inputs {args.observation_lag} and "
          f"rewards {args.reward_delay} cycles late (a shared, busy machine: timings vary)",
          flush=True)
    if device:
        per_seed = {seed: run_seed_device(seed, args) for seed in args.seeds}
    else:
        graph = load_graph(Path(args.graph))
        settings = DemoSettings.load()
        per_seed = {seed: run_seed(seed, args, graph, settings) for seed in args.seeds}
    names = list(next(iter(per_seed.values())))
    summary = {name: round(float(np.mean([f[name] for f in per_seed.values()])), 4)
               for name in names}
    summary["gap_closed_frozen_new_targets_min"] = round(float(min(
        f["gap_closed_frozen_new_targets"] for f in per_seed.values())), 4)
    summary["seeds"] = args.seeds
    summary["protocol"] = args.protocol
    summary["per_seed"] = {str(s): f for s, f in per_seed.items()}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
