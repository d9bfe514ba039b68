from pathlib import Path

import pytest

from robot_bringup.config import (
    ConfigError,
    check_file,
    config_file,
    node_parameters,
    package_config_dir,
    section_keys,
    unknown_sections,
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_nested_maps_become_dotted_names_and_later_files_win(tmp_path):
    a = write(tmp_path, "a.yaml", """
/**:
  ros__parameters: {seed: 1}
/**/sim_arm:
  ros__parameters:
    camera: {width_px: 320, rate_hz: 30.0}
    seed: 2
""")
    b = write(tmp_path, "b.yaml", """
/demo/sim_arm:
  ros__parameters:
    camera: {rate_hz: 10.0}
""")
    params = node_parameters([a, b], "sim_arm", namespace="/demo")
    assert params == {"seed": 2, "camera.width_px": 320, "camera.rate_hz": 10.0}
    assert node_parameters([a, b], "other") == {"seed": 1}
    # /demo/sim_arm does not apply to a sim_arm in another namespace.
    assert node_parameters([b], "sim_arm", namespace="/elsewhere") == {}


def test_sections_match_node_names_as_rcl_does(tmp_path):
    """A bare node name is the root namespace's node (what `ros2 launch namespace:=demo`
    broke); /**/name is that node in any namespace."""
    path = write(tmp_path, "c.yaml", """
sim_arm:
  ros__parameters: {seed: 1}
/**/pilot:
  ros__parameters: {port: 8889}
/demo/*:
  ros__parameters: {in_demo: true}
""")
    assert node_parameters([path], "sim_arm") == {"seed": 1}
    assert node_parameters([path], "sim_arm", namespace="/demo") == {"in_demo": True}
    assert node_parameters([path], "pilot", namespace="/a/b") == {"port": 8889}
    assert node_parameters([path], "pilot") == {"port": 8889}


def test_shipped_sections_apply_in_any_namespace():
    for path in sorted(package_config_dir().glob("*.yaml")):
        name = path.name
        for key in section_keys(path):
            assert key.startswith("/**/"), f"{name}: section {key!r} only applies to the " \
                "root namespace: key it /**/<node> so namespace:=... keeps it"


def test_a_misspelled_section_is_named_with_its_close_match(tmp_path):
    path = write(tmp_path, "d.yaml", """
/**/brain_sesion:
  ros__parameters: {url: "http://x"}
""")
    assert unknown_sections(path, ["brain_session", "brain_server"]) == \
        ["'/**/brain_sesion' (did you mean 'brain_session'?)"]


@pytest.mark.parametrize("text, words", [
    ("sim_arm: {seed: 1}", "value before ros__parameters at line 1"),
    ("- 1\n- 2", "Sequences cannot be key at line 1"),
    ("sim_arm:\n  ros__parameters:\n    seed:\n", "No value at line 3"),
    ("sim_arm: [", "Sequences can only be values"),
])
def test_bad_files_name_the_file_and_the_problem(tmp_path, text, words):
    """rcl's reasons, as `ros2 launch` would give them, with the file's path."""
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError, match=words) as error:
        check_file(path)
    assert str(path) in str(error.value)
    with pytest.raises(ConfigError):
        node_parameters([path], "sim_arm")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nothere.yaml"):
        unknown_sections(tmp_path / "nothere.yaml", ["sim_arm"])


def test_strings_holding_yaml_stay_strings(tmp_path):
    """What rclpy's parameter_dict_from_yaml_file (9.1) gets wrong: it re-parses values."""
    path = write(tmp_path, "e.yaml", """
/**/brain_session:
  ros__parameters:
    inputs: "camera: {topic: camera/image_raw}"
    run_options: '{"pace": "inputs"}'
    quoted_number: "1.5"
""")
    assert node_parameters([path], "brain_session") == {
        "inputs": "camera: {topic: camera/image_raw}", "run_options": '{"pace": "inputs"}',
        "quoted_number": "1.5"}


def test_every_shipped_file_loads():
    files = sorted(package_config_dir().glob("*.yaml"))
    assert files
    for path in files:
        assert section_keys(path), path


def test_parameter_overrides_are_rclpy_parameters():
    from rclpy.parameter import Parameter

    from robot_bringup.config import parameter_overrides

    overrides = parameter_overrides([config_file("sim.yaml")], "sim_arm",
                                    extra={"seed": 7})
    by_name = {p.name: p for p in overrides}
    assert by_name["seed"].value == 7
    assert by_name["camera.window_m"].type_ == Parameter.Type.DOUBLE_ARRAY
