"""The demo's task offline: the embedded brain's `Network` driving the simulated arm.

No ROS, no server: one plain loop per brain cycle, with the same pieces the demo wires
together over topics — the demo graph, the arm (`arm.py`), the camera render, the reward
and the joint-space `target_error` input (`reward.py`), ab_bridge's `Decoder` with
brain.yaml's decoder mapping, the start pose, targets and reward scales of sim.yaml —
and the delays the live loop has: the inputs of a cycle show
the arm before the previous command (`observation_lag`), and the reward of a cycle
reaches the brain `reward_delay` cycles later (naming its cycle, as `learn:reward` does).
Used to try learning settings in seconds instead of 4-minute demo runs:

    python -m robot_bringup.offline_arm --cycles 3000 --seeds 1 2 3 4
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import json
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ab_bridge.decoding import CycleRasters, Decoder
from embedded_brain.encoders import encode_feedback, encode_input, poisson_spikes
from embedded_brain.graph import BrainGraph, bundled_graph_path, load_graph
from embedded_brain.snn import Network
from node_kit.config import load_structured
from robot_bringup.arm import ArmGeometry, ArmState
from robot_bringup.camera import CameraModel, TargetSchedule, render
from robot_bringup.config import config_file, node_parameters
from robot_bringup.reward import (
    RewardEstimator,
    deviation_values,
    joint_rewards,
    target_error_input,
)


@dataclass(frozen=True)
class DemoSettings:
    """What the loop takes from the demo's config files, as the nodes read them."""
    initial_joints: tuple[float, float]       # sim_arm.initial_joints_rad
    targets: tuple[tuple[float, float], ...]  # sim_arm.target.positions_m, paired
    error_scale_rad: float                    # reward_from_detections
    progress_scale_rad: float                 # reward_from_detections
    joint_layer_ids: tuple[str, str]          # reward_from_detections
    decoder: Decoder                          # brain_session.decoder_mapping

    @classmethod
    def load(cls) -> DemoSettings:
        sim = node_parameters([config_file("sim.yaml")], "sim_arm")
        reward = node_parameters([config_file("sim.yaml")], "reward_from_detections")
        session = node_parameters([config_file("brain.yaml")], "brain_session")
        positions = sim["target.positions_m"]
        return cls(tuple(sim["initial_joints_rad"]),
                   tuple(zip(positions[0::2], positions[1::2], strict=True)),
                   float(reward["error_scale_rad"]), float(reward["progress_scale_rad"]),
                   tuple(reward["joint_layer_ids"]),
                   Decoder(load_structured("decoder_mapping", session["decoder_mapping"])))


@dataclass
class ArmRunResult:
    rewards: np.ndarray          # global reward per cycle
    joint_errors: np.ndarray     # [cycles, 2] joint-space error (rad) after each command
    targets: np.ndarray | None = None   # [cycles, 2] the target (m) each cycle was judged on
    network: Network | None = None      # the brain that ran (None: hold / proportional)

    def last_fifth(self) -> float:
        return float(self.rewards[int(len(self.rewards) * 0.8):].mean())

    def mean(self) -> float:
        return float(self.rewards.mean())


# The controllers run_arm can put in the brain's place, on the same loop and inputs.
POLICIES = ("brain", "hold", "proportional")
# The proportional reference's gain: its command for a joint is this fraction of the joint
# error it sees (the brain's `target` input, as late as the brain sees it). The best of
# 0.1 ... 0.6 on the demo task with inputs 2 cycles late (bench/learning.py).
PROPORTIONAL_GAIN = 0.3


def seeded_graph(graph: BrainGraph, seed: int | None) -> BrainGraph:
    """The graph with its structure seed set to `seed`: the network's connections and
    initial weights are drawn from it (a `Network`'s own seed only moves its noise)."""
    return graph if seed is None else dataclasses.replace(graph, seed=int(seed))


