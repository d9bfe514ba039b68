"""The demo's task offline over the Prima-Lux device path: the embedded device driving the
simulated arm, as `make run ARGS="--protocol device"` wires it, in one plain loop.

No ROS, no server, no HTTP: `embedded_brain.device.DeviceBrain` stepped in-process
(`start_stepped`, `step_cycle`) with the arm's brain design, and the pieces the live loop
has on that protocol — brain_session's device input binding (ab_bridge.device_inputs:
the joint errors sign-split into E0_POS/E0_NEG/E1_POS/E1_NEG), its decoder over the
device's output frames (the neuron events of each timestep), the per-joint progress
rewards posted into the reward input populations (the SDK's `reward_population`
encoding), with brain_device.yaml's settings layered after brain.yaml as the launch
files layer them — and the live loop's timing: a device cycle is `steps_per_cycle` 1 ms
timesteps (one command), the joint errors come at the joint_states rate (every
`input_every` cycles) and show the arm `observation_lag` cycles late, and a reward reaches
the device `reward_delay` cycles after the command it judged (the device credits
whatever is eligible when it arrives: the wire carries no cycle).

    python -m robot_bringup.device_arm --cycles 6000 --seeds 1 2
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import tempfile
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ab_bridge.decoding import CycleRasters, Decoder
from ab_bridge.device_inputs import DeviceInput, encode, parse_device_inputs
from embedded_brain.abdesign import bundled_design_path
from embedded_brain.device import DeviceBrain
from node_kit.config import load_structured
from robot_bringup.arm import ArmGeometry, ArmState
from robot_bringup.config import config_file, node_parameters
from robot_bringup.offline_arm import ArmRunResult
from robot_bringup.reward import RewardEstimator, joint_rewards, target_error_input

#: The device's cycle (embedded_brain.device.DeviceBrain's default): one command per cycle.
STEPS_PER_CYCLE = 10


@dataclass(frozen=True)
class DeviceSettings:
    """What the device loop takes from the config files (brain.yaml, then brain_device.yaml,
    sim.yaml), as the nodes read them."""
    initial_joints: tuple[float, float]
    targets: tuple[tuple[float, float], ...]
    error_scale_rad: float
    progress_scale_rad: float
    reward_populations: tuple[str, ...]        # reward_from_detections.joint_layer_ids
    target_input: DeviceInput                  # brain_session.inputs.target
    decoder: Decoder                           # brain_session.decoder_mapping
    design: str                                # brain_server.device_brain

    @classmethod
    def load(cls) -> DeviceSettings:
        files = [config_file("brain.yaml"), config_file("brain_device.yaml")]
        sim = node_parameters([config_file("sim.yaml")], "sim_arm")
        reward = node_parameters([config_file("sim.yaml"), config_file("brain_device.yaml")],
                                 "reward_from_detections")
        session = node_parameters(files, "brain_session")
        server = node_parameters(files, "brain_server")
        positions = sim["target.positions_m"]
        inputs = parse_device_inputs(load_structured("inputs", session["inputs"]))
        return cls(tuple(sim["initial_joints_rad"]),
                   tuple(zip(positions[0::2], positions[1::2], strict=True)),
                   float(reward["error_scale_rad"]), float(reward["progress_scale_rad"]),
                   tuple(reward["joint_layer_ids"]), inputs["target"],
                   Decoder(load_structured("decoder_mapping", session["decoder_mapping"])),
                   str(server["device_brain"]))


def frames_to_rasters(items: Sequence[dict], widths: dict[str, int]) -> CycleRasters:
    """Output frames (one per timestep) as the session decodes them: per population a
    [steps, width] raster of the neurons active in each step."""
    populations = list(widths)
    rasters = [np.zeros((len(items), w), dtype=np.uint8) for w in widths.values()]
    index = {p: i for i, p in enumerate(populations)}
    for t, item in enumerate(items):
        for row in item["outputs"]:
            for name in row["neurons"]:
                population, _, neuron = name.rpartition(":")
                i = index.get(population)
                if i is not None:
                    rasters[i][t, int(neuron)] = 1
    return CycleRasters(np.array([item["step"] for item in items]), populations, rasters)


def make_device(seed: int, learning: bool, design: str | Path | None = None,
                state_dir: str | Path | None = None) -> DeviceBrain:
    """A stepped device with the design installed; `seed` draws its network and noise (as
    the brain server's --seed does)."""
    folder = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="device-arm-"))
    device = DeviceBrain(folder, realtime=False, learning=learning, seed=seed,
                         steps_per_cycle=STEPS_PER_CYCLE, history_frames=STEPS_PER_CYCLE)
    path = Path(design) if design else bundled_design_path(DeviceSettings.load().design)
    device.install(json.loads(path.read_text()))
    device.start_stepped()
    return device


