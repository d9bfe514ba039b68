"""Spaces: what values a sensor reports or an actuator accepts.

Box, Discrete, MultiBinary, MultiDiscrete and Tuple, each with `sample()`,
`contains()`, a flat numeric vector form (`flatten` / `unflatten`) and a string
form that `Space.from_string` parses back, e.g.
`Box(low=[-1.0, -1.0], high=[1.0, 1.0], shape=(2,), dtype=np.float32)`,
`Discrete(3)`, `MultiBinary(4)`, `Tuple(Discrete(2), Box(low=0.0, high=1.0, shape=(), dtype=np.float64))`.
The parser is a small literal parser: it never evaluates code.
"""

from __future__ import annotations

import ast
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

# Spaces hold numbers only; anything else (object, str, void) is refused.
_NUMERIC_KINDS = "biuf"


def numeric_dtype(name: str | np.dtype | type) -> np.dtype:
    """A numpy dtype from its name ('float32', 'np.int64'); refuses non-numeric dtypes."""
    if isinstance(name, str):
        name = name.strip()
        name = name[3:] if name.startswith("np.") else name
        name = name[6:] if name.startswith("numpy.") else name
    try:
        dtype = np.dtype(name)
    except TypeError as exc:
        raise ValueError(f"unknown dtype {name!r}") from exc
    if dtype.kind not in _NUMERIC_KINDS:
        raise ValueError(f"dtype {dtype} is not numeric (bool, int, uint or float expected)")
    return dtype


class Space(ABC):
    """A set of values, with a random generator of its own for `sample()`."""

    def __init__(self, seed: int | None = None) -> None:
        self._seed = seed
        self._generator: np.random.Generator | None = None  # made on first sample()

    @property
    def _rng(self) -> np.random.Generator:
        if self._generator is None:
            self._generator = np.random.default_rng(self._seed)
        return self._generator

    def seed(self, seed: int | None) -> None:
        """Reseed `sample()`."""
        self._seed, self._generator = seed, None

    @abstractmethod
    def sample(self) -> Any:
        """A random member of the space."""

    @abstractmethod
    def contains(self, x: Any) -> bool:
        """Whether `x` is a member of the space."""

    @abstractmethod
    def to_string(self) -> str:
        """The string form that `Space.from_string` parses back."""

    @property
    @abstractmethod
    def flat_size(self) -> int:
        """Length of the flat vector form."""

    @abstractmethod
    def flatten(self, x: Any) -> np.ndarray:
        """A member as a flat float64 vector of `flat_size` numbers."""

    @abstractmethod
    def unflatten(self, vector: np.ndarray) -> Any:
        """The member a flat vector stands for (rounded/clipped into the space)."""

    def __contains__(self, x: Any) -> bool:
        return self.contains(x)

    # palaestrAI's vector API (an agent's view): `to_vector` may differ from
    # `flatten` (Discrete: one-hot), `reshape_to_space` takes it back.
    def to_vector(self, data: Any, **kwargs: Any) -> np.ndarray:
        """`data` (a member) as a flat vector, as palaestrAI agents expect it."""
        return self.flatten(data)

    def reshape_to_space(self, value: Any, **kwargs: Any) -> Any:
        """A flat vector (from `to_vector`) in the space's shape and dtype."""
        return self.unflatten(np.asarray(value, dtype=np.float64))

    @abstractmethod
    def __len__(self) -> int:
        """The number of values in the space (palaestrAI's definition)."""

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return self.to_string()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.to_string() == other.to_string()

    def __hash__(self) -> int:
        return hash(self.to_string())

    @staticmethod
    def from_string(text: str) -> Space:
        """Parse the string form of any space."""
        match = re.fullmatch(r"\s*(\w+)\((.*)\)\s*", text, flags=re.DOTALL)
        if not match:
            raise ValueError(f"not a space: {text!r} (expected e.g. 'Discrete(3)')")
        name, inner = match.group(1), match.group(2)
        parsers = {"Box": Box._parse, "Discrete": Discrete._parse,
                   "MultiBinary": MultiBinary._parse, "MultiDiscrete": MultiDiscrete._parse,
                   "Tuple": Tuple._parse}
        if name not in parsers:
            raise ValueError(f"unknown space {name!r} in {text!r}; known: {sorted(parsers)}")
        try:
            return parsers[name](inner)
        except (ValueError, SyntaxError, TypeError) as exc:
            raise ValueError(f"cannot parse {text!r}: {exc}") from exc


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside (), [] or {}."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced brackets in {text!r}")
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if depth != 0:
        raise ValueError(f"unbalanced brackets in {text!r}")
    tail = text[start:].strip()
    if tail:
        parts.append(tail)
    return parts


