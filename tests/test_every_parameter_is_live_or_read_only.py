"""Parameters tell the truth at run time: every node declares its parameters through
node_kit's Params, which makes each one live (an on-set callback that applies it) or
read-only (`ros2 param set` refuses it, saying so). A direct declare_parameter or a
parameter callback of its own would bypass that: none may exist outside node_kit."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("ab_bridge", "detector_node", "pilot_hw", "rl_agents", "robot_bringup")
BYPASS = re.compile(r"\.(declare_parameters?|add_on_set_parameters_callback|"
                    r"add_pre_set_parameters_callback|add_post_set_parameters_callback)\(")


def test_no_node_declares_parameters_around_params():
    found = []
    for package in PACKAGES:
        for source in sorted((REPO / package / package).rglob("*.py")):
            for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
                if BYPASS.search(line):
                    found.append(f"{source.relative_to(REPO)}:{number}: {line.strip()}")
    assert not found, "declare through node_kit.Params instead:\n" + "\n".join(found)


def test_every_node_refuses_unknown_parameters():
    """Each module that defines a Node subclass calls refuse_unknown(), so a misspelled
    parameter in a file or on the command line stops the start."""
    missing, nodes = [], 0
    for package in PACKAGES:
        for source in sorted((REPO / package / package).rglob("*.py")):
            text = source.read_text(encoding="utf-8")
            if re.search(r"^class \w+\((Node|LifecycleNode)\)", text, re.M):
                nodes += 1
                if "refuse_unknown()" not in text:
                    missing.append(str(source.relative_to(REPO)))
    assert nodes >= 10, f"found only {nodes} node modules: has the layout changed?"
    assert not missing, f"no refuse_unknown() in {missing}"
