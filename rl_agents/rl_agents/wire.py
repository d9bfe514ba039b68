"""Safe serialization for brain <-> muscle messages: JSON plus raw numpy buffers.

A value is encoded as one JSON frame followed by one frame per numpy array.
In the JSON, an array is `{"__ndarray__": i, "dtype": "<f8", "shape": [2, 3]}`
and its bytes are frame i. Decoding only ever builds dicts, lists, strings,
numbers, booleans, None and numeric numpy arrays whose byte length matches
dtype and shape — nothing from the network is executed or unpickled.
Tuples travel as lists; dict keys must be strings.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

_ND = "__ndarray__"
_NUMERIC_KINDS = "biuf"
MAX_ARRAY_BYTES = 256 * 1024 * 1024


class WireError(ValueError):
    """A message that cannot be encoded or decoded."""


def encode(value: Any) -> list[bytes]:
    """`value` as [json, buffer0, buffer1, ...]."""
    buffers: list[bytes] = []

    def convert(v: Any) -> Any:
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            return int(v)
        if isinstance(v, (float, np.floating)):
            return float(v)
        if isinstance(v, np.bool_):
            return bool(v)
        if isinstance(v, np.ndarray):
            if v.dtype.kind not in _NUMERIC_KINDS:
                raise WireError(f"cannot send an array of dtype {v.dtype} (numeric only)")
            arr = v if v.flags.c_contiguous else v.copy(order="C")   # keeps 0-d arrays 0-d
            buffers.append(arr.tobytes())
            return {_ND: len(buffers) - 1, "dtype": arr.dtype.str, "shape": list(arr.shape)}
        if isinstance(v, dict):
            out = {}
            for k, item in v.items():
                if not isinstance(k, str):
                    raise WireError(f"dict keys must be strings, got {k!r}")
                if k == _ND:
                    raise WireError(f"dict key {_ND!r} is reserved")
                out[k] = convert(item)
            return out
        if isinstance(v, (list, tuple)):
            return [convert(x) for x in v]
        raise WireError(f"cannot send a value of type {type(v).__name__}")

    doc = json.dumps(convert(value), separators=(",", ":"), allow_nan=True)
    return [doc.encode(), *buffers]


def decode(frames: list[bytes]) -> Any:
    """The value `encode` made; WireError for anything malformed."""
    if not frames:
        raise WireError("empty message")
    buffers = frames[1:]
    used: set[int] = set()

    def array(d: dict[str, Any]) -> np.ndarray:
        index, dtype_text, shape = d.get(_ND), d.get("dtype"), d.get("shape")
        if not isinstance(index, int) or not 0 <= index < len(buffers):
            raise WireError(f"array refers to missing buffer {index!r}")
        if not isinstance(dtype_text, str) or not isinstance(shape, list) or not all(
                isinstance(n, int) and n >= 0 for n in shape):
            raise WireError("array header needs a dtype string and a shape of ints >= 0")
        try:
            dtype = np.dtype(dtype_text)
        except TypeError as exc:
            raise WireError(f"bad dtype {dtype_text!r}") from exc
        if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject:
            raise WireError(f"dtype {dtype_text!r} is not numeric")
        count = math.prod(shape)
        buf = buffers[index]
        if count * dtype.itemsize != len(buf) or len(buf) > MAX_ARRAY_BYTES:
            raise WireError(f"array of shape {shape} and dtype {dtype_text} needs "
                            f"{count * dtype.itemsize} bytes, buffer has {len(buf)}")
        used.add(index)
        return np.frombuffer(buf, dtype=dtype).reshape(tuple(shape)).copy()

    def hook(d: dict[str, Any]) -> Any:
        return array(d) if _ND in d else d

    try:
        value = json.loads(bytes(frames[0]).decode(), object_hook=hook)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"message is not JSON: {exc}") from exc
    if len(used) != len(buffers):
        raise WireError(f"message has {len(buffers)} buffers, {len(used)} referenced")
    return value