def _keyword_args(inner: str) -> tuple[list[str], dict[str, str]]:
    positional, keywords = [], {}
    for part in _split_top_level(inner):
        key, sep, value = part.partition("=")
        if sep and re.fullmatch(r"\s*\w+\s*", key):
            keywords[key.strip()] = value.strip()
        else:
            positional.append(part)
    return positional, keywords


_INF_RE = re.compile(r"(?<![\w.'\"])([+-]?)inf(?![\w'\"])")


def _literal_numbers(text: str) -> Any:
    """A number or nested list of numbers; understands inf and nan."""
    quoted = _INF_RE.sub(lambda m: f"'{m.group(1)}inf'", text).replace("nan", "'nan'")
    value = ast.literal_eval(quoted)

    def to_float(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [to_float(x) for x in v]
        if isinstance(v, str):
            return float(v)
        if isinstance(v, (int, float, bool)):
            return v
        raise ValueError(f"not a number: {v!r}")

    return to_float(value)


def _vector_width(space: Space) -> int:
    """Length of `space.to_vector(member)`."""
    if isinstance(space, Discrete):
        return space.n
    if isinstance(space, MultiDiscrete):
        return int(space.nvec.sum())
    if isinstance(space, Tuple):
        return sum(_vector_width(s) for s in space.spaces)
    return space.flat_size


class Box(Space):
    """A (possibly unbounded) box in R^n: `low <= x <= high` element-wise."""

    def __init__(self, low: float | Sequence | np.ndarray, high: float | Sequence | np.ndarray,
                 shape: Sequence[int] | None = None, dtype: Any = np.float64,
                 seed: int | None = None) -> None:
        super().__init__(seed)
        self.dtype = numeric_dtype(dtype)
        low_a, high_a = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        if shape is None:
            shape = np.broadcast_shapes(low_a.shape, high_a.shape)
        self.shape = tuple(int(n) for n in shape)
        self.low = np.broadcast_to(low_a, self.shape).astype(self.dtype)
        self.high = np.broadcast_to(high_a, self.shape).astype(self.dtype)
        if np.any(self.low > self.high):
            raise ValueError(f"Box low {self.low.tolist()} exceeds high {self.high.tolist()}")
        self._size = int(np.prod(self.shape, dtype=np.int64))
        # scalar boxes are the common case (one per channel): compare Python floats
        self._scalar_bounds = ((float(self.low.reshape(-1)[0]), float(self.high.reshape(-1)[0]))
                               if self._size == 1
                               else None)

    def sample(self) -> np.ndarray:
        # Draws in gymnasium's order (normal, exponential, exponential, uniform,
        # each only for its elements), so a seeded Box samples what palaestrAI's does.
        low, high = self.low.astype(np.float64), self.high.astype(np.float64)
        if self.dtype.kind in "iub":
            high = np.floor(high) + 1.0
        lo_ok, hi_ok = np.isfinite(low), np.isfinite(high)
        out = np.empty(self.shape)
        neither, only_lo = ~lo_ok & ~hi_ok, lo_ok & ~hi_ok
        only_hi, both = ~lo_ok & hi_ok, lo_ok & hi_ok
        out[neither] = self._rng.normal(size=neither[neither].shape)
        out[only_lo] = self._rng.exponential(size=only_lo[only_lo].shape) + low[only_lo]
        out[only_hi] = high[only_hi] - self._rng.exponential(size=only_hi[only_hi].shape)
        out[both] = self._rng.uniform(low=low[both], high=high[both], size=both[both].shape)
        if self.dtype.kind in "iub":
            out = np.floor(out)
        return out.astype(self.dtype)

    def contains(self, x: Any) -> bool:
        if self._scalar_bounds is not None and isinstance(x, (float, int, np.floating,
                                                              np.integer)):
            return self._scalar_bounds[0] <= x <= self._scalar_bounds[1]
        try:
            arr = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            return False
        if arr.shape != self.shape and not (arr.size == 1 and int(np.prod(self.shape)) == 1):
            return False
        arr = arr.reshape(self.shape)
        return bool(np.all(arr >= self.low) and np.all(arr <= self.high))

    def to_string(self) -> str:
        return (f"Box(low={self.low.tolist()}, high={self.high.tolist()}, "
                f"shape={self.shape}, dtype=np.{self.dtype.name})")

    @property
    def flat_size(self) -> int:
        return self._size

    def flatten(self, x: Any) -> np.ndarray:
        return np.asarray(x, dtype=np.float64).reshape(-1)

    def __len__(self) -> int:
        return self._size

    def reshape_to_space(self, value: Any, **kwargs: Any) -> np.ndarray:
        return np.reshape(np.asarray(value), self.shape).astype(self.dtype)

    def scale(self, data: Any, data_min: Any = 0, data_max: Any = 1) -> np.ndarray:
        """`data`, known to lie in [data_min, data_max] (scalars or per element),
        mapped linearly onto [low, high] (clipped at the ends, like np.interp)."""
        data = np.asarray(data, dtype=np.float64)
        if data.shape != self.shape and not (data.size == 1 and self._size == 1):
            raise ValueError(f"data must be of shape {self.shape}; got {data.shape}")
        data = data.reshape(self.shape)
        d_lo = np.broadcast_to(np.asarray(data_min, dtype=np.float64), self.shape)
        d_hi = np.broadcast_to(np.asarray(data_max, dtype=np.float64), self.shape)
        if np.any(d_hi <= d_lo):
            raise ValueError("data_max must exceed data_min")
        t = np.clip((data - d_lo) / (d_hi - d_lo), 0.0, 1.0)
        low, high = self.low.astype(np.float64), self.high.astype(np.float64)
        return low + t * (high - low)

    def unflatten(self, vector: np.ndarray) -> np.ndarray:
        arr = np.asarray(vector, dtype=np.float64).reshape(self.shape)
        if self._scalar_bounds is not None and self.dtype.kind == "f":
            lo, hi = self._scalar_bounds
            return self.dtype.type(min(max(float(arr), lo), hi)).reshape(self.shape)
        if self.dtype.kind in "iub":
            arr = np.rint(arr)
        return np.clip(arr, self.low, self.high).astype(self.dtype)

    @classmethod
    def _parse(cls, inner: str) -> Box:
        positional, kw = _keyword_args(inner)
        names = ["low", "high", "shape", "dtype"]
        for name, value in zip(names, positional, strict=False):
            kw.setdefault(name, value)
        if "low" not in kw or "high" not in kw:
            raise ValueError("Box needs low and high")
        shape = ast.literal_eval(kw["shape"]) if "shape" in kw else None
        if isinstance(shape, int):
            shape = (shape,)
        return cls(_literal_numbers(kw["low"]), _literal_numbers(kw["high"]), shape,
                   kw.get("dtype", "float64"))


class Discrete(Space):
    """The integers 0 .. n-1."""

    def __init__(self, n: int, seed: int | None = None) -> None:
        super().__init__(seed)
        if int(n) < 1:
            raise ValueError(f"Discrete needs n >= 1, got {n}")
        self.n = int(n)

    shape = ()   # palaestrAI (gymnasium): a Discrete member is a scalar

    def sample(self) -> np.int64:
        return np.int64(self._rng.integers(self.n))

    def __len__(self) -> int:
        return self.n

    def to_vector(self, data: Any, **kwargs: Any) -> np.ndarray:
        """One-hot: n numbers, a 1 at the member's index."""
        arr = np.asarray(data)
        if arr.size != 1:
            raise ValueError(f"Discrete({self.n}).to_vector takes one value, got shape {arr.shape}")
        out = np.zeros(self.n)
        out[int(arr.reshape(-1)[0])] = 1.0
        return out

    def reshape_to_space(self, value: Any, **kwargs: Any) -> np.ndarray:
        """A scalar stays as it is; n numbers (one-hot or scores) become their argmax."""
        if np.ndim(value) == 0:
            return np.array(value)
        arr = np.asarray(value, dtype=kwargs.get("dtype", float)).reshape(-1)
        if arr.size != self.n:
            raise ValueError(f"Discrete({self.n}).reshape_to_space expects {self.n} numbers, "
                             f"got {arr.size}")
        return np.array(arr.argmax())

    def contains(self, x: Any) -> bool:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError):
            return False
        if arr.size != 1 or arr.dtype.kind not in "iu" and not (
                arr.dtype.kind == "f" and float(arr.reshape(-1)[0]).is_integer()):
            return False
        return 0 <= int(arr.reshape(-1)[0]) < self.n

    def to_string(self) -> str:
        return f"Discrete({self.n})"

    @property
    def flat_size(self) -> int:
        return 1

    def flatten(self, x: Any) -> np.ndarray:
        return np.asarray([x], dtype=np.float64).reshape(1)

    def unflatten(self, vector: np.ndarray) -> int:
        return int(np.clip(np.rint(np.asarray(vector).reshape(-1)[0]), 0, self.n - 1))

    @classmethod
    def _parse(cls, inner: str) -> Discrete:
        return cls(int(inner.strip()))


