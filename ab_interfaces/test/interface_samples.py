"""Deterministic, non-default sample values for any ROS message type.

Every field gets a value that differs from its default, so a round trip that
drops or garbles a field fails the equality check.
"""

from __future__ import annotations

import importlib
import re

_SEQUENCE = re.compile(r"^sequence<(.+?)(?:, (\d+))?>$")
_ARRAY = re.compile(r"^(.+)\[(\d+)\]$")
_INT_TYPES = {"int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
              "byte", "octet", "char"}


def message_class(full_name: str):
    """ab_interfaces/msg/Reward (or std_msgs/Header, as nested fields name them) -> the class."""
    parts = full_name.split("/")
    package, kind, name = parts if len(parts) == 3 else (parts[0], "msg", parts[1])
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


def _scalar(type_name: str, seed: int):
    if type_name in _INT_TYPES:
        return 1 + seed % 100
    if type_name in ("float", "double", "float32", "float64"):
        return 0.5 + seed
    if type_name == "boolean":
        return True
    if type_name.startswith("string") or type_name.startswith("wstring"):
        return f"v{seed}"
    return sample(message_class(type_name), seed)


def _value(type_name: str, seed: int):
    match = _SEQUENCE.match(type_name)
    if match:
        return [_scalar(match.group(1), seed + i) for i in range(3)]
    match = _ARRAY.match(type_name)
    if match:
        return [_scalar(match.group(1), seed + i) for i in range(int(match.group(2)))]
    return _scalar(type_name, seed)


def sample(cls, seed: int = 1):
    """An instance of message class `cls` with every field set to a non-default value."""
    msg = cls()
    for index, (field, type_name) in enumerate(cls.get_fields_and_field_types().items()):
        value = _value(type_name, seed + index)
        if type_name.startswith("sequence<uint8") or type_name.startswith("sequence<octet"):
            value = bytes(value)
        setattr(msg, field, value)
    return msg
