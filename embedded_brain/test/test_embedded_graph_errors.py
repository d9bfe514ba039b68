"""Every invalid brain graph is rejected with an error naming the entry and the field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from embedded_brain.graph import GraphError, bundled_graph_path, load_graph, parse_graph

VALID = {
    "project": "p",
    "gamma": 10,
    "populations": [
        {"id": "cam", "size": 12},
        {"id": "hid", "size": 20},
        {"id": "out", "size": 8},
        {"id": "fb", "size": 4},
    ],
    "inputs": [{"id": "cam", "kind": "Image",
                "encoder": {"type": "retina", "width": 4, "height": 3}}],
    "feedback": [{"id": "fb", "n": 2}],
    "outputs": [{"id": "out"}],
    "projections": [
        {"id": "c2h", "pre": "cam", "post": "hid", "connectivity": {"type": "fixed_indegree",
                                                                     "k": 3}},
        {"id": "h2o", "pre": "hid", "post": "out", "learning": True},
    ],
}


def mutated(change) -> dict:
    graph = copy.deepcopy(VALID)
    change(graph)
    return graph


def test_the_valid_graph_parses() -> None:
    graph = parse_graph(VALID)
    assert graph.learning_layers == ["h2o"]
    assert graph.feedback_n == 2 and graph.output_window_n == 8 and graph.feedback_t == 10


CASES = {
    "unknown population": (
        lambda g: g["projections"][0].update(post="nowhere"), "unknown population 'nowhere'"),
    "size mismatch of an encoder": (
        lambda g: g["populations"][0].update(size=13), "size mismatch"),
    "one_to_one size mismatch": (
        lambda g: g["projections"][1].update(connectivity={"type": "one_to_one"}),
        "one_to_one needs equal sizes"),
    "negative time constant": (
        lambda g: g["populations"][1].update(neuron={"tau_m_ms": -5}),
        "population 'hid'.neuron.tau_m_ms: must be > 0"),
    "negative refractory": (
        lambda g: g["populations"][1].update(neuron={"refractory_ms": -1}), "must be >= 0"),
    "threshold below reset": (
        lambda g: g["populations"][1].update(neuron={"v_th": -1}), "threshold"),
    "delay shorter than a step": (
        lambda g: g["projections"][1].update(delay_ms=0), "delay"),
    "unknown input kind": (
        lambda g: g["inputs"][0].update(kind="Smell"), "unknown kind 'Smell'"),
    "wrong encoder for kind": (
        lambda g: g["inputs"][0].update(encoder={"type": "population", "count": 1,
                                                 "per_value": 12}), "needs encoder type"),
    "unknown field": (
        lambda g: g["populations"][1].update(colour="red"), "unknown field(s) ['colour']"),
    "duplicate population": (
        lambda g: g["populations"].append({"id": "hid", "size": 3}), "duplicate population"),
    "projection into an input": (
        lambda g: g["projections"][1].update(post="cam"), "cannot receive synapses"),
    "output is an input": (
        lambda g: g["outputs"].append({"id": "cam"}), "outputs must be spiking populations"),
    "k larger than the population": (
        lambda g: g["projections"][0]["connectivity"].update(k=99), "exceeds"),
    "probability above one": (
        lambda g: g["projections"][0].update(connectivity={"type": "fixed_probability",
                                                           "p": 1.5}), "must be in (0, 1]"),
    "inhibitory learning": (
        lambda g: g["projections"][1].update(weight=-0.1), "only excitatory"),
    "learning bounds": (
        lambda g: g["projections"][1].update(learning={"w_min": 1.0, "w_max": 0.5}),
        "w_min < w_max"),
    "feedback size": (
        lambda g: g["feedback"][0].update(n=3), "need a population of 6 neurons"),
    "no outputs": (lambda g: g.update(outputs=[]), "outputs: expected a non-empty list"),
    "not a number": (lambda g: g.update(gamma="many"), "gamma: expected a number"),
    "output too wide": (lambda g: g.update(output_window_n=4), "more than output_window_n"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_invalid_graph_is_rejected_with_a_clear_error(name: str) -> None:
    change, message = CASES[name]
    with pytest.raises(GraphError) as err:
        parse_graph(mutated(change))
    assert message in str(err.value), str(err.value)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(GraphError, match="cannot read graph file"):
        load_graph(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("project: [unclosed\n")
    with pytest.raises(GraphError, match="not valid YAML"):
        load_graph(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(GraphError, match="expected a mapping"):
        load_graph(bad)


def test_demo_arm_graph_follows_the_cross_package_contract() -> None:
    graph = load_graph(bundled_graph_path("demo_arm"))
    assert graph.project == "demo_arm"
    assert graph.gamma == 20 and graph.dt_ms == 1.0
    assert {(i.id, i.kind) for i in graph.inputs} == {
        ("camera", "Image"), ("joints", "JointState"), ("target", "Scalar")}
    assert [o.id for o in graph.outputs] == ["joint0", "joint1"]
    assert all(graph.populations[o.population].size == 32 for o in graph.outputs)
    assert [f.id for f in graph.feedback] == ["arm_error"]
    assert graph.learning_layers == ["hidden_to_joint0", "hidden_to_joint1"]
    assert all(p.pre == "hidden" for p in graph.projections if p.learning is not None)