class MultiBinary(Space):
    """Vectors of n bits (0/1)."""

    def __init__(self, n: int, seed: int | None = None) -> None:
        super().__init__(seed)
        if int(n) < 1:
            raise ValueError(f"MultiBinary needs n >= 1, got {n}")
        self.n = int(n)

    def sample(self) -> np.ndarray:
        return self._rng.integers(0, 2, size=self.n, dtype=np.int8)

    def contains(self, x: Any) -> bool:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError):
            return False
        return arr.shape == (self.n,) and bool(np.all((arr == 0) | (arr == 1)))

    def to_string(self) -> str:
        return f"MultiBinary({self.n})"

    def __len__(self) -> int:
        return self.n

    def reshape_to_space(self, value: Any, **kwargs: Any) -> np.ndarray:
        return np.fromiter(value, kwargs.get("dtype", int))

    @property
    def flat_size(self) -> int:
        return self.n

    def flatten(self, x: Any) -> np.ndarray:
        return np.asarray(x, dtype=np.float64).reshape(self.n)

    def unflatten(self, vector: np.ndarray) -> np.ndarray:
        return (np.asarray(vector, dtype=np.float64).reshape(self.n) >= 0.5).astype(np.int8)

    @classmethod
    def _parse(cls, inner: str) -> MultiBinary:
        return cls(int(inner.strip()))


