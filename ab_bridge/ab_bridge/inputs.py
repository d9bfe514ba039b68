"""Input streaming: answering the brain's `io:need` from registered providers. No rclpy.

A provider is a callable returning an `InputFrame` (format, meta, data bytes)
or None when it has nothing yet. Providers are registered per input id or per
kind (the id wins). Frames are validated before they are sent; helpers turn
common sensor data into frames:

| kind        | format       | data                                   | meta                      |
|-------------|--------------|----------------------------------------|---------------------------|
| Image       | `jpeg`       | JPEG bytes                             | width, height, channels   |
| Image       | `bgr8`, `rgb8`, `mono8` | raw uint8 pixels, row-major | width, height, channels   |
| Scalar      | `f32`        | little-endian float32 values           | n                         |
| JointState  | `f32`        | float32 positions then velocities      | n, names, fields          |
| Audio       | `pcm16`      | little-endian int16 samples, interleaved | sampleRate, channels    |
| Feedback    | `raster_f32` | float32 T x N raster                   | T, N                      |
"""

from __future__ import annotations

import array
import math
import struct
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Largest frame the streamer sends (a 1920x1080 raw BGR image is ~6 MB).
MAX_FRAME_BYTES = 8 * 1024 * 1024

RAW_IMAGE_FORMATS = {"bgr8": 3, "rgb8": 3, "mono8": 1}
FORMATS = {"jpeg", "png", "f32", "pcm16", "raster_f32", *RAW_IMAGE_FORMATS}


class InputError(ValueError):
    """A frame that cannot be sent; the message names the input and the problem."""


@dataclass
class InputFrame:
    """One input chunk's content."""

    format: str
    data: bytes
    meta: dict[str, Any] = field(default_factory=dict)


Provider = Callable[[], InputFrame | None]

#: Up to this many values, the helpers below pack float32 frames with `struct` (a few
#: calls where numpy takes a dozen, each costing microseconds on a cold cache).
SMALL_FRAME_VALUES = 64


class _CheckedFrame(InputFrame):
    """A frame the helpers below made: valid by construction, its data bytes and its
    meta a fresh dict; validate_frame checks only its size."""


def _small_floats(values: Any) -> list[float] | None:
    """A short list, tuple or array.array of numbers as Python floats; None for anything
    else (numpy arrays, nested sequences, strings, long ones: the numpy path)."""
    if not isinstance(values, (list, tuple, array.array)) or len(values) > SMALL_FRAME_VALUES:
        return None
    if not all(isinstance(v, (int, float)) for v in values):
        return None
    try:
        return [float(v) for v in values]
    except OverflowError:                # an int beyond float64
        return None


def _f32_bytes(values: list[float]) -> bytes | None:
    """Little-endian float32 bytes; None when a value does not fit float32 (numpy makes it
    infinite, which validation then refuses)."""
    try:
        return struct.pack(f"<{len(values)}f", *values)
    except OverflowError:
        return None


def validate_frame(frame: Any, input_id: str, max_bytes: int = MAX_FRAME_BYTES) -> InputFrame:
    """Check a provider's return value; raises InputError naming the input."""
    where = f"input {input_id!r}"
    if type(frame) is _CheckedFrame:
        if len(frame.data) > max_bytes:
            raise InputError(f"{where}: frame of {len(frame.data)} bytes exceeds the limit of "
                             f"{max_bytes} bytes")
        return frame
    if isinstance(frame, Mapping):  # SDK-style providers return dicts
        frame = InputFrame(frame.get("format"), frame.get("data"), dict(frame.get("meta") or {}))
    if not isinstance(frame, InputFrame):
        raise InputError(f"{where}: provider returned {type(frame).__name__}, "
                         "expected an InputFrame")
    if frame.format not in FORMATS:
        raise InputError(f"{where}: unknown format {frame.format!r}; known: {sorted(FORMATS)}")
    if not isinstance(frame.data, (bytes, bytearray)):
        raise InputError(f"{where}: data must be bytes, got {type(frame.data).__name__}")
    if len(frame.data) > max_bytes:
        raise InputError(f"{where}: frame of {len(frame.data)} bytes exceeds the limit of "
                         f"{max_bytes} bytes")
    if not isinstance(frame.meta, dict):
        raise InputError(f"{where}: meta must be a dict")
    if frame.format in ("f32", "raster_f32"):
        if len(frame.data) % 4:
            raise InputError(f"{where}: float32 data of {len(frame.data)} bytes is not a "
                             "multiple of 4")
        values = np.frombuffer(bytes(frame.data), dtype="<f4")
        if not np.all(np.isfinite(values)):
            raise InputError(f"{where}: values contain NaN or infinity")
    if frame.format == "pcm16" and len(frame.data) % 2:
        raise InputError(f"{where}: pcm16 data of {len(frame.data)} bytes is not whole samples")
    if frame.format in RAW_IMAGE_FORMATS:
        shape = [frame.meta.get(k) for k in ("height", "width")]
        channels = RAW_IMAGE_FORMATS[frame.format]
        if not all(isinstance(x, int) and x > 0 for x in shape) \
                or shape[0] * shape[1] * channels != len(frame.data):
            raise InputError(f"{where}: {frame.format} image meta (height, width) {shape} does "
                             f"not match {len(frame.data)} bytes")
    return InputFrame(frame.format, bytes(frame.data), dict(frame.meta))


