import csv
import subprocess
import sys

import pytest
import yaml

from rl_agents.experiment import load_experiment, main, parse_experiment

pytestmark = pytest.mark.timeout(120)

SMALL = {
    "name": "small",
    "seeds": [0, 1],
    "environment": {"name": "arm_reach", "params": {"episode_steps": 10}},
    "agents": [
        {"uid": "reacher", "algorithm": "cem", "muscles": 2, "transport": "zmq",
         "params": {"features": "arm_reach", "population": 4}},
        {"uid": "idle", "algorithm": "dummy"},
        {"uid": "valued", "algorithm": "tile_q", "transport": "zmq",
         "params": {"tiles_per_dim": 4, "tilings": 4, "trace_decay": 0.9}},
    ],
    "phases": [{"name": "train", "mode": "train", "episodes": 8},
               {"name": "test", "mode": "test", "episodes": 2}],
}


def test_experiment_file_runs_and_writes_csv_and_png(tmp_path, capsys):
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    assert main([str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    with open(tmp_path / "out" / "learning_curve.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * 2 * 10            # agents x seeds x episodes
    reacher = [r for r in rows if r["agent"] == "reacher"]
    assert {r["muscle"] for r in reacher} == {"reacher.0", "reacher.1"}
    assert [r["phase"] for r in reacher if r["seed"] == "0"] == ["train"] * 8 + ["test"] * 2
    assert all(int(r["steps"]) == 10 and float(r["return"]) < 0 for r in rows)
    png = (tmp_path / "out" / "learning_curve.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert "reacher test: mean return" in capsys.readouterr().out


def test_the_entry_point_shows_progress(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**SMALL, "seeds": [0], "agents": [SMALL["agents"][1]]}))
    done = subprocess.run([sys.executable, "-m", "rl_agents.experiment", str(path),
                           "--out", str(tmp_path / "o")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "10/10" in done.stderr                  # tqdm's bar
    assert (tmp_path / "o" / "learning_curve.csv").exists()


def test_shipped_experiment_files_are_valid():
    import pathlib
    config = pathlib.Path(__file__).resolve().parents[1] / "config"
    for name in ("experiment_arm_reach.yaml", "experiment_pendulum.yaml"):
        spec = load_experiment(config / name)
        assert spec.phases and spec.agents and spec.seeds


@pytest.mark.parametrize("change, message", [
    ({"agents": [{"uid": "a", "algorithm": "sarsa"}]}, r"agents\[0\].algorithm"),
    ({"phases": [{"name": "p", "episodes": 0}]}, r"phases\[0\].episodes"),
    ({"phases": [{"name": "p", "episodes": 1, "mode": "fly"}]}, r"phases\[0\].mode"),
    ({"seeds": "zero"}, "'seeds'"),
    ({"environment": {}}, "'environment' needs 'name'"),
])
def test_bad_files_name_the_wrong_entry(change, message):
    with pytest.raises(ValueError, match=message):
        parse_experiment({**SMALL, **change})


def test_unknown_environment_is_reported_by_main(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**SMALL, "environment": {"name": "moon"}}))
    assert main([str(path), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "unknown environment 'moon'" in capsys.readouterr().err
