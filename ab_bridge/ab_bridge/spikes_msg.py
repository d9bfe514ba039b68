"""Conversions between spike rasters / decoded deltas and ab_interfaces messages."""

from __future__ import annotations

import array
from collections.abc import Iterable, Sequence

import numpy as np

from ab_bridge.decoding import CycleRasters, DecodedCycle, Decoder
from ab_bridge.spikes import pack_raster, unpack_raster
from ab_interfaces.msg import ActuatorCommand, CycleSpikes, PopulationSpikes


def population_msg(population_id: str, raster: np.ndarray, cycle: int,
                   dt_s: float) -> PopulationSpikes:
    """A PopulationSpikes message for one population's [timesteps, neurons] raster."""
    raster = np.asarray(raster)
    msg = PopulationSpikes()
    msg.population_id = population_id
    msg.timestep_count, msg.neuron_count = (int(n) for n in raster.shape)
    msg.dt_s = float(dt_s)
    msg.cycle = int(cycle)
    msg.spike_count = int(np.count_nonzero(raster))
    msg.bitmap = pack_raster(raster)
    return msg


def cycle_msg(run_id: str, cycle: int, rasters: Iterable[tuple[str, np.ndarray]],
              dt_s: float) -> CycleSpikes:
    """A CycleSpikes bundle from (population id, raster) pairs; header left for the caller."""
    msg = CycleSpikes()
    msg.run_id = run_id
    msg.cycle = int(cycle)
    msg.populations = [population_msg(pid, raster, cycle, dt_s) for pid, raster in rasters]
    return msg


def raster_of(msg: PopulationSpikes) -> np.ndarray:
    """The [timesteps, neurons] raster of a PopulationSpikes message.

    Raises ValueError naming the population when the bitmap does not match its shape.
    """
    try:
        return unpack_raster(msg.bitmap, msg.timestep_count, msg.neuron_count)
    except ValueError as error:
        raise ValueError(f"population {msg.population_id!r}: {error}") from None


def cycle_rasters_of(msg: CycleSpikes) -> CycleRasters:
    """The decoder's view of a CycleSpikes message (one raster per population).

    Raises ValueError naming the population when a bitmap does not match its
    shape, or when populations disagree on the timestep count.
    """
    rasters = [raster_of(p) for p in msg.populations]
    steps = {r.shape[0] for r in rasters}
    if len(steps) > 1:
        raise ValueError(f"cycle {msg.cycle}: populations have different timestep counts "
                         f"{sorted(steps)}")
    count = steps.pop() if steps else 0
    return CycleRasters(np.arange(count, dtype=np.int64),
                        [p.population_id for p in msg.populations], rasters)


def decode_msg(decoder: Decoder, msg: CycleSpikes) -> DecodedCycle:
    """Decode a CycleSpikes message (one unpack for equally shaped populations).

    Raises ValueError (DecodeError) naming the population whose bitmap is wrong.
    """
    shapes = {(p.timestep_count, p.neuron_count) for p in msg.populations}
    if len(shapes) == 1:
        steps, neurons = shapes.pop()
        return decoder.decode_packed([p.population_id for p in msg.populations],
                                     [bytes(p.bitmap) for p in msg.populations], steps, neurons)
    return decoder.decode(cycle_rasters_of(msg))


def command_msg(source: str, cycle: int, channels: Sequence[str], deltas: np.ndarray,
                step_dt_s: float) -> ActuatorCommand:
    """An ActuatorCommand from [channels, steps] deltas (channel-major); header left to the caller."""
    deltas = np.asarray(deltas, dtype=np.float64)
    if deltas.ndim != 2:     # (a [0, steps] array, no channels mapped, is already 2-D)
        deltas = deltas.reshape(len(channels), -1)
    msg = ActuatorCommand()
    msg.source = source
    msg.cycle = int(cycle)
    msg.channels = list(channels)
    msg.step_count = int(deltas.shape[1])
    msg.step_dt_s = float(step_dt_s)
    # (an array.array of doubles is taken as it is; a list is checked value by value)
    msg.deltas = array.array("d", np.ascontiguousarray(deltas).tobytes())
    return msg


def hold_msg(source: str, cycle: int, channels: Sequence[str], step_dt_s: float
             ) -> ActuatorCommand:
    """The all-zero command (one step) that makes actuators hold where they are."""
    return command_msg(source, cycle, channels, np.zeros((len(channels), 1)), step_dt_s)
