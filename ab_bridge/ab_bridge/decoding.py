"""Spike decoders: output spikes of one brain cycle -> per-step actuator deltas.

The schemes and the delta pipeline are those of the Artificial Brains SDK
(`bipolarSplit`, `addition`, `booleanThreshold`, `bipolarScalar`; gain,
per-step max, invert, deadzone, min step, clamp; entries on one channel add
up), computed with numpy over whole [timesteps x neurons] rasters instead of
bit by bit. No rclpy here.

Inputs:
- `CycleRasters`: per population a [timesteps, neurons] 0/1 raster (`decode`);
- a [populations, timesteps, neurons] stack (`decode_stack`);
- packed bitmaps, the CycleSpikes message form (`decode_packed`: bits are
  counted per byte when every entry weighs whole bytes, never unpacked);
- protocol rows: `cycle:update` outputs, `{"t", "id", "bits"}` dicts or
  `[t, id, bits]` triples, validated (`rows_to_cycle`, `decode_rows`);
- sparse neuron events of newer SDK releases: `{"step", "outputs": [{"t",
  "neurons": ["pop:idx", ...]}]}`, decoded once per step (`neuron_event_to_cycle`).

How: one matrix product turns a cycle's spikes into every entry's per-step
count (or half difference); a table built once per layout maps each possible
count to its delta, computed with the SDK's operations in the SDK's order, so
results are identical to the SDK's, not merely close.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCHEMES = ("bipolarSplit", "addition", "booleanThreshold", "bipolarScalar")
_SCHEME_CODE = {name: code for code, name in enumerate(SCHEMES)}

#: Largest cycle a decoder accepts (protects against oversized frames).
MAX_TIMESTEPS = 65536
MAX_NEURONS = 65536
#: Populations up to this width decode through a per-entry table of deltas by spike count.
TABLE_MAX_NEURONS = 4096


class DecodeError(ValueError):
    """A spike payload or decoder mapping that cannot be decoded; the message says why."""


@dataclass(frozen=True)
class MappingEntry:
    """How one output population drives one actuator channel."""

    population: str
    channel: str
    scheme: str = "bipolarSplit"
    per_step_max: float = 0.01
    gain: float = 1.0
    deadzone: float = 0.0
    min_step: float = 0.0
    invert: bool = False
    threshold: int | None = None
    clamp: tuple[float, float] | None = None
    #: Population width, used when a sparse event lists no spike for it.
    neuron_count: int | None = None


def _first(entry: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = entry.get(key)
        if value is not None and value != "":
            return value
    return None


def _number(entry: Mapping[str, Any], where: str, name: str, value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool):
        raise DecodeError(f"{where}: '{name}' must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DecodeError(f"{where}: '{name}' must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise DecodeError(f"{where}: '{name}' must be finite, got {value!r}")
    return number


def parse_mapping_entry(entry: Mapping[str, Any] | MappingEntry, index: int = 0) -> MappingEntry:
    """One mapping entry from a dict (SDK field names and camelCase synonyms accepted).

    Population: `population`, `node_id`, `nodeId`, `output_id`, `outputId`;
    channel: `channel`, `controllerChannel`; `per_step_max` / `perStepMax` /
    `perStepMaxRad`; `min_step` / `minStep` / `minStepRad`; `clamp` / `limits`
    as `[lo, hi]` or `{"min", "max"}`; `n` / `neuron_count`.
    Raises DecodeError naming the entry and the field.
    """
    if isinstance(entry, MappingEntry):
        return entry
    where = f"decoder mapping entry {index}"
    if not isinstance(entry, Mapping):
        raise DecodeError(f"{where}: expected a mapping, got {type(entry).__name__}")
    population = _first(entry, "population", "node_id", "nodeId", "output_id", "outputId")
    channel = _first(entry, "channel", "controllerChannel")
    if population is None:
        raise DecodeError(f"{where}: missing the output population ('node_id')")
    if channel is None:
        raise DecodeError(f"{where} ({population}): missing 'channel'")
    scheme = str(_first(entry, "scheme") or "bipolarSplit").strip()
    if scheme not in _SCHEME_CODE:
        raise DecodeError(f"{where} ({population}): unknown scheme {scheme!r}; "
                          f"known: {', '.join(SCHEMES)}")
    clamp_value = _first(entry, "clamp", "limits")
    clamp: tuple[float, float] | None = None
    if isinstance(clamp_value, Mapping) and "min" in clamp_value and "max" in clamp_value:
        clamp_value = (clamp_value["min"], clamp_value["max"])
    if isinstance(clamp_value, (list, tuple)) and len(clamp_value) == 2:
        clamp = (_number(entry, where, "clamp", clamp_value[0], 0.0),
                 _number(entry, where, "clamp", clamp_value[1], 0.0))
    elif clamp_value is not None:
        raise DecodeError(f"{where} ({population}): 'clamp' must be [lo, hi] or "
                          f"{{min, max}}, got {clamp_value!r}")
    threshold = _first(entry, "threshold")
    if threshold is not None:
        threshold = int(_number(entry, where, "threshold", threshold, 0.0))
    neuron_count = _first(entry, "n", "neuron_count")
    if neuron_count is not None:
        neuron_count = int(_number(entry, where, "n", neuron_count, 0.0))
    return MappingEntry(
        population=str(population),
        channel=str(channel),
        scheme=scheme,
        per_step_max=_number(entry, where, "per_step_max",
                             _first(entry, "per_step_max", "perStepMax", "perStepMaxRad"), 0.01),
        gain=_number(entry, where, "gain", entry.get("gain"), 1.0),
        deadzone=_number(entry, where, "deadzone", entry.get("deadzone"), 0.0),
        min_step=_number(entry, where, "min_step",
                         _first(entry, "min_step", "minStep", "minStepRad"), 0.0),
        invert=bool(entry.get("invert", False)),
        threshold=threshold,
        clamp=clamp,
        neuron_count=neuron_count if neuron_count and neuron_count > 0 else None,
    )


def parse_mapping(entries: Iterable[Mapping[str, Any] | MappingEntry]) -> list[MappingEntry]:
    """A decoder mapping from a list of entry dicts (see parse_mapping_entry)."""
    if isinstance(entries, Mapping):
        # YAML files may wrap the list: {"mapping": [...]}, or key entries by channel.
        if "mapping" in entries:
            entries = entries["mapping"]
        else:
            entries = [{"channel": channel, **body} for channel, body in entries.items()]
    if isinstance(entries, (str, bytes)) or not isinstance(entries, Iterable):
        raise DecodeError(f"decoder mapping must be a list of entries, got {type(entries).__name__}")
    return [parse_mapping_entry(entry, i) for i, entry in enumerate(entries)]


@dataclass
class CycleRasters:
    """Spikes of one cycle: per population a [timesteps, neurons] raster on a shared time axis.

    `present[p, i]` is False where population p sent no row at step i (a
    missing row contributes nothing, unlike a row of zeros).
    """

    timesteps: np.ndarray                      # [T] int64, the protocol's t values, sorted
    populations: list[str]
    rasters: list[np.ndarray]                  # each [T, n_p] uint8
    present: np.ndarray | None = None          # [P, T] bool, None = all present
    #: [P, T] position of each population's row among the step's rows, when the
    #: order differs from `populations` at some step (None otherwise).
    arrival: np.ndarray | None = None

    def raster(self, population: str) -> np.ndarray:
        return self.rasters[self.populations.index(population)]


@dataclass
class DecodedCycle:
    """Per-step deltas of one cycle: `deltas[c, i]` is the change of `channels[c]` at step i."""

    timesteps: np.ndarray        # [T] the protocol's t values
    channels: list[str]
    deltas: np.ndarray           # [C, T] float64
    unknown_populations: list[str] = field(default_factory=list)

    def commands(self) -> list[dict[str, Any]]:
        """The SDK's output form: `[{"t": t, "deltas": {channel: delta}}]`, zero deltas left out."""
        out = []
        for i, t in enumerate(self.timesteps.tolist()):
            column = self.deltas[:, i]
            out.append({"t": int(t), "deltas": {self.channels[c]: float(column[c])
                                                for c in np.flatnonzero(column)}})
        return out

    def is_zero(self) -> bool:
        return not np.any(self.deltas)


