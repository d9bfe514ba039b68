"""The embedded brain's spiking network: LIF populations, sparse delayed projections, R-STDP.

All neurons of a graph live in flat float32 arrays (one slice per population). Synapses of
all projections share one table sorted by presynaptic neuron (CSR: the outgoing synapses of
a neuron are one contiguous row); each has a post neuron, a weight and a delay in steps.
A cycle is one call of a compiled kernel (kernels.py): per step it updates every neuron,
and for each neuron that fired adds its row's weights into a ring buffer of future input
currents (rows = steps, max delay + 1 of them), learning event by event on the way.
Populations that are inputs or feedback are driven: their spikes come from the encoders'
rasters.

Neuron model (threshold units, exact decay per step of dt):
    I ← I·exp(−dt/τ_syn) + arriving weights
    v ← v_rest + (v − v_rest)·exp(−dt/τ_m) + bias·(1 − exp(−dt/τ_m)) + I·dt/τ_syn + σ·√dt·ξ
so a synaptic weight w moves a resting membrane by about w in total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embedded_brain import kernels
from embedded_brain.graph import BrainGraph, Projection
from embedded_brain.learning import LayerRule, RewardModulatedSTDP


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
    return pre.astype(np.int32), post.astype(np.int32), weight.astype(np.float32), \
        delay.astype(np.int32)


class Network:
    """One brain: state, synapses and learning of a BrainGraph, stepped a cycle at a time."""

    def __init__(self, graph: BrainGraph, seed: int | None = None, learning: bool = True) -> None:
        self.graph = graph
        self.seed = graph.seed if seed is None else int(seed)
        self.learning_enabled = learning
        self.rng = np.random.default_rng(self.seed)
        self.noise_state = kernels.seed_state(self.rng)   # the membrane noise's generator
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

        # Neuron parameters per population (kernels.run_cycle's pop_param columns).
        pops = list(graph.populations.values())
        self.pop_bounds = np.array([self.slices[p.id].start for p in pops] + [n], dtype=np.int64)
        dt = self.dt_ms
        self.pop_param = np.zeros((len(pops), 8), dtype=np.float32)
        for row, pop in zip(self.pop_param, pops, strict=True):
            neuron = pop.neuron
            decay_m = np.exp(np.float32(-dt / neuron.tau_m_ms), dtype=np.float32)
            row[kernels.P_DECAY_SYN] = np.exp(np.float32(-dt / neuron.tau_syn_ms))
            row[kernels.P_DECAY_M] = decay_m
            row[kernels.P_SYN_GAIN] = dt / neuron.tau_syn_ms
            row[kernels.P_REST_DRIVE] = np.float32(neuron.v_rest) * (np.float32(1.0) - decay_m)
            row[kernels.P_BIAS_DRIVE] = np.float32(neuron.bias) * (np.float32(1.0) - decay_m)
            row[kernels.P_V_RESET] = neuron.v_reset
            row[kernels.P_V_TH] = neuron.v_th
            row[kernels.P_NOISE] = np.float32(neuron.noise_std) * np.float32(np.sqrt(dt))
        self.v_rest = np.repeat(np.array([p.neuron.v_rest for p in pops], dtype=np.float32),
                                np.diff(self.pop_bounds))
        self.pop_refractory = np.array([round(p.neuron.refractory_ms / dt) for p in pops],
                                       dtype=np.int32)

        self.driven_slices: dict[str, slice] = {}
        driven = set()
        for spec in [*graph.inputs, *graph.feedback]:
            driven.add(spec.population)
            self.driven_slices[spec.id] = self.slices[spec.population]
        # a population with inputs or feedback spikes where they say, never on its own
        self.pop_spontaneous = np.array([p.id not in driven for p in pops], dtype=bool)
        self.output_slices = {o.id: self.slices[o.population] for o in graph.outputs}

        # Synapses projection by projection, each projection's sorted (stably) by its
        # presynaptic neuron: a neuron's synapses in one projection are one row, a
        # layer's synapses one range. Compact dtypes: big networks' memory is here.
        pres, posts, weights, delays, row_ptrs = [], [], [], [], []
        rules: list[LayerRule] = []
        n_proj = len(graph.projections)
        self.proj_pre_start = np.zeros(n_proj, dtype=np.int64)
        self.proj_row_base = np.zeros(n_proj, dtype=np.int64)
        self.proj_syn_range = np.zeros((n_proj, 3), dtype=np.int64)   # lo, hi, pre count
        self.proj_layer = np.full(n_proj, -1, dtype=np.int64)
        synapses = rows = 0
        for i, proj in enumerate(graph.projections):
            pre_sl, post_sl = self.slices[proj.pre], self.slices[proj.post]
            n_pre = pre_sl.stop - pre_sl.start
            pre, post, w, d = build_projection(build_rng, proj, n_pre,
                                               post_sl.stop - post_sl.start, dt)
            order = np.argsort(pre, kind="stable")
            posts.append(post[order] + np.int32(post_sl.start))
            pres.append(pre[order] + np.int32(pre_sl.start))
            weights.append(w[order])
            delays.append(d[order])
            counts = np.bincount(pre, minlength=n_pre)
            row_ptrs.append(synapses + np.concatenate([[0], np.cumsum(counts)]))
            self.proj_pre_start[i] = pre_sl.start
            self.proj_row_base[i] = rows
            self.proj_syn_range[i] = synapses, synapses + pre.size, n_pre
            if proj.learning is not None:
                self.proj_layer[i] = len(rules)
                rules.append(LayerRule(proj.id, slice(synapses, synapses + pre.size),
                                       proj.learning))
            synapses += pre.size
            rows += n_pre + 1
            del pre, post, w, d, order

        def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(parts).astype(dtype, copy=False) if parts \
                else np.zeros(0, dtype=dtype)

        # the delivery reads post neurons and delays of every spike's synapses: as few
        # bytes as the network allows
        self.post = cat(posts, np.uint16 if n <= 2 ** 16 else np.int32)
        self.pre = cat(pres, np.int32)
        self.weights = cat(weights, np.float32)
        self.row_ptr = cat(row_ptrs, np.int64)
        del pres, posts, weights, row_ptrs
        self.max_delay = max((int(d.max()) for d in delays if d.size), default=1)
        if self.max_delay >= 2 ** 16:
            raise ValueError(f"synaptic delays of {self.max_delay} steps are too long "
                             f"(at most {2 ** 16 - 1})")
        delay_type = np.uint8 if self.max_delay < 2 ** 8 else np.uint16
        self.delay = cat([d.astype(delay_type) for d in delays], delay_type)
        del delays
        self.prefetch_ahead = kernels.prefetch_distance(
            self.post.nbytes + self.delay.nbytes + self.weights.nbytes)
        # Which projections a neuron's spikes go through: per population, in graph order.
        pop_ids = list(self.slices)
        self.pop_of = np.zeros(n, dtype=np.int32)
        for k, pid in enumerate(pop_ids):
            self.pop_of[self.slices[pid]] = k
        by_pop = [[i for i, p in enumerate(graph.projections) if p.pre == pid] for pid in pop_ids]
        self.pop_proj = np.array([i for group in by_pop for i in group], dtype=np.int64)
        self.pop_proj_ptr = np.concatenate([[0], np.cumsum([len(g) for g in by_pop])]
                                           ).astype(np.int64)
        # Future input currents: a ring of max_delay + 1 steps.
        self.ring_rows = self.max_delay + 1
        self.stdp = RewardModulatedSTDP(rules, self.synapse_count, n, dt, self.gamma)
        self.stdp.set_structure(self.proj_layer, self.proj_pre_start, self.proj_row_base,
                                self.proj_syn_range, self.row_ptr, self.post, self.weights)
        self.reset_state()

    @property
    def synapse_count(self) -> int:
        return int(self.weights.size)

    @property
    def projection_ranges(self) -> dict[str, np.ndarray]:
        """Each projection's synapse indices (one contiguous range)."""
        return {proj.id: np.arange(lo, hi) for proj, (lo, hi, _) in
                zip(self.graph.projections, self.proj_syn_range, strict=True)}

    @property
    def saved_order(self) -> np.ndarray:
        """Synapse indices in the order of saved weights: by presynaptic neuron, then
        projection (the order of state files written before synapses were stored per
        projection)."""
        return np.argsort(self.pre, kind="stable")

    def reset_state(self) -> None:
        """Membranes at rest, no currents in flight, traces cleared (weights kept)."""
        n = self.neuron_count
        self.v = self.v_rest.copy()
        self.i_syn = np.zeros(n, dtype=np.float32)
        self.refractory = np.zeros(n, dtype=np.int32)
        self.ring = np.zeros((self.ring_rows, n), dtype=np.float32)
        self.ring_base = 0
        self.deviates = np.empty((self.gamma, n), dtype=np.float32)   # a cycle's noise
        self.stdp.reset_traces(n)
        self.stdp.reset_eligibility()
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
        c_plus, c_minus = stdp.begin_cycle() if learn else (stdp.plus_coef, stdp.minus_coef)
        spikes = np.empty((gamma, n), dtype=bool)
        kernels.run_cycle(
            self.v, self.i_syn, self.refractory, self.pop_bounds, self.pop_param,
            self.pop_refractory, self.pop_spontaneous, self.noise_state, self.deviates, drive,
            spikes,
            self.ring, self.ring_base, self.pop_of, self.pop_proj_ptr, self.pop_proj,
            self.proj_pre_start, self.proj_row_base, self.proj_syn_range, self.row_ptr,
            self.post, self.delay, self.weights, self.prefetch_ahead,
            learn, self.proj_layer, stdp.x_tr, stdp.y_tr, stdp.y_start, stdp.x_decay,
            stdp.y_decay, stdp.layer_x, stdp.layer_y, c_plus, c_minus, stdp.ybar_per_rate,
            stdp.pot_offset, stdp.pot_table, stdp.pot_total, stdp.pot_dep,
            stdp.pot_x0, stdp.post_gain, stdp.quiet_total, stdp.spike_code)
        self.ring_base = (self.ring_base + gamma) % self.ring_rows
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
        return np.stack([self.pre[idx] - self.slices[proj.pre].start,
                         self.post[idx].astype(np.int64) - self.slices[proj.post].start,
                         self.weights[idx]], axis=1)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """What survives a restart: weights, reward baselines, cycle counter."""
        baselines = self.stdp.baselines()
        return {
            "structure_hash": np.array(self.graph.structure_hash()),
            "weights": self.weights[self.saved_order],
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
        self.weights[self.saved_order] = weights
        self.cycle = int(arrays["cycle"])
        values = [None if np.isnan(v) else float(v) for v in arrays["baseline_values"]]
        self.stdp.set_baselines(dict(zip([str(x) for x in arrays["baseline_layers"]], values,
                                         strict=True)))
