"""brainstem's ROS 2 parameter files, read by rcl: the loader `ros2 launch` and
`--ros-args --params-file` use, so the demo and the tests see exactly what a
launched node gets.

Files have the standard form:

    /**/node_name:        # any namespace (as shipped); or node_name, /ns/node_name,
                          # /ns/*, or /** for every node
      ros__parameters:
        name: value
        group:            # nested maps become dotted names: group.name
          name: value

Launch files pass the same files to the nodes; the demo composes nodes in one
process and hands each `parameter_overrides(...)` from here. Later files win
over earlier ones, a node's own section over `/**`.

rclpy.parameter.parameter_dict_from_yaml_file is not used: in rclpy 9.1 it
matches only the exact keys `/**` and `[/]node` (not `/**/node`, the key every
shipped file uses), and it turns each value into text and parses that again as
YAML, so a string holding YAML (brain_session's `inputs`, the pilot's
`devices_yaml`, the rl agents' `agent_params`) comes back as a mapping.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

PARAMS_KEY = "ros__parameters"
WILDCARD_KEYS = ("/**", "**")
#: Parameters every rclpy node declares itself, with their defaults: not the file's.
_NODE_OWN = {"use_sim_time": False, "start_type_description_service": True}


class ConfigError(ValueError):
    """A parameter file that cannot be used; the message names the file and the key."""


def package_config_dir() -> Path:
    """The folder of the config/*.yaml the demo reads: $BRAINSTEM_CONFIG_DIR when set (a
    copy of the shipped files to edit), else the source tree's when running from a
    checkout (symlink install), else the installed share folder."""
    override = os.environ.get("BRAINSTEM_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    source = Path(__file__).resolve().parent.parent / "config"
    if source.is_dir():
        return source
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory("robot_bringup")) / "config"
    except Exception:  # no ament index: nothing better than the source path
        return source


def config_file(name: str) -> Path:
    """Path of a shipped config file by name (e.g. "sim.yaml")."""
    path = package_config_dir() / name
    if not path.is_file():
        raise ConfigError(f"no config file {name!r} in {path.parent}")
    return path


def ros_args(files: Iterable[str | Path]) -> list[str]:
    """`--ros-args --params-file ...` for `files`, in order (later files win)."""
    args = ["--ros-args"]
    for path in files:
        args += ["--params-file", str(path)]
    return args


def _rcl_error(error: Exception) -> str:
    """rcl's reason for refusing a parameter file, without its source locations."""
    text = str(error)
    match = re.search(r"params file: '--params-file ([^']*)'\. Error: (.*?)(, at /|$)", text,
                      re.S)
    if match:
        return f"{match.group(1)}: {match.group(2).strip()}"
    return text


def _parsed_by_rcl(files: list[Path], node_name: str, namespace: str
                   ) -> list[Any]:
    """The rclpy Parameters rcl gives node `node_name` in `namespace` from `files`."""
    import rclpy
    from rclpy.node import Node

    for path in files:
        if not path.is_file():
            raise ConfigError(f"cannot read parameter file {path}: no such file")
    context = rclpy.Context()
    try:
        rclpy.init(context=context, args=[])
        try:
            node = Node(node_name, namespace=namespace or None, context=context,
                        cli_args=ros_args(files), use_global_arguments=False,
                        automatically_declare_parameters_from_overrides=True,
                        start_parameter_services=False, enable_rosout=False)
        except ValueError as error:   # a value rcl read as "not set": an empty list
            raise ConfigError(f"{', '.join(map(str, files))}: parameter of {node_name}: "
                              f"{error} (an empty list has no type: give an element "
                              "or leave the parameter out)") from None
        except Exception as error:   # rclpy's RCLInvalidROSArgsError names the file
            if type(error).__name__ != "RCLInvalidROSArgsError":
                raise
            raise ConfigError(_rcl_error(error)) from None
        try:
            return [p for name, p in node.get_parameters_by_prefix("").items()
                    if _NODE_OWN.get(name, object()) != p.value]
        finally:
            node.destroy_node()
    finally:
        context.try_shutdown()


def check_file(path: str | Path) -> None:
    """Raise ConfigError naming the file and line when rcl cannot read `path`."""
    _parsed_by_rcl([Path(path)], "brainstem_config_check", "")


def section_keys(path: str | Path) -> list[str]:
    """The node keys of a parameter file as written ("sim_arm", "/ns/sim_arm", "/**")."""
    check_file(path)
    document = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(document, Mapping):
        raise ConfigError(f"{path}: top level must map node names to {{{PARAMS_KEY}: ...}}")
    return [str(key) for key in document]


def section_node_name(key: str) -> str:
    """The node name a section key is for (its last part): "/**/sim_arm" -> "sim_arm"."""
    return key.rstrip("/").rsplit("/", 1)[-1]


def unknown_sections(path: str | Path, known_nodes: Iterable[str]) -> list[str]:
    """Sections of `path` for none of `known_nodes` (a misspelled node name leaves its
    node on defaults): each as "key (did you mean 'name'?)"."""
    known = sorted(set(known_nodes))
    problems = []
    for key in section_keys(path):
        name = section_node_name(key)
        if key in WILDCARD_KEYS or name in known or "*" in name:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        problems.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return problems


def node_parameters(files: Iterable[str | Path], node_name: str,
                    namespace: str = "") -> dict[str, Any]:
    """The parameters `node_name` (in `namespace`) gets from `files`, layered in order."""
    return {p.name: p.value for p in _parsed_by_rcl([Path(f) for f in files], node_name,
                                                    namespace)}


def parameter_overrides(files: Iterable[str | Path], node_name: str, namespace: str = "",
                        extra: Mapping[str, Any] | None = None) -> list:
    """rclpy Parameters for Node(parameter_overrides=...) from `files` (+ `extra` last)."""
    from rclpy.parameter import Parameter

    overrides = {p.name: p for p in _parsed_by_rcl([Path(f) for f in files], node_name,
                                                   namespace)}
    for name, value in (extra or {}).items():
        try:
            overrides[name] = Parameter(name, value=value)
        except TypeError as error:
            raise ConfigError(f"parameter {node_name}.{name}: {error}") from None
    return list(overrides.values())
