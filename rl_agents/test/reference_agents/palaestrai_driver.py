"""Runs an agent in palaestrAI 3.5.18 itself, for comparison with rl_agents.

Run with the python of the palaestrAI reference venv (scripts/refvenv.py):

    python palaestrai_driver.py '<json job>'

palaestrAI's own agent runtime does the work: its `Learner` (the brain side:
memory appends, `thinking`, `store()` on done, update fan-out, TEST memory
limit) and its `RolloutWorker` (the muscle side: remembering the step, the
objective, the request to the brain, applying the update, `propose_actions`,
reset notifications, teardown), and the agent's Brain / Muscle / Objective
classes loaded from `module:Class` names as palaestrAI's AgentConductor does
(`load_with_params`). Only the message broker is replaced by direct calls,
and the simulation controller by the loop below (an environment written
against the `environments` API, episodes of fixed length, phases with modes).

The job (JSON): {"paths": [...], "environment": {"name", "params"},
"brain": {"name", "params"}, "muscle": {...}, "objective": {...},
"seed": int, "uid": str, "steps": int, "dump_dir": str,
"phases": [{"mode": "train"|"test"|"evaluate", "episodes": int}],
"seed_actuator_spaces": bool}. Prints one JSON object: per step the setpoints,
the data the muscle sent and the reward; per episode the return; and the
brain dumps stored.
"""

import asyncio
import importlib
import io
import json
import math
import sys
from pathlib import Path


