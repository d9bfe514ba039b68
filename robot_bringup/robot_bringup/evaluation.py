"""The demo's phases and honest figures: each phase against references on its own targets.

No rclpy here. The demo (`make run`) runs four phases on one arm, each a brain run of its
own, the arm and the target schedule reset between them:

| phase | brain | targets |
|---|---|---|
| `frozen_initial` | as initialised, learning off | the demo's two |
| `learning` | learning on | the demo's two |
| `retention` | what it learned, learning off | the demo's two |
| `new_targets` | what it learned, learning off | random ones it never saw |

References on each phase's own target schedule (the targets it visited, as many cycles
per target as the phase had): `hold` (no command: the arm stays at its start pose, so its
reward follows from the targets alone) and `proportional` (each joint moves
offline_arm.PROPORTIONAL_GAIN × the joint error the brain's input carries, as late as the
brain sees it), both run by robot_bringup.offline_arm with the live loop's arm, reward and
targets. Each phase's figure is its mean reward over the last fifth, and
gap_closed = (phase − hold) / (proportional − hold): 0 holding still, 1 the proportional
controller. The headline is `new_targets`: the learned weights, frozen, on new targets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Fractions of --duration; new_targets gets what is left. learning off = frozen weights.
PHASES = (
    ("frozen_initial", False, "demo", 0.10),
    ("learning", True, "demo", 0.55),
    ("retention", False, "demo", 0.10),
    ("new_targets", False, "new", 0.25),
)
# Random targets of the new_targets phase: a seed the demo's own schedule never uses.
NEW_TARGET_SEED_BASE = 1000


@dataclass
class PhasePlan:
    name: str
    learning: bool
    targets: str          # "demo" or "new"
    duration_s: float


def plan_phases(duration_s: float, no_learning: bool = False) -> list[PhasePlan]:
    """The phases of a run of `duration_s`; with `no_learning` one frozen_initial phase."""
    if not duration_s > 0:
        raise ValueError(f"duration must be positive, got {duration_s}")
    if no_learning:
        return [PhasePlan("frozen_initial", False, "demo", duration_s)]
    plans = [PhasePlan(name, learning, targets, duration_s * fraction)
             for name, learning, targets, fraction in PHASES]
    plans[-1].duration_s = duration_s - sum(p.duration_s for p in plans[:-1])
    return plans


def tail(values: Sequence[float], fraction: float = 0.2) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[int(len(values) * (1.0 - fraction)):] if values.size else values


def last_fifth(values: Sequence[float]) -> float | None:
    part = tail(values)
    return float(part.mean()) if part.size else None


def gap_closed(value: float | None, hold: float | None, proportional: float | None
               ) -> float | None:
    """(value − hold) / (proportional − hold), or None when a figure is missing or the
    references coincide."""
    if value is None or hold is None or proportional is None:
        return None
    span = proportional - hold
    return float((value - hold) / span) if abs(span) > 1e-9 else None


@dataclass
class PhaseResult:
    """What one live phase did: its rewards and the targets it visited, in order."""

    name: str
    learning: bool
    targets_kind: str
    start_s: float
    end_s: float = math.nan
    rewards: list[tuple[float, float]] = field(default_factory=list)  # (t_s, reward)
    targets: list[tuple[float, float]] = field(default_factory=list)  # visited, in order
    # The reward count when each of `targets` appeared: the cycle it began at.
    target_starts: list[int] = field(default_factory=list)
    references: dict[str, dict[str, float | None]] = field(default_factory=dict)

    def values(self) -> np.ndarray:
        return np.array([r for _, r in self.rewards], dtype=float)

    def last_fifth_mean(self) -> float | None:
        return last_fifth(self.values())

    def cycles_per_target(self) -> int:
        return max(1, int(round(len(self.rewards) / max(len(self.targets), 1))))


def run_references(phase: PhaseResult, observation_lag: int = 2, seed: int = 1
                   ) -> dict[str, dict[str, float | None]]:
    """`hold` and `proportional` on the phase's targets, with the phase's cycle count and
    cycles per target: {name: {"last_fifth", "mean"}}."""
    from robot_bringup.offline_arm import run_arm

    cycles = len(phase.rewards)
    if cycles == 0 or not phase.targets:
        return {}
    starts = None
    if len(phase.target_starts) == len(phase.targets):
        starts = [0, *phase.target_starts[1:]]       # rewards may start after the target
    out: dict[str, dict[str, float | None]] = {}
    for policy in ("hold", "proportional"):
        run = run_arm(seed, False, cycles, cycles_per_target=phase.cycles_per_target(),
                      observation_lag=observation_lag, policy=policy, targets=phase.targets,
                      switch_cycles=starts)
        out[policy] = {"last_fifth": round(run.last_fifth(), 4), "mean": round(run.mean(), 4)}
    return out


def phase_metrics(phase: PhaseResult) -> dict[str, Any]:
    values = phase.values()
    refs = phase.references
    mine = phase.last_fifth_mean()
    hold = refs.get("hold", {}).get("last_fifth")
    prop = refs.get("proportional", {}).get("last_fifth")
    return {
        "name": phase.name,
        "learning": phase.learning,
        "targets": phase.targets_kind,
        "targets_visited": [[round(x, 3), round(y, 3)] for x, y in phase.targets],
        "target_start_cycles": list(phase.target_starts),
        "duration_s": round(phase.end_s - phase.start_s, 1),
        "rewards": int(values.size),
        "cycles_per_target": phase.cycles_per_target() if values.size else None,
        "reward_last_fifth": None if mine is None else round(mine, 4),
        "reward_mean": round(float(values.mean()), 4) if values.size else None,
        "hold_last_fifth": hold,
        "proportional_last_fifth": prop,
        "gap_closed_last_fifth": None if gap_closed(mine, hold, prop) is None
        else round(gap_closed(mine, hold, prop), 4),
    }


def headline(phases: Sequence[PhaseResult]) -> dict[str, Any]:
    """The learned weights, frozen, on new targets, against holding still and against the
    proportional controller on the same targets."""
    by_name = {p.name: phase_metrics(p) for p in phases}
    new = by_name.get("new_targets")
    if new is None:
        return {"available": False,
                "why": "the run ended before the new_targets phase"}
    return {
        "available": new["reward_last_fifth"] is not None,
        "learned_frozen_new_targets_last_fifth": new["reward_last_fifth"],
        "hold_new_targets_last_fifth": new["hold_last_fifth"],
        "proportional_new_targets_last_fifth": new["proportional_last_fifth"],
        "gain_over_hold": None if new["reward_last_fifth"] is None or new["hold_last_fifth"]
        is None else round(new["reward_last_fifth"] - new["hold_last_fifth"], 4),
        "short_of_proportional": None if new["reward_last_fifth"] is None
        or new["proportional_last_fifth"] is None
        else round(new["proportional_last_fifth"] - new["reward_last_fifth"], 4),
        "gap_closed_frozen_new_targets": new["gap_closed_last_fifth"],
    }


def seeded_graph_file(graph_path: str, seed: int | None, folder: Any) -> str:
    """A copy of the graph file with its `seed` (the one that draws the network's
    connections and initial weights) set to `seed`, written into `folder`; the file itself
    when `seed` is None. The brain server's own --seed only moves a run's noise."""
    if seed is None:
        return str(graph_path)
    from pathlib import Path

    import yaml

    raw = yaml.safe_load(Path(graph_path).read_text())
    raw["seed"] = int(seed)
    out = Path(folder) / f"{Path(graph_path).stem}-seed{int(seed)}.yaml"
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(out)
