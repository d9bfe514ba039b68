"""The brain project contract: parsing, the policies folder, user policies. No rclpy.

A contract (what POST /robot/{project}/start and GET /robot/{project}/contract
return) names the run, its constants and its inputs, outputs, feedback and
learning layers. `sync_policies` writes it into a policies folder:
machine-owned `_contract.json`, `_contract.py`, `_contract.sha256` (always
rewritten) and user-owned `reward_policy.py`, `error_deviation_policy.py`
(created once, never overwritten); `load_policies` imports the user's files.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONTRACT_JSON = "_contract.json"
CONTRACT_PY = "_contract.py"
CONTRACT_SHA = "_contract.sha256"
REWARD_POLICY = "reward_policy.py"
DEVIATION_POLICY = "error_deviation_policy.py"

DEFAULTS = {"gamma": 64, "outputWindowN": 32, "feedbackN": 128, "feedbackT": 128}


class ContractError(ValueError):
    """A contract the bridge cannot work with; the message says what is wrong."""


@dataclass(frozen=True)
class IoItem:
    """One input, output or feedback entry of the contract."""

    id: str
    kind: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Contract:
    """A parsed contract (run-specific fields kept in `raw`)."""

    raw: dict[str, Any]
    run_id: str
    gamma: int
    output_window_n: int
    feedback_n: int
    feedback_t: int
    dt_s: float
    inputs: list[IoItem]
    outputs: list[IoItem]
    feedback: list[IoItem]
    stdp_layers: list[str]
    realtime_url: str | None = None
    namespace: str | None = None

    @property
    def output_ids(self) -> list[str]:
        return [o.id for o in self.outputs]

    def input_kind(self, input_id: str) -> str | None:
        return next((i.kind for i in self.inputs if i.id == input_id), None)


def _positive_int(constants: Mapping[str, Any], key: str, default: int, *alt: str) -> int:
    value = next((constants[k] for k in (key, *alt) if constants.get(k) is not None), default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or int(value) != value or int(value) <= 0:
        raise ContractError(f"contract constant {key!r} must be a positive integer, got {value!r}")
    return int(value)


def _items(io: Mapping[str, Any], key: str) -> list[IoItem]:
    raw = io.get(key) or []
    if not isinstance(raw, list):
        raise ContractError(f"contract io.{key} must be a list, got {type(raw).__name__}")
    items = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str) or not item["id"]:
            raise ContractError(f"contract io.{key}[{i}] needs a non-empty string 'id', got "
                                f"{str(item)[:80]}")
        items.append(IoItem(item["id"], str(item.get("kind") or ""),
                            {k: v for k, v in item.items() if k not in ("id", "kind")}))
    return items


def parse_contract(raw: Any, *, need_run_id: bool = True) -> Contract:
    """Parse a contract; raises ContractError naming the bad field."""
    if not isinstance(raw, Mapping):
        raise ContractError(f"contract must be a JSON object, got {type(raw).__name__}")
    run_id = raw.get("runId") or ""
    if need_run_id and (not isinstance(run_id, str) or not run_id):
        raise ContractError(f"start response has no 'runId' (got {run_id!r})")
    constants = raw.get("constants") or {}
    io = raw.get("io") or {}
    if not isinstance(constants, Mapping) or not isinstance(io, Mapping):
        raise ContractError("contract 'constants' and 'io' must be objects")
    dt_s = constants.get("dt_s")
    if dt_s is None and constants.get("dtMs") is not None:
        dt_s = float(constants["dtMs"]) / 1000.0
    if dt_s is None and constants.get("dt") is not None:
        dt_s = float(constants["dt"])
    dt_s = 0.001 if dt_s is None else float(dt_s)
    if not math.isfinite(dt_s) or dt_s <= 0:
        raise ContractError(f"contract constant 'dt' must be positive, got {dt_s!r}")
    stdp = io.get("stdp3") or {}
    layers = stdp.get("layers") if isinstance(stdp, Mapping) else None
    if layers is None:
        layers = []
    if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
        raise ContractError("contract io.stdp3.layers must be a list of layer ids")
    realtime = raw.get("realtime") or {}
    if not isinstance(realtime, Mapping):
        raise ContractError("contract 'realtime' must be an object")
    return Contract(
        raw=dict(raw), run_id=str(run_id),
        gamma=_positive_int(constants, "gamma", DEFAULTS["gamma"]),
        output_window_n=_positive_int(constants, "outputWindowN", DEFAULTS["outputWindowN"]),
        feedback_n=_positive_int(constants, "feedbackN", DEFAULTS["feedbackN"]),
        feedback_t=_positive_int(constants, "feedbackT", DEFAULTS["feedbackT"],
                                 "FEEDBACK_WINDOW_T"),
        dt_s=dt_s,
        inputs=_items(io, "inputs"), outputs=_items(io, "outputs"),
        feedback=_items(io, "feedback"), stdp_layers=list(layers),
        realtime_url=realtime.get("url") or None, namespace=realtime.get("namespace") or None,
    )


def stable_view(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The contract without run-specific fields: what policies depend on (and what is hashed)."""
    contract = parse_contract(raw, need_run_id=False)
    io = raw.get("io") or {}
    return {
        "constants": {"gamma": contract.gamma, "outputWindowN": contract.output_window_n,
                      "feedbackN": contract.feedback_n, "feedbackT": contract.feedback_t},
        "io": {"inputs": list(io.get("inputs") or []), "outputs": list(io.get("outputs") or []),
               "feedback": list(io.get("feedback") or []),
               "stdp3": {"layers": list(contract.stdp_layers)}},
    }


