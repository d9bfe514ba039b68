"""Brain graph files: YAML → validated dataclasses (the one place that maps YAML to objects).

A graph names populations of leaky integrate-and-fire neurons, projections between
them (which of them learn), and the brain's inputs, outputs and feedback inputs with
the ids the run contract publishes. `load_graph(path)` / `parse_graph(mapping)` raise
`GraphError` naming the offending entry and field for every invalid graph (a misspelled
key or name with its close match), and refuse a graph whose run would need more memory
than a limit (`run_memory_bytes`, `DEFAULT_MAX_RUN_MB`), before anything is allocated.
The format is documented in embedded_brain/README.md.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml


class GraphError(ValueError):
    """An invalid brain graph; the message names the entry and field."""


INPUT_KINDS = ("Image", "Scalar", "JointState", "Audio")
CONNECTIVITY_TYPES = ("all_to_all", "one_to_one", "fixed_probability", "fixed_indegree")
#: A graph whose run would need more memory than this (MB, run_memory_bytes) is refused
#: at load; load_graph's max_run_mb / the server's --max-run-mb change it.
DEFAULT_MAX_RUN_MB = 2048.0
# Eligibility copies a server run keeps (server.REWARD_HISTORY_CYCLES), for the estimate.
_HISTORY_CYCLES = 32


def did_you_mean(word: Any, choices: Any) -> str:
    """' (did you mean X?)' when `word` is close to one of `choices`, else ''."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class NeuronParams:
    """LIF parameters (dimensionless membrane: rest 0, threshold `v_th`)."""
    tau_m_ms: float = 20.0
    tau_syn_ms: float = 5.0
    v_rest: float = 0.0
    v_reset: float = 0.0
    v_th: float = 1.0
    refractory_ms: float = 2.0
    bias: float = 0.0          # constant input current (threshold units)
    noise_std: float = 0.0     # std of the membrane noise per sqrt(ms), threshold units


@dataclass(frozen=True)
class Population:
    id: str
    size: int
    neuron: NeuronParams


@dataclass(frozen=True)
class Encoder:
    """How an input's data becomes spikes of its population.

    type `retina`: an image resized to width × height (grey), each pixel a neuron firing
    at up to max_rate_hz (`on_off: true` doubles the grid with OFF cells).
    type `population`: `count` values, each coded by `per_value` neurons with Gaussian
    tuning curves spread over [min, max] (width `sigma` in units of neuron spacing).
    type `audio`: the chunk's RMS level coded like one `population` value.
    type `signed` (Scalar): `count` values, each coded by `per_value` neurons whose rate
    grows in proportion to the value: the first half fire at max_rate_hz × v / max for
    v > 0, the second half at max_rate_hz × v / min for v < 0 (min < 0 < max), none at 0.
    """
    type: str
    max_rate_hz: float = 200.0
    width: int = 0
    height: int = 0
    on_off: bool = False
    count: int = 0
    per_value: int = 0
    min: float = -1.0
    max: float = 1.0
    sigma: float = 1.0

    def neuron_count(self) -> int:
        if self.type == "retina":
            return self.width * self.height * (2 if self.on_off else 1)
        if self.type in ("population", "signed"):
            return self.count * self.per_value
        return self.per_value  # audio


@dataclass(frozen=True)
class InputSpec:
    id: str
    kind: str
    population: str
    encoder: Encoder


@dataclass(frozen=True)
class OutputSpec:
    id: str
    population: str


@dataclass(frozen=True)
class FeedbackSpec:
    """A deviation raster input: N channels, each driving a +/− neuron pair."""
    id: str
    population: str
    n: int
    max_rate_hz: float = 200.0
    from_output: str | None = None


@dataclass(frozen=True)
class LearningParams:
    """Reward-modulated STDP with eligibility traces (see learning.py)."""
    learning_rate: float = 0.05
    a_plus: float = 1.0
    a_minus: float = 0.5
    tau_plus_ms: float = 20.0
    tau_minus_ms: float = 20.0
    tau_eligibility_ms: float = 40.0
    w_min: float = 0.0
    w_max: float = 1.0
    reward_baseline_tau_cycles: float = 2.0
    max_advantage: float = 1.0  # |r − r̄| is clipped to this (tames jumps of the task)
    # Covariance form (learning.py): STDP terms count a post neuron's spikes against its
    # usual rate (a running mean over rate_tau_cycles), so a reward moves only the weights
    # of neurons that fired more or less than usual, not of every neuron that fired.
    centered: bool = False
    rate_tau_cycles: float = 20.0


