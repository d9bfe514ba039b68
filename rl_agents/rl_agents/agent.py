"""Brain, Muscle and Objective: the three parts of an agent (palaestrAI's design and API).

- The **Muscle** acts: it turns sensor readings into actuator setpoints
  (`propose_actions`) and applies what its brain sends back (`update`).
- The **Brain** learns: `thinking(muscle_id, data_from_muscle)` gets what one
  muscle sent (the step it made is in `memory`) and returns an update for that
  muscle, or None for "no update". rl_agents' own brains take a third
  argument, `step`: the same step as flat numpy vectors (the fast path).
- The **Objective** is the agent's own utility: `internal_reward(memory)`.

Classes, signatures and call order are palaestrAI 3.5's (rl_agents/README.md
lists where rl_agents differs on purpose). One brain serves several muscles;
they meet in-process (`rl_agents.loop`) or over ZeroMQ (`rl_agents.transport`).
"""

from __future__ import annotations

import enum
import inspect
import io
import logging
import os
import sys
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from rl_agents.information import ActuatorInformation, OutOfActionSpaceError, SensorInformation
from rl_agents.memory import Memory
from rl_agents.spaces import Discrete

LOG = logging.getLogger(__name__)


class Mode(enum.Enum):
    TRAIN = "train"
    TEST = "test"
    EVALUATE = "evaluate"   # palaestrAI: a test run between training phases

    @classmethod
    def parse(cls, text: str | Mode) -> Mode:
        if isinstance(text, Mode):
            return text
        try:
            return cls(str(text).strip().lower())
        except ValueError:
            raise ValueError(f"mode must be 'train', 'test' or 'evaluate', got {text!r}") from None

    @property
    def acting(self) -> Mode:
        """The mode agents see while acting and thinking: EVALUATE acts as TEST."""
        return Mode.TEST if self is Mode.EVALUATE else self

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
    reward_uids: list[str] | None = None   # names of the rewards (columns of memory tables)

    def to_message(self) -> dict[str, Any]:
        msg = {"sensors": self.sensors, "actuators": self.actuators, "rewards": self.rewards,
               "objective": self.objective, "next_sensors": self.next_sensors,
               "done": self.done, "terminal": self.terminal}
        if self.reward_uids:
            msg["reward_uids"] = list(self.reward_uids)
        return msg

    @classmethod
    def from_message(cls, msg: dict[str, Any]) -> Step:
        try:
            objective = msg["objective"]
            return cls(np.asarray(msg["sensors"], dtype=np.float64).reshape(-1),
                       np.asarray(msg["actuators"], dtype=np.float64).reshape(-1),
                       np.asarray(msg["rewards"], dtype=np.float64).reshape(-1),
                       None if objective is None else float(objective),
                       np.asarray(msg["next_sensors"], dtype=np.float64).reshape(-1),
                       bool(msg["done"]), bool(msg.get("terminal", False)),
                       [str(u) for u in msg["reward_uids"]] if msg.get("reward_uids") else None)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed step from muscle: {exc}") from exc


@dataclass
class BrainLocation:
    """Where a brain dump belongs: agent, experiment run and phase (as palaestrAI's)."""

    agent_name: str
    experiment_run_uid: str
    experiment_run_phase: int


class NoBrainLocatorError(RuntimeError):
    def __init__(self) -> None:
        super().__init__("No brain location specified, cannot store or load")


class NoBrainFoundError(RuntimeError):
    def __init__(self, locator: Any) -> None:
        super().__init__(f"No brain data found at the given location {locator}")
        self.locator = locator


