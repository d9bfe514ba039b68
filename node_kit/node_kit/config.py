"""Structured configuration in a string parameter, one way: inline YAML, or the path of
a YAML file. ROS parameters hold scalars and flat lists; a node that needs a mapping or
a list of mappings (devices, decoder entries, channels) takes one string parameter and
reads it with `load_structured`:

    devices: "sim_devices.yaml"                              # a path
    devices: "{devices: [{name: led, kind: led, pin: 17}]}"   # inline YAML
    devices: |                                                # inline YAML, block style
      devices:
        - {name: led, kind: led, pin: 17}

The text is a path when it is one line that names an existing file or ends in .yaml or
.yml (a missing file is then an error, not YAML); otherwise it is YAML. JSON is YAML.
Every error names the parameter and says what was wrong (the missing path, the YAML
error and its line, the type found instead of the one expected).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from node_kit.checks import ParameterError

_KIND = {dict: "a mapping", list: "a list", str: "a string"}


def is_path(text: str) -> bool:
    """Whether `text` is read as a file path (see the module docstring)."""
    text = text.strip()
    if not text or "\n" in text:
        return False
    if text.endswith((".yaml", ".yml")):
        return True
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def load_structured(name: str, text: str, expect: type | None = None,
                    default: Any = None) -> Any:
    """The value parameter `name` holds as inline YAML or a YAML file's path; `default`
    for an empty text (or an empty document). With `expect` (dict or list), another
    type is refused. Raises ParameterError naming `name`."""
    if not isinstance(text, str):
        raise ParameterError(f"parameter {name!r} must be a string (inline YAML or a YAML "
                             f"file's path), got {type(text).__name__}")
    if not text.strip():
        return default
    source = "inline YAML"
    if is_path(text):
        path = Path(text.strip()).expanduser()
        source = f"file {str(path)!r}"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ParameterError(f"parameter {name!r}: file {str(path)!r} not found") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ParameterError(f"parameter {name!r}: cannot read {str(path)!r}: "
                                 f"{error}") from None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ParameterError(f"parameter {name!r}: {source} is not valid YAML{at}: "
                             f"{problem}") from None
    if value is None:
        return default
    if expect is not None and not isinstance(value, expect):
        raise ParameterError(f"parameter {name!r}: {source} must hold "
                             f"{_KIND.get(expect, expect.__name__)}, got "
                             f"{_KIND.get(type(value), type(value).__name__)}: {value!r:.80}")
    return value
