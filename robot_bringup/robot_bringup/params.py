"""Small helpers the bringup nodes share to declare described, validated parameters."""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node


def declare(node: Node, name: str, default: Any, description: str,
            low: float | None = None, high: float | None = None) -> Any:
    """Declare `name` with a description (and a range when both bounds are given); its value.

    Out-of-range values raise ValueError naming the parameter (rclpy's own check
    raises a less readable InvalidParameterValueException for overrides).
    """
    descriptor = ParameterDescriptor(description=description)
    if low is not None and high is not None:
        if isinstance(default, bool):
            pass
        elif isinstance(default, int):
            descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high),
                                                     step=1)]
        elif isinstance(default, float):
            descriptor.floating_point_range = [FloatingPointRange(from_value=float(low),
                                                                  to_value=float(high))]
    try:
        value = node.declare_parameter(name, default, descriptor).value
    except Exception as error:  # rclpy raises several types for bad values
        raise ValueError(f"parameter {name!r}: {error}") from None
    check_range(name, value, low, high)
    return value


def check_range(name: str, value: Any, low: float | None, high: float | None) -> None:
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if low is not None and v < low or high is not None and v > high:
                raise ValueError(f"parameter {name!r} = {value!r} is outside [{low}, {high}]")


def require_length(name: str, value: list, length: int) -> list:
    if len(value) != length:
        raise ValueError(f"parameter {name!r} must have {length} values, got {list(value)!r}")
    return list(value)
