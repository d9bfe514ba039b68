"""A vectorised numpy spiking network: LIF populations, sparse delayed projections, R-STDP.

All neurons of a graph live in flat arrays (one slice per population). Synapses of all
projections share one table sorted by presynaptic neuron; a step gathers the outgoing
synapses of the neurons that spiked (contiguous rows of a padded per-neuron layout) and
scatters their weights into a buffer of future input currents (rows = timesteps of this
cycle plus the longest delay) with one `np.add.at`; each synapse's delay is folded into a
precomputed flat buffer index. Populations that
are inputs or feedback are driven: their spikes come from the encoders' rasters.
No Python loop per neuron or synapse; one loop per timestep.

Neuron model (threshold units, exact decay per step of dt):
    I ← I·exp(−dt/τ_syn) + arriving weights
    v ← v_rest + (v − v_rest)·exp(−dt/τ_m) + bias·(1 − exp(−dt/τ_m)) + I·dt/τ_syn + σ·√dt·ξ
so a synaptic weight w moves a resting membrane by about w in total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ab_bridge.embedded.graph import BrainGraph, Projection
from ab_bridge.embedded.learning import LayerRule, RewardModulatedSTDP


@dataclass
class CycleResult:
    """Spikes of one cycle: raster [gamma, size] (uint8) per output id, and counts."""
    cycle: int
    outputs: dict[str, np.ndarray]
    spike_counts: dict[str, int]


def _sample_without_replacement(rng: np.random.Generator, n_pool: int, rows: int,
                                k: int) -> np.ndarray:
    """[rows, k] distinct indices in [0, n_pool) per row."""
    if k * 4 >= n_pool or n_pool <= 256:
        return np.argsort(rng.random((rows, n_pool)), axis=1)[:, :k]
    idx = rng.integers(0, n_pool, size=(rows, k))
    for _ in range(64):
        idx.sort(axis=1)
        dup = np.zeros_like(idx, dtype=bool)
        dup[:, 1:] = idx[:, 1:] == idx[:, :-1]
        if not dup.any():
            break
        idx[dup] = rng.integers(0, n_pool, size=int(dup.sum()))
    return idx


def build_projection(rng: np.random.Generator, proj: Projection, n_pre: int, n_post: int,
                     dt_ms: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Local (pre, post, weight, delay_steps) arrays of one projection."""
    if proj.connectivity == "all_to_all":
        pre = np.repeat(np.arange(n_pre), n_post)
        post = np.tile(np.arange(n_post), n_pre)
    elif proj.connectivity == "one_to_one":
        pre = post = np.arange(n_pre)
    elif proj.connectivity == "fixed_probability":
        # Per presynaptic neuron a binomial number of targets (drawn with replacement,
        # so a rare duplicate pair simply doubles that synapse).
        counts = rng.binomial(n_post, proj.p, size=n_pre)
        pre = np.repeat(np.arange(n_pre), counts)
        post = rng.integers(0, n_post, size=pre.size)
    else:  # fixed_indegree
        chosen = _sample_without_replacement(rng, n_pre, n_post, proj.k)
        pre = chosen.ravel()
        post = np.repeat(np.arange(n_post), proj.k)
    weight = np.full(pre.size, proj.weight_mean, dtype=np.float64)
    if proj.weight_std > 0:
        weight += rng.normal(0.0, proj.weight_std, size=pre.size)
        weight = np.maximum(weight, 0.0) if proj.weight_mean >= 0 else np.minimum(weight, 0.0)
    if proj.learning is not None:
        weight = np.clip(weight, proj.learning.w_min, proj.learning.w_max)
    d_lo = max(1, int(round(proj.delay_min_ms / dt_ms)))
    d_hi = max(d_lo, int(round(proj.delay_max_ms / dt_ms)))
    delay = rng.integers(d_lo, d_hi + 1, size=pre.size) if d_hi > d_lo \
        else np.full(pre.size, d_lo)
    return pre.astype(np.int64), post.astype(np.int64), weight.astype(np.float32), \
        delay.astype(np.int64)


