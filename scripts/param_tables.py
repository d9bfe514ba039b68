"""The parameter tables of the package READMEs, generated from the nodes' declarations.

Each node declares its parameters through node_kit's Params (description, range or
choices, live or read-only), which records them as declared. This script constructs
each node (rclpy, no graph: nothing is spun; ports, threads and files of its start-up
are kept local and short-lived by the overrides below, which change values, never the
declarations), reads what Params recorded, and renders one markdown table per node
between markers in its package's README:

    <!-- params:brain_session -->
    ... (generated) ...
    <!-- /params -->

    python scripts/param_tables.py           # rewrite the tables in the READMEs
    python scripts/param_tables.py --check   # exit 1 and say which tables differ

tests/test_readme_parameter_tables.py runs the check.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Parameters rclpy gives every node; not the node's own.
_RCLPY_OWN = ("use_sim_time", "start_type_description_service")


@dataclass(frozen=True)
class NodeDoc:
    name: str               # the node's name, and its marker
    package: str            # whose README holds the table
    module: str
    cls: str
    # Values (not declarations) that let the node start without its usual world and
    # keep the start local: a configuration where there is no default, no well-known
    # port bound, no daemon or brain dialled, files in a temporary folder ({tmp}).
    quiet: dict[str, Any] = field(default_factory=dict)


NODES = (
    NodeDoc("brain_session", "ab_bridge", "ab_bridge.brain_session_node", "BrainSessionNode"),
    NodeDoc("spike_decoder", "ab_bridge", "ab_bridge.spike_decoder_node", "SpikeDecoderNode",
            {"decoder_mapping": "[{node_id: a, channel: x, scheme: addition}]"}),
    NodeDoc("spike_source", "ab_bridge", "ab_bridge.spike_source_node", "SpikeSourceNode"),
    NodeDoc("brain_server", "embedded_brain", "embedded_brain.brain_server_node",
            "BrainServerNode", {"port": 0, "state_dir": "{tmp}/brain_state"}),
    NodeDoc("detector", "detector_node", "detector_node.detector_node", "DetectorNode",
            {"serve_http": False, "http_port": 0, "data_folder": "{tmp}/detector"}),
    NodeDoc("pilot", "pilot_hw", "pilot_hw.pilot_node", "PilotNode",
            {"devices": "devices: [{name: led, type: digital_output, pin: 17}]",
             "port": "{free_port}", "reconnect_period_s": 60.0,
             "reconnect_max_period_s": 60.0}),
    NodeDoc("muscle", "rl_agents", "rl_agents.muscle_node", "MuscleNode",
            {"brain_endpoint": "tcp://127.0.0.1:{free_port}"}),
    NodeDoc("rl_brain", "rl_agents", "rl_agents.brain_node", "BrainNode",
            {"endpoint": "tcp://127.0.0.1:0"}),
    NodeDoc("sim_arm", "robot_bringup", "robot_bringup.sim_arm_node", "SimArmNode"),
    NodeDoc("reward_from_detections", "robot_bringup",
            "robot_bringup.reward_from_detections_node", "RewardFromDetectionsNode"),
    NodeDoc("spike_raster", "robot_bringup", "robot_bringup.spike_raster_node",
            "SpikeRasterNode"),
)

BLOCK = re.compile(r"(<!-- params:(?P<name>[\w/]+) -->\n)(?P<body>.*?)(<!-- /params -->)",
                   re.S)


def readme_of(package: str) -> Path:
    return REPO / package / "README.md"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _quiet_overrides(doc: NodeDoc, tmp: Path) -> list:
    from rclpy.parameter import Parameter

    overrides = []
    for name, value in doc.quiet.items():
        if isinstance(value, str):
            value = value.replace("{tmp}", str(tmp))
            if "{free_port}" in value:
                value = value.replace("{free_port}", str(_free_port()))
            if value.isdigit():
                value = int(value)
        overrides.append(Parameter(name, value=value))
    return overrides


def declarations(doc: NodeDoc, context) -> tuple[list, dict[str, str]]:
    """What node `doc` declares through Params (in order), and each parameter's ROS type."""
    from rclpy.parameter import Parameter

    from node_kit.params import Params

    cls = getattr(importlib.import_module(doc.module), doc.cls)
    with tempfile.TemporaryDirectory(prefix="param-tables-") as tmp:
        node = cls(context=context, parameter_overrides=_quiet_overrides(doc, Path(tmp)))
        try:
            declared = list(Params.of(node).declared.values())
            names = {d.name for d in declared}
            outside = sorted(n for n in node._parameters
                             if n not in names and n not in _RCLPY_OWN)
            if outside:
                raise RuntimeError(f"node {doc.name!r} declares {outside} outside "
                                   "node_kit.Params: they have no description to show")
            types = {d.name: Parameter.Type(node.describe_parameter(d.name).type).name.lower()
                     for d in declared}
        finally:
            node.destroy_node()
    return declared, types


