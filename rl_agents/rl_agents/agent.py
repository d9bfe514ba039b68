"""Brain, Muscle and Objective: the three parts of an agent (palaestrAI style).

- The **Muscle** acts: it turns sensor readings into actuator setpoints
  (`propose_actions`) and applies what its brain sends back (`update`).
- The **Brain** learns: `thinking(muscle_id, data_from_muscle, step)` gets what
  one muscle sent plus the step it made (also appended to `memory`) and returns
  an update for that muscle, or something falsy for "no update".
- The **Objective** is the agent's own utility: `internal_reward(memory)`.

One brain serves several muscles; they meet in-process (`rl_agents.loop`) or
over ZeroMQ (`rl_agents.transport`).
"""

from __future__ import annotations

import enum
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rl_agents.information import ActuatorInformation, SensorInformation
from rl_agents.memory import Memory
from rl_agents.spaces import Discrete


class Mode(enum.Enum):
    TRAIN = "train"
    TEST = "test"

    @classmethod
    def parse(cls, text: str | Mode) -> Mode:
        if isinstance(text, Mode):
            return text
        try:
            return cls(str(text).strip().lower())
        except ValueError:
            raise ValueError(f"mode must be 'train' or 'test', got {text!r}") from None


@dataclass
class Step:
    """One step a muscle made: flat vectors, as sent to the brain."""

    sensors: np.ndarray
    actuators: np.ndarray
    rewards: np.ndarray
    objective: float | None
    next_sensors: np.ndarray
    done: bool = False       # the episode ended after this step
    terminal: bool = False   # ... because an absorbing state was reached (not a time limit)

    def to_message(self) -> dict[str, Any]:
        return {"sensors": self.sensors, "actuators": self.actuators, "rewards": self.rewards,
                "objective": self.objective, "next_sensors": self.next_sensors,
                "done": self.done, "terminal": self.terminal}

    @classmethod
    def from_message(cls, msg: dict[str, Any]) -> Step:
        try:
            objective = msg["objective"]
            return cls(np.asarray(msg["sensors"], dtype=np.float64).reshape(-1),
                       np.asarray(msg["actuators"], dtype=np.float64).reshape(-1),
                       np.asarray(msg["rewards"], dtype=np.float64).reshape(-1),
                       None if objective is None else float(objective),
                       np.asarray(msg["next_sensors"], dtype=np.float64).reshape(-1),
                       bool(msg["done"]), bool(msg.get("terminal", False)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed step from muscle: {exc}") from exc


class BrainDumper(ABC):
    """Where brain states go: tagged sets of named numpy arrays."""

    @abstractmethod
    def save(self, tag: str, arrays: dict[str, np.ndarray]) -> None: ...

    @abstractmethod
    def load(self, tag: str) -> dict[str, np.ndarray] | None:
        """The arrays saved under `tag`, or None when there are none."""


class FileBrainDumper(BrainDumper):
    """One `<tag>.npz` per tag in a directory; written atomically, read without pickle."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)

    def _path(self, tag: str) -> Path:
        if not tag or any(c in tag for c in "/\\") or tag.startswith("."):
            raise ValueError(f"bad brain dump tag {tag!r}")
        return self.directory / f"{tag}.npz"

    def save(self, tag: str, arrays: dict[str, np.ndarray]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})
            os.replace(tmp, self._path(tag))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self, tag: str) -> dict[str, np.ndarray] | None:
        path = self._path(tag)
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}


class InMemoryBrainDumper(BrainDumper):
    """Keeps states in a dict (tests, in-process experiments)."""

    def __init__(self) -> None:
        self.states: dict[str, dict[str, np.ndarray]] = {}

    def save(self, tag: str, arrays: dict[str, np.ndarray]) -> None:
        self.states[tag] = {k: np.array(v, copy=True) for k, v in arrays.items()}

    def load(self, tag: str) -> dict[str, np.ndarray] | None:
        return self.states.get(tag)


class Brain(ABC):
    """The learner of an agent. Subclasses implement `thinking`, and `dump`/`restore` to store."""

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.sensors: list[SensorInformation] = []
        self.actuators: list[ActuatorInformation] = []
        self.seed: int = 0
        self.memory = Memory(int(params.get("memory_size", 10_000)))
        self.dumpers: list[BrainDumper] = []
        self._statistics: dict[str, Any] = {}

    def configure(self, sensors: Sequence[SensorInformation],
                  actuators: Sequence[ActuatorInformation], seed: int = 0,
                  dumpers: Sequence[BrainDumper] = ()) -> None:
        """Tell the brain what it works with, then call `setup()`."""
        self.sensors, self.actuators, self.seed = list(sensors), list(actuators), int(seed)
        self.dumpers = list(dumpers)
        self.setup()

    def setup(self) -> None:  # noqa: B027 (optional hook)
        """Called once sensors, actuators and seed are known, before the first step."""

    def think(self, muscle_id: str, data_from_muscle: Any, step: Step | None) -> Any:
        """Remember the step, then `thinking`; what transports call."""
        if step is not None:
            self.memory.append(step.sensors, step.actuators, step.rewards, step.done,
                               step.objective, muscle_id)
        return self.thinking(muscle_id, data_from_muscle, step)

    @abstractmethod
    def thinking(self, muscle_id: str, data_from_muscle: Any, step: Step | None) -> Any:
        """Learn from what `muscle_id` sent; return its update (falsy: none)."""

    def dump(self) -> dict[str, dict[str, np.ndarray]]:
        """The brain's state by tag (e.g. 'actor'); empty when it has none."""
        return {}

    def restore(self, states: dict[str, dict[str, np.ndarray]]) -> None:  # noqa: B027 (optional hook)
        """Take back what `dump` returned."""

    def store(self) -> None:
        """Write `dump()` through every dumper."""
        for tag, arrays in self.dump().items():
            for dumper in self.dumpers:
                dumper.save(tag, arrays)

    def load(self) -> bool:
        """Restore from the first dumper that has every tag; whether anything was loaded."""
        tags = list(self.dump())
        for dumper in self.dumpers:
            states = {tag: dumper.load(tag) for tag in tags}
            if tags and all(v is not None for v in states.values()):
                self.restore(states)
                return True
        return False

    def add_statistics(self, key: str, value: Any) -> None:
        self._statistics[key] = value

    def pop_statistics(self) -> dict[str, Any]:
        stats, self._statistics = self._statistics, {}
        return stats


class Muscle(ABC):
    """The worker of an agent: acts in an environment with what its brain taught it."""

    def __init__(self, uid: str = "muscle", **params: Any) -> None:
        self.uid = uid
        self.params = params
        self.mode = Mode.TRAIN
        self.memory = Memory(int(params.get("memory_size", 1_000)))
        self.model_loaders: list[BrainDumper] = []
        self.seed: int = 0
        self._statistics: dict[str, Any] = {}

    def configure(self, seed: int = 0, mode: Mode | str = Mode.TRAIN,
                  model_loaders: Sequence[BrainDumper] = ()) -> None:
        self.seed, self.mode = int(seed), Mode.parse(mode)
        self.model_loaders = list(model_loaders)
        self.setup()

    def setup(self) -> None:  # noqa: B027 (optional hook)
        """Called once before the first step (model loading is `prepare_model`)."""

    @abstractmethod
    def propose_actions(self, sensors: Sequence[SensorInformation],
                        actuators_available: Sequence[ActuatorInformation]
                        ) -> tuple[Sequence[ActuatorInformation], Any]:
        """Set the actuators' values; return them and the data for the brain."""

    def update(self, update: Any) -> None:  # noqa: B027 (optional hook)
        """Apply what the brain sent."""

    def reset(self) -> None:  # noqa: B027 (optional hook)
        """A new episode begins."""

    def load(self, tag: str) -> dict[str, np.ndarray] | None:
        for loader in self.model_loaders:
            state = loader.load(tag)
            if state is not None:
                return state
        return None

    def prepare_model(self) -> bool:
        """Load a stored brain state for testing; whether one was found."""
        return False

    def add_statistics(self, key: str, value: Any, allow_overwrite: bool = False) -> None:
        if not allow_overwrite and key in self._statistics:
            raise KeyError(f"statistic {key!r} already set this step")
        self._statistics[key] = value

    def pop_statistics(self) -> dict[str, Any]:
        stats, self._statistics = self._statistics, {}
        return stats


class Objective(ABC):
    """The agent's utility, computed from its memory."""

    def __init__(self, **params: Any) -> None:
        self.params = params

    @abstractmethod
    def internal_reward(self, memory: Memory) -> float | np.ndarray | None:
        """Utility of the newest step; None means 'discard the step'."""


class DummyObjective(Objective):
    """The sum of the environment rewards of the newest step."""

    def internal_reward(self, memory: Memory) -> float:
        shard = memory.tail(1)
        return float(shard.rewards.sum()) if len(shard) else 0.0


class DummyBrain(Brain):
    """Learns nothing; answers each muscle with how many messages it sent (its counter)."""

    def setup(self) -> None:
        self.counts: dict[str, int] = {}

    def thinking(self, muscle_id: str, data_from_muscle: Any, step: Step | None) -> int:
        self.counts[muscle_id] = self.counts.get(muscle_id, 0) + 1
        return self.counts[muscle_id]

    def dump(self) -> dict[str, dict[str, np.ndarray]]:
        ids = sorted(getattr(self, "counts", {}))
        return {"counts": {"ids": np.array(ids, dtype="U64"),
                           "counts": np.array([self.counts[i] for i in ids], dtype=np.int64)}}

    def restore(self, states: dict[str, dict[str, np.ndarray]]) -> None:
        c = states["counts"]
        self.counts = {str(i): int(n) for i, n in zip(c["ids"], c["counts"], strict=True)}


class DummyMuscle(Muscle):
    """Samples every actuator's space; with `count_upwards`, Discrete actuators
    take the brain's counter modulo n instead (deterministic, for tests)."""

    def setup(self) -> None:
        self.iter = 0
        self.count_upwards = bool(self.params.get("count_upwards", False))
        self._seeded = False

    def propose_actions(self, sensors: Sequence[SensorInformation],
                        actuators_available: Sequence[ActuatorInformation]
                        ) -> tuple[Sequence[ActuatorInformation], Any]:
        if not self._seeded:
            for i, actuator in enumerate(actuators_available):
                actuator.space.seed(self.seed * 1000 + i)
            self._seeded = True
        for actuator in actuators_available:
            if self.count_upwards and isinstance(actuator.space, Discrete):
                actuator(self.iter % actuator.space.n)
            else:
                actuator(actuator.space.sample())
        return actuators_available, self.iter

    def update(self, update: Any) -> None:
        self.iter = int(update)