def main() -> None:
    job = json.loads(sys.argv[1])
    sys.path[:0] = job.get("paths", [])
    import numpy as np
    from palaestrai.agent import ActuatorInformation, RewardInformation, SensorInformation
    from palaestrai.agent.brain_dumper import BrainDumper
    from palaestrai.agent.learner import Learner
    from palaestrai.agent.rollout_worker import RolloutWorker
    from palaestrai.core.protocol import (
        AgentUpdateRequest,
        EnvironmentResetNotificationRequest,
        MuscleUpdateRequest,
    )
    from palaestrai.types import Box, Mode
    from palaestrai.util.dynaloader import load_with_params

    class DirDumper(BrainDumper):
        """Stores brain dumps as files `<tag>.bin` in a directory."""

        def save(self, brain_state, tag=None):
            path = Path(self._brain_destination) / f"{tag or 'brain'}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(brain_state.read())

        def _load(self, source_locator, tag=None):
            path = Path(source_locator) / f"{tag or 'brain'}.bin"
            if not path.exists():
                raise FileNotFoundError(path)
            return io.BytesIO(path.read_bytes())

    module_name, _, class_name = job["environment"]["name"].partition(":")
    env_class = getattr(importlib.import_module(module_name), class_name)
    env = env_class(dict(job["environment"].get("params") or {}))
    seed, uid, steps = int(job["seed"]), job["uid"], int(job["steps"])

    def channel_space(c, seed_=None):
        return Box(low=c.bounds[0], high=c.bounds[1], shape=(), dtype=np.float64, seed=seed_)

    sensor_spaces = [channel_space(c) for c in env.s_channels]
    muscle_seed = seed * 1000   # what rl_agents' experiment gives muscle 0
    actuator_spaces = [channel_space(c, muscle_seed * 1000 + i if job.get("seed_actuator_spaces")
                                     else None)
                       for i, c in enumerate(env.m_channels)]

    def sensors(s_signal):
        return [SensorInformation(np.float64(s_signal[c.name]), space, c.name)
                for c, space in zip(env.s_channels, sensor_spaces, strict=True)]

    def actuators():
        return [ActuatorInformation(space=space, uid=c.name)
                for c, space in zip(env.m_channels, actuator_spaces, strict=True)]

    dumper = DirDumper(dump_to=job["dump_dir"], load_from=job["dump_dir"])
    brain = load_with_params(job["brain"]["name"], dict(job["brain"].get("params") or {}))
    brain._seed = seed
    brain.sensors = sensors(env.reset(seed))
    brain.actuators = actuators()
    brain._dumpers = [dumper]
    learner = Learner(brain, f"{uid}.Brain", uid)
    muscle = load_with_params(job["muscle"]["name"], dict(job["muscle"].get("params") or {}))
    muscle._uid = uid
    muscle._model_loaders = [dumper]
    objective = load_with_params(job["objective"]["name"],
                                 dict(job["objective"].get("params") or {}))
    worker = RolloutWorker(muscle, objective, uid=f"{uid}.0", brain_uid=learner.uid)

    run = {"experiment_run_id": "compare", "experiment_run_instance_id": "compare-0",
           "experiment_run_phase": 0}
    trace = []
    original_propose = muscle.propose_actions

    def propose(sensors_, actuators_):
        setpoints, data = original_propose(sensors_, actuators_)
        trace.append({"setpoints": [float(np.asarray(a.value).reshape(-1)[0]) for a in setpoints],
                      "data": data})
        return setpoints, data

    muscle.propose_actions = propose

    async def deliver(**kw):   # what the broker does: request to the Learner, answer back
        request = MuscleUpdateRequest(
            sender_rollout_worker_id=worker.uid, receiver_brain_id=learner.uid,
            muscle_uid=muscle.uid, sensor_readings=kw["sensors"],
            unfiltered_readings=kw["unfiltered_readings"], actuator_setpoints=kw["actuators"],
            unfiltered_setpoints=kw["unfiltered_setpoints"], rewards=kw["rewards"],
            objective=kw["objective"], done=worker._done, mode=worker.mode,
            data=kw["data_for_brain"], statistics=kw["statistics"], simtimes=kw["simtimes"],
            episode=kw["episode"], terminated=kw["terminated"], truncated=kw["truncated"],
            decision_index=kw["decision_index"], **run)
        response = await learner._handle_muscle_update_request(request)
        await worker._handle_muscle_update_response(response)

    async def simulate():
        learner.setup()   # (palaestrAI's event machinery wants a running loop)
        worker.setup()
        worker._request_muscle_update = lambda **kw: asyncio.ensure_future(deliver(**kw))
        episodes, episode = [], 0
        for phase in job["phases"]:
            mode = Mode(phase["mode"])
            for _ in range(int(phase["episodes"])):
                if episode > 0:   # palaestrAI notifies muscles of a reset, not of the start
                    await worker._handle_environment_reset_notification(
                        EnvironmentResetNotificationRequest(
                            sender_simulation_controller_id="sim", receiver_agent_id=worker.uid))
                s_signal = env.reset(seed * 10**6 + episode)
                rewards, done, total = None, False, 0.0
                for t in range(steps + 1):
                    response = await worker._handle_agent_update(AgentUpdateRequest(
                        sender_simulation_controller_id="sim",
                        receiver_rollout_worker_id=worker.uid, episode=episode,
                        actuators=actuators(), sensors=sensors(s_signal), rewards=rewards,
                        is_terminal=done, mode=mode, **run))
                    if done:
                        break
                    m_signal = {a.uid: float(np.asarray(a.value).reshape(-1)[0])
                                for a in response.actuator_information}
                    s_signal = env.execute(m_signal)["s_signal"]
                    reward = float(s_signal["reward"])
                    trace[-1]["reward"] = reward
                    total += reward
                    rewards = [RewardInformation(np.float64(reward),
                                                 Box(-math.inf, math.inf, shape=()), "reward")]
                    done = t + 1 >= steps
                trace[-1]["reward"] = None   # the terminal step's setpoints go nowhere
                episodes.append(total)
                episode += 1
        muscle.teardown()
        return episodes

    episodes = asyncio.run(simulate())
    dumps = {p.name: p.read_bytes().hex() for p in sorted(Path(job["dump_dir"]).glob("*.bin"))}
    module = sys.modules.get(job["muscle"]["name"].partition(":")[0])
    print(json.dumps({"episodes": episodes, "trace": trace, "dumps": dumps,
                      "agent_trace": getattr(module, "TRACE", None)}))


if __name__ == "__main__":
    main()
