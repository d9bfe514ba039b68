"""A scrolling spike raster image: neurons down, timesteps across, newest on the right.

No rclpy here. Populations are stacked in the order they were first seen, with
a one-pixel grey separator between them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

SPIKE = 255
SEPARATOR = 96


class SpikeRaster:
    """Keeps the last `history_steps` timesteps of every population as one image."""

    def __init__(self, history_steps: int) -> None:
        if history_steps < 1:
            raise ValueError(f"history_steps must be at least 1, got {history_steps}")
        self.history_steps = history_steps
        self.layout: dict[str, tuple[int, int]] = {}  # population → (first row, neurons)
        self.pixels = np.zeros((0, history_steps), dtype=np.uint8)
        self.cycles = 0
        self.spikes = 0

    def _rows(self) -> int:
        return sum(n for _, n in self.layout.values()) + max(len(self.layout) - 1, 0)

    def _relayout(self, populations: list[tuple[str, int]]) -> None:
        old_layout, old_pixels = self.layout, self.pixels
        layout: dict[str, tuple[int, int]] = {}
        row = 0
        for pid, n in populations:
            layout[pid] = (row, n)
            row += n + 1
        self.layout = layout
        self.pixels = np.zeros((max(row - 1, 0), self.history_steps), dtype=np.uint8)
        for pid, (first, n) in layout.items():
            if pid in old_layout and old_layout[pid][1] == n:
                src = old_layout[pid][0]
                self.pixels[first:first + n] = old_pixels[src:src + n]
        for _, (first, _n) in list(layout.items())[1:]:
            self.pixels[first - 1] = SEPARATOR

    def add(self, rasters: Iterable[tuple[str, np.ndarray]]) -> None:
        """Append one cycle: (population id, [timesteps, neurons] 0/1 raster) pairs."""
        rasters = [(pid, np.asarray(r)) for pid, r in rasters]
        if not rasters:
            return
        steps = {r.shape[0] for _, r in rasters}
        if len(steps) != 1 or any(r.ndim != 2 for _, r in rasters):
            raise ValueError("every population of a cycle needs a 2-D raster with the same "
                             "timestep count")
        wanted = [(pid, n) for pid, (_, n) in self.layout.items()]
        known = dict(wanted)
        for pid, r in rasters:
            if known.get(pid) != r.shape[1]:
                if pid in known:
                    wanted = [(p, r.shape[1] if p == pid else n) for p, n in wanted]
                else:
                    wanted.append((pid, r.shape[1]))
                known[pid] = r.shape[1]
        if wanted != [(pid, n) for pid, (_, n) in self.layout.items()]:
            self._relayout(wanted)
        t = min(steps.pop(), self.history_steps)
        self.pixels = np.roll(self.pixels, -t, axis=1)
        self.pixels[:, -t:] = 0
        for _pid, (first, _n) in list(self.layout.items())[1:]:
            self.pixels[first - 1, -t:] = SEPARATOR
        for pid, r in rasters:
            first, n = self.layout[pid]
            self.pixels[first:first + n, -t:] = (r[-t:].T != 0).astype(np.uint8) * SPIKE
            self.spikes += int(np.count_nonzero(r))
        self.cycles += 1

    def image(self, min_rows: int = 1) -> np.ndarray:
        """The raster as a mono8 (rows, history_steps) array (a copy)."""
        if self.pixels.shape[0] == 0:
            return np.zeros((min_rows, self.history_steps), dtype=np.uint8)
        return self.pixels.copy()
