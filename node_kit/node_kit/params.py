"""Parameters that tell the truth: each one is live or read-only.

    params = Params(node)
    rate = params.declare("rate_hz", 30.0, "Frames per second.", low=1.0, high=120.0,
                          on_set=self._set_rate)          # live: takes effect when set
    port = params.declare("port", 8004, "TCP port.", low=1, high=65535)   # read-only
    params.refuse_unknown()     # at the end of __init__: misspelled names fail the start

- A parameter with `on_set` is live: `ros2 param set` runs it, and a ValueError it
  raises refuses the change with its message as the reason.
- Every other parameter is declared read-only: `ros2 param set` answers "Setting
  parameter failed: Trying to set a read-only parameter" instead of "successful".
- Ranges (`low`/`high`) and `choices` are checked at start (the error names the
  parameter and the allowed values) and on every set.
- `refuse_unknown()` fails the start on a parameter given on the command line or in
  a parameter file that the node does not declare, naming the closest declared one.
- `ros2 param set` of a name the node does not declare, or of a value of the wrong type,
  is refused with a reason naming the parameter (and the close match, or both types).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.node import Node
from rclpy.parameter import Parameter

from node_kit.checks import ParameterError, did_you_mean

# Parameters every rclpy node may be given besides its own.
_ALWAYS_ALLOWED = ("use_sim_time", "start_type_description_service")
_ALLOWED_PREFIXES = ("qos_overrides.",)
_HINT = " (did you mean {!r}?)"


@dataclass(frozen=True)
class Declared:
    """One parameter as declared: what its reference table shows
    (scripts/param_tables.py renders the READMEs' tables from these)."""

    name: str
    default: Any
    description: str
    low: float | None
    high: float | None
    choices: tuple[Any, ...] | None
    live: bool


class Params:
    """Declares a node's parameters and serves `ros2 param set` for the live ones."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._live: dict[str, Callable[[Any], None]] = {}
        self._checks: dict[str, Callable[[Any], None]] = {}
        self.declared: dict[str, Declared] = {}   # in declaration order
        node.add_on_set_parameters_callback(self._on_set)
        node.__dict__["_node_kit_params"] = self
        # The SetParameters services call this; rclpy's own refusals of an undeclared name
        # or a wrong type name neither the parameter nor the types.
        rclpy_set = node.set_parameters_atomically

        def set_atomically(parameters: list[Parameter]) -> SetParametersResult:
            return self._refuse_name_or_type(parameters) or rclpy_set(parameters)

        node.set_parameters_atomically = set_atomically

    @classmethod
    def of(cls, node: Node) -> Params:
        """The node's Params (made on first use)."""
        return node.__dict__.get("_node_kit_params") or cls(node)

    def declare(self, name: str, default: Any, description: str, *,
                low: float | None = None, high: float | None = None,
                choices: Sequence[Any] | None = None,
                on_set: Callable[[Any], None] | None = None,
                check: Callable[[Any], None] | None = None,
                dynamic_typing: bool = False) -> Any:
        """Declare `name` and return its value (the override's, else `default`).

        `check(value)` raises ValueError for a bad value, at start and on set.
        Raises ParameterError naming the parameter when the value is refused.
        """
        descriptor = ParameterDescriptor(description=description, read_only=on_set is None,
                                         dynamic_typing=dynamic_typing)
        if low is not None and high is not None and not isinstance(default, bool):
            if isinstance(default, int):
                descriptor.integer_range = [IntegerRange(from_value=int(low),
                                                         to_value=int(high), step=1)]
            elif isinstance(default, float):
                descriptor.floating_point_range = [FloatingPointRange(
                    from_value=float(low), to_value=float(high))]
        if choices is not None:
            descriptor.additional_constraints = "one of: " + ", ".join(map(str, choices))
        if on_set is None:
            descriptor.additional_constraints = (descriptor.additional_constraints + "; "
                                                 if descriptor.additional_constraints else "") \
                + "read-only: restart the node to change it"

        def validate(value: Any) -> None:
            _check_range(name, value, low, high)
            if choices is not None and value not in choices:
                raise ParameterError(f"parameter {name!r} = {value!r} is not one of "
                                     f"{list(choices)}")
            if check is not None:
                try:
                    check(value)
                except ValueError as error:
                    raise ParameterError(f"parameter {name!r}: {error}") from None

        override = self.node._parameter_overrides.get(name)
        if override is not None and override.value is not None:
            validate(override.value)  # our message, before rclpy's own range check
        try:
            value = self.node.declare_parameter(name, default, descriptor).value
        except Exception as error:  # rclpy raises several types for bad overrides
            raise ParameterError(f"parameter {name!r}: {error}") from None
        validate(value)
        self._checks[name] = validate
        self.declared[name] = Declared(name, default, description, low, high,
                                       None if choices is None else tuple(choices),
                                       on_set is not None)
        if on_set is not None:
            self._live[name] = on_set
        return value

    def refuse_unknown(self) -> None:
        """Fail the start on overrides the node does not declare (typos in files and
        on the command line), naming the closest declared parameter."""
        declared = set(self.node._parameters)  # rclpy keeps no public list of overrides
        unknown = sorted(n for n in self.node._parameter_overrides
                         if n not in declared and n not in _ALWAYS_ALLOWED
                         and not n.startswith(_ALLOWED_PREFIXES))
        if not unknown:
            return
        hints = []
        for name in unknown:
            hints.append(f"{name!r}" + did_you_mean(name, sorted(declared), _HINT))
        raise ParameterError(f"unknown parameter{'s' if len(unknown) > 1 else ''} for node "
                             f"{self.node.get_name()!r}: {', '.join(hints)}")

    def _refuse_name_or_type(self, parameters: list[Parameter]) -> SetParametersResult | None:
        node = self.node
        for parameter in parameters:
            name = parameter.name
            if not node.has_parameter(name):
                if node._allow_undeclared_parameters:
                    continue
                return SetParametersResult(successful=False, reason=(
                    f"unknown parameter {name!r} for node {node.get_name()!r}"
                    + did_you_mean(name, sorted(node._parameters), _HINT)))
            descriptor = node.describe_parameter(name)
            given = parameter.type_
            if (given != Parameter.Type.NOT_SET and not descriptor.dynamic_typing
                    and given.value != descriptor.type):
                expected = Parameter.Type(descriptor.type).name.lower()
                return SetParametersResult(successful=False, reason=(
                    f"parameter {name!r} takes a {expected}, got a {given.name.lower()} "
                    f"({parameter.value!r})"))
        return None

    def _on_set(self, parameters: list[Parameter]) -> SetParametersResult:
        # Called for declarations too: those were checked in declare().
        for parameter in parameters:
            if parameter.name not in self._checks:
                continue
            try:
                self._checks[parameter.name](parameter.value)
            except ParameterError as error:
                return SetParametersResult(successful=False, reason=str(error))
        for parameter in parameters:
            setter = self._live.get(parameter.name)
            if setter is None:
                continue
            try:
                setter(parameter.value)
            except ValueError as error:
                return SetParametersResult(successful=False,
                                           reason=f"parameter {parameter.name!r}: {error}")
        return SetParametersResult(successful=True)


def _check_range(name: str, value: Any, low: float | None, high: float | None) -> None:
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if low is not None and v < low or high is not None and v > high:
                raise ParameterError(f"parameter {name!r} = {value!r} is outside "
                                     f"[{low}, {high}]")
