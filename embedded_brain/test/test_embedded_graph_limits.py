"""A graph whose run would not fit is refused at load, with the memory it would need and
the limit (not an out-of-memory error from numpy once a run starts); the estimate is
above what a run really allocates, and not wildly so. Misspelled keys and names are
refused with their close match."""

from __future__ import annotations

import copy
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import yaml

from embedded_brain.graph import (
    GraphError,
    bundled_graph_path,
    check_run_memory,
    load_graph,
    parse_graph,
    run_memory_bytes,
)
from embedded_brain.snn import Network

DEMO = yaml.safe_load(bundled_graph_path("demo_arm").read_text())


def demo_with(change) -> dict:
    raw = copy.deepcopy(DEMO)
    change(raw)
    return raw


def population(raw: dict, pid: str) -> dict:
    return next(p for p in raw["populations"] if p["id"] == pid)


def write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("change, what", [
    (lambda g: population(g, "hidden").update(size=3_000_000), "3,000,"),
    (lambda g: g.update(gamma=100_000_000, feedback_t=None), "gamma 100000000"),
])
def test_a_graph_too_large_is_refused_at_load_with_its_size(tmp_path: Path, change,
                                                            what: str) -> None:
    with pytest.raises(GraphError) as err:
        load_graph(write(tmp_path, demo_with(change)))
    message = str(err.value)
    assert "graph.yaml: too large: a run would need about" in message and " GB " in message
    assert what in message and "above the limit of 2,048 MB" in message, message


def test_the_limit_is_a_setting(tmp_path: Path) -> None:
    path = write(tmp_path, DEMO)
    need = run_memory_bytes(load_graph(path))
    with pytest.raises(GraphError, match="above the limit of 1 MB"):
        load_graph(path, max_run_mb=1)
    assert check_run_memory(load_graph(path), need / 1e6 + 1) == need


def run(graph, cycles: int) -> None:
    """A server run's work: cycles with input spikes, each followed by a late reward."""
    network = Network(graph)
    network.keep_eligibility_history(32)
    rng = np.random.default_rng(0)
    for cycle in range(cycles):
        network.run_cycle({key: rng.random((graph.gamma, sl.stop - sl.start)) < 0.1
                           for key, sl in network.driven_slices.items()})
        network.apply_reward(0.5 + 0.2 * (cycle % 2), None, max(cycle - 2, 0))


def peak_bytes(raw: dict, cycles: int = 40) -> int:
    """Peak of a run's allocations over `cycles` (past the 32 cycles of eligibility
    history a server run keeps), every kernel it uses compiled beforehand (a fresh
    clone compiles them on first use, and the compiler's memory is not the run's)."""
    graph = parse_graph(raw)
    run(graph, 4)
    tracemalloc.start()
    try:
        run(graph, cycles)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name, change", [
    ("demo", lambda g: None),
    ("gamma 200", lambda g: g.update(gamma=200, feedback_t=200)),
    ("hidden 2000", lambda g: population(g, "hidden").update(size=2000)),
])
def test_the_estimate_covers_what_a_run_allocates(name: str, change) -> None:
    raw = demo_with(change)
    estimate, peak = run_memory_bytes(parse_graph(raw)), peak_bytes(raw)
    print(f"{name}: estimate {estimate / 1e6:.1f} MB, traced peak {peak / 1e6:.1f} MB")
    assert peak <= estimate <= 3 * peak


@pytest.mark.parametrize("change, message", [
    (lambda g: g.update(gama=20), "unknown field(s) ['gama']; 'gama' (did you mean 'gamma'?)"),
    (lambda g: population(g, "hidden").update(neuron={"tau_mm_ms": 5}),
     "(did you mean 'tau_m_ms'?)"),
    (lambda g: g["projections"][0].update(pre="hiden"),
     "unknown population 'hiden' (did you mean 'hidden'?)"),
    (lambda g: g["inputs"][0].update(kind="Imag"), "unknown kind 'Imag' (did you mean 'Image'?)"),
    (lambda g: g["projections"][0].update(connectivity={"type": "all_to_al"}),
     "(did you mean 'all_to_all'?)"),
])
def test_misspellings_name_their_close_match(change, message: str) -> None:
    with pytest.raises(GraphError) as err:
        parse_graph(demo_with(change))
    assert message in str(err.value), str(err.value)
