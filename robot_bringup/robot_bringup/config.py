"""The one loader of brainstem's ROS 2 parameter files.

Files have the standard form that `ros2 launch` / `--params-file` read:

    /**/node_name:        # any namespace (as shipped); or node_name, /ns/node_name,
                          # or /** for every node
      ros__parameters:
        name: value
        group:            # nested maps become dotted names: group.name
          name: value

Launch files pass the same files to the nodes; the demo composes nodes in one
process and hands each `parameter_overrides(...)` from here. Later files win
over earlier ones, a node's own section over `/**`.
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


def _flatten(prefix: str, values: Mapping[str, Any], out: dict[str, Any], where: str) -> None:
    for key, value in values.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{where}: parameter names must be non-empty strings, got {key!r}")
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            _flatten(name, value, out, where)
        elif value is None:
            raise ConfigError(f"{where}: parameter {name!r} has no value")
        else:
            out[name] = value


def load_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """Node key (as written: "sim_arm", "/ns/sim_arm", "/**") → flat parameter dict."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(f"cannot read parameter file {path}: {error}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise ConfigError(f"{path}: top level must map node names to {{{PARAMS_KEY}: ...}}")
    nodes: dict[str, dict[str, Any]] = {}
    for node_key, section in document.items():
        where = f"{path}: {node_key}"
        if not isinstance(section, Mapping) or PARAMS_KEY not in section:
            raise ConfigError(f"{where}: expected a map with a {PARAMS_KEY!r} key")
        params = section[PARAMS_KEY] or {}
        if not isinstance(params, Mapping):
            raise ConfigError(f"{where}: {PARAMS_KEY} must be a map of parameter names")
        flat: dict[str, Any] = {}
        _flatten("", params, flat, where)
        nodes[str(node_key)] = flat
    return nodes


def _key_pattern(key: str) -> re.Pattern[str]:
    """The fully qualified node names a section key applies to, as rcl matches them:
    `/**` any run of namespace parts (none included), `*` one part; a key without a
    leading slash is relative to the root."""
    parts = [p for p in key.strip("/").split("/") if p]
    regex = ""
    for part in parts:
        if part == "**":
            regex += "(?:/[^/]+)*"
        else:
            regex += "/" + "[^/]*".join(re.escape(x) for x in part.split("*"))
    return re.compile("^" + regex + "$")


def _matches(key: str, node_name: str, namespace: str) -> bool:
    """Whether the section `key` applies to node `node_name` in `namespace`."""
    if key in WILDCARD_KEYS:
        return True
    full = "/" + "/".join(p for p in (namespace.strip("/"), node_name) if p)
    return bool(_key_pattern(key).match(full))


def section_node_name(key: str) -> str:
    """The node name a section key is for (its last part): "/**/sim_arm" -> "sim_arm"."""
    return key.rstrip("/").rsplit("/", 1)[-1]


def unknown_sections(path: str | Path, known_nodes: Iterable[str]) -> list[str]:
    """Sections of `path` for none of `known_nodes` (a misspelled node name leaves its
    node on defaults): each as "key (did you mean 'name'?)"."""
    known = sorted(set(known_nodes))
    problems = []
    for key in load_file(path):
        name = section_node_name(key)
        if key in WILDCARD_KEYS or name in known or "*" in name:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        problems.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return problems


def node_parameters(files: Iterable[str | Path], node_name: str,
                    namespace: str = "") -> dict[str, Any]:
    """The parameters `node_name` (in `namespace`) gets from `files`, merged in order."""
    merged: dict[str, Any] = {}
    for path in files:
        sections = load_file(path)
        for key in WILDCARD_KEYS:
            merged.update(sections.get(key, {}))
        for key, params in sections.items():
            if key not in WILDCARD_KEYS and _matches(key, node_name, namespace):
                merged.update(params)
    return merged


def parameter_overrides(files: Iterable[str | Path], node_name: str, namespace: str = "",
                        extra: Mapping[str, Any] | None = None) -> list:
    """rclpy Parameters for Node(parameter_overrides=...) from `files` (+ `extra` last)."""
    from rclpy.parameter import Parameter

    values = node_parameters(files, node_name, namespace)
    values.update(extra or {})
    overrides = []
    for name, value in values.items():
        if isinstance(value, list) and not value:
            # An empty YAML list has no element type; ROS reads it as a string array.
            overrides.append(Parameter(name, Parameter.Type.STRING_ARRAY, []))
            continue
        try:
            overrides.append(Parameter(name, value=value))
        except TypeError as error:
            raise ConfigError(f"parameter {node_name}.{name}: {error}") from None
    return overrides
