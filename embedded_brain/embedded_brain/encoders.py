"""Input encoders: io:chunk payloads → firing rates → Poisson spike rasters.

Supported chunk formats per input kind (all numbers little-endian):
- Image: `jpeg` / `png` (any OpenCV-decodable bytes), or raw pixels `mono8`, `bgr8`,
  `rgb8` (meta `width`, `height`). The image becomes grey, is resized to the retina grid
  (area averaging) and each cell fires at intensity × max_rate_hz (`on_off`: a second
  grid of OFF cells firing at (1 − intensity) × max_rate_hz).
- Scalar: `f32` / `f64` (packed values) or `json` (a number, a list, or {"values": [...]}).
- JointState: `json` ({"position": [...], ...} or a list of positions) or `f32` / `f64`
  positions (then optionally velocities, with meta `n` = the number of positions).
- Audio: `pcm16` (signed 16-bit samples); the RMS level in [0, 1] is the coded value.
- Feedback: `raster_f32`, gamma × N values in [-1, 1]; channel n drives neuron n with
  max(x, 0) and neuron N + n with max(−x, 0), times max_rate_hz.
Scalars and joint positions are population-coded: each value by `per_value` neurons with
Gaussian tuning curves whose centres tile [min, max]. A `signed` encoder (Scalar) codes a
value's sign and size instead: half of its neurons fire in proportion to how far above 0
it is (up to max), the other half to how far below (down to min).
"""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np

from embedded_brain.graph import Encoder, FeedbackSpec, InputSpec


class EncodeError(ValueError):
    """A chunk that cannot be encoded; the message says which input and why."""


def population_code(values: np.ndarray, enc: Encoder) -> np.ndarray:
    """Rates (Hz) of count × per_value neurons coding `values` with Gaussian tuning."""
    values = np.clip(np.asarray(values, dtype=np.float64), enc.min, enc.max)
    centres, width = _tuning(enc)
    rates = np.exp(-0.5 * ((values[:, None] - centres) / width) ** 2)
    return (rates * enc.max_rate_hz).ravel().astype(np.float32)


@functools.lru_cache(maxsize=256)
def _tuning(enc: Encoder) -> tuple[np.ndarray, float]:
    """The tuning curves' centres ([1, per_value], read-only) and width of an encoder."""
    centres = np.linspace(enc.min, enc.max, enc.per_value)[None, :]
    centres.flags.writeable = False
    spacing = (enc.max - enc.min) / max(enc.per_value - 1, 1)
    return centres, enc.sigma * spacing


def signed_code(values: np.ndarray, enc: Encoder) -> np.ndarray:
    """Rates (Hz) of count × per_value neurons: per value, per_value / 2 neurons at
    max_rate_hz × v / max for v > 0, then per_value / 2 at max_rate_hz × v / min for v < 0."""
    values = np.clip(np.asarray(values, dtype=np.float64), enc.min, enc.max)
    half = enc.per_value // 2
    up = np.maximum(values / enc.max, 0.0)
    down = np.maximum(values / enc.min, 0.0)
    rates = np.concatenate([np.repeat(up[:, None], half, axis=1),
                            np.repeat(down[:, None], half, axis=1)], axis=1)
    return (rates * enc.max_rate_hz).ravel().astype(np.float32)