def contract_sha256(view: Mapping[str, Any]) -> str:
    canonical = json.dumps(view, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class SyncResult:
    folder: Path
    sha256: str
    created: list[str]


def _contract_module(view: Mapping[str, Any], sha: str) -> str:
    constants, io = view["constants"], view["io"]
    ids = {key: [item["id"] for item in io[key] if isinstance(item, Mapping) and item.get("id")]
           for key in ("inputs", "outputs", "feedback")}
    feedback_info = [{"id": item["id"], "n": int(item.get("n", constants["feedbackN"])),
                      "fromOutput": item.get("fromOutput"), "outputKind": item.get("outputKind")}
                     for item in io["feedback"] if isinstance(item, Mapping) and item.get("id")]
    return "\n".join([
        '"""Machine-owned: rewritten by ab_bridge at every contract sync. Do not edit."""',
        "",
        f"CONTRACT_SHA256 = {sha!r}",
        f"GAMMA = {constants['gamma']!r}",
        f"OUTPUT_WINDOW_N = {constants['outputWindowN']!r}",
        f"FEEDBACK_N = {constants['feedbackN']!r}",
        f"FEEDBACK_T = {constants['feedbackT']!r}",
        f"INPUT_IDS = {ids['inputs']!r}",
        f"OUTPUT_IDS = {ids['outputs']!r}",
        f"FEEDBACK_IDS = {ids['feedback']!r}",
        f"STDP3_LAYERS = {list(io['stdp3']['layers'])!r}",
        f"FEEDBACK_INFO = {feedback_info!r}",
        "",
    ])


REWARD_TEMPLATE = '''"""Your reward policy (created once by ab_bridge, never overwritten: edit freely).

ab_bridge calls compute_reward after every brain cycle and sends the result
as learn:reward; values are clamped to [0, 1] and learning layers you leave
out receive the global reward.
"""


def compute_reward(summary, *, stdp_layers):
    """Return (global_reward, {layer_id: reward}).

    summary: ab_bridge.session.CycleSummary (cycle, spike counts per
    population, decoded deltas per channel).
    """
    return 0.5, {layer: 0.5 for layer in stdp_layers}
'''

DEVIATION_TEMPLATE = '''"""Your error deviation policy (created once by ab_bridge, never overwritten).

ab_bridge calls compute_deviation when the brain asks for a feedback input and
no deviation arrived on the `deviation` topic for it; values are clamped to
[-1, 1] and turned into the feedback raster.
"""


def compute_deviation(feedback_id, *, T, ctx=None):
    """Return T deviations in [-1, 1] for feedback input `feedback_id`."""
    return [0.0] * T
'''


def sync_policies(raw: Mapping[str, Any], folder: str | Path) -> SyncResult:
    """Write the contract files (always) and the user policy templates (only if missing)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    view = stable_view(raw)
    sha = contract_sha256(view)
    (folder / CONTRACT_JSON).write_text(json.dumps(view, indent=2, sort_keys=True) + "\n",
                                        encoding="utf-8")
    (folder / CONTRACT_PY).write_text(_contract_module(view, sha), encoding="utf-8")
    (folder / CONTRACT_SHA).write_text(sha + "\n", encoding="utf-8")
    created = []
    for name, template in ((REWARD_POLICY, REWARD_TEMPLATE),
                           (DEVIATION_POLICY, DEVIATION_TEMPLATE)):
        path = folder / name
        try:
            with path.open("x", encoding="utf-8") as handle:
                handle.write(template)
            created.append(name)
        except FileExistsError:
            pass
    return SyncResult(folder, sha, created)


@dataclass
class Policies:
    """The user's policy functions (None where the file does not define them)."""

    compute_reward: Callable[..., Any] | None
    compute_deviation: Callable[..., Any] | None


def _load_module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ContractError(f"cannot import policy file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        sys.modules.pop(name, None)
        raise ContractError(f"policy file {path} failed to import: "
                            f"{type(error).__name__}: {error}") from error
    return module


def load_policies(folder: str | Path) -> Policies:
    """Import reward_policy.py and error_deviation_policy.py from `folder`.

    Missing files give None; a file that fails to import or lacks its function
    raises ContractError naming the file.
    """
    folder = Path(folder)
    found: dict[str, Callable[..., Any] | None] = {}
    tag = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:8]
    for filename, function in ((REWARD_POLICY, "compute_reward"),
                               (DEVIATION_POLICY, "compute_deviation")):
        path = folder / filename
        if not path.is_file():
            found[function] = None
            continue
        module = _load_module(path, f"ab_bridge_policies_{tag}_{path.stem}")
        fn = getattr(module, function, None)
        if not callable(fn):
            raise ContractError(f"policy file {path} does not define {function}()")
        found[function] = fn
    return Policies(found["compute_reward"], found["compute_deviation"])