class BrainDumper(ABC):
    """Where brain states go: tagged byte streams (file-like objects), as in palaestrAI.

    `save(brain_state, tag)` stores a readable binary stream; `load(tag)` returns
    one (positioned at 0) or raises. `store_brain_dump` / `load_brain_dump` go
    through several dumpers the way palaestrAI's do: every dumper stores, the
    first that can load answers.
    """

    def __init__(self, dump_to: Any = None, load_from: Any = None) -> None:
        self._brain_destination = dump_to
        self._brain_source = load_from

    @abstractmethod
    def save(self, brain_state: BinaryIO, tag: str | None = None) -> None: ...

    def load(self, tag: str | None = None) -> BinaryIO:
        if self._brain_source is None:
            raise NoBrainLocatorError()
        bio = self._load(self._brain_source, tag)
        bio.seek(0)
        return bio

    @abstractmethod
    def _load(self, source_locator: Any, tag: str | None = None) -> BinaryIO: ...

    @staticmethod
    def load_brain_dump(loaders: Sequence[BrainDumper], tag: str | None = None
                        ) -> BinaryIO | None:
        """The first dump any loader has under `tag`; an empty stream when there are no
        loaders, None when none of them has one (as palaestrAI)."""
        if not loaders:
            LOG.debug("asked to load a brain dump, but there are no loaders")
            return io.BytesIO()
        for loader in loaders:
            try:
                bio = loader.load(tag)
                bio.seek(0)
                return bio
            except Exception as exc:   # a loader that has nothing (or failed): try the next
                LOG.debug("no brain dump %r from %s: %s", tag, loader, exc)
        return None

    @staticmethod
    def store_brain_dump(brain_state: BinaryIO, dumpers: Sequence[BrainDumper],
                         tag: str | None = None) -> None:
        """Store `brain_state` with every dumper; logs the ones that failed."""
        failed = []
        for dumper in dumpers:
            brain_state.seek(0)
            try:
                dumper.save(brain_state, tag)
            except Exception as exc:   # one broken store must not stop the others
                LOG.error("could not store the brain dump with %r: %s", dumper, exc)
                failed.append(dumper)
        if failed and len(failed) == len(dumpers):
            LOG.critical("no dumper could store the brain dump %r", tag)


def _tag_name(tag: str | None) -> str:
    name = "brain" if tag is None else str(tag)
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise ValueError(f"bad brain dump tag {tag!r}")
    return name


class FileBrainDumper(BrainDumper):
    """One `<tag>.bin` per tag (`brain.bin` untagged) in a directory; written atomically."""

    def __init__(self, directory: str | os.PathLike, load_from: str | os.PathLike | None = None
                 ) -> None:
        directory = Path(directory)
        super().__init__(dump_to=directory,
                         load_from=Path(load_from) if load_from is not None else directory)
        self.directory = directory

    def save(self, brain_state: BinaryIO, tag: str | None = None) -> None:
        path = self.directory / f"{_tag_name(tag)}.bin"
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".bin.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(brain_state.read())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _load(self, source_locator: Any, tag: str | None = None) -> BinaryIO:
        path = Path(source_locator) / f"{_tag_name(tag)}.bin"
        if not path.exists():
            raise FileNotFoundError(path)
        return io.BytesIO(path.read_bytes())

    def __repr__(self) -> str:
        return f"FileBrainDumper({str(self.directory)!r})"


class InMemoryBrainDumper(BrainDumper):
    """Keeps dumps as bytes in a dict (tests, in-process experiments)."""

    def __init__(self) -> None:
        super().__init__(dump_to="memory", load_from="memory")
        self.states: dict[str | None, bytes] = {}

    def save(self, brain_state: BinaryIO, tag: str | None = None) -> None:
        self.states[tag] = brain_state.read()

    def _load(self, source_locator: Any, tag: str | None = None) -> BinaryIO:
        if tag not in self.states:
            raise NoBrainFoundError(f"memory, tag {tag!r}")
        return io.BytesIO(self.states[tag])


def arrays_to_bytes(arrays: dict[str, np.ndarray]) -> io.BytesIO:
    """Named arrays as an .npz byte stream (read back without pickle)."""
    bio = io.BytesIO()
    np.savez(bio, **{k: np.asarray(v) for k, v in arrays.items()})
    bio.seek(0)
    return bio


