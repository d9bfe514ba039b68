"""Inputs over the Prima-Lux device protocol: observations -> [0, 1] vectors per named
input population, encoded in the client as the SDK 0.4 `SpikeEncoder` modes do. No rclpy.

The device takes `{population: [values in 0..1]}` (1..498 values, exactly the
population's width). The modes and their formulas (q is the active neuron of n):

| mode | input | vector |
|---|---|---|
| `vector_f32` | values in [0, 1] | as they are |
| `binary_spikes` | values | 1 where > 0, else 0 |
| `positive_scalar_population` | v, `vmax` | q = clamp(int(v / vmax x n), 0, n-1); q +- radius are 1 |
| `positive_scalar_cumulative_population` | v, `vmax` | neurons 0..q are 1 |
| `ranged_scalar_population` | v, `vmin`, `vmax` | q = clamp(int((v - vmin) / (vmax - vmin) x n)), q +- radius |
| `signed_scalar_population` | v, `absmax` | q = clamp(int((v + absmax) / (2 absmax) x n)), q +- radius |
| `reward_population` | r in [0, 1] | the first round(r x n) neurons are 1 (at least one when r > 0) |

A non-finite scalar gives all zeros. The device binding of an input (`DeviceInput`) is read
from the session's `inputs` configuration: besides `topic` and `type`, `population` (one
name, or a list: value i of a scalar mode goes to population i; default the input id),
`n` (the population's width; default: as many values as come), `mode` (default
`vector_f32`), `vmax`, `vmin`, `absmax`, `radius` (default 1) and, for images, `width` and
`height` of the grey grid the picture is averaged onto (values = brightness / 255), and
`sign_split: true` (value i goes to populations 2i as max(v, 0) and 2i+1 as max(-v, 0):
a signed value as two magnitudes, for brains that read the activity of a population).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ab_bridge.inputs import RAW_IMAGE_FORMATS, InputError, InputFrame

MODES = ("vector_f32", "binary_spikes", "positive_scalar_population",
         "positive_scalar_cumulative_population", "ranged_scalar_population",
         "signed_scalar_population", "reward_population")
SCALAR_MODES = MODES[2:]
MAX_WIDTH = 498


def _bump(q: int, n: int, radius: int) -> list[float]:
    out = [0.0] * n
    for i in range(max(0, q - radius), min(n - 1, q + radius) + 1):
        out[i] = 1.0
    return out


def _q(fraction: float, n: int) -> int:
    return max(0, min(n - 1, int(fraction * n)))


def encode(values: Sequence[float] | float, mode: str, n: int, *, vmax: float | None = None,
           vmin: float | None = None, absmax: float | None = None,
           radius: int = 1) -> list[float]:
    """One population's vector; ValueError naming what is missing or wrong."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; modes: {list(MODES)}")
    if mode in ("vector_f32", "binary_spikes"):
        vector = [float(v) for v in (values if isinstance(values, Sequence) else [values])]
        if len(vector) != n:
            raise ValueError(f"{len(vector)} values for a population of {n}")
        if mode == "binary_spikes":
            return [1.0 if v > 0.0 else 0.0 for v in vector]
        if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in vector):
            raise ValueError("vector_f32 values must be finite and in [0, 1]")
        return vector
    v = float(values[0] if isinstance(values, Sequence) else values)
    if mode == "reward_population":
        m = min(1.0, max(0.0, v)) if math.isfinite(v) else 0.0
        k = int(round(m * n))
        k = min(n, max(1, k)) if m > 0 else 0
        return [1.0] * k + [0.0] * (n - k)
    if n <= 1:
        return [1.0]
    if not math.isfinite(v):
        return [0.0] * n
    if mode in ("positive_scalar_population", "positive_scalar_cumulative_population"):
        if vmax is None or vmax == 0 or not math.isfinite(vmax):
            raise ValueError(f"{mode} needs a finite, non-zero vmax")
        q = _q(v / vmax, n)
        if mode == "positive_scalar_population":
            return _bump(q, n, radius)
        return [1.0 if i <= q else 0.0 for i in range(n)]
    if mode == "ranged_scalar_population":
        if vmin is None or vmax is None or vmin == vmax:
            raise ValueError("ranged_scalar_population needs vmin and vmax, not equal")
        return _bump(_q((v - vmin) / (vmax - vmin), n), n, radius)
    if absmax is None or absmax == 0 or not math.isfinite(absmax):
        raise ValueError("signed_scalar_population needs a finite, non-zero absmax")
    return _bump(_q((v + absmax) / (2 * absmax), n), n, radius)


@dataclass(frozen=True)
class DeviceInput:
    """How one configured input becomes device populations."""

    input_id: str
    populations: tuple[str, ...]
    mode: str = "vector_f32"
    n: int | None = None
    vmax: float | None = None
    vmin: float | None = None
    absmax: float | None = None
    radius: int = 1
    width: int = 0           # images: the grey grid
    height: int = 0
    sign_split: bool = False  # value i -> populations 2i (max(v, 0)) and 2i+1 (max(-v, 0))

    def encode(self, values: np.ndarray) -> dict[str, list[float]]:
        """{population: vector} for one observation; ValueError naming the input."""
        where = f"input {self.input_id!r}"
        try:
            if self.sign_split:
                values = np.stack([np.maximum(values, 0.0), np.maximum(-values, 0.0)],
                                  axis=1).ravel()
            if self.mode in SCALAR_MODES:
                if values.size < len(self.populations):
                    raise ValueError(f"{values.size} values for populations "
                                     f"{list(self.populations)}")
                n = self.n or 1
                return {p: encode(float(values[i]), self.mode, n, vmax=self.vmax,
                                  vmin=self.vmin, absmax=self.absmax, radius=self.radius)
                        for i, p in enumerate(self.populations)}
            return {self.populations[0]: encode(values.tolist(), self.mode,
                                                self.n or int(values.size))}
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from None


