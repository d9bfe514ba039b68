"""The bringup nodes' way to declare parameters: node_kit's Params, in one call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rclpy.node import Node

from node_kit.params import Params, require_length

__all__ = ["declare", "require_length"]


def declare(node: Node, name: str, default: Any, description: str,
            low: float | None = None, high: float | None = None, *,
            on_set: Callable[[Any], None] | None = None, **kwargs: Any) -> Any:
    """Declare `name` on `node` (read-only unless `on_set` makes it live); its value.
    Refused values raise node_kit.ParameterError (a ValueError) naming the parameter."""
    return Params.of(node).declare(name, default, description, low=low, high=high,
                                   on_set=on_set, **kwargs)