class MultiDiscrete(Space):
    """Vectors whose element i is one of 0 .. nvec[i]-1."""

    def __init__(self, nvec: Sequence[int], seed: int | None = None) -> None:
        super().__init__(seed)
        self.nvec = np.asarray(nvec, dtype=np.int64).reshape(-1)
        if self.nvec.size == 0 or np.any(self.nvec < 1):
            raise ValueError(f"MultiDiscrete needs counts >= 1, got {list(nvec)}")

    def sample(self) -> np.ndarray:
        return (self._rng.random(self.nvec.size) * self.nvec).astype(np.int64)

    def contains(self, x: Any) -> bool:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError):
            return False
        return (arr.shape == self.nvec.shape and arr.dtype.kind in "iu"
                and bool(np.all((arr >= 0) & (arr < self.nvec))))

    def to_string(self) -> str:
        return f"MultiDiscrete({self.nvec.tolist()})"

    def __len__(self) -> int:
        return int(self.nvec.sum())

    def to_vector(self, data: Any, **kwargs: Any) -> np.ndarray:
        """One one-hot block per element (sum(nvec) numbers), the 1s valued `value`."""
        value = kwargs.get("value", 1)
        out = np.zeros(int(self.nvec.sum()))
        offsets = np.concatenate([[0], np.cumsum(self.nvec)[:-1]])
        out[offsets + np.asarray(data, dtype=np.int64).reshape(-1)] = value
        return out

    def reshape_to_space(self, value: Any, **kwargs: Any) -> np.ndarray:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
        if arr.size != int(self.nvec.sum()):
            raise ValueError(f"{self} expects {int(self.nvec.sum())} numbers, got {arr.size}")
        out, at = [], 0
        for n in self.nvec:
            out.append(int(np.argmax(arr[at:at + n])))
            at += int(n)
        return np.array(out, dtype=np.int64)

    @property
    def flat_size(self) -> int:
        return int(self.nvec.size)

    def flatten(self, x: Any) -> np.ndarray:
        return np.asarray(x, dtype=np.float64).reshape(-1)

    def unflatten(self, vector: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(np.asarray(vector).reshape(-1)), 0, self.nvec - 1).astype(np.int64)

    @classmethod
    def _parse(cls, inner: str) -> MultiDiscrete:
        return cls(ast.literal_eval(inner.strip()))


