"""Exercises palaestrAI's spaces as an agent uses them and prints JSON; run with
palaestrAI itself or (`--rl-agents`) with rl_agents answering its import names."""

import json
import sys

import numpy as np

if "--rl-agents" in sys.argv:
    from rl_agents import palaestrai_names
    palaestrai_names.install()

from palaestrai.types import Box, Discrete, MultiBinary, MultiDiscrete


def listed(x):
    return np.asarray(x, dtype=np.float64).tolist()


def main():
    seen = {}
    d = Discrete(4)
    seen["discrete"] = [len(d), list(d.shape), listed(d.to_vector(np.array(2))),
                        listed(d.reshape_to_space([0.1, 0.7, 0.2, 0.0])),
                        listed(d.reshape_to_space(3))]
    box = Box(low=[-1.0, 0.0], high=[1.0, 10.0])
    seen["box"] = [int(len(box)), list(box.shape), listed(box.to_vector(np.array([0.5, 2.0]))),
                   listed(box.reshape_to_space([0.5, 2.0])),
                   listed(box.scale(np.array([0.5, 0.25]))),
                   listed(box.scale(np.array([5.0, 0.0]), data_min=0, data_max=10)),
                   listed(box.scale(np.array([0.0, 3.0]), data_min=[-2.0, 0.0],
                                    data_max=[2.0, 6.0]))]
    seen["box_2x3_len"] = int(len(Box(low=0.0, high=1.0, shape=(2, 3))))
    seen["multi_discrete"] = [int(len(MultiDiscrete([2, 3]))),
                              listed(MultiDiscrete([2, 3]).to_vector(np.array([1, 2]))),
                              listed(MultiDiscrete([2, 3]).reshape_to_space(
                                  [0, 1, 0, 0, 1]))]
    seen["multi_binary"] = [len(MultiBinary(3)),
                            listed(MultiBinary(3).reshape_to_space([1, 0, 1]))]
    seeded = Box(low=[-1.0, 0.0, -np.inf], high=[1.0, 10.0, np.inf], seed=5)
    seen["box_samples"] = [listed(seeded.sample()) for _ in range(3)]
    scalar = Box(low=-0.2, high=0.2, shape=(), seed=9)
    seen["scalar_box_samples"] = [float(scalar.sample()) for _ in range(3)]
    dd = Discrete(100, seed=3)
    seen["discrete_samples"] = [int(dd.sample()) for _ in range(5)]
    seen["contains"] = [bool(d.contains(3)), bool(d.contains(4)),
                        bool(box.contains(np.array([0.0, 11.0])))]
    print(json.dumps(seen, sort_keys=True))


if __name__ == "__main__":
    main()