class Decoder:
    """Decodes cycles of output spikes into per-channel, per-step deltas.

    Built once from a mapping; per cycle the work is a handful of numpy
    operations on [entries x timesteps] arrays, whatever the neuron count.
    """

    def __init__(self, mapping: Iterable[Mapping[str, Any] | MappingEntry]) -> None:
        self.entries: list[MappingEntry] = parse_mapping(mapping)
        self.channels: list[str] = list(dict.fromkeys(e.channel for e in self.entries))
        self.populations: list[str] = list(dict.fromkeys(e.population for e in self.entries))
        self._plans: dict[tuple[tuple[str, ...], tuple[int, ...]], _Plan] = {}
        self._packed: dict[tuple[tuple[str, ...], int, int], _PackedPlan] = {}
        self._neuron_count: dict[str, int] = {}
        for x in self.entries:
            if x.neuron_count:
                self._neuron_count[x.population] = max(self._neuron_count.get(x.population, 0),
                                                       x.neuron_count)

    def decode(self, spikes: CycleRasters) -> DecodedCycle:
        """Deltas for one cycle. Populations no entry maps are ignored (and listed)."""
        widths = tuple(int(r.shape[1]) for r in spikes.rasters)
        plan = self._plan(tuple(spikes.populations), widths)
        steps = spikes.timesteps.size
        if plan.rows == 0 or steps == 0:
            return DecodedCycle(spikes.timesteps, list(self.channels),
                                np.zeros((len(self.channels), steps)), plan.unknown)
        spikes_by_column = np.concatenate(spikes.rasters, axis=1) if len(spikes.rasters) > 1 \
            else spikes.rasters[0]
        return self._finish(plan, plan.counts(spikes_by_column), spikes, spikes.timesteps)

    def decode_stack(self, populations: Sequence[str], stack: np.ndarray,
                     timesteps: np.ndarray | None = None) -> DecodedCycle:
        """Deltas for one cycle given as one [populations, timesteps, neurons] 0/1 array."""
        stack = np.asarray(stack)
        if stack.ndim != 3 or stack.shape[0] != len(populations):
            raise DecodeError(f"spike stack must be [{len(populations)} populations, timesteps, "
                              f"neurons], got shape {stack.shape}")
        count, steps, width = stack.shape
        if timesteps is None:
            timesteps = np.arange(steps, dtype=np.int64)
        plan = self._plan(tuple(populations), (width,) * count)
        if plan.rows == 0 or steps == 0:
            return DecodedCycle(timesteps, list(self.channels),
                                np.zeros((len(self.channels), steps)), plan.unknown)
        spikes_by_column = stack.transpose(1, 0, 2).reshape(steps, count * width)
        return self._finish(plan, plan.counts(spikes_by_column), None, timesteps)

    def decode_packed(self, populations: Sequence[str], bitmaps: Sequence[bytes],
                      timestep_count: int, neuron_count: int) -> DecodedCycle:
        """Deltas for one cycle of equally shaped packed bitmaps (the CycleSpikes form).

        Each bitmap holds timestep_count rows of ceil(neuron_count / 8) bytes
        (numpy.packbits order); DecodeError when a length does not match.
        """
        key = (tuple(populations), timestep_count, neuron_count)
        fast = self._packed.get(key)
        if fast is None:
            if len(self._packed) > 64:
                self._packed.clear()
            fast = self._packed[key] = _PackedPlan.build(self, key)
        expected = fast.bitmap_bytes
        if len(bitmaps) != len(populations) or set(map(len, bitmaps)) - {expected}:
            for pid, bitmap in zip(populations, bitmaps, strict=True):
                if len(bitmap) != expected:
                    raise DecodeError(f"population {pid!r}: bitmap has {len(bitmap)} bytes, "
                                      f"expected {expected} for {timestep_count} x "
                                      f"{neuron_count}")
        packed = np.frombuffer(b"".join(bitmaps), dtype=np.uint8)
        plan = fast.plan
        if fast.index_weights is not None:
            # Every entry counts whole bytes: count bits per byte, never unpack; one
            # product gives each entry's table index per step (count + where its
            # table part starts: the last column of `by_step` is 1).
            count, steps, row_bytes = fast.shape
            by_step = np.empty((steps, count * row_bytes + 1))
            by_step[:, :-1].reshape(steps, count, row_bytes).transpose(1, 0, 2)[...] = \
                np.bitwise_count(packed.reshape(fast.shape))
            by_step[:, -1] = 1.0
            index = np.dot(by_step, fast.index_weights).astype(np.intp)     # [T, rows]
            return self._combine(plan, plan.table.take(index).T, None, fast.timesteps)
        if plan.byte_weights is not None and timestep_count and plan.rows:
            count, steps, row_bytes = fast.shape
            ones = np.bitwise_count(packed.reshape(fast.shape))
            by_step = ones.transpose(1, 0, 2).reshape(steps, -1).astype(np.float32)
            return self._finish(plan, (by_step @ plan.byte_weights).T, None, fast.timesteps)
        stack = np.unpackbits(packed.reshape(-1, fast.shape[2]), axis=1, count=neuron_count)
        return self.decode_stack(populations, stack.reshape(len(bitmaps), timestep_count,
                                                            neuron_count))

    def _plan(self, populations: tuple[str, ...], widths: tuple[int, ...]) -> _Plan:
        plan = self._plans.get((populations, widths))
        if plan is None:
            if len(self._plans) > 64:
                self._plans.clear()
            plan = _Plan.build(self, populations, widths)
            self._plans[(populations, widths)] = plan
        return plan

    def _finish(self, plan: _Plan, value: np.ndarray, spikes: CycleRasters | None,
                timesteps: np.ndarray) -> DecodedCycle:
        """Deltas from per-entry counts `value` [rows, T]; `spikes` for missing rows and order."""
        if plan.table is not None:
            # The count is an integer in [-n, n]: look its delta up, in row r's part
            # of the flat table (r · (2n + 1) + n + count).
            delta = plan.table.take((value + plan.table_offset).astype(np.intp))
        else:
            delta = plan.deltas_of(value)
        if spikes is not None and spikes.present is not None:
            delta = np.where(spikes.present[plan.population_of_row], delta, 0.0)
        return self._combine(plan, delta, spikes, timesteps)

    def _combine(self, plan: _Plan, delta: np.ndarray, spikes: CycleRasters | None,
                 timesteps: np.ndarray) -> DecodedCycle:
        """Each channel's deltas from the entries' `delta` [rows, T], in the SDK's order of
        addition."""
        steps = delta.shape[1]
        if plan.one_row_per_channel:
            deltas = np.zeros((len(self.channels), steps))
            deltas[plan.channel_of_row] = delta
        elif plan.at_most_two_per_channel and (spikes is None or spikes.arrival is None):
            # a + b == b + a: with two contributions per channel a product sums exactly.
            deltas = np.dot(plan.channel_matrix, delta)
        elif spikes is None or spikes.arrival is None:
            deltas = np.zeros((len(self.channels), steps))
            for row, channel in enumerate(plan.channel_of_row.tolist()):
                deltas[channel] += delta[row]
        else:
            # Rows arrived in a different population order at some steps: add
            # each step's contributions in that step's order.
            deltas = np.zeros((len(self.channels), steps))
            key = spikes.arrival[plan.population_of_row] * len(self.entries) \
                + plan.entry_of_row[:, None]
            for channel in np.unique(plan.channel_of_row).tolist():
                mine = np.flatnonzero(plan.channel_of_row == channel)
                ordered = np.take_along_axis(delta[mine], np.argsort(key[mine], axis=0), axis=0)
                for contribution in ordered:
                    deltas[channel] += contribution
        return DecodedCycle(timesteps, self.channels, deltas, plan.unknown)

    def decode_rows(self, rows: Sequence[Any], **limits: int) -> DecodedCycle:
        """Decode `cycle:update` output rows (dicts or triples), validating them."""
        return self.decode(rows_to_cycle(rows, **limits))

    def decode_neuron_event(self, event: Mapping[str, Any]) -> DecodedCycle:
        """Decode a sparse neuron event (newer SDK form): one step, spikes of the step ORed."""
        return self.decode(neuron_event_to_cycle(event, self._neuron_count))