def arrays_from_bytes(bio: BinaryIO | None) -> dict[str, np.ndarray] | None:
    """What `arrays_to_bytes` wrote; None for no stream or an empty one."""
    if bio is None:
        return None
    raw = bio.read()
    if not raw:
        return None
    with np.load(io.BytesIO(raw), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _takes_step(method: Any) -> bool:
    """Whether a `thinking` accepts rl_agents' third argument `step`."""
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
    return "step" in params or len(params) >= 3 or any(
        p.kind is inspect.Parameter.VAR_POSITIONAL for p in params.values())


class Brain(ABC):
    """The learner of an agent.

    palaestrAI's API: constructed with its params as keywords (`Brain()` takes
    none), then `sensors`, `actuators`, `seed` and the dumpers are set and
    `setup()` is called; `thinking(muscle_id, data_from_muscle)`; `store()` /
    `load()` through `BrainDumper.store_brain_dump` / `load_brain_dump`;
    `pretrain()`, `evaluate_rollouts(...)`, `try_load_brain_dump()`; properties
    `memory`, `seed`, `name`; `mode`. rl_agents' brains may instead implement
    `dump()` / `restore()` of named arrays (stored as .npz streams, read
    without pickle) and take `step` in `thinking`.
    """

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.sensors: list[SensorInformation] = []
        self.actuators: list[ActuatorInformation] = []
        self.mode: Mode = Mode.TRAIN
        self._seed: int = 0
        self._name: str = ""
        self._memory = Memory(int(params.get("memory_size", 100_000)))
        self._dumpers: list[BrainDumper] = []
        self._statistics: dict[str, Any] = {}
        self.last_statistics: dict[str, Any] = {}
        self._set_up = False
        self._deferred_load = False
        self._loaded = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def memory(self) -> Memory:
        return self._memory

    @property
    def dumpers(self) -> list[BrainDumper]:
        return self._dumpers

    def configure(self, sensors: Sequence[SensorInformation],
                  actuators: Sequence[ActuatorInformation], seed: int = 0,
                  dumpers: Sequence[BrainDumper] = (), *, name: str = "",
                  load: bool = False) -> bool:
        """What palaestrAI's Learner does before the first step: set sensors,
        actuators, seed, dumpers; with `load`, `try_load_brain_dump()`; `setup()`;
        `pretrain()` when the memory holds replayed rows (then a fresh memory).
        Returns whether a stored state was loaded."""
        self.sensors, self.actuators = list(sensors), list(actuators)
        self._seed, self._name = int(seed), name
        self._dumpers = list(dumpers)
        self._loaded = False
        if load:
            self.try_load_brain_dump()
        self.setup()
        self._set_up = True
        if self._deferred_load:
            self._deferred_load = False
            self._loaded = self._load_arrays()
        self._memory.set_columns(self.sensors, self.actuators)
        if len(self._memory):
            self.pretrain()
            self._memory = Memory(self._memory.size_limit)
            self._memory.set_columns(self.sensors, self.actuators)
        return self._loaded

    def setup(self) -> None:  # noqa: B027 (optional hook)
        """Called once sensors, actuators and seed are known, before the first step."""

    def pretrain(self) -> None:
        """Offline learning from the rows already in `memory` (replayed experience)."""
        LOG.debug("%s could pretrain on %d rows; no implementation", self, len(self._memory))

    def evaluate_rollouts(self, experiment_run_uid: str, experiment_run_instance_uid: str,
                          experiment_run_phase: int, agent_name: str, episode: int) -> Any:
        """Called after the rollouts of an evaluation; may pick and store the best model."""
        return None

    def try_load_brain_dump(self) -> None:
        """`load()` when any dumper has a source; a failing load is logged, not raised."""
        if not any(getattr(d, "_brain_source", None) for d in self._dumpers):
            return
        try:
            result = self.load()
            if result is not None:
                self._loaded = bool(result)
        except Exception as exc:   # user code: the brain goes on untrained
            LOG.error("%s could not load its brain dump: %s", self, exc)

    def think(self, muscle_id: str, data_from_muscle: Any, step: Step | None = None,
              mode: Mode | str | None = None) -> Any:
        """What transports call, in palaestrAI's Learner order: remember the step,
        `thinking` (in the acting mode), `store()` when the episode ended."""
        request_mode = Mode.parse(mode) if mode is not None else self.mode
        if step is not None:
            if step.reward_uids and "rewards" not in self._memory._names:
                self._memory._names["rewards"] = list(step.reward_uids)
            self._memory.append_vectors(step.sensors, step.actuators, step.rewards, step.done,
                                        step.objective, muscle_id)
        self.mode = request_mode.acting
        cls = type(self)
        takes_step = cls.__dict__.get("_rl_takes_step")
        if takes_step is None:
            takes_step = _takes_step(self.thinking)
            cls._rl_takes_step = takes_step
        if takes_step:
            update = self.thinking(muscle_id, data_from_muscle, step)
        else:
            update = self.thinking(muscle_id, data_from_muscle)
        if step is not None and step.done:
            self.store()
        self.last_statistics = self.pop_statistics()   # per request, as palaestrAI's Learner
        self.mode = request_mode
        if request_mode is Mode.TEST:
            self._memory.size_limit = 2
        return update

    @abstractmethod
    def thinking(self, muscle_id: str, data_from_muscle: Any) -> Any:
        """Learn from what `muscle_id` sent (the step is in `memory`); return its
        update, or None for none."""

    def dump(self) -> dict[str, dict[str, np.ndarray]]:
        """rl_agents' storage: the brain's state by tag (e.g. 'actor'); empty when none."""
        return {}

    def restore(self, states: dict[str, dict[str, np.ndarray]]) -> None:  # noqa: B027 (optional hook)
        """Take back what `dump` returned."""

    def store(self) -> None:
        """Write `dump()` through every dumper, one .npz stream per tag."""
        for tag, arrays in self.dump().items():
            BrainDumper.store_brain_dump(arrays_to_bytes(arrays), self._dumpers, tag)

    def load(self) -> bool | None:
        """Restore what `store()` wrote (deferred until `setup()` has run)."""
        if not self._set_up:
            self._deferred_load = True
            return None
        return self._load_arrays()

    def _load_arrays(self) -> bool:
        tags = list(self.dump())
        if not tags or not self._dumpers:
            return False
        states = {}
        for tag in tags:
            arrays = arrays_from_bytes(BrainDumper.load_brain_dump(self._dumpers, tag))
            if arrays is None:
                return False
            states[tag] = arrays
        self.restore(states)
        return True

    def add_statistics(self, key: str, value: Any, allow_overwrite: bool = False) -> None:
        if not allow_overwrite and key in self._statistics:
            raise KeyError(f"statistic {key!r} already set this step")
        self._statistics[key] = value

    def pop_statistics(self) -> dict[str, Any]:
        stats, self._statistics = self._statistics, {}
        return stats

    def __str__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r})"