@dataclass(frozen=True)
class Projection:
    id: str
    pre: str
    post: str
    connectivity: str
    p: float = 0.0
    k: int = 0
    weight_mean: float = 0.1
    weight_std: float = 0.0
    delay_min_ms: float = 1.0
    delay_max_ms: float = 1.0
    learning: LearningParams | None = None


@dataclass(frozen=True)
class BrainGraph:
    project: str
    dt_ms: float
    gamma: int
    output_window_n: int
    feedback_n: int
    feedback_t: int
    seed: int
    populations: dict[str, Population]
    projections: list[Projection]
    inputs: list[InputSpec]
    outputs: list[OutputSpec]
    feedback: list[FeedbackSpec] = field(default_factory=list)

    @property
    def learning_layers(self) -> list[str]:
        return [p.id for p in self.projections if p.learning is not None]

    def structure_hash(self) -> str:
        """Digest of everything that shapes the weight arrays (saved state must match)."""
        shape = {
            "populations": [(p.id, p.size) for p in self.populations.values()],
            "projections": [(p.id, p.pre, p.post, p.connectivity, p.p, p.k,
                             p.delay_min_ms, p.delay_max_ms) for p in self.projections],
            "seed": self.seed,
        }
        return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _require(mapping: Any, where: str) -> dict[str, Any]:
    if not isinstance(mapping, dict):
        raise GraphError(f"{where}: expected a mapping, got {type(mapping).__name__}")
    return mapping


def _known_keys(mapping: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - allowed, key=str)
    if unknown:
        hints = "".join(f"; {k!r}{did_you_mean(k, allowed)}" for k in unknown
                        if did_you_mean(k, allowed))
        raise GraphError(f"{where}: unknown field(s) {unknown}{hints}; "
                         f"allowed: {sorted(allowed)}")