def run_device_arm(seed: int, learning: bool, cycles: int, *,
                   device: DeviceBrain | None = None, design: str | Path | None = None,
                   cycles_per_target: int = 600, input_every: int = 2,
                   observation_lag: int = 2, reward_delay: int = 3,
                   targets: Sequence[Sequence[float]] | None = None,
                   switch_cycles: Sequence[int] | None = None,
                   settings: DeviceSettings | None = None) -> ArmRunResult:
    """Closed loop for `cycles` device cycles from the start pose; the target steps through
    `targets` (default: the demo's) every `cycles_per_target` cycles (or at
    `switch_cycles`). `device`: go on with one that already ran (its learning switched to
    `learning`); else a new one of `seed`. The result's `network` is the device."""
    settings = settings or DeviceSettings.load()
    if device is None:
        device = make_device(seed, learning, design)
    device.learning = learning
    device.network.learning_enabled = learning
    targets = [tuple(t) for t in (targets or settings.targets)]
    widths = {o.name: o.neurons for o in device.installed.design.outputs}
    rewards_n = {n.name: n.neurons for n in device.installed.design.reward_inputs}
    decoder = settings.decoder
    geometry = ArmGeometry()
    arm = ArmState(geometry, np.array(settings.initial_joints))
    estimator = RewardEstimator(geometry, 1.0, 1.0, use_ground_truth=True)
    seen: deque[np.ndarray] = deque([arm.joints_rad.copy()], maxlen=observation_lag + 1)
    pending: deque[tuple[int, dict[str, float]]] = deque()
    out_rewards = np.zeros(cycles)
    errors = np.zeros((cycles, 2))
    judged_on = np.zeros((cycles, 2))
    for c in range(cycles):
        index = (c // cycles_per_target) % len(targets) if switch_cycles is None \
            else bisect.bisect_right(list(switch_cycles), c) - 1
        target = np.array(targets[index])
        estimator.set_ground_truth(target, 0.0)
        if c % input_every == 0:         # joint_states -> target_error -> a sensor post
            estimator.set_joints(seen[0])
            scaled = target_error_input(estimator.judge(0.0), settings.error_scale_rad)
            device.post_sensors(settings.target_input.encode(np.asarray(scaled, float)))
        # Rewards judged earlier reach the device while this cycle is computed.
        while pending and pending[0][0] <= c - reward_delay:
            _, by_population = pending.popleft()
            device.post_sensors({p: encode(v, "reward_population", rewards_n[p])
                                 for p, v in by_population.items()})
        items = device.step_cycle()
        before = arm.joints_rad.copy()
        command = decoder.decode(frames_to_rasters(items, widths))
        arm.apply(command.channels, command.deltas.ravel(), len(items))
        seen.append(arm.joints_rad.copy())
        estimator.set_joints(arm.joints_rad)
        sample = estimator.judge(0.0, before_rad=before)
        out_rewards[c] = sample.reward
        errors[c] = np.array(sample.joint_error) * math.pi
        judged_on[c] = target
        if learning:     # the session forwards no reward to a run with learning off
            by_layer = joint_rewards(sample, settings.reward_populations,
                                     settings.progress_scale_rad)
            pending.append((c, {p: by_layer.get(p, sample.reward) for p in rewards_n}))
    return ArmRunResult(out_rewards, errors, judged_on, device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m robot_bringup.device_arm",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--design", default=None)
    parser.add_argument("--cycles", type=int, default=6000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cycles-per-target", type=int, default=600)
    parser.add_argument("--reward-delay", type=int, default=3)
    parser.add_argument("--observation-lag", type=int, default=2)
    args = parser.parse_args(argv)
    for seed in args.seeds:
        runs = {learning: run_device_arm(seed, learning, args.cycles, design=args.design,
                                         cycles_per_target=args.cycles_per_target,
                                         reward_delay=args.reward_delay,
                                         observation_lag=args.observation_lag)
                for learning in (False, True)}
        on, off = runs[True], runs[False]
        bins = on.rewards[: on.rewards.size // 10 * 10].reshape(10, -1).mean(axis=1)
        print(f"seed {seed}: last fifth on {on.last_fifth():.3f} off {off.last_fifth():.3f} "
              f"| curve " + " ".join(f"{b:.2f}" for b in bins), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