class Network:
    """One brain: state, synapses and learning of a BrainGraph, stepped a cycle at a time."""

    def __init__(self, graph: BrainGraph, seed: int | None = None, learning: bool = True) -> None:
        self.graph = graph
        self.seed = graph.seed if seed is None else int(seed)
        self.learning_enabled = learning
        self.rng = np.random.default_rng(self.seed)
        build_rng = np.random.default_rng(graph.seed)  # the structure depends on the graph only
        self.dt_ms = graph.dt_ms
        self.gamma = graph.gamma
        self.cycle = 0

        self.slices: dict[str, slice] = {}
        offset = 0
        for pop in graph.populations.values():
            self.slices[pop.id] = slice(offset, offset + pop.size)
            offset += pop.size
        n = self.neuron_count = offset

        def per_neuron(attr: str) -> np.ndarray:
            values = np.empty(n, dtype=np.float32)
            for pop in graph.populations.values():
                values[self.slices[pop.id]] = getattr(pop.neuron, attr)
            return values

        dt = self.dt_ms
        self.decay_m = np.exp(-dt / per_neuron("tau_m_ms"))
        self.decay_syn = np.exp(-dt / per_neuron("tau_syn_ms"))
        self.syn_gain = (dt / per_neuron("tau_syn_ms")).astype(np.float32)
        self.v_rest = per_neuron("v_rest")
        self.v_reset = per_neuron("v_reset")
        self.v_th = per_neuron("v_th")
        self.bias_drive = (per_neuron("bias") * (1.0 - self.decay_m)).astype(np.float32)
        self.rest_drive = (self.v_rest * (1.0 - self.decay_m)).astype(np.float32)
        self.refractory_steps = np.round(per_neuron("refractory_ms") / dt).astype(np.int32)
        noise = per_neuron("noise_std") * np.float32(np.sqrt(dt))
        self.noisy = np.flatnonzero(noise > 0)
        self.noise_scale = noise[self.noisy]

        self.driven = np.zeros(n, dtype=bool)
        self.driven_slices: dict[str, slice] = {}
        for spec in [*graph.inputs, *graph.feedback]:
            self.driven[self.slices[spec.population]] = True
            self.driven_slices[spec.id] = self.slices[spec.population]
        self.output_slices = {o.id: self.slices[o.population] for o in graph.outputs}

        pres, posts, weights, delays, layers = [], [], [], [], []
        rules: list[LayerRule] = []
        for proj in graph.projections:
            pre_sl, post_sl = self.slices[proj.pre], self.slices[proj.post]
            pre, post, w, d = build_projection(build_rng, proj, pre_sl.stop - pre_sl.start,
                                               post_sl.stop - post_sl.start, dt)
            pres.append(pre + pre_sl.start)
            posts.append(post + post_sl.start)
            weights.append(w)
            delays.append(d)
            layer = -1
            if proj.learning is not None:
                layer = len(rules)
                rules.append(LayerRule(proj.id, np.zeros(0, dtype=np.int64), proj.learning))
            layers.append(np.full(pre.size, layer, dtype=np.int16))
        def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

        pre_all, post_all = cat(pres, np.int64), cat(posts, np.int64)
        order = np.argsort(pre_all, kind="stable")
        pre_sorted, post_sorted = pre_all[order], post_all[order]
        delays_all = cat(delays, np.int64)[order]
        layer_all = cat(layers, np.int16)[order]
        # Synapses live in a padded [neuron, widest fan-out] layout (ELL): the outgoing
        # synapses of a neuron are one contiguous row, so a step copies the rows of the
        # neurons that spiked. Padding slots (and one extra slot at the end) are dummies:
        # weight 0, delivering into a sink column.
        counts = np.bincount(pre_sorted, minlength=n)
        self.fanout_width = width = max(int(counts.max()) if counts.size else 0, 1)
        column = np.arange(pre_sorted.size) - np.repeat(np.cumsum(counts) - counts, counts)
        slots = n * width + 1
        self.dummy_synapse = dummy = slots - 1
        index_type = np.int32 if slots < 2 ** 31 else np.int64
        self.synapse_slots = (pre_sorted * width + column).astype(index_type)
        self.max_delay = int(delays_all.max()) if delays_all.size else 1
        # Arrival buffer: rows are this cycle's gamma steps plus max_delay rows spilling
        # into the next cycle; column n is the sink of the dummies.
        self.buffer_rows = self.gamma + self.max_delay
        self.row_width = n + 1
        arrival_type = np.int32 if self.buffer_rows * self.row_width < 2 ** 31 else np.int64

        def slotted(values: np.ndarray, fill: float, dtype: type) -> np.ndarray:
            out = np.full(slots, fill, dtype=dtype)
            out[self.synapse_slots] = values
            return out

        self.pre = np.append(np.repeat(np.arange(n), width), 0).astype(np.int32)
        self.post = slotted(post_sorted, 0, np.int32)
        self.weights = slotted(cat(weights, np.float32)[order], 0.0, np.float32)
        self.arrival_index = slotted(delays_all * self.row_width + post_sorted, n, arrival_type)
        self.weight_rows = self.weights[:dummy].reshape(n, width)          # views
        self.arrival_rows = self.arrival_index[:dummy].reshape(n, width)
        self.projection_ranges: dict[str, np.ndarray] = {}
        proj_index = cat([np.full(p.size, i, dtype=np.int32) for i, p in enumerate(pres)],
                         np.int32)[order]
        for i, proj in enumerate(graph.projections):
            self.projection_ranges[proj.id] = self.synapse_slots[proj_index == i]
        for layer, rule in enumerate(rules):
            rule.synapses = self.synapse_slots[layer_all == layer].astype(np.int64)
        self.stdp = RewardModulatedSTDP(rules, slots, dt, self.gamma)
        self.stdp.set_synapse_pairs(self.pre, self.post)
        self.reset_state()

    @property
    def synapse_count(self) -> int:
        return int(self.synapse_slots.size)

    def reset_state(self) -> None:
        """Membranes at rest, no currents in flight, traces cleared (weights kept)."""
        n = self.neuron_count
        self.v = self.v_rest.copy()
        self.i_syn = np.zeros(n, dtype=np.float32)
        self.refractory = np.zeros(n, dtype=np.int32)
        self.arrivals = np.zeros(self.buffer_rows * self.row_width, dtype=np.float32)
        self.stdp.reset_traces(n)
        self.stdp.eligibility[:] = 0.0
        self.stdp.forget_history()

    def run_cycle(self, driven_rasters: dict[str, np.ndarray] | None = None,
                  record_all: bool = False) -> CycleResult:
        """Run `gamma` timesteps with the given input/feedback rasters ([gamma, size] 0/1,
        keyed by input or feedback id; missing ones are silent). Returns output rasters."""
        gamma, n = self.gamma, self.neuron_count
        drive = np.zeros((gamma, n), dtype=bool)
        for key, raster in (driven_rasters or {}).items():
            sl = self.driven_slices.get(key)
            if sl is None:
                raise KeyError(f"unknown input or feedback id {key!r}; known: "
                               f"{sorted(self.driven_slices)}")
            raster = np.asarray(raster)
            if raster.shape != (gamma, sl.stop - sl.start):
                raise ValueError(f"raster for {key!r} has shape {raster.shape}, expected "
                                 f"({gamma}, {sl.stop - sl.start})")
            drive[:, sl] = raster != 0
        learn = self.learning_enabled and bool(self.stdp.layers)
        stdp = self.stdp
        if learn:
            stdp.begin_cycle()
        spikes = np.zeros((gamma, n), dtype=bool)
        noise = self.rng.standard_normal((gamma, self.noisy.size), dtype=np.float32) \
            * self.noise_scale if self.noisy.size else None
        all_noisy = self.noisy.size == n
        arrivals = self.arrivals.reshape(self.buffer_rows, self.row_width)
        v, i_syn, refractory = self.v, self.i_syn, self.refractory
        spontaneous = ~self.driven
        resting = np.empty(n, dtype=bool)
        for k in range(gamma):
            i_syn *= self.decay_syn
            i_syn += arrivals[k, :n]
            v *= self.decay_m
            v += self.rest_drive
            v += self.bias_drive
            v += i_syn * self.syn_gain
            if noise is not None:
                if all_noisy:
                    v += noise[k]
                else:
                    v[self.noisy] += noise[k]
            np.greater(refractory, 0, out=resting)
            np.copyto(v, self.v_reset, where=resting)
            refractory -= resting
            fired = spikes[k]
            np.greater_equal(v, self.v_th, out=fired)
            fired &= spontaneous
            fired |= drive[k]
            spiking = np.flatnonzero(fired)
            if spiking.size == 0:
                continue
            v[spiking] = self.v_reset[spiking]
            refractory[spiking] = self.refractory_steps[spiking]
            target = self.arrival_rows[spiking].ravel()
            if k:
                target += target.dtype.type(k * self.row_width)
            np.add.at(self.arrivals, target, self.weight_rows[spiking].ravel())
        spill = self.max_delay
        arrivals[:spill] = arrivals[gamma:gamma + spill]
        arrivals[spill:] = 0.0
        outputs = {oid: spikes[:, sl].astype(np.uint8) for oid, sl in self.output_slices.items()}
        if record_all:
            outputs.update({pid: spikes[:, sl].astype(np.uint8) for pid, sl in self.slices.items()
                            if pid not in outputs})
        counts = {pid: int(np.count_nonzero(spikes[:, sl])) for pid, sl in self.slices.items()}
        if learn:
            stdp.end_cycle(self.cycle, spikes)
        result = CycleResult(self.cycle, outputs, counts)
        self.cycle += 1
        return result

    def keep_eligibility_history(self, cycles: int = 16) -> None:
        """Keep a copy of the eligibility of each of the last `cycles` cycles, so a reward
        naming one of them acts on that cycle's eligibility (otherwise copies start with
        the first reward that names an earlier cycle)."""
        if cycles < 0:
            raise ValueError(f"eligibility history must be >= 0 cycles, got {cycles}")
        self.stdp.history_cycles = int(cycles)
        self.stdp.keep_history = cycles > 0

    def apply_reward(self, global_reward: float, by_layer: dict[str, float] | None = None,
                     cycle: int | None = None) -> dict[str, float] | None:
        """Reward (in [0, 1]) for cycle `cycle` (None: the activity so far); no-op when
        learning is off. Returns each layer's advantage, or None when the reward was ignored
        because `cycle` has not run or is older than the eligibility history."""
        if not self.learning_enabled:
            return {}
        try:
            eligibility = self.stdp.eligibility_of(cycle, self.cycle - 1)
        except LookupError:
            self.stdp.rewards_ignored += 1
            return None
        return self.stdp.apply_reward(self.weights, global_reward, by_layer, eligibility)

    def projection_weights(self, projection_id: str) -> np.ndarray:
        """(pre, post, weight) of one projection, local indices, as a [k, 3] float array."""
        idx = self.projection_ranges[projection_id]
        proj = next(p for p in self.graph.projections if p.id == projection_id)
        # (self.pre holds each slot's row, i.e. its presynaptic neuron)
        return np.stack([self.pre[idx] - self.slices[proj.pre].start,
                         self.post[idx] - self.slices[proj.post].start,
                         self.weights[idx]], axis=1)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """What survives a restart: weights, reward baselines, cycle counter."""
        baselines = self.stdp.baselines()
        return {
            "structure_hash": np.array(self.graph.structure_hash()),
            "weights": self.weights[self.synapse_slots],
            "cycle": np.array(self.cycle),
            "baseline_layers": np.array(list(baselines), dtype=str),
            "baseline_values": np.array([np.nan if b is None else b for b in baselines.values()]),
        }

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore state saved by `state_arrays`; ValueError when it belongs to another graph."""
        saved_hash = str(arrays["structure_hash"])
        if saved_hash != self.graph.structure_hash():
            raise ValueError(f"saved brain state is for another graph structure "
                             f"({saved_hash} != {self.graph.structure_hash()})")
        weights = np.asarray(arrays["weights"], dtype=np.float32)
        if weights.shape != (self.synapse_count,):
            raise ValueError(f"saved weights have shape {weights.shape}, "
                             f"expected ({self.synapse_count},)")
        self.weights[self.synapse_slots] = weights
        self.cycle = int(arrays["cycle"])
        values = [None if np.isnan(v) else float(v) for v in arrays["baseline_values"]]
        self.stdp.set_baselines(dict(zip([str(x) for x in arrays["baseline_layers"]], values,
                                         strict=True)))
