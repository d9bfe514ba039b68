"""Learning algorithms in numpy only (they run on a Raspberry Pi).

- Value-based: **Q-learning with tile coding** (`TileQBrain` / `TileQMuscle`).
  Sensors are tile-coded from their spaces' bounds; actions are a grid over the
  actuators' spaces (`bins` values per Box dimension, every value of a
  Discrete). The brain learns Q and pushes its weights to the muscle every
  `sync_every` steps; the muscle acts epsilon-greedily (TRAIN) or greedily (TEST).
- Policy-based: **cross-entropy method over a linear policy**
  (`CEMBrain` / `CEMMuscle`). The brain keeps a Gaussian over the policy's
  weights, hands each muscle a candidate per episode, collects episode
  returns, and refits mean and spread to the best `elite_fraction`. Several
  muscles evaluate candidates in parallel. In TEST the muscle acts with the mean.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rl_agents.agent import Brain, Mode, Muscle, Step
from rl_agents.information import ActuatorInformation, SensorInformation, flat_values
from rl_agents.spaces import Box, Discrete, Space
from rl_agents.tasks import ArmReach


class TileCoder:
    """`tilings` offset grids of `tiles_per_dim` tiles over the box [low, high]."""

    def __init__(self, low: np.ndarray, high: np.ndarray, tiles_per_dim: int = 10,
                 tilings: int = 8) -> None:
        self.low = np.asarray(low, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)
        if not (np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high))):
            raise ValueError("tile coding needs finite sensor bounds")
        self.dims = self.low.size
        self.tiles_per_dim = int(tiles_per_dim)
        self.tilings = int(tilings)
        side = self.tiles_per_dim + 1  # one extra tile so offsets never fall off the grid
        self.tiles_per_tiling = side ** self.dims
        self.size = self.tilings * self.tiles_per_tiling
        # asymmetric offsets (1, 3, 5, ...) / tilings of a tile, as recommended by Sutton & Barto
        odd = 2 * np.arange(self.dims) + 1
        self.offsets = (np.arange(self.tilings)[:, None] * odd[None, :] / self.tilings) % 1.0
        self.strides = (side ** np.arange(self.dims)).astype(np.float64)
        self.scale = self.tiles_per_dim / (self.high - self.low)
        self.base = np.arange(self.tilings) * self.tiles_per_tiling

    def active(self, x: np.ndarray) -> np.ndarray:
        """Indices of the `tilings` active tiles for point x (clipped into the box)."""
        z = np.minimum(np.maximum((x - self.low) * self.scale, 0.0), self.tiles_per_dim)
        # z + offsets >= 0, so truncation is floor
        coords = (z + self.offsets).astype(np.int64).astype(np.float64)
        return self.base + (coords @ self.strides).astype(np.int64)


def action_grid(actuators: Sequence[ActuatorInformation], bins: int) -> np.ndarray:
    """Every combination of per-dimension action values: (n_actions, flat actuator width)."""
    per_dim: list[np.ndarray] = []
    for a in actuators:
        space = a.space
        if isinstance(space, Discrete):
            per_dim.append(np.arange(space.n, dtype=np.float64))
        elif isinstance(space, Box):
            lo, hi = space.low.reshape(-1), space.high.reshape(-1)
            if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
                raise ValueError(f"actuator {a.uid!r}: a discretised Box needs finite bounds")
            per_dim.extend(np.linspace(lo[i], hi[i], bins) for i in range(lo.size))
        else:
            raise ValueError(f"actuator {a.uid!r}: space {space} is not Box or Discrete")
    return np.array(list(itertools.product(*per_dim)), dtype=np.float64)


def sensor_bounds(sensors: Sequence[SensorInformation]) -> tuple[np.ndarray, np.ndarray]:
    lows, highs = [], []
    for s in sensors:
        space: Space = s.space
        if isinstance(space, Box):
            lows.append(space.low.reshape(-1).astype(np.float64))
            highs.append(space.high.reshape(-1).astype(np.float64))
        elif isinstance(space, Discrete):
            lows.append(np.zeros(1))
            highs.append(np.array([space.n - 1.0]))
        else:
            raise ValueError(f"sensor {s.uid!r}: space {space} is not Box or Discrete")
    return np.concatenate(lows), np.concatenate(highs)


def set_actuators(actuators: Sequence[ActuatorInformation], flat: np.ndarray) -> None:
    at = 0
    for a in actuators:
        n = a.space.flat_size
        a(a.space.unflatten(flat[at:at + n]))
        at += n


class TileQBrain(Brain):
    """Q-learning with tile coding, optionally with eligibility traces (Watkins's Q(lambda),
    replacing traces, one trace per muscle). Params: tiles_per_dim, tilings, bins,
    alpha (step size, divided by tilings), gamma, trace_decay (lambda; 0 = one-step
    Q-learning), epsilon, epsilon_min, epsilon_decay_steps, sync_every."""

    def setup(self) -> None:
        p = self.params
        low, high = sensor_bounds(self.sensors)
        self.coder = TileCoder(low, high, int(p.get("tiles_per_dim", 10)),
                               int(p.get("tilings", 8)))
        self.actions = action_grid(self.actuators, int(p.get("bins", 3)))
        self.alpha = float(p.get("alpha", 0.5)) / self.coder.tilings
        self.gamma = float(p.get("gamma", 0.98))
        self.epsilon0 = float(p.get("epsilon", 0.1))
        self.epsilon_min = float(p.get("epsilon_min", 0.0))
        self.epsilon_decay_steps = int(p.get("epsilon_decay_steps", 0))
        self.sync_every = int(p.get("sync_every", 10))
        self.trace_decay = float(p.get("trace_decay", 0.0))
        if not 0.0 <= self.trace_decay <= 1.0:
            raise ValueError(f"trace_decay must be in [0, 1], got {self.trace_decay}")
        self.traces: dict[str, np.ndarray] = {}
        self.weights = np.zeros((len(self.actions), self.coder.size))
        self.steps = 0
        self._next_tiles: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def epsilon(self) -> float:
        if self.epsilon_decay_steps <= 0:
            return self.epsilon0
        frac = min(1.0, self.steps / self.epsilon_decay_steps)
        return self.epsilon0 + (self.epsilon_min - self.epsilon0) * frac

    def action_index(self, actuators: np.ndarray) -> int:
        return int(np.argmin(np.abs(self.actions - actuators[None, :]).sum(axis=1)))

    def thinking(self, muscle_id: str, data_from_muscle: Any, step: Step | None) -> Any:
        if self.mode is not Mode.TRAIN:
            return None   # testing: the muscle acts with the stored model
        if step is None:
            return self.update_message()
        cached = self._next_tiles.get(muscle_id)
        if cached is not None and np.array_equal(cached[0], step.sensors):
            tiles = cached[1]   # this step starts where the muscle's last one ended
        else:
            tiles = self.coder.active(step.sensors)
        a = (int(data_from_muscle) if isinstance(data_from_muscle, (int, np.integer))
             else self.action_index(step.actuators))
        target = step.objective if step.objective is not None else float(step.rewards.sum())
        next_tiles = self.coder.active(step.next_sensors)
        self._next_tiles[muscle_id] = (step.next_sensors, next_tiles)
        if not step.terminal:
            target += self.gamma * float(self.weights[:, next_tiles].sum(axis=1).max())
        q_taken = self.weights[a, tiles].sum()
        td = target - float(q_taken)
        if self.trace_decay > 0.0:
            trace = self.traces.get(muscle_id)
            if trace is None:
                trace = self.traces[muscle_id] = np.zeros_like(self.weights)
            # Watkins: traces only follow greedy actions
            greedy = q_taken >= self.weights[:, tiles].sum(axis=1).max()
            if not greedy:
                trace[:] = 0.0
            trace[a, tiles] = 1.0
            self.weights += (self.alpha * td) * trace
            trace *= self.gamma * self.trace_decay
            if step.done:
                trace[:] = 0.0
        else:
            self.weights[a, tiles] += self.alpha * td
        self.steps += 1
        self.add_statistics("td_error", td)
        if step.done or self.steps % self.sync_every == 0:
            return self.update_message()
        return None

    def update_message(self) -> dict[str, Any]:
        return {"weights": self.weights, "epsilon": self.epsilon()}

    def dump(self) -> dict[str, dict[str, np.ndarray]]:
        return {"q": {"weights": self.weights, "steps": np.array(self.steps)}}

    def restore(self, states: dict[str, dict[str, np.ndarray]]) -> None:
        w = states["q"]["weights"]
        if w.shape != self.weights.shape:
            raise ValueError(f"stored Q weights have shape {w.shape}, this brain {self.weights.shape}")
        self.weights = np.array(w, dtype=np.float64)
        self.steps = int(states["q"]["steps"])


class TileQMuscle(Muscle):
    """Acts epsilon-greedily on the Q weights its brain pushes; same params as TileQBrain."""

    def setup(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.coder: TileCoder | None = None
        self.weights: np.ndarray | None = None
        self.epsilon = float(self.params.get("epsilon", 0.1))

    def _ensure(self, sensors: Sequence[SensorInformation],
                actuators: Sequence[ActuatorInformation]) -> None:
        if self.coder is None:
            low, high = sensor_bounds(sensors)
            self.coder = TileCoder(low, high, int(self.params.get("tiles_per_dim", 10)),
                                   int(self.params.get("tilings", 8)))
            self.actions = action_grid(actuators, int(self.params.get("bins", 3)))
            if self.weights is None:
                self.weights = np.zeros((len(self.actions), self.coder.size))

    def propose_actions(self, sensors: Sequence[SensorInformation],
                        actuators_available: Sequence[ActuatorInformation]
                        ) -> tuple[Sequence[ActuatorInformation], Any]:
        self._ensure(sensors, actuators_available)
        epsilon = self.epsilon if self.mode is Mode.TRAIN else 0.0
        if epsilon > 0.0 and self.rng.random() < epsilon:
            a = int(self.rng.integers(len(self.actions)))
        else:
            q = self.weights[:, self.coder.active(flat_values(sensors))].sum(axis=1)
            best = np.flatnonzero(q == q.max())
            a = int(best[0] if len(best) == 1 else self.rng.choice(best))
        set_actuators(actuators_available, self.actions[a])
        return actuators_available, a

    def update(self, update: Any) -> None:
        weights = np.asarray(update["weights"], dtype=np.float64)
        if self.weights is not None and weights.shape != self.weights.shape:
            raise ValueError(f"Q update has shape {weights.shape}, muscle expects "
                             f"{self.weights.shape} (brain and muscle params differ?)")
        self.weights = weights
        self.epsilon = float(update.get("epsilon", self.epsilon))

    def prepare_model(self) -> bool:
        state = self.load_arrays("q")
        if state is None:
            return False
        self.weights = np.array(state["weights"], dtype=np.float64)
        return True


FeatureMap = Callable[[np.ndarray], np.ndarray]


def raw_features(x: np.ndarray) -> np.ndarray:
    return np.append(x, 1.0)


def arm_reach_features(x: np.ndarray, links_m: tuple[float, float] = ArmReach.links_m
                       ) -> np.ndarray:
    """Features for reaching: the fingertip error rotated into each link's frame.

    x = (q0, q1, target_x, target_y). With e the fingertip-to-target vector,
    the Jacobian-transpose step J^T e is linear in these features, so a linear
    policy on them can reach; the policy still has to learn the gains.
    """
    q0, q1, tx, ty = x[:4]
    l0, l1 = links_m
    s0, c0 = math.sin(q0), math.cos(q0)
    s01, c01 = math.sin(q0 + q1), math.cos(q0 + q1)
    ex = tx - (l0 * c0 + l1 * c01)
    ey = ty - (l0 * s0 + l1 * s01)
    return np.array([-s0 * ex + c0 * ey, -s01 * ex + c01 * ey])


FEATURE_MAPS: dict[str, FeatureMap] = {"raw": raw_features, "arm_reach": arm_reach_features}


def feature_map(name: str) -> FeatureMap:
    try:
        return FEATURE_MAPS[name]
    except KeyError:
        raise ValueError(f"unknown feature map {name!r}; known: {sorted(FEATURE_MAPS)}") from None


class CEMBrain(Brain):
    """Cross-entropy method over linear policy weights. Params: features ('raw' |
    'arm_reach'), population, elite_fraction, init_std, min_std, extra_std."""

    def setup(self) -> None:
        p = self.params
        self.features = feature_map(str(p.get("features", "raw")))
        low, high = sensor_bounds(self.sensors)
        n_features = self.features((low + high) / 2 if np.all(np.isfinite(low + high))
                                   else np.zeros(low.size)).size
        n_out = sum(a.space.flat_size for a in self.actuators)
        self.shape = (n_out, n_features)
        self.rng = np.random.default_rng(self.seed)
        self.mean = np.zeros(n_out * n_features)
        self.std = np.full(self.mean.size, float(p.get("init_std", 1.0)))
        self.min_std = float(p.get("min_std", 0.01))
        self.extra_std = float(p.get("extra_std", 0.0))
        self.population = int(p.get("population", 16))
        self.n_elite = max(2, int(round(self.population * float(p.get("elite_fraction", 0.25)))))
        self.episodes_per_candidate = int(p.get("episodes_per_candidate", 1))
        self.generation = 0
        self._new_generation()
        self.assigned: dict[str, int] = {}   # muscle -> candidate index it is running
        self.episode_return: dict[str, float] = {}

    def _new_generation(self) -> None:
        self.candidates = self.mean + self.std * self.rng.standard_normal(
            (self.population, self.mean.size))
        self.scores = np.full(self.population, np.nan)
        self.returns: list[list[float]] = [[] for _ in range(self.population)]
        self.handed = np.zeros(self.population, dtype=np.int64)

    def _hand_out(self, muscle_id: str) -> dict[str, Any]:
        wanted = np.flatnonzero(self.handed < self.episodes_per_candidate)
        if len(wanted):
            index = int(wanted[0])
        else:   # every evaluation handed out: re-run an unfinished one (a muscle went away)
            pending = np.flatnonzero(np.isnan(self.scores))
            index = int(self.rng.choice(pending)) if len(pending) else 0
        self.handed[index] += 1
        self.assigned[muscle_id] = index
        self.episode_return[muscle_id] = 0.0
        return self._assignment(muscle_id)

    def _assignment(self, muscle_id: str) -> dict[str, Any]:
        index = self.assigned[muscle_id]
        return {"candidate": index, "generation": self.generation,
                "weights": self.candidates[index].reshape(self.shape),
                "mean": self.mean.reshape(self.shape)}

    def thinking(self, muscle_id: str, data_from_muscle: Any, step: Step | None) -> Any:
        if self.mode is not Mode.TRAIN:
            return None   # testing: the muscle acts with the mean
        if muscle_id not in self.assigned:
            return self._hand_out(muscle_id)
        if step is None:   # an episode starts: the muscle runs what it was handed
            return self._assignment(muscle_id)
        tag = data_from_muscle if isinstance(data_from_muscle, dict) else {}
        if (tag.get("generation") != self.generation
                or tag.get("candidate") != self.assigned[muscle_id]):
            # The muscle runs another candidate (it takes a new one at its next episode):
            # its steps do not count; repeat its assignment at episode end in case it was lost.
            self.episode_return[muscle_id] = 0.0
            return self._assignment(muscle_id) if step.done else None
        value = step.objective if step.objective is not None else float(step.rewards.sum())
        self.episode_return[muscle_id] += value
        if not step.done:
            return None
        index = self.assigned[muscle_id]
        self.returns[index].append(self.episode_return[muscle_id])
        if len(self.returns[index]) >= self.episodes_per_candidate:
            self.scores[index] = float(np.mean(self.returns[index]))
        if not np.any(np.isnan(self.scores)):
            self._refit()
        return self._hand_out(muscle_id)

    def _refit(self) -> None:
        elite = self.candidates[np.argsort(self.scores)[-self.n_elite:]]
        self.add_statistics("generation_best_return", float(np.max(self.scores)))
        self.add_statistics("generation_mean_return", float(np.mean(self.scores)))
        self.mean = elite.mean(axis=0)
        self.std = np.maximum(elite.std(axis=0) + self.extra_std, self.min_std)
        self.generation += 1
        self._new_generation()

    def dump(self) -> dict[str, dict[str, np.ndarray]]:
        return {"policy": {"mean": self.mean.reshape(self.shape), "std": self.std.reshape(self.shape),
                           "generation": np.array(self.generation)}}

    def restore(self, states: dict[str, dict[str, np.ndarray]]) -> None:
        pol = states["policy"]
        if pol["mean"].shape != self.shape:
            raise ValueError(f"stored policy has shape {pol['mean'].shape}, this brain {self.shape}")
        self.mean = np.array(pol["mean"], dtype=np.float64).reshape(-1)
        self.std = np.array(pol["std"], dtype=np.float64).reshape(-1)
        self.generation = int(pol["generation"])
        self._new_generation()


class CEMMuscle(Muscle):
    """Acts with a linear policy a = W phi(sensors), clipped into the actuator spaces."""

    def setup(self) -> None:
        self.features = feature_map(str(self.params.get("features", "raw")))
        self.weights: np.ndarray | None = None
        self.mean: np.ndarray | None = None
        self.tag: dict[str, int] = {}
        self.pending: dict[str, Any] | None = None

    def propose_actions(self, sensors: Sequence[SensorInformation],
                        actuators_available: Sequence[ActuatorInformation]
                        ) -> tuple[Sequence[ActuatorInformation], Any]:
        phi = self.features(flat_values(sensors))
        weights = self.mean if self.mode is Mode.TEST else self.weights
        n_out = sum(a.space.flat_size for a in actuators_available)
        action = weights @ phi if weights is not None else np.zeros(n_out)
        set_actuators(actuators_available, action)
        return actuators_available, dict(self.tag)

    def update(self, update: Any) -> None:
        # a candidate is scored per whole episode: take it at the next reset
        self.pending = {"weights": np.asarray(update["weights"], dtype=np.float64),
                        "mean": np.asarray(update["mean"], dtype=np.float64),
                        "tag": {"candidate": int(update["candidate"]),
                                "generation": int(update["generation"])}}
        self.mean = self.pending["mean"]
        if self.weights is None:   # nothing to finish: start with it now
            self.reset()

    def reset(self) -> None:
        if self.pending is not None:
            self.weights, self.tag = self.pending["weights"], self.pending["tag"]
            self.pending = None

    def prepare_model(self) -> bool:
        state = self.load_arrays("policy")
        if state is None:
            return False
        self.mean = np.array(state["mean"], dtype=np.float64)
        self.weights = self.mean
        return True