def _optional_number(body: Mapping[str, Any], key: str, where: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise ValueError(f"{where}.{key}: expected a finite number, got {value!r}")
    return float(value)


def parse_device_inputs(spec: Any) -> dict[str, DeviceInput]:
    """Device bindings from the parsed `inputs` YAML (topic/type are ros_inputs' part)."""
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        raise ValueError(f"inputs must map input ids to settings, got {type(spec).__name__}")
    out = {}
    for input_id, body in spec.items():
        where = f"inputs.{input_id}"
        if not isinstance(body, Mapping):
            raise ValueError(f"{where}: expected a mapping")
        if str(body.get("type", "")).endswith("Int16MultiArray"):
            raise ValueError(f"{where}: audio has no encoding over the device protocol; "
                             "send a level as a std_msgs/Float32 instead")
        populations = body.get("population", input_id)
        populations = tuple(populations) if isinstance(populations, list) else (populations,)
        if not populations or not all(isinstance(p, str) and p for p in populations):
            raise ValueError(f"{where}.population: a name or a list of names, got "
                             f"{body.get('population')!r}")
        mode = body.get("mode", "vector_f32")
        if mode not in MODES or mode == "reward_population":
            raise ValueError(f"{where}.mode: one of {list(MODES[:-1])}, got {mode!r}")
        if len(populations) > 1 and mode not in SCALAR_MODES:
            raise ValueError(f"{where}.population: a list needs a scalar mode (one value "
                             f"per population), mode is {mode!r}")
        n = body.get("n")
        if n is not None and (isinstance(n, bool) or not isinstance(n, int)
                              or not 1 <= n <= MAX_WIDTH):
            raise ValueError(f"{where}.n: an integer in 1..{MAX_WIDTH}, got {n!r}")
        if mode in SCALAR_MODES and n is None:
            raise ValueError(f"{where}.n: a scalar mode needs the population width n")
        radius = body.get("radius", 1)
        if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
            raise ValueError(f"{where}.radius: a non-negative integer, got {radius!r}")
        width, height = body.get("width", 0), body.get("height", 0)
        if str(body.get("type", "")).endswith("Image"):
            if not all(isinstance(x, int) and x > 0 for x in (width, height)) \
                    or width * height > MAX_WIDTH:
                raise ValueError(f"{where}: an image needs the grid 'width' and 'height' "
                                 f"(width x height <= {MAX_WIDTH}), got {width} x {height}")
            n = n or width * height
        sign_split = body.get("sign_split", False)
        if not isinstance(sign_split, bool) or (sign_split and (
                mode not in SCALAR_MODES or len(populations) % 2)):
            raise ValueError(f"{where}.sign_split: true needs a scalar mode and two "
                             f"populations per value (+, -), got {body.get('sign_split')!r}")
        binding = DeviceInput(str(input_id), populations, mode, n,
                              _optional_number(body, "vmax", where),
                              _optional_number(body, "vmin", where),
                              _optional_number(body, "absmax", where), radius,
                              int(width or 0), int(height or 0), sign_split)
        try:
            binding.encode(np.zeros(max(len(populations), n or 1)))   # catches missing vmax...
        except InputError as exc:
            if "values for a population" not in str(exc):
                raise ValueError(f"{where}: {exc}") from None
        out[str(input_id)] = binding
    return out


def frame_values(binding: DeviceInput, frame: InputFrame) -> np.ndarray:
    """The numbers of an input frame (ros_inputs.frame_of): image brightness on the
    binding's grid in [0, 1], joint positions, scalar values."""
    if frame.format in ("jpeg", "png") or frame.format in RAW_IMAGE_FORMATS:
        import cv2

        if frame.format in ("jpeg", "png"):
            pixels = cv2.imdecode(np.frombuffer(frame.data, np.uint8), cv2.IMREAD_GRAYSCALE)
            if pixels is None:
                raise InputError(f"input {binding.input_id!r}: undecodable {frame.format}")
        else:
            channels = RAW_IMAGE_FORMATS[frame.format]
            shape = (frame.meta["height"], frame.meta["width"]) + ((channels,) if channels > 1
                                                                    else ())
            pixels = np.frombuffer(frame.data, np.uint8).reshape(shape)
            if channels > 1:
                pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY if frame.format == "rgb8"
                                      else cv2.COLOR_BGR2GRAY)
        grid = cv2.resize(pixels, (binding.width, binding.height),
                          interpolation=cv2.INTER_AREA)
        return grid.astype(np.float32).ravel() / 255.0
    if frame.format == "f32":
        values = np.frombuffer(frame.data, dtype="<f4").astype(np.float64)
        if "fields" in frame.meta:      # JointState: positions first
            return values[: int(frame.meta.get("n", values.size))]
        return values
    raise InputError(f"input {binding.input_id!r}: format {frame.format!r} has no device "
                     "encoding")
