"""The `environments` 1.0.1 API, held against the package itself.

`reference_agents/environments_probe.py` exercises channels, the tools, the
attribute-style cfg, `Environment.create`, `defcfg`, `execute` and
`OrderNotExecutableError`, once with the real package (its own venv:
environments 1.0.1 and scicfg 1.0.1, which it needs but does not declare;
seconds to make) and once with rl_agents answering the import names. They
agree except where rl_agents differs on purpose (README): `create` also takes
a dict, and `tools.in_bounds` works (1.0.1's raises TypeError on Python 3:
it looks Channel objects up in the signal).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rl_agents import palaestrai_names
from rl_agents.config import Config
from rl_agents.environment import Channel, Environment, defcfg


@pytest.fixture(autouse=True, scope="module")
def _views_of_palaestrai_removed_after():
    yield
    palaestrai_names.uninstall()


PROBE = Path(__file__).resolve().parent / "reference_agents" / "environments_probe.py"


@pytest.mark.slow
def test_the_api_behaves_as_environments_1_0_1(reference_python):
    python = reference_python("environments", ["environments==1.0.1", "scicfg==1.0.1"])
    theirs = json.loads(subprocess.run([str(python), str(PROBE)], capture_output=True,
                                       text=True, check=True, timeout=120).stdout)
    ours = json.loads(subprocess.run([sys.executable, str(PROBE), "--rl-agents"],
                                     capture_output=True, text=True, check=True,
                                     timeout=120).stdout)
    on_purpose = {"create_from_dict": (["raises", "AttributeError"], ["ok", "PointReach"]),
                  "in_bounds_inside": (["raises", "TypeError"], ["ok", True]),
                  "in_bounds_outside": (["raises", "TypeError"], ["ok", False])}
    assert set(ours) == set(theirs)
    for key in theirs:
        if key in on_purpose:
            assert (theirs[key], ours[key]) == on_purpose[key], key
        else:
            assert ours[key] == theirs[key], key
    assert theirs["s_signal"]["x"] == 0.1 and theirs["not_executable"][1] == \
        "OrderNotExecutableError"


def test_config_reads_as_attributes_and_completes_from_defcfg():
    cfg = Config({"episode_steps": 50, "arm": {"links": [0.5, 0.4]}})
    cfg["arm.base"] = 0.1
    assert cfg.episode_steps == 50 and cfg.arm.links == [0.5, 0.4] and cfg["arm.base"] == 0.1
    assert cfg.get("seed", 3) == 3 and not hasattr(cfg, "seed")
    with pytest.raises(KeyError, match="seed"):
        cfg["seed"]
    defaults = Config()
    defaults._describe("episode_steps", instanceof=int, default=10)
    defaults._describe("seed", instanceof=int, default=0)
    cfg._update(defaults, overwrite=False)
    assert cfg.episode_steps == 50 and cfg.seed == 0
    with pytest.raises(TypeError, match="seed"):
        cfg.seed = "zero"

    class Probe(Environment):
        m_channels = [Channel("u")]
        s_channels = [Channel("y")]

        def _execute(self, m_signal, meta=None):
            return {"y": m_signal["u"]}

    env = Probe({"reward_channel": "y"})
    assert env.cfg.reward_channel == "y" and "classname" in [k for k in defcfg._descriptions]
    assert env.execute({"u": 2.0})["reward"] == 2.0   # rl_agents: reward from a channel
    made = Environment.create({"classname": "rl_agents.tasks:Pendulum", "episode_steps": 7})
    assert type(made).__name__ == "Pendulum" and made.episode_steps == 7
    with pytest.raises(ValueError, match="classname"):
        Environment.create({})