def _numbers(data: bytes, fmt: str, where: str) -> np.ndarray:
    if fmt in ("f32", "float32"):
        if len(data) % 4:
            raise EncodeError(f"{where}: f32 data of {len(data)} bytes is not a multiple of 4")
        values = np.frombuffer(data, dtype="<f4").astype(np.float64)
    elif fmt in ("f64", "float64"):
        if len(data) % 8:
            raise EncodeError(f"{where}: f64 data of {len(data)} bytes is not a multiple of 8")
        values = np.frombuffer(data, dtype="<f8")
    elif fmt == "json":
        try:
            doc = json.loads(bytes(data).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EncodeError(f"{where}: data is not valid JSON: {exc}") from exc
        if isinstance(doc, dict):
            doc = doc.get("position", doc.get("values"))
        try:
            values = np.atleast_1d(np.asarray(doc, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise EncodeError(f"{where}: JSON must hold numbers, got {doc!r:.80}") from exc
        if values.ndim != 1:
            raise EncodeError(f"{where}: JSON must hold a flat list of numbers")
    else:
        raise EncodeError(f"{where}: unsupported format {fmt!r}; use f32, f64 or json")
    if not np.all(np.isfinite(values)):
        raise EncodeError(f"{where}: values must be finite")
    return values


def _image_grey(data: bytes, fmt: str, meta: dict[str, Any], where: str) -> np.ndarray:
    import cv2  # only images need OpenCV

    buf = np.frombuffer(data, dtype=np.uint8)
    if fmt in ("jpeg", "jpg", "png", "encoded"):
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise EncodeError(f"{where}: cannot decode {fmt} image ({len(data)} bytes)")
        return img.astype(np.float32) / 255.0
    channels = {"mono8": 1, "gray8": 1, "bgr8": 3, "rgb8": 3}.get(fmt)
    if channels is None:
        raise EncodeError(f"{where}: unsupported image format {fmt!r}; "
                          f"use jpeg, png, mono8, bgr8 or rgb8")
    try:
        width, height = int(meta["width"]), int(meta["height"])
    except (KeyError, TypeError, ValueError) as exc:
        raise EncodeError(f"{where}: raw {fmt} images need integer meta width and height") \
            from exc
    if width <= 0 or height <= 0 or buf.size != width * height * channels:
        raise EncodeError(f"{where}: {fmt} data has {buf.size} bytes, expected "
                          f"{width}x{height}x{channels}")
    img = buf.reshape(height, width, channels).astype(np.float32) / 255.0
    if channels == 1:
        return img[:, :, 0]      # (the mean of one channel is that channel)
    return img.mean(axis=2)


def encode_input(spec: InputSpec, fmt: str, meta: dict[str, Any] | None, data: Any) -> np.ndarray:
    """Firing rates (Hz, float32, one per neuron of the input's population) for one chunk."""
    where = f"input '{spec.id}' ({spec.kind})"
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise EncodeError(f"{where}: data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    meta = meta if isinstance(meta, dict) else {}
    fmt = str(fmt or "").lower()
    enc = spec.encoder
    if spec.kind == "Image":
        import cv2

        grey = _image_grey(data, fmt, meta, where)
        small = cv2.resize(grey, (enc.width, enc.height), interpolation=cv2.INTER_AREA)
        cells = np.clip(small.ravel(), 0.0, 1.0)
        if enc.on_off:
            cells = np.concatenate([cells, 1.0 - cells])
        return (cells * enc.max_rate_hz).astype(np.float32)
    if spec.kind == "Audio":
        if fmt != "pcm16":
            raise EncodeError(f"{where}: unsupported audio format {fmt!r}; use pcm16")
        if len(data) % 2:
            raise EncodeError(f"{where}: pcm16 data of {len(data)} bytes is odd")
        samples = np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0
        level = float(np.sqrt(np.mean(samples ** 2))) if samples.size else 0.0
        return population_code(np.array([level]), enc)
    values = _numbers(data, fmt, where)
    if spec.kind == "JointState":
        count = meta.get("n")
        if isinstance(count, int) and not isinstance(count, bool) and 0 < count <= values.size:
            values = values[:count]      # f32 frames may carry velocities after positions
        if values.size < enc.count:
            raise EncodeError(f"{where}: got {values.size} joint positions, need {enc.count}")
        values = values[:enc.count]
    elif values.size != enc.count:
        raise EncodeError(f"{where}: got {values.size} values, the encoder codes {enc.count}")
    if enc.type == "signed":
        return signed_code(values, enc)
    return population_code(values, enc)


def encode_feedback(spec: FeedbackSpec, gamma: int, fmt: str, meta: dict[str, Any] | None,
                    data: Any) -> np.ndarray:
    """Per-step rates [gamma, 2N] (Hz) of a feedback population from a deviation raster."""
    where = f"feedback '{spec.id}'"
    if str(fmt).lower() != "raster_f32":
        raise EncodeError(f"{where}: unsupported format {fmt!r}; feedback uses raster_f32")
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) % 4:
        raise EncodeError(f"{where}: data must be float32 bytes")
    values = np.frombuffer(bytes(data), dtype="<f4")
    if values.size == 0:
        raise EncodeError(f"{where}: the raster is empty")
    if values.size % spec.n:
        raise EncodeError(f"{where}: {values.size} values is not a whole number of "
                          f"{spec.n}-channel rows")
    rows = values.reshape(-1, spec.n)
    meta = meta if isinstance(meta, dict) else {}
    n_meta = meta.get("N")
    if "N" in meta and (isinstance(n_meta, bool) or not isinstance(n_meta, (int, float))
                        or n_meta != spec.n):
        raise EncodeError(f"{where}: meta N={n_meta!r:.40} but the brain has {spec.n} channels")
    if not np.all(np.isfinite(rows)):
        raise EncodeError(f"{where}: values must be finite")
    rows = np.clip(rows, -1.0, 1.0)
    # A raster of another length is stretched onto this brain's gamma steps.
    rows = rows[(np.arange(gamma) * rows.shape[0]) // gamma]
    rates = np.concatenate([np.maximum(rows, 0.0), np.maximum(-rows, 0.0)], axis=1)
    return (rates * spec.max_rate_hz).astype(np.float32)


def poisson_spikes(rng: np.random.Generator, rates_hz: np.ndarray, gamma: int,
                   dt_ms: float) -> np.ndarray:
    """A [gamma, n] 0/1 raster; rates are per neuron ([n]) or per step ([gamma, n]).

    Neuron i spikes at a step when a uniform draw u in [0, 1) is below
    p = rates_hz[i] × dt (float32). Clipping p to [0, 1] first would change no answer
    (u < p is always true for p ≥ 1 and never for p ≤ 0), so the rates are scaled once
    per neuron and compared against the draws by broadcasting, and the comparison's
    booleans are the raster's bytes."""
    rates_hz = np.asarray(rates_hz, dtype=np.float32)
    shape = (gamma, rates_hz.shape[-1])
    if rates_hz.ndim != 1:
        rates_hz = np.broadcast_to(rates_hz, shape)   # per step (or refused: wrong shape)
    p = rates_hz * np.float32(dt_ms / 1000.0)
    return np.less(rng.random(shape, dtype=np.float32), p).view(np.uint8)
