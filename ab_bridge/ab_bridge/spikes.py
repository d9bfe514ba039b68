"""Spike rasters as packed bitmaps (the wire form of ab_interfaces/PopulationSpikes).

A raster is a [timesteps, neurons] array of 0/1. Packed, each timestep row
takes ceil(neurons / 8) bytes in numpy.packbits order. No rclpy here.
"""

from __future__ import annotations

import numpy as np


def row_bytes(neuron_count: int) -> int:
    """Bytes one packed timestep row of `neuron_count` neurons takes."""
    return (neuron_count + 7) // 8


def pack_raster(raster: np.ndarray) -> bytes:
    """Pack a [timesteps, neurons] 0/1 raster into row-aligned bitmap bytes."""
    raster = np.asarray(raster)
    if raster.ndim != 2:
        raise ValueError(f"spike raster must be 2-D [timesteps, neurons], got shape {raster.shape}")
    return np.packbits(raster.astype(bool, copy=False), axis=1).tobytes()


def unpack_raster(bitmap: bytes | bytearray | memoryview | np.ndarray,
                  timestep_count: int, neuron_count: int) -> np.ndarray:
    """Unpack bitmap bytes into a [timesteps, neurons] uint8 raster of 0/1.

    Raises ValueError when the bitmap's length does not match the shape.
    """
    if timestep_count < 0 or neuron_count < 0:
        raise ValueError(f"negative raster shape ({timestep_count}, {neuron_count})")
    packed = np.frombuffer(bitmap, dtype=np.uint8) if not isinstance(bitmap, np.ndarray) \
        else bitmap.astype(np.uint8, copy=False).ravel()
    expected = timestep_count * row_bytes(neuron_count)
    if packed.size != expected:
        raise ValueError(
            f"bitmap has {packed.size} bytes, expected {expected} for "
            f"{timestep_count} timesteps x {neuron_count} neurons")
    rows = packed.reshape(timestep_count, row_bytes(neuron_count))
    return np.unpackbits(rows, axis=1, count=neuron_count)


def poisson_raster(rng: np.random.Generator, timestep_count: int, neuron_count: int,
                   rate_hz: float, dt_s: float) -> np.ndarray:
    """A random raster where each neuron fires with probability rate_hz * dt_s per step."""
    p = min(max(rate_hz * dt_s, 0.0), 1.0)
    return (rng.random((timestep_count, neuron_count)) < p).astype(np.uint8)