def _portable(value: Any) -> Any:
    """`value` with this machine's paths made general: the home folder as `~`, a file
    inside a brainstem package as `<package>/...`."""
    if isinstance(value, str) and value.startswith("/"):
        resolved = str(Path(value).resolve())
        for package in sorted({d.package for d in NODES}):
            root = str(Path(importlib.import_module(package).__file__).resolve().parent)
            if resolved.startswith(root + "/"):
                return f"<{package}>/{resolved[len(root) + 1:]}"
        home = str(Path.home())
        if value == home or value.startswith(home + "/"):
            return "~" + value[len(home):]
    return value


def _cell(text: str) -> str:
    """`text` for a table cell: one line, no column break, no tag taken for HTML."""
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def _literal(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if len(repr(value)) > 8 else repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _code(value: Any) -> str:
    """A default as code (YAML-like literals; code spans show `<` as it is)."""
    return "`" + _literal(_portable(value)).replace("|", "\\|").replace("\n", "\\n") + "`"


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def render(declared: list, types: dict[str, str]) -> str:
    lines = ["| parameter | type | default | range / choices | set | description |",
             "|---|---|---|---|---|---|"]
    for d in declared:
        allowed = []
        if d.low is not None or d.high is not None:
            low = "−∞" if d.low is None else _number(d.low)
            high = "∞" if d.high is None else _number(d.high)
            allowed.append(f"[{low}, {high}]")
        if d.choices is not None:
            allowed.append(", ".join(f"`{_cell(str(c))}`" for c in d.choices))
        lines.append(f"| `{d.name}` | {types[d.name]} | {_code(d.default)} | "
                     f"{'; '.join(allowed)} | {'live' if d.live else 'read-only'} | "
                     f"{_cell(d.description)} |")
    return "\n".join(lines) + "\n"


def generated_tables() -> dict[str, str]:
    """Node name -> its table, for every node of NODES."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    try:
        return {doc.name: render(*declarations(doc, context)) for doc in NODES}
    finally:
        context.try_shutdown()


def updated_readme(text: str, tables: dict[str, str]) -> str:
    return BLOCK.sub(lambda m: m.group(1) + tables.get(m.group("name"), m.group("body"))
                     + m.group(4), text)


def differences(tables: dict[str, str]) -> list[str]:
    """Why the READMEs do not hold `tables` (empty: they do)."""
    problems = []
    for package in sorted({d.package for d in NODES}):
        path = readme_of(package)
        text = path.read_text(encoding="utf-8")
        found = {m.group("name"): m.group("body") for m in BLOCK.finditer(text)}
        for doc in (d for d in NODES if d.package == package):
            if doc.name not in found:
                problems.append(f"{path.relative_to(REPO)}: no <!-- params:{doc.name} --> "
                                "table")
            elif found[doc.name] != tables[doc.name]:
                problems.append(f"{path.relative_to(REPO)}: the table of {doc.name} differs "
                                "from the node's declarations")
        for name in sorted(set(found) - {d.name for d in NODES if d.package == package}):
            problems.append(f"{path.relative_to(REPO)}: a table for {name}, which is not a "
                            f"node of {package} (scripts/param_tables.py NODES)")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare; exit 1 when a table differs")
    args = parser.parse_args()
    tables = generated_tables()
    if args.check:
        problems = differences(tables)
        for problem in problems:
            print(problem)
        if problems:
            print("run: python scripts/param_tables.py")
        return 1 if problems else 0
    for package in sorted({d.package for d in NODES}):
        path = readme_of(package)
        text = path.read_text(encoding="utf-8")
        new = updated_readme(text, tables)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"updated {path.relative_to(REPO)}")
    for problem in differences(tables):
        print(problem)
    return 0


if __name__ == "__main__":
    sys.exit(main())
