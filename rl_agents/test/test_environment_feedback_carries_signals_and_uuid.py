import uuid

import pytest

from rl_agents.environment import Channel, Environment
from rl_agents.tasks import ArmReach, Pendulum


class Echo(Environment):
    m_channels = [Channel("x", (0.0, 1.0)), Channel("y", (0.0, 1.0)), Channel("z", fixed=7.0)]
    s_channels = [Channel("sum")]

    def __init__(self, cfg=None):
        super().__init__(cfg)
        self.closed = 0

    def _execute(self, m_signal, meta=None):
        if meta is not None:
            meta.setdefault("log", []).append(dict(m_signal))
        return {"sum": m_signal["x"] + m_signal["y"] + m_signal["z"]}

    def close(self):
        self.closed += 1


def test_feedback_has_motor_and_sensory_signal_and_a_fresh_uuid():
    env = Echo()
    meta = {}
    first = env.execute({"x": 4, "y": 11}, meta=meta)
    second = env.execute({"x": 0, "y": 0})
    assert first["m_signal"] == {"x": 4, "y": 11, "z": 7.0}
    assert first["s_signal"] == {"sum": 22.0}
    assert isinstance(first["uuid"], uuid.UUID) and first["uuid"] != second["uuid"]
    assert meta["log"] == [{"z": 7.0, "x": 4, "y": 11}]


def test_bounds_describe_but_do_not_enforce():
    assert Echo().execute({"x": 40.0, "y": -3.0})["s_signal"] == {"sum": 44.0}


def test_unknown_or_missing_channels_are_named():
    env = Echo()
    with pytest.raises(ValueError, match=r"unknown motor channel\(s\) \['w'\]"):
        env.execute({"x": 1, "y": 1, "w": 1})
    with pytest.raises(ValueError, match=r"lacks channel\(s\) \['y'\]"):
        env.execute({"x": 1})


def test_close_runs_even_when_the_episode_fails():
    env = Echo()
    with pytest.raises(ZeroDivisionError):
        with env:
            env.execute({"x": 1, "y": 1})
            raise ZeroDivisionError
    assert env.closed == 1


def test_tasks_report_reward_and_episode_end():
    env = Pendulum({"episode_steps": 3})
    env.reset(seed=1)
    feedback = [env.execute({"torque": 0.0}) for _ in range(3)]
    assert [f["done"] for f in feedback] == [False, False, True]
    assert all(f["reward"] <= 0.0 for f in feedback)
    arm = ArmReach({"episode_steps": 5})
    s = arm.reset(seed=2)
    assert set(s) == {"joint:0", "joint:1", "target:x", "target:y"}
    f = arm.execute({"joint:0": 0.05, "joint:1": -0.05})
    assert f["reward"] < 0.0 and not f["done"]
