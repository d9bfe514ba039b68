"""Rewards, deviations and feedback rasters: validation, clamping, wire payloads. No rclpy.

- A reward is a global value and per-learning-layer values, each clamped to
  [0, 1]; only the contract's stdp3 layers are sent, a missing layer gets the
  global value (the protocol's `learn:reward`).
- A deviation is one value per feedback timestep in [-1, 1] for one feedback
  input; `feedback_raster` turns it into the `gamma x feedbackN` float32
  raster that travels as an `io:chunk` of kind `Feedback`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class PolicyError(ValueError):
    """A reward or deviation that cannot be sent; the message says why."""


@dataclass
class RewardPayload:
    """What `learn:reward` carries, already clamped."""

    cycle: int
    global_reward: float
    by_layer: dict[str, float] = field(default_factory=dict)

    def to_wire(self, run_id: str) -> dict[str, Any]:
        return {"runId": run_id, "cycle": int(self.cycle),
                "globalReward": self.global_reward, "byLayer": dict(self.by_layer)}


def _finite(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise PolicyError(f"{what} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PolicyError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise PolicyError(f"{what} must be finite, got {value!r}")
    return number


def clamp_unit(value: float) -> float:
    """Clamp to [0, 1]."""
    return max(0.0, min(1.0, float(value)))


def build_reward(cycle: int, global_reward: Any, by_layer: Mapping[str, Any] | None,
                 stdp_layers: Sequence[str]) -> RewardPayload:
    """A reward for the contract's learning layers.

    Values are clamped to [0, 1]; layers that are not learning layers are
    dropped, learning layers without a value get the global reward.
    Raises PolicyError for NaN, infinities or non-numbers (naming the layer).
    """
    reward = clamp_unit(_finite(global_reward, "global reward"))
    given = dict(by_layer or {})
    layers = {}
    for layer in stdp_layers:
        value = given.get(layer)
        layers[layer] = reward if value is None else clamp_unit(
            _finite(value, f"reward of layer {layer!r}"))
    return RewardPayload(int(cycle), reward, layers)


def clamp_deviation(values: Any, length: int, feedback_id: str) -> np.ndarray:
    """A deviation as float32 [length] in [-1, 1].

    Raises PolicyError when it is not a flat list of `length` finite numbers.
    """
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise PolicyError(f"deviation for {feedback_id!r} must be a list of numbers") from None
    if array.ndim != 1:
        raise PolicyError(f"deviation for {feedback_id!r} must be flat, got shape {array.shape}")
    if array.size != length:
        raise PolicyError(f"deviation for {feedback_id!r} has {array.size} values, "
                          f"expected {length} (the contract's feedbackT)")
    if not np.all(np.isfinite(array)):
        raise PolicyError(f"deviation for {feedback_id!r} contains NaN or infinity")
    return np.clip(array, -1.0, 1.0).astype(np.float32)


def feedback_raster(deviation: np.ndarray, timesteps: int, neurons: int,
                    baseline: np.ndarray | None = None) -> np.ndarray:
    """The [timesteps, neurons] float32 feedback raster of a deviation.

    The deviation (one value per feedback step) is resampled to `timesteps`
    by nearest step, added to every neuron of that step on top of `baseline`
    (the previous raster, zeros when None) and clipped to [-1, 1].
    """
    deviation = np.asarray(deviation, dtype=np.float32).ravel()
    if timesteps <= 0 or neurons <= 0:
        raise PolicyError(f"feedback raster shape must be positive, got {timesteps}x{neurons}")
    if deviation.size == 0:
        per_step = np.zeros(timesteps, dtype=np.float32)
    else:
        index = (np.arange(timesteps) * deviation.size) // timesteps
        per_step = deviation[index]
    raster = np.broadcast_to(per_step[:, None], (timesteps, neurons)).astype(np.float32)
    if baseline is not None:
        baseline = np.asarray(baseline, dtype=np.float32)
        if baseline.shape != raster.shape:
            raise PolicyError(f"feedback baseline shape {baseline.shape} differs from "
                              f"{raster.shape}")
        raster = raster + baseline
    return np.clip(raster, -1.0, 1.0)


def raster_bytes(raster: np.ndarray) -> bytes:
    """Little-endian float32 bytes, row-major (the `raster_f32` format)."""
    return np.ascontiguousarray(raster, dtype="<f4").tobytes()
