"""Memory: what an agent saw, did and got, as bounded numpy rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class MemoryShard:
    """Rows of a Memory, oldest first: one row per step."""

    sensors: np.ndarray      # (n, sensor width)
    actuators: np.ndarray    # (n, actuator width)
    rewards: np.ndarray      # (n, reward width), environment rewards
    objective: np.ndarray    # (n,), the objective's value (nan when not computed)
    dones: np.ndarray        # (n,), bool
    muscle_ids: list[str]

    def __len__(self) -> int:
        return len(self.dones)


class Memory:
    """A ring of the last `size_limit` steps.

    The row widths are fixed by the first `append`. Storage grows by doubling
    up to `size_limit`, then the oldest rows are overwritten.
    """

    def __init__(self, size_limit: int = 100_000) -> None:
        if size_limit < 1:
            raise ValueError(f"memory size_limit must be >= 1, got {size_limit}")
        self.size_limit = int(size_limit)
        self._arrays: dict[str, np.ndarray] | None = None
        self._muscles: list[str] = []
        self._start = 0   # ring index of the oldest row
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def _allocate(self, widths: dict[str, int], capacity: int) -> dict[str, np.ndarray]:
        return {
            "sensors": np.zeros((capacity, widths["sensors"])),
            "actuators": np.zeros((capacity, widths["actuators"])),
            "rewards": np.zeros((capacity, widths["rewards"])),
            "objective": np.full(capacity, np.nan),
            "dones": np.zeros(capacity, dtype=bool),
        }

    def _capacity(self) -> int:
        return 0 if self._arrays is None else len(self._arrays["dones"])

    def append(self, sensors: np.ndarray, actuators: np.ndarray, rewards: np.ndarray,
               done: bool = False, objective: float | None = None,
               muscle_id: str = "") -> None:
        """Add one step (flat vectors; widths must match earlier rows)."""
        row = {"sensors": np.asarray(sensors, dtype=np.float64).reshape(-1),
               "actuators": np.asarray(actuators, dtype=np.float64).reshape(-1),
               "rewards": np.asarray(rewards, dtype=np.float64).reshape(-1)}
        if self._arrays is None:
            widths = {k: v.size for k, v in row.items()}
            self._arrays = self._allocate(widths, min(self.size_limit, 64))
            self._muscles = [""] * self._capacity()
        for key, value in row.items():
            width = self._arrays[key].shape[1]
            if value.size != width:
                raise ValueError(f"memory row '{key}' has {value.size} values, "
                                 f"earlier rows had {width}")
        capacity = self._capacity()
        if self._count == capacity and capacity < self.size_limit:
            self._grow(min(self.size_limit, capacity * 2))
            capacity = self._capacity()
        if self._count < capacity:
            at = (self._start + self._count) % capacity
            self._count += 1
        else:  # full: overwrite the oldest
            at = self._start
            self._start = (self._start + 1) % capacity
        for key, value in row.items():
            self._arrays[key][at] = value
        self._arrays["objective"][at] = np.nan if objective is None else float(objective)
        self._arrays["dones"][at] = bool(done)
        self._muscles[at] = muscle_id

    def _grow(self, capacity: int) -> None:
        order = self._order(self._count)
        widths = {k: self._arrays[k].shape[1] for k in ("sensors", "actuators", "rewards")}
        grown = self._allocate(widths, capacity)
        for key, arr in self._arrays.items():
            grown[key][:self._count] = arr[order]
        self._muscles = [self._muscles[i] for i in order] + [""] * (capacity - self._count)
        self._arrays = grown
        self._start = 0

    def _order(self, n: int) -> np.ndarray:
        """Ring indices of the last n rows, oldest first."""
        capacity = self._capacity()
        first = self._start + self._count - n
        return (first + np.arange(n)) % max(capacity, 1)

    def set_objective(self, value: float | None) -> None:
        """Record the objective's value for the newest row."""
        if self._count == 0:
            raise IndexError("memory is empty")
        at = int(self._order(1)[0])
        self._arrays["objective"][at] = np.nan if value is None else float(value)

    def tail(self, n: int = 1) -> MemoryShard:
        """The last n rows (fewer if the memory holds fewer), oldest first."""
        n = max(0, min(int(n), self._count))
        if self._arrays is None:
            empty = np.zeros((0, 0))
            return MemoryShard(empty, empty, empty, np.zeros(0), np.zeros(0, dtype=bool), [])
        if n == 1:  # the objective asks for this every step
            at = (self._start + self._count - 1) % self._capacity()
            order = np.array([at])
        else:
            order = self._order(n)
        a = self._arrays
        return MemoryShard(a["sensors"][order], a["actuators"][order], a["rewards"][order],
                           a["objective"][order], a["dones"][order],
                           [self._muscles[i] for i in order])

    def clear(self) -> None:
        self._start = 0
        self._count = 0