def _number(mapping: dict[str, Any], key: str, where: str, default: float | None = None, *,
            positive: bool = False, non_negative: bool = False,
            integer: bool = False) -> Any:
    if key not in mapping or mapping[key] is None:
        if default is None:
            raise GraphError(f"{where}: missing required field '{key}'")
        value = default
    else:
        value = mapping[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GraphError(f"{where}.{key}: expected a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise GraphError(f"{where}.{key}: must be finite, got {value!r}")
    if integer:
        if float(value) != int(value):
            raise GraphError(f"{where}.{key}: expected an integer, got {value!r}")
        value = int(value)
    if positive and value <= 0:
        raise GraphError(f"{where}.{key}: must be > 0, got {value!r}")
    if non_negative and value < 0:
        raise GraphError(f"{where}.{key}: must be >= 0, got {value!r}")
    return value


def _ident(mapping: dict[str, Any], key: str, where: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value.strip():
        raise GraphError(f"{where}: '{key}' must be a non-empty string, got {value!r}")
    return value


def _neuron(raw: Any, base: NeuronParams, where: str) -> NeuronParams:
    raw = _require(raw or {}, where)
    _known_keys(raw, set(NeuronParams.__dataclass_fields__), where)
    values = asdict(base)
    for key in ("tau_m_ms", "tau_syn_ms"):
        values[key] = _number(raw, key, where, values[key], positive=True)
    for key in ("refractory_ms", "noise_std"):
        values[key] = _number(raw, key, where, values[key], non_negative=True)
    for key in ("v_rest", "v_reset", "v_th", "bias"):
        values[key] = _number(raw, key, where, values[key])
    if values["v_th"] <= values["v_rest"] or values["v_th"] <= values["v_reset"]:
        raise GraphError(f"{where}.v_th: threshold {values['v_th']} must be above "
                         f"v_rest {values['v_rest']} and v_reset {values['v_reset']}")
    return NeuronParams(**values)


def _learning(raw: Any, base: LearningParams, where: str) -> LearningParams:
    raw = _require(raw or {}, where)
    _known_keys(raw, set(LearningParams.__dataclass_fields__), where)
    values = asdict(base)
    for key in ("tau_plus_ms", "tau_minus_ms", "tau_eligibility_ms",
                "reward_baseline_tau_cycles", "max_advantage", "rate_tau_cycles"):
        values[key] = _number(raw, key, where, values[key], positive=True)
    if "centered" in raw:
        if not isinstance(raw["centered"], bool):
            raise GraphError(f"{where}.centered: must be true or false, got {raw['centered']!r}")
        values["centered"] = raw["centered"]
    for key in ("learning_rate", "a_plus", "a_minus"):
        values[key] = _number(raw, key, where, values[key], non_negative=True)
    for key in ("w_min", "w_max"):
        values[key] = _number(raw, key, where, values[key])
    if values["w_min"] < 0 or values["w_max"] <= values["w_min"]:
        raise GraphError(f"{where}: need 0 <= w_min < w_max, got w_min={values['w_min']} "
                         f"w_max={values['w_max']}")
    for key in ("reward_baseline_tau_cycles", "rate_tau_cycles"):
        if values[key] < 1:
            raise GraphError(f"{where}.{key}: must be >= 1, got {values[key]}")
    return LearningParams(**values)


def _encoder(raw: Any, kind: str, where: str) -> Encoder:
    raw = _require(raw, where)
    _known_keys(raw, set(Encoder.__dataclass_fields__), where)
    etype = raw.get("type")
    expected = {"Image": "retina", "Scalar": "population", "JointState": "population",
                "Audio": "audio"}[kind]
    if etype != expected and not (kind == "Scalar" and etype == "signed"):
        raise GraphError(f"{where}.type: input kind {kind} needs encoder type '{expected}', "
                         f"got {etype!r}")
    max_rate = _number(raw, "max_rate_hz", where, 200.0, positive=True)
    if etype == "retina":
        return Encoder(type=etype, max_rate_hz=max_rate,
                       width=_number(raw, "width", where, positive=True, integer=True),
                       height=_number(raw, "height", where, positive=True, integer=True),
                       on_off=bool(raw.get("on_off", False)))
    count = 1 if etype == "audio" else _number(raw, "count", where, positive=True, integer=True)
    lo = _number(raw, "min", where, -1.0 if etype != "audio" else 0.0)
    hi = _number(raw, "max", where, 1.0)
    if hi <= lo:
        raise GraphError(f"{where}: max ({hi}) must be greater than min ({lo})")
    per_value = _number(raw, "per_value", where, positive=True, integer=True)
    if etype == "signed" and (per_value % 2 or not lo < 0 < hi):
        raise GraphError(f"{where}: a signed encoder needs an even per_value (half for "
                         f"each sign) and min < 0 < max, got per_value {per_value}, "
                         f"min {lo}, max {hi}")
    return Encoder(type=etype, max_rate_hz=max_rate, count=count, per_value=per_value,
                   min=lo, max=hi, sigma=_number(raw, "sigma", where, 1.0, positive=True))


def _delay(raw: Any, dt_ms: float, where: str) -> tuple[float, float]:
    if isinstance(raw, (list, tuple)):
        if len(raw) != 2:
            raise GraphError(f"{where}.delay_ms: expected a number or [min, max], got {raw!r}")
        lo = _number({"d": raw[0]}, "d", f"{where}.delay_ms[0]")
        hi = _number({"d": raw[1]}, "d", f"{where}.delay_ms[1]")
    else:
        lo = hi = _number({"delay_ms": raw}, "delay_ms", where, dt_ms)
    if lo < dt_ms or hi < lo:
        raise GraphError(f"{where}.delay_ms: delays must satisfy dt_ms ({dt_ms}) <= min <= max, "
                         f"got [{lo}, {hi}]")
    return float(lo), float(hi)


_TOP_KEYS = {"project", "dt_ms", "gamma", "output_window_n", "feedback_n", "feedback_t", "seed",
             "neuron_defaults", "learning_defaults", "populations", "projections", "inputs",
             "outputs", "feedback", "description"}


def _entries(top: dict[str, Any], key: str, source: str, required: bool = False
             ) -> Iterator[tuple[str, dict[str, Any]]]:
    """The entries of the graph's list `key`, one at a time, as (where, mapping)."""
    raw = top.get(key)
    if required and (not isinstance(raw, list) or not raw):
        raise GraphError(f"{source}.{key}: expected a non-empty list")
    for i, entry in enumerate(raw or []):
        yield f"{source}.{key}[{i}]", _require(entry, f"{source}.{key}[{i}]")


class _Populations:
    """The graph's populations, and which input or feedback drives each."""

    def __init__(self, top: dict[str, Any], source: str, neuron_base: NeuronParams) -> None:
        self.by_id: dict[str, Population] = {}
        self.driven: dict[str, str] = {}
        for where, entry in _entries(top, "populations", source, required=True):
            _known_keys(entry, {"id", "size", "neuron"}, where)
            pid = _ident(entry, "id", where)
            where = f"population '{pid}'"
            if pid in self.by_id:
                raise GraphError(f"{where}: duplicate population id")
            size = _number(entry, "size", where, positive=True, integer=True)
            self.by_id[pid] = Population(pid, size, _neuron(entry.get("neuron"), neuron_base,
                                                            f"{where}.neuron"))

    def of(self, entry: dict[str, Any], where: str, key: str = "population",
           default: str | None = None) -> Population:
        pid = entry.get(key, default)
        if not isinstance(pid, str) or pid not in self.by_id:
            raise GraphError(f"{where}.{key}: unknown population {pid!r}"
                             f"{did_you_mean(pid, self.by_id)}; known: {sorted(self.by_id)}")
        return self.by_id[pid]

    def claim(self, pop: Population, owner: str) -> None:
        if pop.id in self.driven:
            raise GraphError(f"{owner}: population '{pop.id}' is already driven by "
                             f"{self.driven[pop.id]}")
        self.driven[pop.id] = owner


def _inputs(top: dict[str, Any], source: str, pops: _Populations) -> list[InputSpec]:
    inputs: list[InputSpec] = []
    for where, entry in _entries(top, "inputs", source):
        _known_keys(entry, {"id", "kind", "population", "encoder"}, where)
        iid = _ident(entry, "id", where)
        where = f"input '{iid}'"
        kind = entry.get("kind")
        if kind not in INPUT_KINDS:
            raise GraphError(f"{where}.kind: unknown kind {kind!r}{did_you_mean(kind, INPUT_KINDS)}; "
                             f"supported: {list(INPUT_KINDS)}")
        pop = pops.of(entry, where, default=iid)
        enc = _encoder(entry.get("encoder"), kind, f"{where}.encoder")
        if enc.neuron_count() != pop.size:
            raise GraphError(f"{where}: size mismatch: encoder makes {enc.neuron_count()} neurons "
                             f"but population '{pop.id}' has {pop.size}")
        pops.claim(pop, where)
        inputs.append(InputSpec(iid, kind, pop.id, enc))
    return inputs


def _feedback(top: dict[str, Any], source: str, pops: _Populations
              ) -> tuple[list[FeedbackSpec], int]:
    """The feedback inputs and their common channel count (feedback_n)."""
    feedback: list[FeedbackSpec] = []
    feedback_n = _number(top, "feedback_n", source, 0, non_negative=True, integer=True)
    for where, entry in _entries(top, "feedback", source):
        _known_keys(entry, {"id", "population", "n", "max_rate_hz", "from_output"}, where)
        fid = _ident(entry, "id", where)
        where = f"feedback '{fid}'"
        pop = pops.of(entry, where, default=fid)
        n = _number(entry, "n", where, pop.size // 2, positive=True, integer=True)
        if pop.size != 2 * n:
            raise GraphError(f"{where}: size mismatch: {n} channels need a population of "
                             f"{2 * n} neurons (+/- per channel), '{pop.id}' has {pop.size}")
        if feedback_n == 0:
            feedback_n = n
        if n != feedback_n:
            raise GraphError(f"{where}.n: every feedback input must have feedback_n={feedback_n} "
                             f"channels, got {n}")
        pops.claim(pop, where)
        feedback.append(FeedbackSpec(fid, pop.id, n,
                                     _number(entry, "max_rate_hz", where, 200.0, positive=True),
                                     entry.get("from_output")))
    return feedback, feedback_n


def _outputs(top: dict[str, Any], source: str, pops: _Populations,
             feedback: list[FeedbackSpec]) -> tuple[list[OutputSpec], int]:
    """The outputs and the output window (output_window_n)."""
    outputs: list[OutputSpec] = []
    for where, entry in _entries(top, "outputs", source, required=True):
        _known_keys(entry, {"id", "population"}, where)
        oid = _ident(entry, "id", where)
        pop = pops.of(entry, f"output '{oid}'", default=oid)
        if pop.id in pops.driven:
            raise GraphError(f"output '{oid}': population '{pop.id}' is an input population "
                             f"({pops.driven[pop.id]}); outputs must be spiking populations")
        if oid in {o.id for o in outputs}:
            raise GraphError(f"output '{oid}': duplicate output id")
        outputs.append(OutputSpec(oid, pop.id))
    for fb in feedback:
        if fb.from_output is not None and fb.from_output not in {o.id for o in outputs}:
            raise GraphError(f"feedback '{fb.id}'.from_output: unknown output {fb.from_output!r}")
    sizes = {o.id: pops.by_id[o.population].size for o in outputs}
    output_window_n = _number(top, "output_window_n", source, max(sizes.values()),
                              positive=True, integer=True)
    for o in outputs:
        if sizes[o.id] > output_window_n:
            raise GraphError(f"output '{o.id}': size mismatch: population has "
                             f"{sizes[o.id]} neurons, more than "
                             f"output_window_n={output_window_n}")
    return outputs, output_window_n


def _connectivity(entry: dict[str, Any], where: str, pre: Population, post: Population
                  ) -> tuple[str, float, int]:
    """A projection's connectivity: (type, p, k)."""
    conn = _require(entry.get("connectivity", {"type": "all_to_all"}), f"{where}.connectivity")
    _known_keys(conn, {"type", "p", "k"}, f"{where}.connectivity")
    ctype = conn.get("type")
    if ctype not in CONNECTIVITY_TYPES:
        raise GraphError(f"{where}.connectivity.type: unknown {ctype!r}"
                         f"{did_you_mean(ctype, CONNECTIVITY_TYPES)}; "
                         f"supported: {list(CONNECTIVITY_TYPES)}")
    p = k = 0
    if ctype == "one_to_one" and pre.size != post.size:
        raise GraphError(f"{where}: size mismatch: one_to_one needs equal sizes, "
                         f"'{pre.id}' has {pre.size} and '{post.id}' has {post.size}")
    if ctype == "fixed_probability":
        p = _number(conn, "p", f"{where}.connectivity", positive=True)
        if p > 1:
            raise GraphError(f"{where}.connectivity.p: must be in (0, 1], got {p}")
    if ctype == "fixed_indegree":
        k = _number(conn, "k", f"{where}.connectivity", positive=True, integer=True)
        if k > pre.size:
            raise GraphError(f"{where}.connectivity.k: {k} exceeds the {pre.size} neurons "
                             f"of '{pre.id}'")
    return ctype, p, k


def _weight(entry: dict[str, Any], where: str) -> tuple[float, float]:
    """A projection's initial weights: (mean, std)."""
    weight = entry.get("weight", 0.1)
    if isinstance(weight, dict):
        _known_keys(weight, {"mean", "std"}, f"{where}.weight")
        return (_number(weight, "mean", f"{where}.weight"),
                _number(weight, "std", f"{where}.weight", 0.0, non_negative=True))
    return _number({"weight": weight}, "weight", where), 0.0


def _projections(top: dict[str, Any], source: str, pops: _Populations, dt_ms: float,
                 learning_base: LearningParams) -> list[Projection]:
    projections: list[Projection] = []
    for where, entry in _entries(top, "projections", source):
        _known_keys(entry, {"id", "pre", "post", "connectivity", "weight", "delay_ms",
                            "learning"}, where)
        pre = pops.of(entry, where, "pre")
        post = pops.of(entry, where, "post")
        jid = entry.get("id", f"{pre.id}_to_{post.id}")
        if not isinstance(jid, str) or not jid:
            raise GraphError(f"{where}.id: must be a non-empty string, got {jid!r}")
        where = f"projection '{jid}'"
        if jid in {p.id for p in projections}:
            raise GraphError(f"{where}: duplicate projection id")
        if post.id in pops.driven:
            raise GraphError(f"{where}.post: population '{post.id}' is driven by "
                             f"{pops.driven[post.id]} and cannot receive synapses")
        ctype, p, k = _connectivity(entry, where, pre, post)
        w_mean, w_std = _weight(entry, where)
        d_lo, d_hi = _delay(entry.get("delay_ms", dt_ms), dt_ms, where)
        learning = None
        if entry.get("learning") not in (None, False):
            learning = _learning({} if entry["learning"] is True else entry["learning"],
                                 learning_base, f"{where}.learning")
            if w_mean < 0:
                raise GraphError(f"{where}.learning: only excitatory (weight >= 0) projections "
                                 f"can learn, mean weight is {w_mean}")
        projections.append(Projection(jid, pre.id, post.id, ctype, p, k, w_mean, w_std,
                                      d_lo, d_hi, learning))
    return projections


def parse_graph(raw: Any, source: str = "graph") -> BrainGraph:
    """Validate a graph mapping (as read from YAML) into a BrainGraph, section by section
    (populations, inputs, feedback, outputs, projections); errors name where."""
    top = _require(raw, source)
    _known_keys(top, _TOP_KEYS, source)
    project = _ident(top, "project", source)
    dt_ms = _number(top, "dt_ms", source, 1.0, positive=True)
    gamma = _number(top, "gamma", source, 64, positive=True, integer=True)
    seed = _number(top, "seed", source, 0, non_negative=True, integer=True)
    neuron_base = _neuron(top.get("neuron_defaults"), NeuronParams(), f"{source}.neuron_defaults")
    learning_base = _learning(top.get("learning_defaults"), LearningParams(),
                              f"{source}.learning_defaults")
    pops = _Populations(top, source, neuron_base)
    inputs = _inputs(top, source, pops)
    feedback, feedback_n = _feedback(top, source, pops)
    ids = [x.id for x in inputs] + [x.id for x in feedback]
    if len(set(ids)) != len(ids):
        raise GraphError(f"{source}: input and feedback ids must be unique, got {ids}")
    outputs, output_window_n = _outputs(top, source, pops, feedback)
    projections = _projections(top, source, pops, dt_ms, learning_base)
    feedback_t = _number(top, "feedback_t", source, gamma, positive=True, integer=True)
    return BrainGraph(project, float(dt_ms), gamma, output_window_n, feedback_n or 0,
                      feedback_t, seed, pops.by_id, projections, inputs, outputs, feedback)


def run_memory_bytes(graph: BrainGraph) -> int:
    """About how much memory one run of `graph` needs (bytes), counted from the sizes
    alone before anything is allocated: the per-projection synapse tables (index, weight,
    traces), the eligibility copies a server run keeps for late rewards (4 bytes per
    plastic synapse and kept cycle), one cycle's rasters and traces, the neurons; with a
    quarter on top (test_embedded_graph_limits.py holds it between 1x and 3x of what a
    run's allocations peak at once its history is full)."""
    sizes = {p.id: p.size for p in graph.populations.values()}
    n = sum(sizes.values())
    synapses = plastic = 0.0
    max_delay = 1
    for proj in graph.projections:
        pre, post = sizes[proj.pre], sizes[proj.post]
        count = {"all_to_all": pre * post, "one_to_one": pre,
                 "fixed_probability": proj.p * pre * post,
                 "fixed_indegree": proj.k * post}[proj.connectivity]
        synapses += count
        max_delay = max(max_delay, math.ceil(proj.delay_max_ms / graph.dt_ms))
        if proj.learning is not None:
            plastic += count
    need = (24.0 * synapses + 4.0 * _HISTORY_CYCLES * plastic
            + 16.0 * (graph.gamma + max_delay) * n + 200.0 * n)
    return int(1.25 * need)


def check_run_memory(graph: BrainGraph, max_run_mb: float = DEFAULT_MAX_RUN_MB,
                     source: str = "graph") -> int:
    """run_memory_bytes(graph), or GraphError when it is above max_run_mb."""
    need = run_memory_bytes(graph)
    if need > max_run_mb * 1e6:
        n = sum(p.size for p in graph.populations.values())
        raise GraphError(f"{source}: too large: a run would need about {_mb(need)} of memory "
                         f"({n:,} neurons, gamma {graph.gamma}, {len(graph.projections)} "
                         f"projection(s)), above the limit of {max_run_mb:,.0f} MB "
                         f"(max_run_mb; the server's --max-run-mb)")
    return need


def _mb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:,.1f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:,.0f} MB"


def load_graph(path: str | Path, max_run_mb: float = DEFAULT_MAX_RUN_MB) -> BrainGraph:
    """Read and validate a graph YAML file; GraphError also when a run of it would need
    more than max_run_mb of memory."""
    path = Path(path).expanduser()
    try:
        text = path.read_text()
    except OSError as exc:
        raise GraphError(f"cannot read graph file {path}: {exc}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise GraphError(f"{path}: not valid YAML: {exc}") from exc
    graph = parse_graph(raw, source=path.name)
    check_run_memory(graph, max_run_mb, path.name)
    return graph


def bundled_graph_path(name: str) -> Path:
    """Path of a graph shipped with the package (e.g. 'demo_arm')."""
    return Path(str(resources.files("embedded_brain") / "graphs" / f"{name}.yaml"))
