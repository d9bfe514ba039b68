"""Brains and muscles as plain processes (no ROS), as on several machines: one
`brain_server` serving a custom Brain named `module:Class`, two `muscle_runner`
processes with a custom Muscle, Objective and Environment, all written for
palaestrAI / environments (reference_agents/). SIGTERM and SIGINT end them with
exit code 0 and no traceback."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from support import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

AGENTS_DIR = Path(__file__).resolve().parent / "reference_agents"
ENV = ["--environment", "reach_env:PointReach", "--env-params", "{reward_channel: reward}"]


def muscle_args(endpoint: str, uid: str, episodes: int) -> list[str]:
    return ["python", "-m", "rl_agents.muscle_runner", "--brain", endpoint,
            "--muscle", "reach_agent:LinearMuscle", "--params", "{seed: 3}",
            "--objective", "reach_agent:RewardObjective", *ENV, "--episodes", str(episodes),
            "--max-steps", "10", "--uid", uid, "--seed", "2"]


def test_one_brain_process_serves_muscle_processes_and_all_end_cleanly(start_process):
    env = dict(os.environ, PYTHONPATH=f"{AGENTS_DIR}{os.pathsep}{os.environ['PYTHONPATH']}")
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    brain = start_process(["python", "-m", "rl_agents.brain_server", "--endpoint", endpoint,
                           "--algorithm", "reach_agent:RandomSearchBrain",
                           "--params", "{step_size: 0.2}", *ENV], env=env)
    assert "serving at" in brain.stdout.readline()
    a = start_process(muscle_args(endpoint, "a", 6), env=env)
    b = start_process(muscle_args(endpoint, "b", 6), env=env)
    for muscle in (a, b):
        assert muscle.wait(timeout=60) == 0
        lines = [json.loads(line) for line in muscle.stdout.read().splitlines()]
        assert [row["episode"] for row in lines] == list(range(6))
        assert all(row["steps"] == 10 and row["return"] < 0 for row in lines)
    # a long-running muscle stops between two steps on SIGTERM
    c = start_process(muscle_args(endpoint, "c", 10**6), env=env)
    assert json.loads(c.stdout.readline())["episode"] == 0
    c.send_signal(signal.SIGTERM)
    assert c.wait(timeout=20) == 0
    rest = c.stdout.read()
    assert '"stopped": true' in rest and "Traceback" not in rest
    brain.send_signal(signal.SIGINT)
    assert brain.wait(timeout=20) == 0
    assert "Traceback" not in brain.stdout.read()


def test_an_unknown_class_is_refused_with_its_name(start_process):
    bad = start_process(["python", "-m", "rl_agents.muscle_runner", "--muscle",
                         "reach_agent:NoSuchMuscle", *ENV])
    assert bad.wait(timeout=30) == 2
    assert "cannot import 'reach_agent'" in bad.stdout.read()