@dataclass
class _Plan:
    """What decoding needs for one layout of populations and widths, built once."""

    rows: int
    unknown: list[str]
    entry_of_row: np.ndarray           # [rows] mapping index, in the SDK's addition order
    population_of_row: np.ndarray      # [rows] index into the cycle's populations
    channel_of_row: np.ndarray         # [rows]
    one_row_per_channel: bool
    weights: np.ndarray                # [rows, sum of widths] +1 / -1 / 0
    boolean: np.ndarray | None         # [rows] mask of booleanThreshold rows
    threshold: np.ndarray | None       # [boolean rows, 1]
    scalar: np.ndarray | None          # [rows] mask of bipolarScalar rows
    sign: np.ndarray
    per_step_max: np.ndarray
    gain: np.ndarray
    deadzone: np.ndarray | None
    min_step: np.ndarray | None
    clamp_lo: np.ndarray | None
    clamp_hi: np.ndarray | None
    at_most_two_per_channel: bool = False
    channel_matrix: np.ndarray | None = None     # [channels, rows] one-hot
    table: np.ndarray | None = None              # [rows x (2 n + 1)] delta of each count
    table_offset: np.ndarray | None = None       # [rows, 1] where row r's count 0 is
    byte_weights: np.ndarray | None = None       # [populations x row bytes, rows]

    def deltas_of(self, value: np.ndarray) -> np.ndarray:
        """Deltas of [rows, ...] counts, with the SDK's operations in the SDK's order."""
        value = np.array(value, dtype=np.float64)
        if self.boolean is not None:
            value[self.boolean] = (value[self.boolean] >= self.threshold).astype(np.float64)
        if self.scalar is not None:
            value[self.scalar] = np.sign(value[self.scalar])
        delta = value * self.sign * self.per_step_max * self.gain
        if self.deadzone is not None:
            dead = np.abs(delta) < self.deadzone
            delta[dead] = 0.0
        if self.min_step is not None:
            magnitude = np.abs(delta)
            lift = (magnitude > 0) & (magnitude < self.min_step)
            delta = np.where(lift, np.copysign(self.min_step, delta), delta)
        if self.clamp_lo is not None:
            delta = np.where(delta < self.clamp_lo, self.clamp_lo,
                             np.where(delta > self.clamp_hi, self.clamp_hi, delta))
            if self.deadzone is not None:
                delta[dead] = 0.0
        # The SDK never adds an exact zero: no -0.0 either.
        return delta + 0.0

    def counts(self, spikes_by_column: np.ndarray) -> np.ndarray:
        """Per entry and step: spike count, or first-half minus second-half count."""
        return self.weights @ spikes_by_column.T.astype(np.float32)

    @classmethod
    def build(cls, decoder: Decoder, populations: tuple[str, ...],
              widths: tuple[int, ...]) -> _Plan:
        order = {p: i for i, p in enumerate(populations)}
        unknown = [p for p in populations if p not in decoder.populations]
        # The SDK adds a step's contributions population by population in arrival
        # order, entries in mapping order.
        pairs = sorted((order[x.population], k) for k, x in enumerate(decoder.entries)
                       if x.population in order)
        entries = [decoder.entries[k] for _, k in pairs]
        offsets = np.concatenate([[0], np.cumsum(widths)]).astype(int)
        weights = np.zeros((len(pairs), int(offsets[-1])), dtype=np.float32)
        thresholds = []
        for row, ((p, _), entry) in enumerate(zip(pairs, entries, strict=True)):
            start, n = int(offsets[p]), widths[p]
            if entry.scheme in ("bipolarSplit", "bipolarScalar"):
                half = n // 2
                weights[row, start:start + half] = 1.0
                weights[row, start + half:start + 2 * half] = -1.0
            else:
                weights[row, start:start + n] = 1.0
            if entry.scheme == "booleanThreshold":
                threshold = entry.threshold if entry.threshold is not None else max(1, n // 2)
                # n == 0: no spike can reach a threshold of 1, the value stays 0.
                thresholds.append(min(max(threshold, 1), max(n, 1)))

        def column(values: list[float]) -> np.ndarray:
            return np.array(values, dtype=np.float64).reshape(-1, 1)

        boolean = np.array([e.scheme == "booleanThreshold" for e in entries], dtype=bool)
        scalar = np.array([e.scheme == "bipolarScalar" for e in entries], dtype=bool)
        channel_of_row = np.array([decoder.channels.index(e.channel) for e in entries],
                                  dtype=np.intp)
        has_clamp = any(e.clamp is not None for e in entries)
        plan = cls(
            rows=len(pairs), unknown=unknown,
            entry_of_row=np.array([k for _, k in pairs], dtype=np.intp),
            population_of_row=np.array([p for p, _ in pairs], dtype=np.intp),
            channel_of_row=channel_of_row,
            one_row_per_channel=np.unique(channel_of_row).size == channel_of_row.size,
            weights=weights,
            boolean=boolean if boolean.any() else None,
            threshold=column(thresholds) if thresholds else None,
            scalar=scalar if scalar.any() else None,
            sign=column([-1.0 if e.invert else 1.0 for e in entries]),
            per_step_max=column([e.per_step_max for e in entries]),
            gain=column([e.gain for e in entries]),
            # A zero (or negative) deadzone or min step never triggers, as in the SDK.
            deadzone=column([e.deadzone for e in entries])
            if any(e.deadzone for e in entries) else None,
            min_step=column([e.min_step for e in entries])
            if any(e.min_step for e in entries) else None,
            clamp_lo=column([e.clamp[0] if e.clamp else -np.inf for e in entries])
            if has_clamp else None,
            clamp_hi=column([e.clamp[1] if e.clamp else np.inf for e in entries])
            if has_clamp else None,
        )
        per_channel = np.bincount(channel_of_row, minlength=len(decoder.channels))
        plan.at_most_two_per_channel = bool(per_channel.max(initial=0) <= 2)
        plan.channel_matrix = (np.arange(len(decoder.channels))[:, None]
                               == channel_of_row[None, :]).astype(np.float64)
        widest = max([widths[p] for p, _ in pairs], default=0)
        if pairs and widest <= TABLE_MAX_NEURONS:
            # Every delta a count can give, computed once with the per-step pipeline:
            # per row the counts -n ... n, the rows one after another.
            counts = np.arange(-widest, widest + 1)
            plan.table = plan.deltas_of(np.broadcast_to(counts.astype(np.float64),
                                                        (len(pairs), counts.size))).ravel()
            plan.table_offset = (np.arange(len(pairs)) * counts.size + widest
                                 ).astype(np.float32)[:, None]
        # Counting per packed byte works when every entry weighs whole bytes alike.
        if pairs and len(set(widths)) == 1 and widths[0] % 8 == 0:
            by_byte = plan.weights.reshape(len(pairs), -1, 8)
            if np.all(by_byte == by_byte[:, :, :1]):
                plan.byte_weights = np.ascontiguousarray(by_byte[:, :, 0].T)
        return plan


@dataclass
class _PackedPlan:
    """What decoding packed bitmaps needs for one layout (populations, timesteps, neurons),
    built once."""

    plan: _Plan
    bitmap_bytes: int                   # bytes of one population's bitmap
    shape: tuple[int, int, int]         # populations, timesteps, bytes per row
    timesteps: np.ndarray               # [T] 0 ... T − 1, read-only
    #: [populations x row bytes + 1, rows]: the bytes' weights, then where each row's part
    #: of the delta table starts; None unless every entry counts whole bytes alike.
    index_weights: np.ndarray | None

    @classmethod
    def build(cls, decoder: Decoder, key: tuple[tuple[str, ...], int, int]) -> _PackedPlan:
        populations, timestep_count, neuron_count = key
        row_bytes = (neuron_count + 7) // 8
        plan = decoder._plan(populations, (neuron_count,) * len(populations))
        timesteps = np.arange(timestep_count, dtype=np.int64)
        timesteps.flags.writeable = False
        index_weights = None
        if plan.byte_weights is not None and plan.table is not None and timestep_count \
                and plan.rows:
            index_weights = np.vstack([plan.byte_weights, plan.table_offset.T]
                                      ).astype(np.float64)
        return cls(plan, timestep_count * row_bytes,
                   (len(populations), timestep_count, row_bytes), timesteps, index_weights)


def _bits_array(bits: Any, where: str, max_neurons: int) -> np.ndarray:
    """A row's bits as uint8 0/1; a clear DecodeError for anything else."""
    if isinstance(bits, (bytes, bytearray, memoryview)):
        raise DecodeError(f"{where}: 'bits' as bytes needs 'n' (packed bitmap rows are "
                          "sent as {'t', 'id', 'bits': bytes, 'n': neurons})")
    if not isinstance(bits, (list, tuple, np.ndarray)):
        raise DecodeError(f"{where}: 'bits' must be a list of 0/1, got {type(bits).__name__}")
    if len(bits) > max_neurons:
        raise DecodeError(f"{where}: {len(bits)} bits exceed the limit of {max_neurons} neurons")
    try:
        array = np.asarray(bits, dtype=np.float64)
    except (TypeError, ValueError):
        raise DecodeError(f"{where}: 'bits' must be a list of 0/1 numbers") from None
    if array.ndim != 1:
        raise DecodeError(f"{where}: 'bits' must be a flat list, got shape {array.shape}")
    if array.size and not np.all((array == 0) | (array == 1)):
        column = int(np.flatnonzero((array != 0) & (array != 1))[0])
        raise DecodeError(f"{where}: 'bits' must be 0 or 1, found {_describe(array[column])} "
                          f"at neuron {column}")
    return array.astype(np.uint8)


@dataclass(frozen=True)
class RowBlock:
    """`cycle:update` output rows read straight from their JSON text (see
    ab_bridge.realtime.CycleUpdateJSON): each row's t and population id, and all rows' bits
    as one [rows, n] uint8 array of 0/1; what `_plain_rows` makes of the same rows."""

    times: list[int]
    ids: list[str]
    bits: np.ndarray

    def __len__(self) -> int:
        return len(self.times)

    def rows(self) -> list[dict[str, Any]]:
        """The rows as JSON decoding gives them."""
        return [{"t": t, "id": i, "bits": b} for t, i, b in
                zip(self.times, self.ids, self.bits.tolist(), strict=True)]


def rows_to_cycle(rows: Any, *, max_timesteps: int = MAX_TIMESTEPS,
                  max_neurons: int = MAX_NEURONS, max_rows: int | None = None) -> CycleRasters:
    """Validate `cycle:update` output rows and gather them into rasters.

    Rows are `{"t": int, "id": str, "bits": [0/1...]}` or `[t, id, bits]`;
    `bits` may also be packed bytes with `"n"` neurons (numpy.packbits order).
    Raises DecodeError on wrong types, NaN, non-binary bits, a population whose
    rows differ in width, a repeated (t, id), or more than the limits allow.
    """
    if isinstance(rows, RowBlock):
        if rows.bits.shape[1] > max_neurons:
            rows = rows.rows()               # the checks below name the problem
    elif not isinstance(rows, (list, tuple)):
        raise DecodeError(f"'outputs' must be a list of rows, got {type(rows).__name__}")
    if max_rows is None:
        max_rows = max_timesteps * 64
    if len(rows) > max_rows:
        raise DecodeError(f"'outputs' has {len(rows)} rows, more than the limit of {max_rows}")
    fast = (rows.times, rows.ids, rows.bits) if isinstance(rows, RowBlock) \
        else _plain_rows(rows, max_neurons)
    if fast is not None:
        times, ids, block = fast
        return _in_order(times, ids, block, max_timesteps) \
            or _gather(times, ids, [], max_timesteps, block)
    times, ids, bits_of_row = _checked_rows(rows, max_neurons)
    return _gather(times, ids, bits_of_row, max_timesteps)


def _plain_rows(rows: Sequence[Any], max_neurons: int
                ) -> tuple[list[int], list[str], np.ndarray] | None:
    """The common case checked in bulk: dict rows, int t, str id, bits lists of 0/1 of one
    width; the bits become one [rows, n] uint8 block. None when anything differs (the
    row-by-row check then names the problem)."""
    try:
        times = [row["t"] for row in rows]
        ids = [row["id"] for row in rows]
        bits = [row["bits"] for row in rows]
    except (TypeError, KeyError, IndexError):
        return None
    if not rows or set(map(type, times)) != {int} or set(map(type, ids)) != {str} \
            or "" in ids or set(map(type, bits)) != {list}:
        return None
    widths = set(map(len, bits))
    width = len(bits[0])
    if len(widths) != 1 or width > max_neurons:
        return None
    try:
        flat = b"".join(map(bytes, bits))       # ints 0..255 only: floats, NaN, -1 refused
    except (TypeError, ValueError):
        return None
    array = np.frombuffer(flat, dtype=np.uint8)
    if array.size and array.max() > 1:
        return None
    return times, ids, array.reshape(len(rows), width)


def _in_order(times: list[int], ids: list[str], block: np.ndarray, max_timesteps: int
              ) -> CycleRasters | None:
    """The rows as servers send them, population after population, each with t = 0, 1,
    ... T − 1: the block is the [P, T, n] stack as it is. None when they are not so."""
    steps = times.index(0, 1) if times.count(0) > 1 else len(times)
    if steps > max_timesteps or len(times) % steps:
        return None
    count = len(times) // steps
    if times != list(range(steps)) * count:
        return None
    populations = ids[::steps]
    if ids != [p for p in populations for _ in range(steps)] \
            or len(set(populations)) != count:
        return None
    stack = block.reshape(count, steps, block.shape[1])
    return CycleRasters(np.arange(steps, dtype=np.int64), populations, list(stack))


def _checked_rows(rows: Sequence[Any], max_neurons: int
                  ) -> tuple[list[int], list[str], list[Any]]:
    times: list[int] = []
    ids: list[str] = []
    bits_of_row: list[Any] = []
    for i, row in enumerate(rows):
        packed_n = None
        if isinstance(row, dict):
            t, pid, bits, packed_n = row.get("t"), row.get("id"), row.get("bits"), row.get("n")
        elif isinstance(row, (list, tuple)) and len(row) == 3:
            t, pid, bits = row
        else:
            raise DecodeError(f"outputs[{i}]: a row must be {{'t', 'id', 'bits'}} or "
                              f"[t, id, bits], got {str(row)[:60]}")
        if type(t) is not int:
            if isinstance(t, bool) or not isinstance(t, (int, float, np.integer)) \
                    or not math.isfinite(float(t)) or float(t) != int(t):
                raise DecodeError(f"outputs[{i}]: 't' must be an integer timestep, got {t!r}")
            t = int(t)
        if type(pid) is not str or not pid:
            raise DecodeError(f"outputs[{i}]: 'id' must be a non-empty population id, "
                              f"got {pid!r}")
        if type(bits) is not list:
            where = f"outputs[{i}] (population {pid!r}, t={t})"
            if isinstance(bits, (bytes, bytearray, memoryview)) and packed_n is not None:
                n = int(packed_n)
                if not 0 <= n <= max_neurons or len(bits) != (n + 7) // 8:
                    raise DecodeError(f"{where}: packed 'bits' of {len(bits)} bytes do not "
                                      f"hold n={packed_n} neurons (limit {max_neurons})")
                bits = np.unpackbits(np.frombuffer(bytes(bits), dtype=np.uint8), count=n)
            else:
                bits = _bits_array(bits, where, max_neurons)
        elif len(bits) > max_neurons:
            raise DecodeError(f"outputs[{i}] (population {pid!r}, t={t}): {len(bits)} bits "
                              f"exceed the limit of {max_neurons} neurons")
        times.append(t)
        ids.append(pid)
        bits_of_row.append(bits)
    return times, ids, bits_of_row


def _gather(times: list[int], ids: list[str], bits_of_row: list[Any], max_timesteps: int,
            block: np.ndarray | None = None) -> CycleRasters:
    """Rasters from checked rows; `block`: all rows' bits as one [rows, n] 0/1 uint8 array."""
    if not times:
        return CycleRasters(np.zeros(0, dtype=np.int64), [], [], None)

    timesteps = np.unique(np.array(times, dtype=np.int64))
    if timesteps.size > max_timesteps:
        raise DecodeError(f"'outputs' spans {timesteps.size} timesteps, more than the limit "
                          f"of {max_timesteps}")
    populations = list(dict.fromkeys(ids))
    pindex = {p: i for i, p in enumerate(populations)}
    population_of_row = np.array([pindex[p] for p in ids], dtype=np.intp)
    step_of_row = np.searchsorted(timesteps, times)
    if block is not None:
        widths = np.full(len(ids), block.shape[1], dtype=np.int64)
    else:
        widths = np.array([len(b) for b in bits_of_row], dtype=np.int64)
    width_of = np.zeros(len(populations), dtype=np.int64)
    width_of[population_of_row] = widths
    if block is None and np.any(width_of[population_of_row] != widths):
        bad = int(np.flatnonzero(width_of[population_of_row] != widths)[0])
        pid = ids[bad]
        raise DecodeError(f"population {pid!r}: rows of different widths ("
                          f"{int(widths[bad])} bits at t={times[bad]}, {int(width_of[pindex[pid]])} "
                          "at another step)")
    cell = population_of_row * timesteps.size + step_of_row
    if np.unique(cell).size != cell.size:
        seen: set[int] = set()
        for row, key in enumerate(cell.tolist()):
            if key in seen:
                raise DecodeError(f"population {ids[row]!r}: two rows for t={times[row]}")
            seen.add(key)

    present = np.zeros((len(populations), timesteps.size), dtype=bool)
    present[population_of_row, step_of_row] = True
    # Position of each row among its step's rows, in arrival order.
    by_step = np.argsort(step_of_row, kind="stable")
    group_start = np.searchsorted(step_of_row[by_step], step_of_row[by_step])
    position = np.empty(len(ids), dtype=np.int64)
    position[by_step] = np.arange(len(ids)) - group_start
    arrival = np.zeros((len(populations), timesteps.size), dtype=np.int64)
    arrival[population_of_row, step_of_row] = position
    # Arrival order agrees with first-appearance order when, at every step, each
    # present population comes after exactly the present ones listed before it.
    consistent = bool(np.all((arrival == np.cumsum(present, axis=0) - 1) | ~present))

    if len(set(width_of.tolist())) == 1 and int(width_of[0]):
        # One width for all: convert every row at once into a [P, T, n] stack.
        stack = np.zeros((len(populations), timesteps.size, int(width_of[0])), dtype=np.uint8)
        stack[population_of_row, step_of_row] = block if block is not None \
            else _binary(bits_of_row, None, times, ids)
        return CycleRasters(timesteps, populations, list(stack),
                            None if present.all() else present, None if consistent else arrival)
    rasters = []
    for p in range(len(populations)):
        mine = np.flatnonzero(population_of_row == p)
        raster = np.zeros((timesteps.size, int(width_of[p])), dtype=np.uint8)
        if int(width_of[p]):
            raster[step_of_row[mine]] = _binary(
                [bits_of_row[r] for r in mine.tolist()], populations[p],
                [times[r] for r in mine.tolist()])
        rasters.append(raster)
    return CycleRasters(timesteps, populations, rasters, None if present.all() else present,
                       None if consistent else arrival)


def _binary(bits_rows: list[Any], population: str | None, times: list[int],
            ids: list[str] | None = None) -> np.ndarray:
    """Equally long rows as a [rows, n] uint8 array; DecodeError unless all are 0/1.

    Rows of one `population`, or of several named by `ids` (one id per row).
    """
    def name(row: int) -> str:
        return population if ids is None else ids[row]

    try:
        array = np.array(bits_rows, dtype=np.float64)
    except (TypeError, ValueError):
        for row, (bits, t) in enumerate(zip(bits_rows, times, strict=True)):
            _bits_array(bits, f"population {name(row)!r}, t={t}", MAX_NEURONS)
        raise DecodeError("'bits' must be lists of 0/1") from None
    if array.ndim != 2:
        raise DecodeError(f"population {name(0)!r}: 'bits' must be flat lists of 0/1")
    bad = (array != 0) & (array != 1)
    if bad.any():
        row, column = (int(x[0]) for x in np.nonzero(bad))
        raise DecodeError(f"population {name(row)!r}, t={times[row]}: 'bits' must be 0 or 1, "
                          f"found {_describe(array[row, column])} at neuron {column}")
    return array.astype(np.uint8)


def _describe(value: float) -> str:
    return "NaN" if math.isnan(value) else repr(float(value))


_NEURON_ID = re.compile(r"^([^:]+):(\d+)$")


def neuron_event_to_cycle(event: Mapping[str, Any], neuron_counts: Mapping[str, int] | None = None,
                          max_neurons: int = MAX_NEURONS) -> CycleRasters:
    """A one-step cycle from a sparse event `{"step", "outputs": [{"t", "neurons": ["pop:i"]}]}`.

    Spikes of all of the event's rows are ORed per population; widths come from
    `neuron_counts` (the mapping's `n`) or the highest index seen. Populations
    with a configured width and no spike get a row of zeros.
    """
    if not isinstance(event, Mapping):
        raise DecodeError(f"neuron event must be a mapping, got {type(event).__name__}")
    step = event.get("step", -1)
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
        raise DecodeError(f"neuron event: 'step' must be an integer, got {step!r}")
    active: dict[str, list[int]] = {}
    outputs = event.get("outputs")
    if outputs is not None and not isinstance(outputs, list):
        raise DecodeError("neuron event: 'outputs' must be a list")
    for i, item in enumerate(outputs or []):
        neurons = item.get("neurons") if isinstance(item, Mapping) else None
        if not isinstance(neurons, list):
            raise DecodeError(f"neuron event outputs[{i}]: 'neurons' must be a list of 'pop:index'")
        for name in neurons:
            match = _NEURON_ID.match(name.strip()) if isinstance(name, str) else None
            if not match:
                raise DecodeError(f"neuron event outputs[{i}]: bad neuron id {name!r} "
                                  "(expected 'population:index')")
            index = int(match.group(2))
            if index >= max_neurons:
                raise DecodeError(f"neuron event: neuron {name!r} beyond the limit of "
                                  f"{max_neurons} neurons")
            active.setdefault(match.group(1), []).append(index)
    widths = dict(neuron_counts or {})
    for pid, indices in active.items():
        widths[pid] = max(widths.get(pid, 0), max(indices) + 1)
    populations = [p for p, w in widths.items() if w > 0]
    rasters = []
    for pid in populations:
        row = np.zeros((1, widths[pid]), dtype=np.uint8)
        row[0, active.get(pid, [])] = 1
        rasters.append(row)
    return CycleRasters(np.array([int(step)], dtype=np.int64), populations, rasters, None)


def deltas_to_dq_dg(channels: Sequence[str], deltas: np.ndarray, dof: int,
                    joint_prefix: str = "joint:") -> tuple[np.ndarray, np.ndarray]:
    """Joint (`joint:<i>`) and gripper (`gripper`/`dg`) deltas per step: dq [dof, T], dg [T]."""
    deltas = np.asarray(deltas, dtype=np.float64).reshape(len(channels), -1)
    dq = np.zeros((dof, deltas.shape[1]))
    dg = np.zeros(deltas.shape[1])
    for c, name in enumerate(channels):
        if name.startswith(joint_prefix):
            suffix = name[len(joint_prefix):]
            if suffix.isdigit() and int(suffix) < dof:
                dq[int(suffix)] += deltas[c]
        elif name in ("gripper", "dg"):
            dg += deltas[c]
    return dq, dg
