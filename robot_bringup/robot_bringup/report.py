"""The demo's report: metrics.json (every phase against its references, the headline) and
its figures, the reward curve with its references and phases, the spike raster with a
time axis and named populations, and the arm's reach over time. No rclpy."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over up to `window` values (shorter at the start)."""
    if values.size == 0:
        return values
    cumulative = np.cumsum(np.insert(values.astype(float), 0, 0.0))
    ends = np.arange(1, values.size + 1)
    starts = np.maximum(ends - window, 0)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)


PHASE_COLOURS = {"frozen_initial": "tab:grey", "learning": "tab:blue",
                 "retention": "tab:purple", "new_targets": "tab:orange"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _shade_phases(axes, phases: Sequence, t0: float, label: bool = True) -> None:
    for n, phase in enumerate(phases):
        end = phase.end_s if np.isfinite(phase.end_s) else (
            phase.rewards[-1][0] if phase.rewards else phase.start_s)
        axes.axvspan(phase.start_s - t0, end - t0, color=PHASE_COLOURS.get(phase.name, "0.5"),
                     alpha=0.07 if n % 2 else 0.12, linewidth=0)
        if label:
            axes.text((phase.start_s + end) / 2 - t0, 0.02, phase.name.replace("_", " "),
                      ha="center", va="bottom", fontsize=8, transform=axes.get_xaxis_transform())


def plot_reward_curve(path: Path, phases: Sequence, window: int = 100) -> None:
    """Reward (moving average) over the whole run, phases shaded and named; for each phase
    its references on the same targets (holding still, the proportional controller) and
    its last-fifth mean."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(11, 6), dpi=100)
    t0 = phases[0].start_s if phases else 0.0
    labelled: set[str] = set()

    def once(name: str) -> str | None:
        if name in labelled:
            return None
        labelled.add(name)
        return name

    for phase in phases:
        if not phase.rewards:
            continue
        data = np.array(phase.rewards)
        t = data[:, 0] - t0
        colour = PHASE_COLOURS.get(phase.name, "tab:blue")
        tail = phase.last_fifth_mean()
        axes.plot(t, moving_average(data[:, 1], window), color=colour, linewidth=1.5,
                  label=f"{phase.name} ({'learning' if phase.learning else 'frozen'}): "
                        f"last fifth {tail:.3f}")
        start, end = t[0], t[-1]
        fifth = t[int(len(t) * 0.8)]
        axes.plot([fifth, end], [tail, tail], color=colour, linewidth=3, alpha=0.8)
        refs = getattr(phase, "references", {}) or {}
        hold = refs.get("hold", {}).get("last_fifth")
        prop = refs.get("proportional", {}).get("last_fifth")
        if hold is not None:
            axes.plot([start, end], [hold, hold], color="black", linestyle=":", linewidth=1.2,
                      label=once("holding still (same targets)"))
        if prop is not None:
            axes.plot([start, end], [prop, prop], color="tab:green", linestyle="--",
                      linewidth=1.2, label=once("proportional controller (same targets)"))
    _shade_phases(axes, phases, t0)
    axes.set_xlabel("time since the run started (s)")
    axes.set_ylabel(f"reward, moving average of {window} cycles")
    axes.set_ylim(0.0, 1.05)
    axes.set_title("Reaching the target: reward per phase against holding still and a "
                   "proportional controller")
    axes.grid(alpha=0.3)
    if any(p.rewards for p in phases):
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=8,
                    frameon=False)
    else:
        axes.text(0.5, 0.5, "no rewards were received", ha="center", transform=axes.transAxes)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def plot_raster(path: Path, pixels: np.ndarray, layout: dict[str, tuple[int, int]],
                dt_ms: float = 1.0, cycle_steps: int = 20) -> None:
    """The spike raster: one row per neuron, time across (ms of brain time, newest right),
    each population named; bipolar output populations split into their + and − halves."""
    plt = _pyplot()
    pixels = np.asarray(pixels)
    steps = pixels.shape[1]
    figure, axes = plt.subplots(figsize=(11, 4.5), dpi=100)
    axes.imshow(pixels > 128, aspect="auto", interpolation="nearest", cmap="Greys",
                extent=(-steps * dt_ms, 0, pixels.shape[0], 0))
    ticks, labels = [], []
    for pid, (first, n) in layout.items():
        if n % 2 == 0 and pid.startswith("joint"):
            for half, sign in ((0, "+"), (1, "−")):
                ticks.append(first + n / 4 + half * n / 2)
                labels.append(f"{pid} {sign} ({n // 2})")
            axes.axhline(first + n / 2, color="tab:red", linewidth=0.5, alpha=0.5)
        else:
            ticks.append(first + n / 2)
            labels.append(f"{pid} ({n})")
        if first:
            axes.axhline(first - 0.5, color="tab:blue", linewidth=1.0)
    for t in np.arange(0, steps + 1, cycle_steps):
        axes.axvline(-t * dt_ms, color="0.85", linewidth=0.4, zorder=0)
    axes.set_yticks(ticks, labels)
    axes.set_xlabel(f"brain time (ms, 0 = the newest step; a cycle is {cycle_steps} steps)")
    axes.set_title(f"Output spikes of the last {steps // cycle_steps} brain cycles "
                   "(bipolarSplit: + neurons push the joint up, − down)")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def plot_reach(path: Path, samples: np.ndarray, phases: Sequence) -> None:
    """The arm's reach over time: tip and target x and y, and their distance, with the
    phases shaded. `samples`: [k, 5] rows of (t_s, tip x, tip y, target x, target y)."""
    plt = _pyplot()
    figure, panels = plt.subplots(3, 1, figsize=(11, 6.5), dpi=100, sharex=True)
    samples = np.asarray(samples, dtype=float).reshape(-1, 5)
    t0 = phases[0].start_s if phases else (samples[0, 0] if len(samples) else 0.0)
    t = samples[:, 0] - t0
    for axes, (i, name) in zip(panels[:2], ((1, "x"), (2, "y")), strict=True):
        axes.plot(t, samples[:, i + 2], color="tab:red", linewidth=1.2, label=f"target {name}")
        axes.plot(t, samples[:, i], color="tab:blue", linewidth=1.0, label=f"tip {name}")
        axes.set_ylabel(f"{name} (m)")
        axes.legend(loc="upper right", fontsize=8)
        axes.grid(alpha=0.3)
        _shade_phases(axes, phases, t0, label=False)
    distance = np.hypot(samples[:, 1] - samples[:, 3], samples[:, 2] - samples[:, 4])
    panels[2].plot(t, distance, color="black", linewidth=1.0)
    panels[2].set_ylabel("tip to target (m)")
    panels[2].set_xlabel("time since the run started (s)")
    panels[2].grid(alpha=0.3)
    _shade_phases(panels[2], phases, t0)
    panels[0].set_title("The arm's reach: where the tip is and where the target is")
    if not len(samples):
        panels[0].text(0.5, 0.5, "no arm positions were received", ha="center",
                       transform=panels[0].transAxes)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def save_raster(path: Path, pixels: np.ndarray, scale: int = 2) -> None:
    """The spike raster (mono8, neurons down, time across) as a plain PNG, white spikes on
    black (what the spike_raster node publishes)."""
    pixels = np.asarray(pixels, dtype=np.uint8)
    if scale > 1:
        pixels = np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)
    if not cv2.imwrite(str(path), pixels):
        raise OSError(f"could not write {path}")


def fmt(value: float | None, spec: str) -> str:
    return "  -  " if value is None else format(value, spec)


def metrics(monitor: Any, missing: dict[str, str], seed: int | None, protocol: str
            ) -> dict[str, Any]:
    """metrics.json: every phase against its references, the headline, the loop."""
    from robot_bringup.evaluation import headline, phase_metrics

    phases = monitor.phases
    latencies = np.array(monitor.all_latencies_ms)
    progress = monitor.progress()
    by_name = {p.name: phase_metrics(p) for p in phases}

    def figure(name: str, key: str = "reward_last_fifth") -> float | None:
        return by_name.get(name, {}).get(key)

    return {
        "headline": headline(phases),
        "frozen_initial_last_fifth": figure("frozen_initial"),
        "learning_last_fifth": figure("learning"),
        "retention_last_fifth": figure("retention"),
        "learned_frozen_new_targets_last_fifth": figure("new_targets"),
        "hold_demo_targets_last_fifth": figure("frozen_initial", "hold_last_fifth"),
        "proportional_demo_targets_last_fifth":
            figure("frozen_initial", "proportional_last_fifth"),
        "hold_new_targets_last_fifth": figure("new_targets", "hold_last_fifth"),
        "proportional_new_targets_last_fifth": figure("new_targets", "proportional_last_fifth"),
        "gap_closed_frozen_new_targets": figure("new_targets", "gap_closed_last_fifth"),
        "gap_closed_retention": figure("retention", "gap_closed_last_fifth"),
        "gap_closed_learning": figure("learning", "gap_closed_last_fifth"),
        "gap_closed_frozen_initial": figure("frozen_initial", "gap_closed_last_fifth"),
        "references": "hold and proportional run by robot_bringup.offline_arm on each "
                      "phase's own targets, cycle count and cycles per target "
                      "(robot_bringup.evaluation)",
        "phases": list(by_name.values()),
        "cycles_last_phase": monitor.last_cycle,
        "commands": monitor.commands,
        "loop_latency_p50_ms": float(np.percentile(latencies, 50)) if latencies.size
        else None,
        "loop_latency_p99_ms": float(np.percentile(latencies, 99)) if latencies.size
        else None,
        "detections_per_s": progress["detections_per_s"],
        "seed": seed,
        "protocol": protocol,
        "graph_seed": seed if seed is not None else None,
        "missing_parts": missing,
    }


def write_report(report: str | None, monitor: Any, workdir: Path, missing: dict[str, str],
                 seed: int | None, protocol: str) -> Path:
    """The report folder (`report`, else ~/.brainstem/reports/demo-<time>): metrics.json,
    reward_curve.png, spike_raster.png, reach.png, the brain's learned state and its
    seeded graph. A phase whose references fail is reported in `missing`."""
    folder = Path(report).expanduser() if report else \
        Path("~/.brainstem/reports").expanduser() / time.strftime("demo-%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    from robot_bringup.evaluation import run_references

    for phase in monitor.phases:
        try:
            phase.references = run_references(phase)
        except Exception as error:  # the report is written without them, saying so
            missing[f"references of {phase.name}"] = f"{type(error).__name__}: {error}"
    figures = metrics(monitor, missing, seed, protocol)
    (folder / "metrics.json").write_text(json.dumps(figures, indent=2) + "\n")
    plot_reward_curve(folder / "reward_curve.png", monitor.phases)
    with monitor.lock:
        raster = monitor.raster.image()
        layout = dict(monitor.raster.layout)
        reach = np.array(monitor.reach, dtype=float)
    plot_raster(folder / "spike_raster.png", raster, layout)
    save_raster(folder / "spike_raster_pixels.png", raster)
    plot_reach(folder / "reach.png", reach, monitor.phases)
    # The weights the brain learned (the embedded server's saved state), for a look
    # offline: Network.load_state_arrays(np.load(...)) with the same seeded graph.
    for saved in (workdir / "brain_state").glob("*.npz"):
        shutil.copy2(saved, folder / f"brain_state_{saved.name}")
    for graph in workdir.glob("*-seed*.yaml"):
        shutil.copy2(graph, folder / graph.name)
    return folder


def summary_line(metrics: dict[str, Any]) -> str:
    """The report's headline in one line."""
    head = metrics.get("headline", {})
    if not head.get("available"):
        return (f"no headline ({head.get('why', 'no rewards in the new_targets phase')}); "
                f"frozen initial {fmt(metrics.get('frozen_initial_last_fifth'), '.3f')}, "
                f"learning {fmt(metrics.get('learning_last_fifth'), '.3f')} (last fifths)")
    return (f"learned, frozen, on new targets: {fmt(head['learned_frozen_new_targets_last_fifth'], '.3f')}"
            f" vs holding still {fmt(head['hold_new_targets_last_fifth'], '.3f')} and a "
            f"proportional controller {fmt(head['proportional_new_targets_last_fifth'], '.3f')}: "
            f"{fmt(head['gap_closed_frozen_new_targets'], '.0%')} of the gap closed "
            f"(retention {fmt(metrics.get('retention_last_fifth'), '.3f')}, frozen initial "
            f"{fmt(metrics.get('frozen_initial_last_fifth'), '.3f')}, last fifths)")