class Muscle(ABC):
    """The worker of an agent: acts in an environment with what its brain taught it.

    palaestrAI's API: constructed with its params as keywords (`Muscle(**params)`;
    rl_agents also takes the uid first, `Muscle(uid, **params)`), `uid`,
    `mode`, `memory`, `setup()`, `propose_actions`, `update`, `reset`,
    `prepare_model`, `teardown`, `load(tag)` (a byte stream through the model
    loaders), `add_statistics` / `pop_statistics`. rl_agents adds `seed` and
    `load_arrays(tag)`.
    """

    def __init__(self, *args: Any, **params: Any) -> None:
        uid = args[0] if args and isinstance(args[0], str) else None
        self._uid: str = uid or f"Muscle-{uuid.uuid4().hex[-6:]}"
        self.params = params
        self._mode = Mode.TRAIN
        self._memory = Memory(int(params.get("memory_size", 1_000)))
        self._model_loaders: list[BrainDumper] = []
        self._seed: int = 0
        self._statistics: dict[str, Any] = {}

    @property
    def uid(self) -> str:
        return self._uid

    @uid.setter
    def uid(self, uid: str) -> None:
        self._uid = str(uid)

    @property
    def name(self) -> str:
        return self._uid

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, mode: Mode | str) -> None:
        self._mode = Mode.parse(mode)

    @property
    def memory(self) -> Memory:
        return self._memory

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def model_loaders(self) -> list[BrainDumper]:
        return self._model_loaders

    def configure(self, seed: int = 0, mode: Mode | str = Mode.TRAIN,
                  model_loaders: Sequence[BrainDumper] = (), uid: str | None = None
                  ) -> bool | None:
        """Set seed, mode, loaders (and uid), `setup()`; in TEST or EVALUATE mode then
        `prepare_model()`, whose answer is returned (None otherwise)."""
        self._seed, self._mode = int(seed), Mode.parse(mode)
        self._model_loaders = list(model_loaders)
        if uid is not None:
            self._uid = str(uid)
        self.setup()
        if self._mode is not Mode.TRAIN:
            return self.prepare_model()
        return None

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

    def teardown(self) -> None:  # noqa: B027 (optional hook)
        """Called once before the muscle shuts down."""

    def load(self, tag: str | None = None) -> BinaryIO | None:
        """The stored brain dump `tag` as a byte stream (None when no loader has it)."""
        bio = BrainDumper.load_brain_dump(self._model_loaders, tag)
        if bio is not None:
            bio.seek(0)
        return bio

    def load_arrays(self, tag: str) -> dict[str, np.ndarray] | None:
        """The named arrays a `dump()`/`store()` brain stored under `tag`."""
        if not self._model_loaders:
            return None
        return arrays_from_bytes(self.load(tag))

    def prepare_model(self) -> bool | None:
        """Load a stored brain state for testing; whether one was found."""
        return False

    def add_statistics(self, key: str, value: Any, allow_overwrite: bool = False) -> None:
        if not allow_overwrite and key in self._statistics:
            raise KeyError(f"statistic {key!r} already set this step")
        self._statistics[key] = value

    def pop_statistics(self) -> dict[str, Any]:
        stats, self._statistics = self._statistics, {}
        return stats

    def __str__(self) -> str:
        return f"{type(self).__name__}(uid={self._uid!r})"


