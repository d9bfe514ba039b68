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
"""

from __future__ import annotations

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
                 synapse_count: int, dt_ms: float, gamma: int) -> None:
        self.layers = layers
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

    def reset_traces(self, neuron_count: int) -> None:
        """Spike traces per layer and neuron, all zero: [0] pre (x), [1] post (y)."""
        self.traces = np.zeros((2, self.layer_count, neuron_count), dtype=np.float32)

    def update_traces(self, spiking: np.ndarray) -> None:
        """Decay the traces one step and add this step's spikes (after the STDP updates)."""
        self.traces *= self.trace_decay
        if spiking.size:
            self.traces[:, :, spiking] += 1.0

    def begin_cycle(self) -> None:
        """Decay every trace by one cycle (contributions of this cycle come pre-decayed)."""
        for n, rule in enumerate(self.layers):
            self.eligibility[rule.synapses] *= np.float32(self.cycle_decay[n])

    def on_pre_spikes(self, synapses: np.ndarray, post: np.ndarray, step: int) -> None:
        """Depression for plastic synapses whose pre neuron just fired (padding included:
        it lands on the dummy synapse)."""
        layer = self.layer_of_synapse[synapses]
        self.eligibility[synapses] -= (self.minus_coef[step, layer]
                                       * self.traces[1, layer, post[synapses]])

    def on_post_spikes(self, synapses: np.ndarray, pre: np.ndarray, step: int) -> None:
        """Potentiation for plastic synapses whose post neuron just fired."""
        layer = self.layer_of_synapse[synapses]
        self.eligibility[synapses] += (self.plus_coef[step, layer]
                                       * self.traces[0, layer, pre[synapses]])

    def apply_reward(self, weights: np.ndarray, global_reward: float,
                     by_layer: dict[str, float] | None = None) -> dict[str, float]:
        """Apply one reward (values in [0, 1]) to every layer; returns each layer's r − r̄."""
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
            if advantage == 0.0 or rule.params.learning_rate == 0.0:
                continue
            syn = rule.synapses
            w = weights[syn] + np.float32(rule.params.learning_rate * advantage) \
                * self.eligibility[syn]
            np.clip(w, rule.params.w_min, rule.params.w_max, out=w)
            weights[syn] = w
        self.updates_applied += 1
        return advantages

    def baselines(self) -> dict[str, float | None]:
        return {rule.id: rule.baseline for rule in self.layers}

    def set_baselines(self, values: dict[str, float | None]) -> None:
        for rule in self.layers:
            if rule.id in values:
                rule.baseline = values[rule.id]
