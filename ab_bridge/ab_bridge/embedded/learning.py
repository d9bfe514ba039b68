"""Reward-modulated STDP with eligibility traces (R-STDP), vectorised over synapses.

Per plastic synapse s (pre i → post j) an eligibility trace e_s collects STDP:
at a post spike e_s += a_plus · x_i (x: pre trace, time constant tau_plus), at a pre
spike e_s -= a_minus · y_j (y: post trace, tau_minus); e_s decays with
tau_eligibility. A reward r for a layer (a learning projection) changes its weights by
    Δw_s = learning_rate · clip(r − r̄, ±max_advantage) · e_s,   clipped to [w_min, w_max],
where r̄ is the layer's running reward baseline (time constant in cycles), so a constant
reward teaches nothing and better-than-usual outcomes strengthen whatever was eligible;
the clip keeps a sudden change of the task (a target jump) from overwriting what was
learned.

The decay of e is exact although applied once per cycle: a contribution made at step k of
a T-step cycle is stored pre-decayed by exp(−(T−k)·dt/tau_e), and at the start of each
cycle the whole trace is multiplied by exp(−T·dt/tau_e).

The STDP of a cycle is computed at its end, from its spike raster: the weights do not
change within a cycle, so nothing the network does during it depends on e. With the
traces of every step (x_k, y_k before step k's spikes) and the raster s_k, a synapse
i → j gains Σ_k c⁺_k · x_k[i] · s_k[j] and loses Σ_k c⁻_k · s_k[i] · y_k[j]. For a dense
layer (the demo's hidden → output) both are matrix products over the steps, taken over
the layer's pre and post neurons and read out at its synapses; for a sparse one they are
gathered at its spikes (each post spike: the neuron's incoming synapses; each pre spike:
its outgoing ones), all steps at once. Either way the sums of the rule applied step by
step, with no Python work per step.

Centered (covariance) layers (`centered: true`): a post neuron's spike counts against its
usual firing. Potentiation uses s_k[j] − ρ_j instead of s_k[j] (ρ_j: the post neuron's
running mean spikes per step over `rate_tau_cycles` cycles, as it was before the cycle),
and depression uses y_j minus its mean ρ_j / (1 − e^(−dt/tau_minus)).
Then e_s follows the covariance of pre activity and the post neuron's deviation from its
usual rate: a reward moves the weights of the neurons whose extra (or missing) spikes made
the outcome, and not those of every neuron that merely fired, which keeps noise-driven
exploration from spreading the weights at random.

Credit goes to the cycle a reward names: a reward for the cycle that just ended uses the
eligibility as it is; one for an earlier cycle (it judged that cycle's action, and arrived
while the next cycles ran) uses a copy of the eligibility taken at the end of that cycle.
Copies are kept for the last `history_cycles` cycles once the first reward naming an
earlier cycle arrives (a client that rewards each cycle at once never pays for them);
a reward for a cycle older than that, or not run yet, is ignored.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ab_bridge.embedded.graph import LearningParams


def padded_table(rows: np.ndarray, row_count: int, values: np.ndarray, pad: int) -> np.ndarray:
    """[row_count, widest row] table listing `values` by their `rows`, padded with `pad`."""
    counts = np.bincount(rows, minlength=row_count)
    width = max(int(counts.max()) if counts.size else 0, 1)
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    columns = np.arange(rows.size) - (np.cumsum(counts) - counts)[sorted_rows]
    table = np.full((row_count, width), pad, dtype=np.intp)
    table[sorted_rows, columns] = values[order]
    return table


@dataclass
class LayerRule:
    """One learning layer: its synapse indices and parameters."""
    id: str
    synapses: np.ndarray          # int64 indices into the network's synapse arrays
    params: LearningParams
    baseline: float | None = None


class RewardModulatedSTDP:
    """Eligibility bookkeeping and reward application for all learning layers."""

    def __init__(self, layers: list[LayerRule], synapse_count: int, dt_ms: float, gamma: int,
                 history_cycles: int = 16) -> None:
        self.layers = layers
        self.history_cycles = history_cycles
        # cycle -> eligibility at the end of that cycle (plastic slots only, or all when dense)
        self.history: OrderedDict[int, np.ndarray] = OrderedDict()
        self.keep_history = False
        self.rewards_ignored = 0
        self.layer_index = {rule.id: n for n, rule in enumerate(layers)}
        self.dt_ms = dt_ms
        self.gamma = gamma
        self.eligibility = np.zeros(synapse_count, dtype=np.float32)
        count = max(len(layers), 1)
        self.a_plus = np.array([r.params.a_plus for r in layers] or [0.0], dtype=np.float32)
        self.a_minus = np.array([r.params.a_minus for r in layers] or [0.0], dtype=np.float32)
        tau_e = np.array([r.params.tau_eligibility_ms for r in layers] or [1.0])
        self.cycle_decay = np.exp(-gamma * dt_ms / tau_e)
        # step_scale[k, layer]: weight of a contribution at step k, seen at the cycle's end.
        steps_left = gamma - np.arange(gamma)[:, None]
        self.step_scale = np.exp(-steps_left * dt_ms / tau_e[None, :]).astype(np.float32)
        tau_plus = np.array([r.params.tau_plus_ms for r in layers] or [20.0])
        tau_minus = np.array([r.params.tau_minus_ms for r in layers] or [20.0])
        self.trace_decay = np.stack([np.exp(-dt_ms / tau_plus),
                                     np.exp(-dt_ms / tau_minus)]).astype(np.float32)[:, :, None]
        # Per step and layer: amplitude × the step's pre-decay to the end of the cycle.
        self.plus_coef = (self.a_plus[None, :] * self.step_scale).astype(np.float32)
        self.minus_coef = (self.a_minus[None, :] * self.step_scale).astype(np.float32)
        self.layer_count = count
        self.updates_applied = 0
        self.traces = np.zeros((2, count, 0), dtype=np.float32)
        # The last slot is the network's dummy synapse: its trace collects the padding's
        # contributions and is never applied. When most slots are plastic, whole-array
        # operations beat gathering the plastic ones.
        self.dummy = synapse_count - 1
        plastic = sum(r.synapses.size for r in layers)
        self.dense = bool(layers) and plastic * 3 >= synapse_count
        if self.dense:
            rank = np.full(synapse_count, len(layers), dtype=np.int16)  # len = not plastic
            lo = np.full(synapse_count, -np.inf, dtype=np.float32)
            hi = np.full(synapse_count, np.inf, dtype=np.float32)
            for n, rule in enumerate(layers):
                rank[rule.synapses] = n
                lo[rule.synapses] = rule.params.w_min
                hi[rule.synapses] = rule.params.w_max
            self.slot_rank, self.w_lo, self.w_hi = rank, lo, hi
            decays = np.append(self.cycle_decay, 0.0).astype(np.float32)
            self.slot_decay = None if len(set(self.cycle_decay)) == 1 else decays[rank]
        # Where each layer's synapses sit in a sparse eligibility copy.
        self.plastic_slots = np.concatenate([r.synapses for r in layers]) if layers \
            else np.zeros(0, dtype=np.int64)
        bounds = np.cumsum([0] + [r.synapses.size for r in layers])
        self.copy_ranges = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        self.centered = np.array([r.params.centered for r in layers] or [False])
        self.centering = bool(self.centered.any())
        self.rate_rate = np.array([1.0 / r.params.rate_tau_cycles for r in layers] or [1.0],
                                  dtype=np.float32)[:, None]
        # y's mean for a post neuron firing ρ spikes per step: ρ / (1 − decay of tau_minus).
        self.ybar_per_rate = (1.0 / (1.0 - self.trace_decay[1, :, 0])).astype(np.float32)[:, None]

    def reset_traces(self, neuron_count: int) -> None:
        """Spike traces per layer and neuron, all zero: [0] pre (x), [1] post (y)."""
        self.traces = np.zeros((2, self.layer_count, neuron_count), dtype=np.float32)
        if self.centering:
            # Per layer and neuron: the running rate ρ (0 in layers not centered) and y's mean.
            self.rate = np.zeros((self.layer_count, neuron_count), dtype=np.float32)
            self.ybar = np.zeros_like(self.rate)
            self.rate_seen = False

    def set_synapse_pairs(self, pre: np.ndarray, post: np.ndarray) -> None:
        """Pre and post neuron of every synapse slot. A layer dense enough (at least a
        quarter of all pre-post pairs) has its cycle's STDP computed as a [pre, post] matrix;
        a sparser one from its spikes, through tables of each neuron's plastic synapses."""
        self.plans: list[tuple] = []
        for rule in self.layers:
            syn = rule.synapses
            pre_ids, rows = np.unique(pre[syn], return_inverse=True)
            post_ids, cols = np.unique(post[syn], return_inverse=True)
            rows, cols = rows.astype(np.intp), cols.astype(np.intp)
            if pre_ids.size * post_ids.size <= 4 * max(syn.size, 1):
                self.plans.append(("matrix", pre_ids, post_ids, rows, cols))
            else:
                self.plans.append(("spikes", pre_ids, post_ids, rows,
                                   padded_table(cols, post_ids.size, syn, self.dummy),
                                   padded_table(cols, post_ids.size, pre[syn], 0),
                                   padded_table(rows, pre_ids.size, syn, self.dummy),
                                   padded_table(rows, pre_ids.size, post[syn], 0),
                                   post[syn]))

    def learn_cycle(self, spikes: np.ndarray) -> None:
        """Add the STDP of a cycle to the eligibility (`spikes`: its [gamma, n] raster) and
        move the traces to the cycle's end."""
        gamma = spikes.shape[0]
        raster = spikes.astype(np.float32)
        # The traces before each step's spikes: x and y of every layer and neuron.
        history = np.empty((gamma, *self.traces.shape), dtype=np.float32)
        traces = self.traces
        for k in range(gamma):
            history[k] = traces
            traces *= self.trace_decay
            traces += raster[k]
        for layer, (kind, pre_ids, post_ids, rows, *plan) in enumerate(self.plans):
            if kind == "matrix":
                self._learn_matrix(layer, history, raster, pre_ids, post_ids, rows, *plan)
            else:
                self._learn_from_spikes(layer, history, spikes, pre_ids, post_ids, rows, *plan)

    def _learn_matrix(self, layer: int, history: np.ndarray, raster: np.ndarray,
                      pre_ids: np.ndarray, post_ids: np.ndarray, rows: np.ndarray,
                      cols: np.ndarray) -> None:
        gamma = raster.shape[0]
        x = history[:, 0, layer][:, pre_ids] * self.plus_coef[:gamma, layer, None]
        y = history[:, 1, layer][:, post_ids]
        s_post = raster[:, post_ids]
        if self.centering:
            y = y - self.ybar[layer, post_ids]
            s_post = s_post - self.rate[layer, post_ids]
        y *= self.minus_coef[:gamma, layer, None]
        change = x.T @ s_post - raster[:, pre_ids].T @ y
        self.eligibility[self.layers[layer].synapses] += change[rows, cols]

    def _learn_from_spikes(self, layer: int, history: np.ndarray, spikes: np.ndarray,
                           pre_ids: np.ndarray, post_ids: np.ndarray, rows: np.ndarray,
                           in_slots: np.ndarray, in_pre: np.ndarray, out_slots: np.ndarray,
                           out_post: np.ndarray, post_of: np.ndarray) -> None:
        # Potentiation at every post spike (step k, neuron j), of j's incoming synapses;
        # depression at every pre spike, of its outgoing ones. Padding adds into the
        # dummy slot.
        step, j = np.nonzero(spikes[:, post_ids])
        if step.size:
            value = self.plus_coef[step, layer][:, None] * \
                history[step[:, None], 0, layer, in_pre[j]]
            np.add.at(self.eligibility, in_slots[j].ravel(), value.ravel())
        step, i = np.nonzero(spikes[:, pre_ids])
        if step.size:
            post = out_post[i]
            y = history[step[:, None], 1, layer, post]
            if self.centering:
                y = y - self.ybar[layer, post]
            np.add.at(self.eligibility, out_slots[i].ravel(),
                      (-self.minus_coef[step, layer][:, None] * y).ravel())
        if self.centering and self.centered[layer]:
            # s − ρ: the ρ part, Σ_k c⁺_k x_k[i] · ρ_j, comes from every synapse.
            gamma = spikes.shape[0]
            x_sum = self.plus_coef[:gamma, layer] @ history[:, 0, layer][:, pre_ids]
            self.eligibility[self.layers[layer].synapses] -= \
                x_sum[rows] * self.rate[layer, post_of]

    def begin_cycle(self) -> None:
        """Decay every trace by one cycle (contributions of this cycle come pre-decayed)."""
        self.eligibility[self.dummy] = 0.0
        if self.dense:
            if self.slot_decay is None:
                self.eligibility *= np.float32(self.cycle_decay[0])
            else:
                self.eligibility *= self.slot_decay
            return
        for n, rule in enumerate(self.layers):
            self.eligibility[rule.synapses] *= np.float32(self.cycle_decay[n])

    def end_cycle(self, cycle: int, spikes: np.ndarray) -> None:
        """Learn from the cycle's raster `spikes` ([gamma, n]), update the rates of centered
        layers, then keep a copy of the eligibility as cycle `cycle` left it (once history
        is on)."""
        self.learn_cycle(spikes)
        if self.centering:
            self._follow_rates(spikes.sum(axis=0))
        if not self.keep_history or self.history_cycles <= 0:
            return
        copy = self.eligibility.copy() if self.dense else self.eligibility[self.plastic_slots]
        self.history[cycle] = copy
        while len(self.history) > self.history_cycles:
            self.history.popitem(last=False)

    def _follow_rates(self, spike_counts: np.ndarray) -> None:
        """Let the rates of centered layers follow what the neurons just did."""
        observed = np.asarray(spike_counts, dtype=np.float32)[None, :] / np.float32(self.gamma)
        rows = self.centered                    # the other layers keep ρ = 0
        if self.rate_seen:
            self.rate[rows] += self.rate_rate[rows] * (observed - self.rate[rows])
        else:
            self.rate[rows] = observed
            self.rate_seen = True
        self.ybar = self.rate * self.ybar_per_rate

    def forget_history(self) -> None:
        self.history.clear()

    def eligibility_of(self, cycle: int | None, last_cycle: int) -> np.ndarray | None:
        """The eligibility a reward for `cycle` acts on (None: the current one); raises
        LookupError when that cycle is not known (not run yet, or too old)."""
        if cycle is None or cycle == last_cycle:
            return None
        if cycle > last_cycle or cycle < 0:
            raise LookupError(f"cycle {cycle} has not run (last cycle {last_cycle})")
        if not self.keep_history:
            self.keep_history = True   # from now on, keep copies for late rewards
        copy = self.history.get(cycle)
        if copy is None:
            raise LookupError(f"cycle {cycle} is older than the eligibility history "
                              f"({self.history_cycles} cycles, last cycle {last_cycle})")
        return copy

    def apply_reward(self, weights: np.ndarray, global_reward: float,
                     by_layer: dict[str, float] | None = None,
                     eligibility: np.ndarray | None = None) -> dict[str, float]:
        """Apply one reward (values in [0, 1]) to every layer; returns each layer's r − r̄.
        `eligibility`: a copy from `eligibility_of` (default: the current eligibility)."""
        by_layer = by_layer or {}
        advantages: dict[str, float] = {}
        for rule in self.layers:
            reward = float(np.clip(by_layer.get(rule.id, global_reward), 0.0, 1.0))
            if rule.baseline is None:
                rule.baseline = reward
            advantage = float(np.clip(reward - rule.baseline, -rule.params.max_advantage,
                                      rule.params.max_advantage))
            rule.baseline += (reward - rule.baseline) / rule.params.reward_baseline_tau_cycles
            advantages[rule.id] = advantage
            if self.dense or advantage == 0.0 or rule.params.learning_rate == 0.0:
                continue
            syn = rule.synapses
            trace = self.eligibility[syn] if eligibility is None \
                else eligibility[self.copy_ranges[self.layer_index[rule.id]]]
            w = weights[syn] + np.float32(rule.params.learning_rate * advantage) * trace
            np.clip(w, rule.params.w_min, rule.params.w_max, out=w)
            weights[syn] = w
        if self.dense:
            self._apply_dense(weights, [r.params.learning_rate * advantages[r.id]
                                        for r in self.layers], eligibility)
        self.updates_applied += 1
        return advantages

    def _apply_dense(self, weights: np.ndarray, scale: list[float],
                     eligibility: np.ndarray | None = None) -> None:
        if not any(scale):
            return
        self.eligibility[self.dummy] = 0.0
        trace = self.eligibility if eligibility is None else eligibility
        trace[self.dummy] = 0.0
        if len(set(scale)) == 1:
            weights += np.float32(scale[0]) * trace  # non-plastic traces are 0
        else:
            weights += np.append(scale, 0.0).astype(np.float32)[self.slot_rank] * trace
        np.clip(weights, self.w_lo, self.w_hi, out=weights)

    def baselines(self) -> dict[str, float | None]:
        return {rule.id: rule.baseline for rule in self.layers}

    def set_baselines(self, values: dict[str, float | None]) -> None:
        for rule in self.layers:
            if rule.id in values:
                rule.baseline = values[rule.id]