class Objective(ABC):
    """The agent's utility, computed from its memory.

    Takes its params as palaestrAI's does (`Objective(params)`, a dict) or as
    keywords (`Objective(**params)`, how experiment files construct it).
    """

    def __init__(self, params: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.params = {**(params or {}), **kwargs}

    @abstractmethod
    def internal_reward(self, memory: Memory, **kwargs: Any) -> float | np.ndarray | None:
        """Utility of the newest step; None (or an empty array) means 'discard the step'."""


class DummyObjective(Objective):
    """The sum of the environment rewards of the newest step (0.0 when there is none)."""

    def internal_reward(self, memory: Memory, **kwargs: Any) -> float:
        shard = memory.tail(1)
        return float(shard.rewards.values.sum()) if len(shard) else 0.0


class DummyBrain(Brain):
    """Learns nothing: answers `data_from_muscle + 1` (0 when there is none), which the
    DummyMuscle takes as its counter. Stores that value as bytes (as palaestrAI's)."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._dummy_value = 42

    def thinking(self, muscle_id: str, data_from_muscle: Any) -> int:
        self._dummy_value = int(data_from_muscle) + 1 if data_from_muscle is not None else 0
        return self._dummy_value

    def store(self) -> None:
        value = max(0, int(self._dummy_value))
        bio = io.BytesIO(value.to_bytes((value.bit_length() + 7) // 8, sys.byteorder))
        BrainDumper.store_brain_dump(bio, self._dumpers)

    def load(self) -> bool:
        bio = BrainDumper.load_brain_dump(self._dumpers)
        if bio is None:
            return False
        self._dummy_value = int.from_bytes(bio.read(), sys.byteorder)
        return True


class DummyMuscle(Muscle):
    """Samples every actuator's space; with `count_upwards`, Discrete actuators take the
    counter its brain sends, modulo n (deterministic, for tests). Sends the counter."""

    def __init__(self, *args: Any, count_upwards: bool = False, **params: Any) -> None:
        super().__init__(*args, **params)
        self.iter = -1
        self.count_upwards = bool(count_upwards)
        self._seeded = False

    def propose_actions(self, sensors: Sequence[SensorInformation],
                        actuators_available: Sequence[ActuatorInformation]
                        ) -> tuple[Sequence[ActuatorInformation], Any]:
        if not self._seeded:   # rl_agents: a seeded muscle samples reproducibly
            for i, actuator in enumerate(actuators_available):
                actuator.space.seed(self.seed * 1000 + i)
            self._seeded = True
        for actuator in actuators_available:
            if self.count_upwards and isinstance(actuator.space, Discrete):
                value = int(self.iter % actuator.space.n)
            else:
                value = actuator.space.sample()
            try:
                actuator(value)
            except OutOfActionSpaceError:
                actuator(np.array(value, dtype=getattr(actuator.space, "dtype", np.int64)))
        return actuators_available, self.iter

    def update(self, update: Any) -> None:
        self.iter = int(update)
