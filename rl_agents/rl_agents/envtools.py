"""Signal helpers of the `environments` API (`environment.tools`).

Signals are dicts keyed by channel name; vectors are tuples in channel order.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any


def to_vector(signal: Mapping[str, Any], channels: Sequence[Any] | None = None) -> tuple:
    """The signal's values in channel order (without channels, in the order of an
    OrderedDict, the only signal whose order is defined)."""
    if channels is None:
        if not isinstance(signal, OrderedDict):
            raise TypeError("to_vector without channels needs an OrderedDict signal")
        return tuple(signal.values())
    try:
        return tuple(signal[c.name] for c in channels)
    except KeyError as exc:
        raise KeyError(f"signal lacks channel {exc.args[0]!r}") from None


def to_signal(vector: Sequence[Any], channels: Sequence[Any]) -> dict[str, Any]:
    """A vector (values in channel order) as a signal."""
    if len(vector) != len(channels):
        raise ValueError(f"the length of the vector ({len(vector)}) doesn't match the "
                         f"length of the channels ({len(channels)})")
    return {c.name: v for c, v in zip(channels, vector, strict=True)}


def random_signal(channels: Sequence[Any], bounds: Sequence[tuple[float, float]] | None = None,
                  rng: random.Random | None = None) -> dict[str, Any]:
    """A signal drawn uniformly within each channel's bounds (or `bounds`, per channel);
    fixed channels take their fixed value. Uses `random` (or `rng`)."""
    draw = (rng or random).uniform
    if bounds is None:
        bounds = [c.bounds for c in channels]
    elif len(bounds) != len(channels):
        raise ValueError(f"{len(bounds)} bounds for {len(channels)} channels")
    return {c.name: c.fixed if c.fixed is not None else draw(*b)
            for c, b in zip(channels, bounds, strict=True)}


def in_bounds(signal: Mapping[str, Any], channels: Sequence[Any]) -> bool:
    """Whether every channel present in the signal is within its bounds."""
    return all(c.bounds[0] <= signal[c.name] <= c.bounds[1]
               for c in channels if c.name in signal)