def random_targets(seed: int, count: int, geometry: ArmGeometry | None = None
                   ) -> list[tuple[float, float]]:
    """`count` reachable target positions drawn as sim_arm's `target.mode: random` draws them
    with that seed."""
    schedule = TargetSchedule(geometry or ArmGeometry(), 0.0, [], seed)
    points = [schedule.position]
    while len(points) < count:
        points.append(schedule.next())
    return [(float(p[0]), float(p[1])) for p in points]


def run_arm(seed: int, learning: bool, cycles: int, graph: BrainGraph | None = None,
            cycles_per_target: int = 100, reward_delay: int = 3, observation_lag: int = 2,
            per_joint: bool = True, name_cycle: bool = True,
            camera: bool = True, settings: DemoSettings | None = None,
            policy: str = "brain", network: Network | None = None,
            targets: Sequence[Sequence[float]] | None = None,
            gain: float = PROPORTIONAL_GAIN,
            switch_cycles: Sequence[int] | None = None) -> ArmRunResult:
    """Closed loop for `cycles` brain cycles from the start pose; the target steps through
    `targets` (default: the demo's) every `cycles_per_target`. `per_joint`: each output
    layer is rewarded for its own joint's progress (byLayer, as reward_from_detections
    does); `name_cycle`: rewards name their cycle (else they act on the eligibility of
    whatever ran last). `settings`: default DemoSettings.load(), the config files.

    `policy`: `brain` (a Network of `graph` with structure and noise seeded by `seed`, or
    `network` to go on with one that already ran; `learning` switches its plasticity),
    `hold` (no command: the arm stays where it starts) or `proportional` (each joint moves
    `gain` × the joint error the brain's `target` input carries, seen as late as the brain
    sees it). `switch_cycles`: the cycle each of `targets` begins at (the first 0), in
    place of `cycles_per_target` (a live phase's own schedule)."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    graph = graph or load_graph(bundled_graph_path("demo_arm"))
    settings = settings or DemoSettings.load()
    targets = [tuple(t) for t in (targets or settings.targets)]
    if switch_cycles is not None:
        switch_cycles = [int(c) for c in switch_cycles]
        if len(switch_cycles) != len(targets) or switch_cycles[:1] != [0] \
                or any(b < a for a, b in zip(switch_cycles, switch_cycles[1:], strict=False)):
            raise ValueError("switch_cycles must hold one rising start cycle per target, "
                             f"the first 0; got {switch_cycles} for {len(targets)} targets")
    decoder = settings.decoder
    if policy == "brain":
        if network is None:
            network = Network(seeded_graph(graph, seed), seed=seed, learning=learning)
        network.learning_enabled = learning
        graph = network.graph
    else:
        network = None
    rng = np.random.default_rng(seed + 1)
    geometry = ArmGeometry()
    arm = ArmState(geometry, np.array(settings.initial_joints))
    cam = CameraModel(64, 48, -1.0, 1.0, -0.5, 1.0)
    estimator = RewardEstimator(geometry, 1.0, 1.0, use_ground_truth=True)
    specs = {spec.id: spec for spec in graph.inputs}
    feedback = graph.feedback[0] if graph.feedback else None
    seen: deque[np.ndarray] = deque([arm.joints_rad.copy()], maxlen=observation_lag + 1)
    pending: deque[tuple[int, int, float, dict[str, float]]] = deque()  # loop's, brain's cycle
    rewards = np.zeros(cycles)
    errors = np.zeros((cycles, 2))
    judged_on = np.zeros((cycles, 2))
    fb_values = np.float32(0.0)
    for c in range(cycles):
        index = (c // cycles_per_target) % len(targets) if switch_cycles is None \
            else bisect.bisect_right(switch_cycles, c) - 1
        target = np.array(targets[index])
        estimator.set_ground_truth(target, 0.0)
        joints = seen[0]
        estimator.set_joints(joints)
        sample = estimator.judge(0.0)
        scaled = target_error_input(sample, settings.error_scale_rad)
        before = arm.joints_rad.copy()
        if network is not None:
            rates = {"joints": encode_input(specs["joints"], "json", None,
                                            json.dumps(list(joints)).encode()),
                     "target": encode_input(specs["target"], "json", None,
                                            json.dumps(scaled).encode())}
            if camera and "camera" in specs:
                image = render(cam, arm.points(), 0.0, target, 0.06)
                rates["camera"] = encode_input(specs["camera"], "bgr8",
                                               {"width": 64, "height": 48}, image.tobytes())
            rasters = {k: poisson_spikes(rng, r, graph.gamma, graph.dt_ms)
                       for k, r in rates.items()}
            if feedback is not None:
                values = np.full((graph.gamma, graph.feedback_n), fb_values, np.float32)
                fb = encode_feedback(feedback, graph.gamma, "raster_f32",
                                     {"T": graph.gamma, "N": graph.feedback_n},
                                     np.ascontiguousarray(values, np.float32).tobytes())
                rasters[feedback.id] = poisson_spikes(rng, fb, graph.gamma, graph.dt_ms)
            result = network.run_cycle(rasters)
            # Rewards judged earlier reach the brain while this cycle ran.
            while pending and pending[0][0] <= c - reward_delay:
                _, cycle, value, by_layer = pending.popleft()
                network.apply_reward(value, by_layer, cycle if name_cycle else None)
            # Decoded as brain_session does, applied as sim_arm applies an ActuatorCommand.
            populations = list(decoder.populations)
            command = decoder.decode(CycleRasters(np.arange(graph.gamma), populations,
                                                  [result.outputs[p] for p in populations]))
            arm.apply(command.channels, command.deltas.ravel(), graph.gamma)
        elif policy == "proportional":
            deltas = gain * np.asarray(scaled) * settings.error_scale_rad
            arm.apply(["joint:0", "joint:1"], deltas, 1)
        seen.append(arm.joints_rad.copy())
        estimator.set_joints(arm.joints_rad)
        sample = estimator.judge(0.0, before_rad=before)
        rewards[c] = sample.reward
        errors[c] = np.array(sample.joint_error) * math.pi
        judged_on[c] = target
        # The feedback (reward_from_detections' deviation) reaches the next cycle.
        fb_values = np.float32(deviation_values(sample, geometry.reach_m, 1)[0])
        if network is None:
            continue
        by_layer = joint_rewards(sample, settings.joint_layer_ids,
                                 settings.progress_scale_rad) if per_joint else {}
        pending.append((c, result.cycle, sample.reward, by_layer))
        if reward_delay == 0:
            _, cycle, value, by_layer = pending.popleft()
            network.apply_reward(value, by_layer, cycle if name_cycle else None)
    return ArmRunResult(rewards, errors, judged_on, network)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m robot_bringup.offline_arm",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", default=str(bundled_graph_path("demo_arm")))
    parser.add_argument("--cycles", type=int, default=3000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cycles-per-target", type=int, default=100)
    parser.add_argument("--reward-delay", type=int, default=3)
    parser.add_argument("--observation-lag", type=int, default=2)
    parser.add_argument("--global-only", action="store_true", help="no per-joint rewards")
    parser.add_argument("--no-cycle", action="store_true",
                        help="rewards act on the latest eligibility, not their cycle's")
    args = parser.parse_args(argv)
    graph = load_graph(Path(args.graph))
    for seed in args.seeds:
        runs = {}
        for learning in (False, True):
            runs[learning] = run_arm(seed, learning, args.cycles, graph,
                                     args.cycles_per_target, args.reward_delay,
                                     args.observation_lag,
                                     per_joint=not args.global_only,
                                     name_cycle=not args.no_cycle)
        on, off = runs[True], runs[False]
        bins = on.rewards.reshape(10, -1).mean(axis=1)
        print(f"seed {seed}: last fifth on {on.last_fifth():.3f} off {off.last_fifth():.3f} "
              f"gain {on.last_fifth() - off.last_fifth():+.3f} | curve "
              + " ".join(f"{b:.2f}" for b in bins), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
