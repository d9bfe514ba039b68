"""Memory: what an agent saw, did and got, as bounded numpy rows.

Two ways in, one store:

- palaestrAI's: `append(muscle_uid, sensor_readings=[SensorInformation...],
  actuator_setpoints=[ActuatorInformation...], rewards=[RewardInformation...],
  done=..., objective=...)`. A row is complete when its rewards arrive (as in
  palaestrAI); an `objective` (or `done`) appended alone belongs to the
  newest row of that muscle. The uids of the first row name the columns of
  the per-uid tables `tail()` returns.
- rl_agents' fast path: `append_vectors(sensors, actuators, rewards, ...)`
  with flat float vectors, no objects made per step.

`tail(n, include_only=[uids])` returns a `MemoryShard` with both views: the
per-uid tables `sensor_readings`, `actuator_setpoints`, `rewards` (`Table`,
a small numpy table with the DataFrame methods agents use) and the flat
arrays `sensors`, `actuators`. `tags` are the muscle uids that wrote rows;
`truncate(n)` keeps the newest n rows; `size_limit` may be changed any time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class Series(np.ndarray):
    """A 1-D float array with the pandas Series parts agents use: `iloc`, `values`,
    `to_numpy()`, and (for a table row) lookup by column name, `row["uid"]`."""

    def __new__(cls, values: Any, index: Sequence[str] | None = None) -> Series:
        obj = np.asarray(values, dtype=np.float64).view(cls)
        obj.index = list(index) if index is not None else None
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.index = None

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            if not self.index or key not in self.index:
                raise KeyError(key)
            key = self.index.index(key)
        out = super().__getitem__(key)
        return out.item() if isinstance(out, np.ndarray) and out.ndim == 0 else out

    @property
    def iloc(self) -> Series:
        return self

    @property
    def values(self) -> np.ndarray:
        return np.asarray(self)

    def to_numpy(self) -> np.ndarray:
        return np.asarray(self)


class Table:
    """Rows x named columns of float64 (palaestrAI hands agents pandas DataFrames here;
    this has the parts of that API agents use: `columns`, `t[uid]` (a Series),
    `values`, `to_numpy()`, `iloc` (a row is a Series indexed by column name),
    `sum`/`mean`/`min`/`max` with `axis`, `len`, `shape`, `empty`)."""

    __slots__ = ("values", "columns")

    def __init__(self, values: np.ndarray, columns: Sequence[str]) -> None:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2:
            values = (values.reshape(-1, len(columns)) if len(columns)
                      else np.zeros((0, 0)))
        self.values = values
        self.columns = list(columns)

    def __len__(self) -> int:
        return self.values.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape

    @property
    def empty(self) -> bool:
        return self.values.size == 0

    def to_numpy(self) -> np.ndarray:
        return self.values

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.values if dtype is None else self.values.astype(dtype)

    def _col(self, name: str) -> int:
        try:
            return self.columns.index(name)
        except ValueError:
            raise KeyError(f"no column {name!r}; columns: {self.columns}") from None

    def __getitem__(self, key: str | Sequence[str]) -> Series | Table:
        if isinstance(key, str):
            return Series(self.values[:, self._col(key)])
        idx = [self._col(k) for k in key]
        return Table(self.values[:, idx], list(key))

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def items(self) -> Iterator[tuple[str, Series]]:
        for i, name in enumerate(self.columns):
            yield name, Series(self.values[:, i])

    @property
    def iloc(self) -> _ILoc:
        return _ILoc(self)

    def _reduce(self, values: np.ndarray, axis: int) -> Series:
        return Series(values, self.columns if axis == 0 else None)

    def sum(self, axis: int = 0) -> Series:
        return self._reduce(self.values.sum(axis=axis), axis)

    def mean(self, axis: int = 0) -> Series:
        return self._reduce(self.values.mean(axis=axis), axis)

    def min(self, axis: int = 0) -> Series:
        return self._reduce(self.values.min(axis=axis), axis)

    def max(self, axis: int = 0) -> Series:
        return self._reduce(self.values.max(axis=axis), axis)

    def __repr__(self) -> str:
        return f"Table(columns={self.columns}, rows={len(self)})"


class _ILoc:
    __slots__ = ("table",)

    def __init__(self, table: Table) -> None:
        self.table = table

    def __getitem__(self, key: Any) -> Series | Table:
        if isinstance(key, (int, np.integer)):   # one row, by column name or position
            return Series(self.table.values[key], self.table.columns)
        return Table(self.table.values[key], self.table.columns)


@dataclass
class MemoryShard:
    """Rows of a Memory, oldest first: one row per step."""

    sensors: np.ndarray      # (n, sensor width), flat
    actuators: np.ndarray    # (n, actuator width), flat
    rewards: Table           # (n, reward columns), environment rewards by uid
    objective: np.ndarray    # (n,), the objective's value (nan when not computed)
    dones: np.ndarray        # (n,), bool
    muscle_ids: list[str]
    sensor_readings: Table = None     # (n, sensor columns) by uid
    actuator_setpoints: Table = None  # (n, actuator columns) by uid
    observations: np.ndarray = field(default_factory=lambda: np.zeros(0))
    actions: np.ndarray = field(default_factory=lambda: np.zeros(0))
    additional_data: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.dones)


def _columns(infos: Sequence[Any]) -> list[str]:
    """Column names of some information objects: the uid, or uid[i] for wider values."""
    names: list[str] = []
    for info in infos:
        width = info.space.flat_size
        names.extend([str(info.uid)] if width == 1
                     else [f"{info.uid}[{i}]" for i in range(width)])
    return names


def _flat(infos: Sequence[Any]) -> np.ndarray:
    if not infos:
        return np.zeros(0)
    return np.concatenate([np.asarray(i.space.flatten(i.value), dtype=np.float64).reshape(-1)
                           if i.value is not None else np.zeros(i.space.flat_size)
                           for i in infos])


def _flat_rewards(rewards: Sequence[Any]) -> np.ndarray:
    if not rewards:
        return np.zeros(0)
    return np.concatenate([np.asarray(r.value, dtype=np.float64).reshape(-1) for r in rewards])


class Memory:
    """A ring of the last `size_limit` steps.

    The row widths are fixed by the first row. Storage grows by doubling up to
    `size_limit`, then the oldest rows are overwritten.
    """

    def __init__(self, size_limit: int = 1_000_000) -> None:
        if int(size_limit) < 1:
            raise ValueError(f"memory size_limit must be >= 1, got {size_limit}")
        self._size_limit = int(size_limit)
        self._arrays: dict[str, np.ndarray] | None = None
        self._tags: list[str] = []        # the muscle uid of each ring slot
        self._extra: list[Any] = []       # per slot: None or a dict of optional data
        self._start = 0   # ring index of the oldest row
        self._count = 0
        self._names: dict[str, list[str]] = {}   # column names, from the first info row
        self._pending: dict[str, dict[str, Any]] = {}   # parts that came before their rewards

    # --- size ---------------------------------------------------------------
    @property
    def size_limit(self) -> int:
        return self._size_limit

    @size_limit.setter
    def size_limit(self, limit: int) -> None:
        limit = int(limit)
        if limit < 1:
            raise ValueError(f"memory size_limit must be >= 1, got {limit}")
        self.truncate(limit)
        self._size_limit = limit
        if self._arrays is not None and self._capacity() > limit:
            self._relayout(limit)

    def __len__(self) -> int:
        return self._count

    @property
    def tags(self) -> set[str]:
        """The muscle uids that wrote the rows held now."""
        if self._arrays is None:
            return set()
        return {self._tags[i] for i in self._order(self._count)}

    def truncate(self, n: int) -> None:
        """Keep only the newest |n| rows."""
        n = abs(int(n))
        if self._count <= n:
            return
        drop = self._count - n
        capacity = self._capacity()
        self._start = (self._start + drop) % max(capacity, 1)
        self._count = n

    def clear(self) -> None:
        self._start = 0
        self._count = 0
        self._pending.clear()

    # --- storage ------------------------------------------------------------
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

    def _relayout(self, capacity: int) -> None:
        order = self._order(self._count)
        widths = {k: self._arrays[k].shape[1] for k in ("sensors", "actuators", "rewards")}
        grown = self._allocate(widths, capacity)
        for key, arr in self._arrays.items():
            grown[key][:self._count] = arr[order]
        pad = capacity - self._count
        self._tags = [self._tags[i] for i in order] + [""] * pad
        self._extra = [self._extra[i] for i in order] + [None] * pad
        self._arrays = grown
        self._start = 0

    def _order(self, n: int) -> np.ndarray:
        """Ring indices of the last n rows, oldest first."""
        capacity = self._capacity()
        first = self._start + self._count - n
        return (first + np.arange(n)) % max(capacity, 1)

    def append_vectors(self, sensors: np.ndarray, actuators: np.ndarray, rewards: np.ndarray,
                       done: bool = False, objective: float | None = None,
                       muscle_id: str = "", extra: dict[str, Any] | None = None) -> None:
        """Add one step as flat vectors (widths must match earlier rows): the fast path."""
        row = {"sensors": np.asarray(sensors, dtype=np.float64).reshape(-1),
               "actuators": np.asarray(actuators, dtype=np.float64).reshape(-1),
               "rewards": np.asarray(rewards, dtype=np.float64).reshape(-1)}
        if self._arrays is None:
            widths = {k: v.size for k, v in row.items()}
            self._arrays = self._allocate(widths, min(self._size_limit, 64))
            self._tags = [""] * self._capacity()
            self._extra = [None] * self._capacity()
        for key, value in row.items():
            width = self._arrays[key].shape[1]
            if value.size != width:
                raise ValueError(f"memory row '{key}' has {value.size} values, "
                                 f"earlier rows had {width}")
        capacity = self._capacity()
        if self._count == capacity and capacity < self._size_limit:
            self._relayout(min(self._size_limit, capacity * 2))
            capacity = self._capacity()
        if self._count < capacity:
            at = (self._start + self._count) % capacity
            self._count += 1
        else:  # full: overwrite the oldest
            at = self._start
            self._start = (self._start + 1) % capacity
        for key, value in row.items():
            self._arrays[key][at] = value
        self._arrays["objective"][at] = np.nan if objective is None else float(
            np.sum(objective))
        self._arrays["dones"][at] = bool(done)
        self._tags[at] = muscle_id
        self._extra[at] = extra

    def append(self, muscle_uid: str, sensor_readings: Sequence[Any] | None = None,
               actuator_setpoints: Sequence[Any] | None = None,
               rewards: Sequence[Any] | None = None, done: bool | None = None,
               observations: np.ndarray | None = None, actions: np.ndarray | None = None,
               objective: np.ndarray | float | None = None,
               additional_data: Any = None, *, terminated: bool | None = None,
               truncated: bool | None = None, decision_index: int | None = None) -> None:
        """palaestrAI's append: information objects; a row is complete with its rewards."""
        if not isinstance(muscle_uid, str):
            raise TypeError("Memory.append(muscle_uid, sensor_readings=..., ...) takes the "
                            "muscle uid first; flat vectors go to append_vectors()")
        pending = self._pending.setdefault(muscle_uid, {})
        for key, value in (("sensor_readings", sensor_readings),
                           ("actuator_setpoints", actuator_setpoints)):
            if value is not None:
                pending[key] = list(value)
        extra = {k: v for k, v in (("observations", observations), ("actions", actions),
                                   ("additional_data", additional_data),
                                   ("terminated", terminated), ("truncated", truncated),
                                   ("decision_index", decision_index)) if v is not None}
        if rewards is None:
            # Parts of a row that is already there (objective, done), or that is coming.
            at = self._newest_slot(muscle_uid)
            if at is not None and (objective is not None or done is not None):
                if objective is not None:
                    self._arrays["objective"][at] = float(np.sum(objective))
                if done is not None:
                    self._arrays["dones"][at] = bool(done)
                if extra:
                    self._extra[at] = {**(self._extra[at] or {}), **extra}
            else:
                pending.update(extra)
                if objective is not None:
                    pending["objective"] = objective
                if done is not None:
                    pending["done"] = done
            return
        sensors = pending.pop("sensor_readings", [])
        setpoints = pending.pop("actuator_setpoints", [])
        rewards = list(rewards)
        for kind, infos in (("sensors", sensors), ("actuators", setpoints),
                            ("rewards", rewards)):
            if infos and kind not in self._names:
                self._names[kind] = _columns(infos)
        if objective is None:
            objective = pending.pop("objective", None)
        if done is None:
            done = pending.pop("done", False)
        extra = {**{k: pending.pop(k) for k in list(pending)
                    if k in ("observations", "actions", "additional_data", "terminated",
                             "truncated", "decision_index")}, **extra}
        self.append_vectors(_flat(sensors), _flat(setpoints), _flat_rewards(rewards),
                            bool(done), None if objective is None else objective,
                            muscle_uid, extra or None)

    def _newest_slot(self, muscle_uid: str) -> int | None:
        if self._arrays is None:
            return None
        for i in self._order(self._count)[::-1]:
            if self._tags[i] == muscle_uid:
                return int(i)
        return None

    def set_columns(self, sensors: Sequence[Any] = (), actuators: Sequence[Any] = (),
                    rewards: Sequence[Any] = ()) -> None:
        """Name the columns of rows that come in as flat vectors (from info objects' uids)."""
        for kind, infos in (("sensors", sensors), ("actuators", actuators),
                            ("rewards", rewards)):
            if infos:
                self._names[kind] = _columns(infos)

    def set_objective(self, value: float | None) -> None:
        """Record the objective's value for the newest row."""
        if self._count == 0:
            raise IndexError("memory is empty")
        at = int(self._order(1)[0])
        self._arrays["objective"][at] = np.nan if value is None else float(np.sum(value))

    # --- reading ------------------------------------------------------------
    def _table(self, kind: str, values: np.ndarray) -> Table:
        width = values.shape[1]
        names = self._names.get(kind)
        if names is None or len(names) != width:
            names = [f"{kind}[{i}]" for i in range(width)]
        return Table(values, names)

    def tail(self, n: int = 1, include_only: Sequence[str] | None = None) -> MemoryShard:
        """The last n rows (fewer if the memory holds fewer), oldest first; with
        `include_only`, the last n rows written by those muscle uids."""
        n = max(0, min(int(n), self._count))
        if self._arrays is None:
            empty = np.zeros((0, 0))
            return MemoryShard(empty, empty, Table(empty, []), np.zeros(0),
                               np.zeros(0, dtype=bool), [], Table(empty, []), Table(empty, []))
        if include_only is not None:
            wanted = set(include_only)
            everything = self._order(self._count)
            order = np.array([i for i in everything if self._tags[i] in wanted][-n:] if n else [],
                             dtype=np.int64)
        elif n == 1:  # the objective asks for this every step
            order = np.array([(self._start + self._count - 1) % self._capacity()])
        else:
            order = self._order(n)
        a = self._arrays
        extras = [self._extra[i] or {} for i in order]
        return MemoryShard(
            sensors=a["sensors"][order], actuators=a["actuators"][order],
            rewards=self._table("rewards", a["rewards"][order]),
            objective=a["objective"][order], dones=a["dones"][order],
            muscle_ids=[self._tags[i] for i in order],
            sensor_readings=self._table("sensors", a["sensors"][order]),
            actuator_setpoints=self._table("actuators", a["actuators"][order]),
            observations=np.array([np.asarray(e.get("observations", np.nan), dtype=np.float64)
                                   for e in extras], dtype=object)
            if any("observations" in e for e in extras) else np.full(len(order), np.nan),
            actions=np.array([np.asarray(e.get("actions", np.nan), dtype=np.float64)
                              for e in extras], dtype=object)
            if any("actions" in e for e in extras) else np.full(len(order), np.nan),
            additional_data=[e["additional_data"] for e in extras if "additional_data" in e],
        )
