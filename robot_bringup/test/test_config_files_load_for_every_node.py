from pathlib import Path

import pytest

from robot_bringup.config import (
    ConfigError,
    config_file,
    load_file,
    node_parameters,
    package_config_dir,
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_nested_maps_become_dotted_names_and_later_files_win(tmp_path):
    a = write(tmp_path, "a.yaml", """
/**:
  ros__parameters: {seed: 1}
sim_arm:
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


@pytest.mark.parametrize("text, words", [
    ("sim_arm: {seed: 1}", "ros__parameters"),
    ("- 1\n- 2", "top level"),
    ("sim_arm:\n  ros__parameters:\n    seed:\n", "'seed' has no value"),
    ("sim_arm: [", "not valid YAML"),
])
def test_bad_files_name_the_file_and_the_problem(tmp_path, text, words):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError, match=words) as error:
        load_file(path)
    assert "bad.yaml" in str(error.value)


def test_every_shipped_file_loads():
    files = sorted(package_config_dir().glob("*.yaml"))
    assert files
    for path in files:
        assert load_file(path), path


def test_parameter_overrides_are_rclpy_parameters():
    pytest.importorskip("rclpy")
    from rclpy.parameter import Parameter

    from robot_bringup.config import parameter_overrides

    overrides = parameter_overrides([config_file("sim.yaml")], "sim_arm",
                                    extra={"seed": 7})
    by_name = {p.name: p for p in overrides}
    assert by_name["seed"].value == 7
    assert by_name["camera.window_m"].type_ == Parameter.Type.DOUBLE_ARRAY
