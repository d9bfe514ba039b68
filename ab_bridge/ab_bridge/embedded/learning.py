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

Centered (covariance) layers (`centered: true`): a post neuron's spike counts against its
usual firing. Every step of a cycle adds a_plus · x_i · ρ_j to a debt that is paid off the
trace at the cycle's end (ρ_j: the post neuron's running mean spikes per step, over
`rate_tau_cycles` cycles), and depression uses y_j minus its mean ρ_j / (1 − e^(−dt/tau_minus)).
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


@dataclass
class LayerRule:
    """One learning layer: its synapse indices and parameters."""
    id: str
    synapses: np.ndarray          # int64 indices into the network's synapse arrays
    params: LearningParams
    baseline: float | None = None


class RewardModulatedSTDP:
    """Eligibility bookkeeping and reward application for all learning layers."""

    def __init__(self, layers: list[LayerRule], layer_of_synapse: np.ndarray,
                 synapse_count: int, dt_ms: float, gamma: int, history_cycles: int = 16) -> None:
        self.layers = layers
        self.history_cycles = history_cycles
        # cycle -> eligibility at the end of that cycle (plastic slots only, or all when dense)
        self.history: OrderedDict[int, np.ndarray] = OrderedDict()
        self.keep_history = False
        self.rewards_ignored = 0
        self.layer_index = {rule.id: n for n, rule in enumerate(layers)}
        self.layer_of_synapse = layer_of_synapse  # layer index per synapse (0 where not plastic)
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
            # Per layer and neuron: the running rate ρ, y's mean, the cycle's potentiation debt.
            self.rate = np.zeros((self.layer_count, neuron_count), dtype=np.float32)
            self.ybar = np.zeros_like(self.rate)
            self.debt = np.zeros_like(self.rate)
            self.rate_seen = False

    def set_synapse_ends(self, pre: np.ndarray, post: np.ndarray) -> None:
        """Pre and post neuron of every synapse slot (needed by centered layers)."""
        if not self.centering:
            return
        parts = [(rule.synapses, np.full(rule.synapses.size, n))
                 for n, rule in enumerate(self.layers) if rule.params.centered]
        self.centered_slots = np.concatenate([p[0] for p in parts])
        self.centered_layer = np.concatenate([p[1] for p in parts])
        self.centered_pre = pre[self.centered_slots]
        self.centered_post = post[self.centered_slots]

    def update_traces(self, spiking: np.ndarray, step: int = 0) -> None:
        """Decay the traces one step and add this step's spikes (after the STDP updates)."""
        if self.centering:
            self.debt += self.plus_coef[step][:, None] * self.traces[0]
        self.traces *= self.trace_decay
        if spiking.size:
            self.traces[:, :, spiking] += 1.0

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

    def set_tables(self, out_slots: np.ndarray, out_post: np.ndarray, in_slots: np.ndarray,
                   in_pre: np.ndarray) -> None:
        """Per-neuron padded tables of plastic synapses: outgoing (slot, post neuron) and
        incoming (slot, pre neuron); padding points at the dummy slot."""
        self.out_slots, self.out_post = out_slots, out_post
        self.in_slots, self.in_pre = in_slots, in_pre
        self.out_layer = self.layer_of_synapse[out_slots]
        self.in_layer = self.layer_of_synapse[in_slots]
        # Only neurons that have plastic synapses are looked up (no rows of padding).
        self.has_out = (out_slots != self.dummy).any(axis=1)
        self.has_in = (in_slots != self.dummy).any(axis=1)
        self.single_layer = len(self.layers) == 1

    def on_pre_spikes(self, spiking: np.ndarray, step: int) -> None:
        """Depression of the plastic synapses of the neurons that just fired, as pre."""
        spiking = spiking[self.has_out[spiking]]
        syn = self.out_slots[spiking].ravel()
        post = self.out_post[spiking].ravel()
        if self.single_layer:
            post_trace = self.traces[1, 0][post]
            if self.centering:
                post_trace = post_trace - self.ybar[0][post]
            self.eligibility[syn] -= self.minus_coef[step, 0] * post_trace
            return
        layer = self.out_layer[spiking].ravel()
        post_trace = self.traces[1, layer, post]
        if self.centering:
            post_trace = post_trace - self.ybar[layer, post]
        self.eligibility[syn] -= self.minus_coef[step, layer] * post_trace

    def on_post_spikes(self, spiking: np.ndarray, step: int) -> None:
        """Potentiation of the plastic synapses onto the neurons that just fired."""
        spiking = spiking[self.has_in[spiking]]
        syn = self.in_slots[spiking].ravel()
        pre = self.in_pre[spiking].ravel()
        if self.single_layer:
            self.eligibility[syn] += self.plus_coef[step, 0] * self.traces[0, 0][pre]
            return
        layer = self.in_layer[spiking].ravel()
        self.eligibility[syn] += self.plus_coef[step, layer] * self.traces[0, layer, pre]

    def end_cycle(self, cycle: int, spike_counts: np.ndarray | None = None) -> None:
        """Settle centered layers (`spike_counts`: this cycle's spikes per neuron), then
        keep a copy of the eligibility as cycle `cycle` left it (once history is on)."""
        if self.centering:
            self._settle_centered(spike_counts)
        if not self.keep_history or self.history_cycles <= 0:
            return
        copy = self.eligibility.copy() if self.dense else self.eligibility[self.plastic_slots]
        self.history[cycle] = copy
        while len(self.history) > self.history_cycles:
            self.history.popitem(last=False)

    def _settle_centered(self, spike_counts: np.ndarray | None) -> None:
        """Pay the cycle's potentiation debt at the rates expected before it, then let the
        rates follow what the neurons just did."""
        if spike_counts is None:
            raise ValueError("centered learning layers need the cycle's spike counts")
        slots, layer = self.centered_slots, self.centered_layer
        self.eligibility[slots] -= self.rate[layer, self.centered_post] * \
            self.debt[layer, self.centered_pre]
        self.debt[:] = 0.0
        observed = np.asarray(spike_counts, dtype=np.float32)[None, :] / np.float32(self.gamma)
        rows = self.centered                    # other layers keep ρ = 0: nothing to pay
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
