"""Reward-modulated STDP with eligibility traces (R-STDP), event-driven over synapses.

Per plastic synapse s (pre i → post j) an eligibility trace e_s collects STDP:
at a post spike e_s += a_plus · x_i (x: pre trace, time constant tau_plus), at a pre
spike e_s -= a_minus · y_j (y: post trace, tau_minus); e_s decays with
tau_eligibility. A reward r for a layer (a learning projection) changes its weights by
    Δw_s = learning_rate · clip(r − r̄, ±max_advantage) · e_s,   clipped to [w_min, w_max],
where r̄ is the layer's running reward baseline (time constant in cycles), so a constant
reward teaches nothing and better-than-usual outcomes strengthen whatever was eligible;
the clip keeps a sudden change of the task (a target jump) from overwriting what was
learned.

The STDP of a cycle is added once the cycle has run (kernels.py): at a post spike
e_s += a_plus · x_i for the plastic synapses coming into it, at a pre spike
e_s -= a_minus · y_j for its plastic outgoing ones, with the traces x, y as they were
before the step's spikes (the kernels rebuild them from the traces at the cycle's start
and the spike steps). Traces are kept per time constant, not per layer (layers with
the same tau_plus share their x). The decay of e is exact although applied once per cycle:
a contribution made at step k of a T-step cycle is stored pre-decayed by
exp(−(T−k)·dt/tau_e), and each cycle decays the whole trace by exp(−T·dt/tau_e) — as a
factor per layer (`scale`), by which the stored values are multiplied when read, so the
decay costs no pass over the synapses.

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

from embedded_brain import kernels
from embedded_brain.graph import LearningParams

#: When a layer's eligibility scale falls below this, it is folded into the stored values.
RESCALE_BELOW = 1e-20


@dataclass
class LayerRule:
    """One learning layer: its synapses (a contiguous range of the network's synapse
    arrays) and parameters."""
    id: str
    synapses: slice
    params: LearningParams
    baseline: float | None = None


class RewardModulatedSTDP:
    """Eligibility bookkeeping and reward application for all learning layers."""

    def __init__(self, layers: list[LayerRule], synapse_count: int, neuron_count: int,
                 dt_ms: float, gamma: int, history_cycles: int = 16) -> None:
        self.layers = layers
        self.history_cycles = history_cycles
        # cycle -> (each layer's eligibility at the end of that cycle, their scales)
        self.history: OrderedDict[int, tuple[list[np.ndarray], np.ndarray]] = OrderedDict()
        self.keep_history = False
        self.rewards_ignored = 0
        self.layer_index = {rule.id: n for n, rule in enumerate(layers)}
        self.dt_ms = dt_ms
        self.gamma = gamma
        count = self.layer_count = max(len(layers), 1)
        params = [r.params for r in layers] or [LearningParams()]
        self.e_hat = np.zeros(synapse_count, dtype=np.float32)
        self.scale = np.ones(count)                   # true eligibility = e_hat · scale
        a_plus = np.array([p.a_plus for p in params], dtype=np.float32)
        a_minus = np.array([p.a_minus for p in params], dtype=np.float32)
        tau_e = np.array([p.tau_eligibility_ms for p in params])
        self.cycle_decay = np.exp(-gamma * dt_ms / tau_e)
        # step_scale[k, layer]: weight of a contribution at step k, seen at the cycle's end.
        steps_left = gamma - np.arange(gamma)[:, None]
        step_scale = np.exp(-steps_left * dt_ms / tau_e[None, :]).astype(np.float32)
        # Per step and layer: amplitude × the step's pre-decay to the end of the cycle.
        self.plus_coef = (a_plus[None, :] * step_scale).astype(np.float32)
        self.minus_coef = (a_minus[None, :] * step_scale).astype(np.float32)
        # Traces per time constant: x (pre, tau_plus) and y (post, tau_minus).
        x_taus, layer_x = np.unique([p.tau_plus_ms for p in params], return_inverse=True)
        y_taus, layer_y = np.unique([p.tau_minus_ms for p in params], return_inverse=True)
        self.layer_x, self.layer_y = layer_x.astype(np.int32), layer_y.astype(np.int32)
        self.x_decay = np.exp(-dt_ms / x_taus).astype(np.float32)
        self.y_decay = np.exp(-dt_ms / y_taus).astype(np.float32)
        self.updates_applied = 0
        self.centered = np.array([p.centered for p in params]) & bool(layers)
        self.centering = bool(self.centered.any())
        self.rate_rate = np.array([1.0 / p.rate_tau_cycles for p in params],
                                  dtype=np.float32)[:, None]
        # y's mean for a post neuron firing ρ spikes per step: ρ / (1 − decay of tau_minus).
        self.ybar_per_rate = (1.0 / (1.0 - self.y_decay[self.layer_y])).astype(np.float32)
        if layers and gamma > 1022:
            raise ValueError(f"learning needs gamma <= 1022 steps per cycle, got {gamma}")
        self.pending = False       # a cycle's potentiation waits for its pass (`flush`)
        self.spike_code = np.zeros(neuron_count, dtype=np.int32)
        self.reset_traces(neuron_count)

    def set_structure(self, proj_layer: np.ndarray, proj_pre_start: np.ndarray,
                      proj_row_base: np.ndarray, proj_syn_range: np.ndarray,
                      row_ptr: np.ndarray, post: np.ndarray, weights: np.ndarray) -> None:
        """The network's synapse tables (kernels.py): projection p's synapses are the range
        proj_syn_range[p, :2], its pre neurons proj_syn_range[p, 2] from proj_pre_start[p],
        its rows from proj_row_base[p] in row_ptr; proj_layer[p] its layer (−1: fixed)."""
        self.proj_layer, self.proj_pre_start = proj_layer, proj_pre_start
        self.proj_row_base, self.proj_syn_range = proj_row_base, proj_syn_range
        self.row_ptr, self.post, self.weights = row_ptr, post, weights
        rows = np.where(proj_layer >= 0, proj_syn_range[:, 2], 0)
        self.pot_offset = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(np.int64)
        self.pot_table = np.zeros(int(rows.sum()) * (self.gamma + 1), dtype=np.float32)
        self.pot_total = np.zeros(int(rows.sum()), dtype=np.float32)
        self.pot_x0 = np.zeros(int(rows.sum()), dtype=np.float32)
        self.pot_dep = np.zeros(int(rows.sum()), dtype=np.float32)
        self.post_gain = np.zeros((self.layer_count, self.spike_code.size), dtype=np.float32)
        self.quiet_total = np.zeros(self.layer_count, dtype=np.float32)
        plastic_rows = [row_ptr[base + 1:base + n + 1] - row_ptr[base:base + n]
                        for base, n, layer in zip(proj_row_base, proj_syn_range[:, 2],
                                                  proj_layer, strict=True) if layer >= 0]
        longest = max((int(r.max()) for r in plastic_rows if r.size), default=0)
        self.gains = np.zeros(max(longest, 1), dtype=np.float32)
        # The pass reads plastic synapses' post neurons relative to their projection's
        # lowest one: as uint16 when every plastic projection's posts span <= 65536.
        self.post_base = np.zeros(proj_layer.size, dtype=np.int64)
        spans = [0]
        for p, (lo, hi, _) in enumerate(proj_syn_range):
            if proj_layer[p] >= 0 and hi > lo:
                self.post_base[p] = post[lo:hi].min()
                spans.append(int(post[lo:hi].max()) - int(self.post_base[p]) + 1)
        local_type = np.uint16 if max(spans) <= 2 ** 16 else np.int32
        self.post_local = np.zeros(post.size, dtype=local_type)
        for p, (lo, hi, _) in enumerate(proj_syn_range):
            if proj_layer[p] >= 0:
                self.post_local[lo:hi] = post[lo:hi] - self.post_base[p]
        self.w_lo = np.array([r.params.w_min for r in self.layers] or [0.0], dtype=np.float32)
        self.w_hi = np.array([r.params.w_max for r in self.layers] or [1.0], dtype=np.float32)
        self.no_step = np.zeros(self.layer_count, dtype=np.float32)

    def flush(self, step: np.ndarray | None = None) -> None:
        """Add the waiting potentiation to the eligibility; with `step` (per layer,
        learning rate × advantage × scale), apply that reward in the same pass."""
        if not self.pending:
            if step is not None:
                for n, rule in enumerate(self.layers):
                    if step[n] != 0.0:
                        kernels.apply_reward(self.weights[rule.synapses],
                                             self.e_hat[rule.synapses], step[n],
                                             self.w_lo[n], self.w_hi[n])
            return
        self.pending = False
        kernels.potentiate(self.pending_spikes, self.proj_layer, self.proj_pre_start,
                           self.proj_row_base, self.proj_syn_range, self.row_ptr,
                           self.post_local, self.post_base, self.pot_offset, self.pot_table,
                           self.pot_total, self.pot_x0, self.post_gain, self.quiet_total,
                           self.spike_code, self.centered,
                           self.pending_rate, self.no_step if step is None else step,
                           self.w_lo, self.w_hi, self.weights, self.e_hat, self.gains,
                           self.pot_dep, self.y_start, self.layer_y)

    @property
    def eligibility(self) -> np.ndarray:
        """The eligibility of every synapse (0 where not plastic), as a new array."""
        self.flush()
        out = np.zeros_like(self.e_hat)
        for n, rule in enumerate(self.layers):
            out[rule.synapses] = self.e_hat[rule.synapses] * np.float32(self.scale[n])
        return out

    def reset_traces(self, neuron_count: int) -> None:
        """Spike traces per time constant and neuron, all zero; rates of centered layers
        forgotten."""
        self.x_tr = np.zeros((self.x_decay.size, neuron_count), dtype=np.float32)
        self.y_tr = np.zeros((self.y_decay.size, neuron_count), dtype=np.float32)
        self.y_start = np.zeros_like(self.y_tr)     # y as a cycle started
        # Per layer and neuron: the running rate ρ (0 in layers not centered).
        self.rate = np.zeros((self.layer_count, neuron_count), dtype=np.float32)
        self.rate_seen = False

    def reset_eligibility(self) -> None:
        self.pending = False
        self.e_hat[:] = 0.0
        self.scale[:] = 1.0

    def begin_cycle(self) -> tuple[np.ndarray, np.ndarray]:
        """Decay the eligibility by one cycle (contributions of this cycle come pre-decayed);
        returns this cycle's (c_plus, c_minus) [gamma, layers] in stored units."""
        self.flush()                 # the last cycle's potentiation is in the old units
        scale = self.scale * self.cycle_decay
        for n, rule in enumerate(self.layers):
            if scale[n] < RESCALE_BELOW:
                kernels.rescale(self.e_hat[rule.synapses], np.float32(scale[n]))
                scale[n] = 1.0
        self.scale = scale
        unit = (1.0 / scale).astype(np.float32)
        return self.plus_coef * unit, self.minus_coef * unit

    def end_cycle(self, cycle: int, spikes: np.ndarray) -> None:
        """After the kernel learned from cycle `cycle` (its raster `spikes`, [gamma, n]):
        update the rates of centered layers, then keep a copy of the eligibility as the
        cycle left it (once history is on)."""
        self.pending, self.pending_spikes = True, spikes
        self.pending_rate = self.rate.copy() if self.centering else self.rate
        if self.centering:
            self._follow_rates(np.count_nonzero(spikes, axis=0))
        if not self.keep_history or self.history_cycles <= 0:
            return
        self.flush()
        self.history[cycle] = ([self.e_hat[rule.synapses].copy() for rule in self.layers],
                               self.scale.copy())
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

    def forget_history(self) -> None:
        self.history.clear()

    def eligibility_of(self, cycle: int | None, last_cycle: int
                       ) -> tuple[list[np.ndarray], np.ndarray] | None:
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
                     eligibility: tuple[list[np.ndarray], np.ndarray] | None = None
                     ) -> dict[str, float]:
        """Apply one reward (values in [0, 1]) to every layer; returns each layer's r − r̄.
        `eligibility`: a copy from `eligibility_of` (default: the current eligibility)."""
        by_layer = by_layer or {}
        advantages: dict[str, float] = {}
        steps = np.zeros(self.layer_count)
        for n, rule in enumerate(self.layers):
            reward = float(np.clip(by_layer.get(rule.id, global_reward), 0.0, 1.0))
            if rule.baseline is None:
                rule.baseline = reward
            advantage = float(np.clip(reward - rule.baseline, -rule.params.max_advantage,
                                      rule.params.max_advantage))
            rule.baseline += (reward - rule.baseline) / rule.params.reward_baseline_tau_cycles
            advantages[rule.id] = advantage
            steps[n] = rule.params.learning_rate * advantage
        if eligibility is None:
            if steps.any():
                self.flush((steps * self.scale).astype(np.float32))
        else:
            self.flush()
            copies, scales = eligibility
            for n, rule in enumerate(self.layers):
                if steps[n] != 0.0:
                    kernels.apply_reward(weights[rule.synapses], copies[n],
                                         np.float32(steps[n] * scales[n]), self.w_lo[n],
                                         self.w_hi[n])
        self.updates_applied += 1
        return advantages

    def baselines(self) -> dict[str, float | None]:
        return {rule.id: rule.baseline for rule in self.layers}

    def set_baselines(self, values: dict[str, float | None]) -> None:
        for rule in self.layers:
            if rule.id in values:
                rule.baseline = values[rule.id]
