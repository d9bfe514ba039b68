"""The demo's report figures: the reward curve per phase and the spike raster. No rclpy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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


def plot_reward_curve(path: Path, phases: Sequence, window: int = 200) -> None:
    """Reward (moving average) against time since each phase began, one line per phase,
    with each phase's last-fifth mean as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 4.5), dpi=100)
    colours = {False: "tab:grey", True: "tab:blue"}
    for phase in phases:
        if not phase.rewards:
            continue
        data = np.array(phase.rewards)
        t = data[:, 0] - phase.start_s
        label = f"{phase.name} (learning {'on' if phase.learning else 'off'})"
        axes.plot(t, moving_average(data[:, 1], window), color=colours[phase.learning],
                  label=label)
        tail = phase.last_fifth_mean()
        if tail is not None:
            axes.axhline(tail, color=colours[phase.learning], linestyle="--", linewidth=1,
                         label=f"{phase.name}: last fifth mean {tail:.3f}")
    axes.set_xlabel("time in phase (s)")
    axes.set_ylabel(f"reward (moving average of {window} cycles)")
    axes.set_ylim(0.0, 1.0)
    axes.set_title("Reaching the target: reward with learning on vs the learning-off baseline")
    axes.grid(alpha=0.3)
    if any(p.rewards for p in phases):
        axes.legend(loc="lower right", fontsize=8)
    else:
        axes.text(0.5, 0.5, "no rewards were received", ha="center", transform=axes.transAxes)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def save_raster(path: Path, pixels: np.ndarray, scale: int = 2) -> None:
    """The spike raster (mono8, neurons down, time across) as a PNG, white spikes on black."""
    pixels = np.asarray(pixels, dtype=np.uint8)
    if scale > 1:
        pixels = np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)
    if not cv2.imwrite(str(path), pixels):
        raise OSError(f"could not write {path}")
