import math

import numpy as np
import pytest

from rl_agents.spaces import Box, Discrete, MultiBinary, MultiDiscrete, Space, Tuple

SPACES = [
    Box(low=-1.0, high=2.0, shape=(3,), dtype=np.float32),
    Box(low=[-1.0, 0.0], high=[1.0, 5.0]),
    Box(low=-math.inf, high=math.inf, shape=(2, 2)),
    Box(low=0, high=10, shape=(4,), dtype=np.int64),
    Discrete(5),
    MultiBinary(6),
    MultiDiscrete([3, 4, 2]),
    Tuple([Discrete(2), Box(low=0.0, high=1.0, shape=()), Tuple([MultiBinary(2)])]),
]


@pytest.mark.parametrize("space", SPACES, ids=str)
def test_string_form_parses_back_to_an_equal_space(space):
    text = space.to_string()
    again = Space.from_string(text)
    assert type(again) is type(space)
    assert again == space
    assert again.to_string() == text


@pytest.mark.parametrize("space", SPACES, ids=str)
def test_samples_are_members_and_flatten_round_trips(space):
    space.seed(3)
    for _ in range(20):
        x = space.sample()
        assert space.contains(x)
        assert x in space
        flat = space.flatten(x)
        assert flat.shape == (space.flat_size,)
        assert space.contains(space.unflatten(flat))


def test_seeded_samples_repeat():
    a, b = Box(-1.0, 1.0, shape=(4,), seed=7), Box(-1.0, 1.0, shape=(4,), seed=7)
    assert np.array_equal(a.sample(), b.sample())


def test_non_members_are_refused():
    assert not Box(-1.0, 1.0, shape=(2,)).contains([0.0, 1.5])
    assert not Box(-1.0, 1.0, shape=(2,)).contains([0.0, 0.0, 0.0])
    assert not Discrete(3).contains(3)
    assert not Discrete(3).contains(1.5)
    assert not MultiBinary(2).contains([0, 2])
    assert not Tuple([Discrete(2), Discrete(2)]).contains((1,))
    assert not Box(0.0, 1.0, shape=()).contains("abc")


def test_parser_names_what_is_wrong_and_never_evaluates_code():
    with pytest.raises(ValueError, match="unknown space 'Blob'"):
        Space.from_string("Blob(3)")
    with pytest.raises(ValueError, match="cannot parse"):
        Space.from_string("Box(low=__import__('os').getcwd(), high=1.0, shape=())")
    with pytest.raises(ValueError, match="not numeric"):
        Space.from_string("Box(low=0.0, high=1.0, shape=(), dtype=np.object_)")
    with pytest.raises(ValueError, match="low"):
        Box(low=1.0, high=0.0, shape=())
    with pytest.raises(ValueError, match="Discrete needs n >= 1"):
        Discrete(0)


def test_infinite_bounds_survive_the_string_form():
    space = Space.from_string("Box(low=[-inf, 0.0], high=[inf, 1.0], shape=(2,), dtype=np.float64)")
    assert space.low[0] == -math.inf and space.high[0] == math.inf
    assert space.contains([1e9, 0.5])