class Tuple(Space):
    """A product of spaces; members are tuples."""

    def __init__(self, spaces: Sequence[Space], seed: int | None = None) -> None:
        super().__init__(seed)
        self.spaces = tuple(spaces)
        if not self.spaces or not all(isinstance(s, Space) for s in self.spaces):
            raise ValueError("Tuple needs at least one space")

    def seed(self, seed: int | None) -> None:
        super().seed(seed)
        seeds = self._rng.integers(0, 2**31, size=len(self.spaces))
        for space, s in zip(self.spaces, seeds, strict=True):
            space.seed(int(s))

    def sample(self) -> tuple:
        return tuple(s.sample() for s in self.spaces)

    def contains(self, x: Any) -> bool:
        return (isinstance(x, (tuple, list)) and len(x) == len(self.spaces)
                and all(s.contains(v) for s, v in zip(self.spaces, x, strict=True)))

    def to_string(self) -> str:
        return "Tuple(" + ", ".join(s.to_string() for s in self.spaces) + ")"

    def __len__(self) -> int:
        return len(self.spaces)

    def to_vector(self, data: Any, **kwargs: Any) -> np.ndarray:
        return np.concatenate([s.to_vector(v) for s, v in zip(self.spaces, data, strict=True)])

    def reshape_to_space(self, value: Any, **kwargs: Any) -> tuple:
        vector = np.asarray(value, dtype=np.float64).reshape(-1)
        out, at = [], 0
        for s in self.spaces:
            width = _vector_width(s)
            out.append(s.reshape_to_space(vector[at:at + width]))
            at += width
        return tuple(out)

    @property
    def flat_size(self) -> int:
        return sum(s.flat_size for s in self.spaces)

    def flatten(self, x: Any) -> np.ndarray:
        return np.concatenate([s.flatten(v) for s, v in zip(self.spaces, x, strict=True)])

    def unflatten(self, vector: np.ndarray) -> tuple:
        vector = np.asarray(vector, dtype=np.float64).reshape(-1)
        out, at = [], 0
        for s in self.spaces:
            out.append(s.unflatten(vector[at:at + s.flat_size]))
            at += s.flat_size
        return tuple(out)

    @classmethod
    def _parse(cls, inner: str) -> Tuple:
        return cls([Space.from_string(part) for part in _split_top_level(inner)])
