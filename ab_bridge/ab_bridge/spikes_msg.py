"""Conversions between spike rasters and ab_interfaces spike messages."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ab_bridge.spikes import pack_raster, unpack_raster
from ab_interfaces.msg import CycleSpikes, PopulationSpikes


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
