"""Exercises the `environments` 1.0 API and prints what it saw as JSON.

Run with the real package (`python environments_probe.py`, in its reference
venv) and with rl_agents answering the import names (`--rl-agents`); the test
compares the two.
"""

import json
import random
import sys
from collections import OrderedDict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
if "--rl-agents" in sys.argv:
    from rl_agents import palaestrai_names
    palaestrai_names.install()

import environments
import scicfg
from environments import Channel, Environment, tools


def outcome(call):
    try:
        return ["ok", call()]
    except Exception as exc:   # (which kind of error is the observation)
        return ["raises", type(exc).__name__]


def main():
    seen = {}
    a, b = Channel("a", (0.0, 1.0)), Channel("b", (-2.0, 2.0), fixed=0.5)
    seen["channel"] = [a.name, list(a.bounds), b.fixed, a == Channel("a", (0.0, 1.0)),
                       a == Channel("a", (0.0, 2.0)), Channel("c").bounds[0] == float("-inf")]
    signal = {"a": 0.25, "b": 1.5}
    seen["to_vector"] = list(tools.to_vector(signal, [a, b]))
    seen["to_vector_ordered"] = list(tools.to_vector(OrderedDict([("b", 1), ("a", 2)])))
    seen["to_signal"] = tools.to_signal([0.1, 0.2], [a, b])
    seen["to_signal_bad"] = outcome(lambda: tools.to_signal([0.1], [a, b]))[0]
    random.seed(3)
    seen["random_signal"] = tools.random_signal([a, b])
    random.seed(4)
    seen["random_signal_bounds"] = tools.random_signal([a], bounds=[(10.0, 11.0)])
    seen["in_bounds_inside"] = outcome(lambda: tools.in_bounds({"a": 0.5}, [a]))
    seen["in_bounds_outside"] = outcome(lambda: tools.in_bounds({"a": 5.0}, [a]))

    seen["create_from_dict"] = outcome(lambda: type(Environment.create(
        {"classname": "reach_env.PointReach"})).__name__)
    cfg = scicfg.SciConfig({"classname": "reach_env.PointReach", "reward_channel": "reward"})
    env = Environment.create(cfg)
    seen["created"] = type(env).__name__
    seen["cfg"] = [env.cfg.classname, env.cfg["classname"], "classname" in env.cfg]
    seen["defcfg_has_classname"] = "classname" in str(Environment.defcfg) or hasattr(
        Environment.defcfg, "_describe")
    seen["channels"] = [[c.name for c in env.m_channels], [c.name for c in env.s_channels]]
    env.reset(5)
    feedback = env.execute({"push:x": 0.1, "push:y": -0.3})
    seen["feedback_keys"] = sorted(k for k in feedback if k in ("s_signal", "uuid"))
    seen["uuid"] = type(feedback["uuid"]).__name__
    seen["s_signal"] = feedback["s_signal"]
    seen["not_executable"] = outcome(lambda: env.execute({"push:x": 50.0, "push:y": 0.0}))
    seen["error_class"] = environments.environment.OrderNotExecutableError.__name__
    env.close()
    print(json.dumps(seen, sort_keys=True))


if __name__ == "__main__":
    main()