def image_frame(pixels: np.ndarray, encoding: str = "bgr8", jpeg_quality: int | None = 80
                ) -> InputFrame:
    """An Image frame from a [h, w] or [h, w, c] uint8 array: JPEG, or raw pixels (format
    `bgr8`, `rgb8` or `mono8`) when quality is None."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or pixels.size == 0:
        raise InputError(f"image must be a non-empty uint8 [h, w(, c)] array, got "
                         f"{pixels.dtype} {pixels.shape}")
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    meta = {"width": int(width), "height": int(height), "channels": int(channels)}
    if jpeg_quality is None:
        fmt = "mono8" if channels == 1 else encoding
        if RAW_IMAGE_FORMATS.get(fmt) != channels:
            raise InputError(f"raw image of {channels} channels cannot be sent as {fmt!r}")
        return _CheckedFrame(fmt, np.ascontiguousarray(pixels).tobytes(), meta)
    import cv2  # only needed for JPEG

    image = pixels
    if encoding == "rgb8":
        image = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), int(jpeg_quality)])
    if not ok:
        raise InputError("JPEG encoding failed")
    return InputFrame("jpeg", encoded.tobytes(), meta)


def scalar_frame(values: Sequence[float] | np.ndarray) -> InputFrame:
    """A Scalar frame (float32 values); NaN and infinities rejected."""
    small = _small_floats(values)
    if small is not None:
        if not all(map(math.isfinite, small)):
            raise InputError("scalar values contain NaN or infinity")
        data = _f32_bytes(small)
        if data is not None:
            return _CheckedFrame("f32", data, {"n": len(small)})
    array = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(array)):
        raise InputError("scalar values contain NaN or infinity")
    return InputFrame("f32", array.astype("<f4").tobytes(), {"n": int(array.size)})


def joint_state_frame(names: Sequence[str], positions: Sequence[float],
                      velocities: Sequence[float] | None = None) -> InputFrame:
    """A JointState frame: float32 positions, then velocities (zeros when absent)."""
    q_small = _small_floats(positions)
    dq_small = [0.0] * len(q_small) if q_small is not None and (
        velocities is None or len(velocities) == 0) else _small_floats(velocities)
    if q_small is not None and dq_small is not None and len(dq_small) == len(q_small) \
            and not (names and len(names) != len(q_small)):
        if not (all(map(math.isfinite, q_small)) and all(map(math.isfinite, dq_small))):
            raise InputError("joint state contains NaN or infinity")
        data = _f32_bytes(q_small + dq_small)
        if data is not None:
            return _CheckedFrame("f32", data, {"n": len(q_small), "names": list(names),
                                               "fields": ["position", "velocity"]})
    q = np.asarray(positions, dtype=np.float64).ravel()
    dq = np.zeros_like(q) if velocities is None or len(velocities) == 0 \
        else np.asarray(velocities, dtype=np.float64).ravel()
    if dq.size != q.size:
        raise InputError(f"joint state has {q.size} positions but {dq.size} velocities")
    if names and len(names) != q.size:
        raise InputError(f"joint state has {len(names)} names but {q.size} positions")
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(dq))):
        raise InputError("joint state contains NaN or infinity")
    return InputFrame("f32", np.concatenate([q, dq]).astype("<f4").tobytes(),
                      {"n": int(q.size), "names": list(names), "fields": ["position", "velocity"]})


def audio_frame(samples: np.ndarray, sample_rate: int, channels: int = 1) -> InputFrame:
    """An Audio frame from int16 samples or floats in [-1, 1] (scaled to int16)."""
    samples = np.asarray(samples)
    if sample_rate <= 0 or channels <= 0:
        raise InputError(f"audio needs a positive sample rate and channel count, got "
                         f"{sample_rate}, {channels}")
    if samples.dtype.kind == "f":
        if not np.all(np.isfinite(samples)):
            raise InputError("audio samples contain NaN or infinity")
        samples = np.round(np.clip(samples, -1.0, 1.0) * 32767.0)
    if samples.size % channels:
        raise InputError(f"{samples.size} audio samples do not split into {channels} channels")
    return InputFrame("pcm16", samples.astype("<i2").tobytes(),
                      {"sampleRate": int(sample_rate), "channels": int(channels)})


@dataclass
class Need:
    """One input the brain asked for."""

    input_id: str
    kind: str


def parse_io_need(payload: Any) -> tuple[int, list[Need]]:
    """(cycle, needs) of an `io:need` payload; raises InputError when malformed."""
    if not isinstance(payload, Mapping):
        raise InputError(f"io:need payload must be an object, got {type(payload).__name__}")
    cycle = payload.get("cycle", 0)
    if isinstance(cycle, bool) or not isinstance(cycle, (int, float)) \
            or not math.isfinite(cycle) or cycle < 0:
        raise InputError(f"io:need 'cycle' must be a non-negative integer, got {cycle!r}")
    needs_raw = payload.get("needs")
    if not isinstance(needs_raw, list):
        raise InputError(f"io:need 'needs' must be a list, got {type(needs_raw).__name__}")
    needs = []
    for i, need in enumerate(needs_raw):
        if not isinstance(need, Mapping) or not isinstance(need.get("id"), str) or not need["id"]:
            raise InputError(f"io:need needs[{i}] must be {{'id', 'kind'}}, got {str(need)[:60]}")
        needs.append(Need(need["id"], str(need.get("kind") or "")))
    return int(cycle), needs


class InputStreamer:
    """Turns `io:need` payloads into `io:chunk` payloads using registered providers.

    Thread-safe: providers may be (un)registered from any thread while the
    realtime thread serves needs.
    """

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._by_id: dict[str, Provider] = {}
        self._by_kind: dict[str, Provider] = {}
        self._seq: dict[str, int] = {}
        self._lock = threading.Lock()
        self._serving = threading.local()

    @property
    def serving_cycle(self) -> int | None:
        """The cycle whose need `serve` is answering on this thread (None outside it):
        a provider may note which message it gave to which cycle."""
        return getattr(self._serving, "cycle", None)

    def register_input(self, input_id: str, provider: Provider) -> None:
        if not input_id or not callable(provider):
            raise ValueError("register_input needs a non-empty input id and a callable")
        with self._lock:
            self._by_id[input_id] = provider

    def register_kind(self, kind: str, provider: Provider) -> None:
        if not kind or not callable(provider):
            raise ValueError("register_kind needs a non-empty kind and a callable")
        with self._lock:
            self._by_kind[kind] = provider

    def provider_for(self, need: Need) -> Provider | None:
        with self._lock:
            return self._by_id.get(need.input_id) or self._by_kind.get(need.kind)

    def serve(self, run_id: str, cycle: int, needs: Sequence[Need], now_s: float
              ) -> tuple[list[dict[str, Any]], list[str]]:
        """Chunks for the needs that have a provider with data, and one error text per failure.

        A need without provider, a provider that raises or returns a bad frame
        is reported and skipped; the others are still served.
        """
        chunks, errors = [], []
        self._serving.cycle = cycle
        try:
            self._serve_needs(run_id, cycle, needs, now_s, chunks, errors)
        finally:
            self._serving.cycle = None
        return chunks, errors

    def _serve_needs(self, run_id: str, cycle: int, needs: Sequence[Need], now_s: float,
                     chunks: list[dict[str, Any]], errors: list[str]) -> None:
        for need in needs:
            provider = self.provider_for(need)
            if provider is None:
                errors.append(f"no provider for input {need.input_id!r} (kind {need.kind!r})")
                continue
            try:
                frame = provider()
                if frame is None:
                    errors.append(f"input {need.input_id!r}: no data yet")
                    continue
                frame = validate_frame(frame, need.input_id, self.max_frame_bytes)
            except Exception as error:  # a provider is user code: report, keep serving
                errors.append(f"input {need.input_id!r}: {type(error).__name__}: {error}"
                              if not isinstance(error, InputError) else str(error))
                continue
            with self._lock:
                seq = self._seq.get(need.input_id, 0) + 1
                self._seq[need.input_id] = seq
            chunks.append({"runId": run_id, "inputId": need.input_id, "kind": need.kind,
                           "seq": seq, "t": now_s, "format": frame.format,
                           "meta": {**frame.meta, "cycle": cycle}, "data": frame.data})
