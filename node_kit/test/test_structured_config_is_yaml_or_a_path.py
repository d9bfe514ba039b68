"""node_kit.config.load_structured: a string parameter holds inline YAML or a YAML
file's path; every error names the parameter and what was wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from node_kit import ParameterError
from node_kit.config import is_path, load_structured


def test_inline_yaml_and_json_are_read():
    assert load_structured("devices", "{devices: [{name: led, pin: 17}]}") == \
        {"devices": [{"name": "led", "pin": 17}]}
    assert load_structured("run", '{"pace": "inputs"}', dict) == {"pace": "inputs"}
    assert load_structured("channels", "- a\n- b\n", list) == ["a", "b"]


def test_a_path_is_read_as_its_file(tmp_path: Path):
    path = tmp_path / "devices.yaml"
    path.write_text("devices:\n  - {name: led, pin: 17}\n")
    assert load_structured("devices", str(path), dict) == {"devices": [{"name": "led", "pin": 17}]}
    other = tmp_path / "mapping.txt"      # any existing file, whatever its name
    other.write_text("[1, 2]")
    assert is_path(str(other)) and load_structured("m", f"  {other}  ", list) == [1, 2]


def test_empty_gives_the_default():
    assert load_structured("inputs", "") is None
    assert load_structured("agent_params", "  ", dict, default={}) == {}
    assert load_structured("agent_params", "# only a comment", dict, default={}) == {}


@pytest.mark.parametrize("text, expect, message", [
    ("missing.yaml", None, "parameter 'mapping': file 'missing.yaml' not found"),
    ("cam: {topic: [", None, "parameter 'mapping': inline YAML is not valid YAML \\(line 1"),
    ("[1, 2]", dict, "parameter 'mapping': inline YAML must hold a mapping, got a list"),
    ("{a: 1}", list, "parameter 'mapping': inline YAML must hold a list, got a mapping"),
    ("plain words", dict, "must hold a mapping, got a string: 'plain words'"),
])
def test_errors_name_the_parameter_and_the_problem(text, expect, message):
    with pytest.raises(ParameterError, match=message):
        load_structured("mapping", text, expect)


def test_a_bad_file_names_the_file(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("a: [1,\n")
    with pytest.raises(ParameterError, match=f"parameter 'x': file '{path}' is not valid YAML"):
        load_structured("x", str(path))
    with pytest.raises(ParameterError, match="must be a string"):
        load_structured("x", ["a"])  # type: ignore[arg-type]
