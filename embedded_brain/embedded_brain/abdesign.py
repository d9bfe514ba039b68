"""Brain designs (`brain.abdesign.json`) for the embedded Prima-Lux device.

A design (schema `artificial-brains/design/v1`, written by the SDK's `ab.Brain`) names
input populations with their widths, OPUs with a rhythm and a TNorm, outputs with their
widths, and connections (excitatory or inhibitory, an optional inhibitory strength,
roles `operand` with units and `feedback`). `parse_design` validates one and names the
node or connection at fault; `design_sha256` is the digest the SDK sends with a build
(SHA-256 of the design's canonical JSON: sorted keys, no spaces, nodes sorted by name
without their canvas position, connections sorted by source, target and type);
`design_graph` maps it onto the embedded neuron model (a `BrainGraph`, see snn.py).

The mapping (documented in README.md; an emulation for development and CI, not
Prima-Lux's physics):

- an input of n neurons is a driven population of n neurons; a posted value v in [0, 1]
  makes its neuron fire as a Poisson process at v x INPUT_RATE_HZ;
- an input whose name is `REWARD` or starts with `REWARD_` or ends with `_REWARD` is a
  reward input population: it drives no spikes; the mean of a posted vector (the SDK's
  `reward_population` encoding puts round(r x n) ones first) is a reward in [0, 1] for the
  plastic connections it modulates;
- an OPU is a population of OPU_NEURONS LIF neurons; its rhythm's frequency f sets the
  membrane time constant tau_m = 1000 / (2 pi f) ms (high-gamma 80 Hz -> 2.0 ms, gamma
  40 -> 4.0, beta 20 -> 8.0, alpha 10 -> 15.9, theta 6 -> 26.5, delta 2 -> 79.6 ms), so
  slower rhythms integrate longer; TNorm t sets the operating point as a constant drive
  of TNORM_BIAS x t thresholds (TNorm 10: 0.6 of the threshold, an OPU close to firing;
  0: none); an omitted high-gamma TNorm is 10;
- an output of n neurons is a population of n LIF neurons (tau_m 8 ms, membrane noise
  OUTPUT_NOISE_STD: the exploration rewards select from); the device holds each output
  neuron from its spike until the output is cleared and streams the neurons that switch
  on (device.py: bistable outputs, neuron events);
- a connection is all-to-all with weight EXC_REFERENCE / n_source per synapse (an
  excitatory reference: a source firing at the input rate moves the target by about one
  threshold per ms), times `units` for an operand; inhibitory ones have
  -INH_REFERENCE x strength / n_source; `feedback` connections have a 3 ms delay, others
  1 ms; an inhibitory connection into an output also clears it (device.py);
- plastic (reward-modulated STDP, covariance form, learning.py): the excitatory
  connections leaving the OPUs a reward input connects to (the reward shapes what those
  OPUs drive), or, for a reward input with no connections, every excitatory connection
  into an output; its weights start near zero (PLASTIC_W_INIT_FACTOR x the reference) so
  that the output's noise is the exploration a reward selects from. The layer id of a
  plastic connection is `SOURCE->TARGET`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from embedded_brain.graph import BrainGraph, GraphError, parse_graph

SCHEMA = "artificial-brains/design/v1"
RHYTHM_HZ = {"high-gamma": 80.0, "gamma": 40.0, "beta": 20.0, "alpha": 10.0, "theta": 6.0,
             "delta": 2.0}
MAX_POPULATION_NEURONS = 498
OPU_NEURONS = 32
INPUT_RATE_HZ = 200.0
TNORM_BIAS = 0.06
EXC_REFERENCE = 4.0
INH_REFERENCE = 4.0
FEEDBACK_DELAY_MS = 3.0
OUTPUT_TAU_M_MS = 8.0
NOISE_STD = 0.05
OUTPUT_NOISE_STD = 0.35   # exploration: what the reward selects from
#: Learning of plastic connections (learning.py's LayerRule parameters): the realtime demo
#: graph's rule (graphs/demo_arm.yaml: covariance form, the usual rate over 2 cycles, the
#: reward baseline over 1.5 rewards) with an eligibility of 60 ms, since a device's reward
#: names no cycle and credits what is eligible when it arrives, a few cycles after the
#: command it judged.
LEARNING = {"learning_rate": 0.002, "a_plus": 1.0, "a_minus": 0.3, "tau_plus_ms": 20.0,
            "tau_minus_ms": 20.0, "tau_eligibility_ms": 60.0, "w_min": 0.0,
            "reward_baseline_tau_cycles": 1.5, "max_advantage": 0.5, "centered": True,
            "rate_tau_cycles": 2.0}
#: Plastic weights start near zero (what drives the outputs at first is their noise, the
#: exploration a reward selects from) and may grow to w_max; as factors of the
#: connection's reference weight.
PLASTIC_W_MAX_FACTOR = 1.6
PLASTIC_W_INIT_FACTOR = 0.016
PLASTIC_W_STD_FACTOR = 0.008
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}\Z")


class DesignError(ValueError):
    """An invalid brain design; the message names the node or connection."""


@dataclass(frozen=True)
class Node:
    name: str
    kind: str                    # input | opu | output
    neurons: int
    rhythm: str | None = None
    tnorm: float | None = None

    @property
    def is_reward(self) -> bool:
        return self.kind == "input" and is_reward_name(self.name)


@dataclass(frozen=True)
class Connection:
    source: str
    target: str
    type: str = "exc"            # exc | inh
    strength: float = 1.0
    role: str | None = None      # operand | feedback
    units: float = 1.0


@dataclass
class Design:
    name: str
    nodes: dict[str, Node]
    connections: list[Connection]
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def inputs(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == "input"]

    @property
    def outputs(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == "output"]

    @property
    def reward_inputs(self) -> list[Node]:
        return [n for n in self.inputs if n.is_reward]

    def contract(self) -> dict[str, Any]:
        """The I/O contract a client derives from the design (names and widths)."""
        return {"inputs": [{"id": n.name, "kind": "Reward" if n.is_reward else "Input",
                            "n": n.neurons} for n in self.inputs],
                "outputs": [{"id": n.name, "n": n.neurons} for n in self.outputs]}

    def plastic_layers(self) -> dict[str, list[str]]:
        """Reward input -> the layer ids (`SOURCE->TARGET`) its rewards modulate."""
        by_reward: dict[str, list[str]] = {}
        outputs = {n.name for n in self.outputs}
        for reward in self.reward_inputs:
            targets = {c.target for c in self.connections if c.source == reward.name}
            by_reward[reward.name] = [
                layer_id(c) for c in self.connections
                if c.type == "exc" and not self.nodes[c.source].is_reward
                and (c.source in targets if targets else c.target in outputs)]
        return by_reward


def is_reward_name(name: str) -> bool:
    return name == "REWARD" or name.startswith("REWARD_") or name.endswith("_REWARD")


def layer_id(connection: Connection) -> str:
    return f"{connection.source}->{connection.target}"


def _number(value: Any, where: str, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(float(value)):
        raise DesignError(f"{where}: expected a finite number, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise DesignError(f"{where}: {value!r} outside [{lo}, {hi}]")
    return float(value)


def _width(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) \
            or not 1 <= value <= MAX_POPULATION_NEURONS:
        raise DesignError(f"{where}: neurons must be an integer in 1..{MAX_POPULATION_NEURONS}, "
                          f"got {value!r}")
    return value


def _node(raw: Any, index: int) -> Node:
    if not isinstance(raw, dict):
        raise DesignError(f"nodes[{index}]: expected an object, got {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise DesignError(f"nodes[{index}].name: letters, digits and _ starting with a letter "
                          f"(at most 64), got {name!r}")
    kind = raw.get("kind")
    where = f"node {name!r}"
    if kind == "input":
        return Node(name, kind, _width(raw.get("neurons"), f"{where}.neurons"))
    if kind == "output":
        return Node(name, kind, _width(raw.get("neurons", 1), f"{where}.neurons"))
    if kind == "opu":
        rhythm = raw.get("rhythm")
        if not isinstance(rhythm, str) or rhythm.lower() not in RHYTHM_HZ:
            raise DesignError(f"{where}.rhythm: one of {list(RHYTHM_HZ)}, got {rhythm!r}")
        rhythm = rhythm.lower()
        tnorm = raw.get("tnorm")
        if tnorm is None:
            if rhythm != "high-gamma":
                raise DesignError(f"{where}.tnorm: a {rhythm} OPU needs a TNorm in 0..10")
            tnorm = 10.0
        return Node(name, kind, OPU_NEURONS, rhythm, _number(tnorm, f"{where}.tnorm", 0, 10))
    raise DesignError(f"{where}.kind: one of input, opu, output, got {kind!r}")


def _connection(raw: Any, index: int, nodes: dict[str, Node]) -> Connection:
    if not isinstance(raw, dict):
        raise DesignError(f"connections[{index}]: expected an object, got {type(raw).__name__}")
    source, target = raw.get("from"), raw.get("to")
    where = f"connection {source!r} -> {target!r}"
    for end, name in (("from", source), ("to", target)):
        if name not in nodes:
            raise DesignError(f"{where}.{end}: unknown node {name!r}; nodes: {sorted(nodes)}")
    kind = raw.get("type", "exc")
    if kind not in ("exc", "inh"):
        raise DesignError(f"{where}.type: 'exc' or 'inh', got {kind!r}")
    src, dst = nodes[source], nodes[target]
    if dst.kind == "input":
        raise DesignError(f"{where}: an input cannot receive a connection")
    if src.kind == "output" and dst.kind != "opu":
        raise DesignError(f"{where}: an output may only feed back into an OPU")
    if src.kind == "input" and dst.kind == "output":
        raise DesignError(f"{where}: connect an input through an OPU before an output")
    strength = 1.0
    if "strength" in raw:
        if kind != "inh":
            raise DesignError(f"{where}.strength: only inhibitory connections have a strength")
        strength = _number(raw["strength"], f"{where}.strength", 0.1)
    role = raw.get("role")
    if role not in (None, "operand", "feedback"):
        raise DesignError(f"{where}.role: 'operand' or 'feedback', got {role!r}")
    if role is not None and dst.kind != "opu":
        raise DesignError(f"{where}.role: roles need an OPU target")
    if role == "feedback" and src.kind == "input":
        raise DesignError(f"{where}.role: an input connection cannot be feedback")
    units = 1.0
    if "units" in raw:
        if role != "operand":
            raise DesignError(f"{where}.units: units need role 'operand'")
        units = _number(raw["units"], f"{where}.units")
        if units <= 0:
            raise DesignError(f"{where}.units: must be > 0, got {units}")
    return Connection(source, target, kind, strength, role, units)


def parse_design(raw: Any) -> Design:
    """Validate a design mapping (as read from brain.abdesign.json)."""
    if not isinstance(raw, dict):
        raise DesignError(f"design: expected a JSON object, got {type(raw).__name__}")
    schema = raw.get("schema", SCHEMA)
    if schema != SCHEMA:
        raise DesignError(f"design.schema: expected {SCHEMA!r}, got {schema!r}")
    name = raw.get("name", "Untitled Brain")
    if not isinstance(name, str) or not name.strip() or len(name) > 80:
        raise DesignError(f"design.name: 1-80 characters, got {name!r}")
    raw_nodes, raw_edges = raw.get("nodes", []), raw.get("connections", [])
    if not isinstance(raw_nodes, list) or not isinstance(raw_edges, list):
        raise DesignError("design: 'nodes' and 'connections' must be lists")
    nodes: dict[str, Node] = {}
    for i, entry in enumerate(raw_nodes):
        node = _node(entry, i)
        if node.name in nodes:
            raise DesignError(f"node {node.name!r}: duplicate name")
        nodes[node.name] = node
    connections: list[Connection] = []
    seen: set[tuple[str, str]] = set()
    for i, entry in enumerate(raw_edges):
        connection = _connection(entry, i, nodes)
        if (connection.source, connection.target) in seen:
            raise DesignError(f"connection {connection.source!r} -> {connection.target!r}: "
                              "duplicate")
        seen.add((connection.source, connection.target))
        connections.append(connection)
    design = Design(name, nodes, connections, raw)
    if not design.inputs:
        raise DesignError("design: no input population (add one with brain.input)")
    if not design.outputs:
        raise DesignError("design: no output population (add one with brain.output)")
    for reward in design.reward_inputs:
        for c in connections:
            if c.source == reward.name and c.type != "exc":
                raise DesignError(f"connection {c.source!r} -> {c.target!r}: a reward input "
                                  "modulates its targets' plasticity; it cannot inhibit")
    return design


def load_design(path: str | Path) -> Design:
    path = Path(path).expanduser()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DesignError(f"cannot read brain design {path}: {exc}") from exc
    return parse_design(raw)


def bundled_design_path(name: str) -> Path:
    """Path of a design shipped with the package (e.g. 'demo_arm')."""
    return Path(str(resources.files("embedded_brain") / "designs" / f"{name}.abdesign.json"))


def semantic_design(raw: dict[str, Any]) -> dict[str, Any]:
    """The design without its canvas layout, in canonical order (what a build hashes)."""
    nodes = sorted(({k: v for k, v in n.items() if k not in ("x", "y")}
                    for n in raw.get("nodes", [])), key=lambda n: n["name"])
    connections = sorted(raw.get("connections", []),
                         key=lambda c: (c["from"], c["to"], c.get("type", "exc")))
    return {"schema": raw.get("schema", SCHEMA), "name": raw.get("name", "Untitled Brain"),
            "nodes": nodes, "connections": connections}


def design_sha256(raw: dict[str, Any]) -> str:
    text = json.dumps(semantic_design(raw), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def design_graph(design: Design, *, steps_per_cycle: int, seed: int = 0,
                 project: str = "device") -> BrainGraph:
    """The design on the embedded neuron model: a BrainGraph whose cycle is
    `steps_per_cycle` device timesteps of 1 ms."""
    populations: list[dict[str, Any]] = []
    inputs: list[dict[str, Any]] = []
    for node in design.nodes.values():
        if node.kind == "input":
            populations.append({"id": node.name, "size": node.neurons})
            inputs.append({"id": node.name, "kind": "Scalar", "encoder": {
                "type": "population", "count": node.neurons, "per_value": 1,
                "max_rate_hz": INPUT_RATE_HZ}})
        elif node.kind == "opu":
            tau_m = max(2.0, 1000.0 / (2.0 * math.pi * RHYTHM_HZ[node.rhythm]))
            populations.append({"id": node.name, "size": node.neurons, "neuron": {
                "tau_m_ms": round(tau_m, 3), "bias": TNORM_BIAS * node.tnorm,
                "noise_std": NOISE_STD}})
        else:
            populations.append({"id": node.name, "size": node.neurons, "neuron": {
                "tau_m_ms": OUTPUT_TAU_M_MS, "noise_std": OUTPUT_NOISE_STD}})
    plastic = {layer for layers in design.plastic_layers().values() for layer in layers}
    projections = []
    for c in design.connections:
        if design.nodes[c.source].is_reward:
            continue        # modulatory: it carries rewards, not spikes
        n_source = design.nodes[c.source].neurons
        reference = (EXC_REFERENCE * c.units if c.type == "exc"
                     else -INH_REFERENCE * c.strength) / n_source
        projection: dict[str, Any] = {
            "id": layer_id(c), "pre": c.source, "post": c.target,
            "delay_ms": FEEDBACK_DELAY_MS if c.role == "feedback" else 1.0,
            "weight": reference}
        if layer_id(c) in plastic:
            projection["weight"] = {"mean": PLASTIC_W_INIT_FACTOR * reference,
                                    "std": PLASTIC_W_STD_FACTOR * reference}
            projection["learning"] = {**LEARNING, "w_max": PLASTIC_W_MAX_FACTOR * reference}
        projections.append(projection)
    try:
        return parse_graph({"project": project, "dt_ms": 1.0, "gamma": int(steps_per_cycle),
                            "seed": int(seed), "populations": populations, "inputs": inputs,
                            "outputs": [{"id": n.name} for n in design.outputs],
                            "projections": projections}, source=f"design {design.name!r}")
    except GraphError as exc:
        raise DesignError(str(exc)) from exc
