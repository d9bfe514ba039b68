"""A robot application written the way the artificialbrains-sdk 0.4.0 README tells users
to, run by test_device_official_sdk.py with the SDK's own python (a venv of its own) in a
project folder holding .env and brain.abdesign.json. Prints one JSON object of what it saw.

    python device_sdk_app.py design   -> writes brain.abdesign.json with ab.Brain
    python device_sdk_app.py run      -> the session flow against the device in .env
"""

from __future__ import annotations

import json
import sys
import time


def design() -> None:
    from ab import Brain

    brain = Brain("Device Test Brain")
    brain.input("SENSE", 8)
    brain.input("DIST", 16)
    brain.input("REWARD", 10)
    brain.opu("SENSE_RELAY", "high-gamma")
    brain.opu("T1", "theta", 3)
    brain.opu("MOTOR", "beta", 5)
    brain.opu("RESET", "high-gamma")
    brain.output("ACTION", 4)
    brain.output("STATE", 2)
    brain.connect("SENSE", "SENSE_RELAY")
    brain.connect("DIST", "T1", role="operand", units=2)
    brain.connect("SENSE_RELAY", "T1", role="operand", units=1)
    brain.connect("T1", "MOTOR")
    brain.connect("MOTOR", "ACTION")
    brain.connect("MOTOR", "STATE")
    brain.connect("ACTION", "RESET")
    brain.connect("RESET", "ACTION", "inh", strength=0.9)
    brain.connect("STATE", "T1", role="feedback")
    brain.connect("REWARD", "MOTOR")
    brain.save("brain.abdesign.json")
    print(json.dumps({"warnings": brain.validate()}))


def wait_for(predicate, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def run() -> None:
    from ab import ABClient, GenericSpikeDecoder, PrimaLuxError, RobotLoop

    seen: dict = {"modes": {}, "errors": {}}
    client = ABClient.from_env(env_path=".env")
    session = None
    loop = None
    try:
        session = client.start_from_env(env_path=".env")
        outputs: list[dict] = []
        commands: list[dict] = []
        session.on_output(outputs.append)
        session.set_decoder(GenericSpikeDecoder([
            {"output_id": "ACTION", "channel": "drive", "scheme": "bipolarSplit", "n": 4,
             "per_step_max": 0.05, "gain": 1.0, "clamp": [-0.1, 0.1]},
            {"output_id": "STATE", "channel": "state", "scheme": "addition", "n": 2,
             "per_step_max": 1.0},
        ]))
        session.on_command(commands.append)
        seen["first_outputs"] = wait_for(lambda: len(outputs) >= 50)

        calls = {
            "vector_f32": lambda: session.publish_input("SENSE", [1.0] * 8, mode="vector_f32"),
            "binary_spikes": lambda: session.publish_input(
                "SENSE", [0.3, -1.0, 2.0, 0.0, 1.0, 0.0, 0.5, 0.0], mode="binary_spikes"),
            "positive_scalar_population": lambda: session.publish_input(
                "DIST", 0.75, mode="positive_scalar_population", vmax=2.0, radius=1),
            "positive_scalar_cumulative_population": lambda: session.publish_input(
                "DIST", 1.5, mode="positive_scalar_cumulative_population", vmax=2.0),
            "ranged_scalar_population": lambda: session.publish_input(
                "DIST", 0.2, mode="ranged_scalar_population", vmin=0.0, vmax=1.0),
            "signed_scalar_population": lambda: session.publish_input(
                "DIST", -0.5, mode="signed_scalar_population", absmax=1.0, radius=2),
            "sensor_frame": lambda: session.publish_sensor_frame({
                "SENSE": [1.0] * 8,
                "DIST": {"signal": 0.5, "mode": "positive_scalar_population", "vmax": 1.0}}),
            "reward_population": lambda: session.publish_reward("REWARD", 0.8),
        }
        for name, call in calls.items():
            seen["modes"][name] = call()
        seen["encoded_dist"] = session.encoder.encode(
            "DIST", 0.75, mode="positive_scalar_population", vmax=2.0).payload

        # Rejections the device names: a wrong width, a value outside [0, 1].
        device = session.python_client.device
        for name, body in (("width", {"SENSE": [0.5] * 3}), ("range", {"SENSE": [2.0] * 8}),
                           ("unknown", {"NOPE": [0.5]})):
            try:
                device._request("POST", "/api/brain/sensor", json=body)
                seen["errors"][name] = None
            except PrimaLuxError as exc:
                seen["errors"][name] = str(exc)

        before = len(commands)
        ticks = {"n": 0}

        def read_sensor_state():
            ticks["n"] += 1
            return {"DIST": {"signal": 0.5 + 0.4 * ((ticks["n"] % 4) / 4),
                             "mode": "positive_scalar_population", "vmax": 1.0, "radius": 1},
                    "SENSE": [1.0] * 8}

        executed: list[dict] = []
        loop = RobotLoop(session, state_provider=read_sensor_state,
                         command_executor=executed.append,
                         reward_provider=lambda: {"rewards": {"REWARD": 0.6}},
                         input_mode="realtime", tick_hz=50.0, strict=True)
        loop.start()
        seen["robot_loop_ran"] = wait_for(lambda: ticks["n"] >= 20 and len(executed) >= 200)
        loop.stop()
        loop = None
        seen["robot_loop_ticks"] = ticks["n"]
        seen["executed"] = len(executed)
        seen["commands_during_loop"] = len(commands) - before

        steps = [o["step"] for o in outputs]
        seen["outputs"] = len(outputs)
        seen["steps_consecutive"] = all(b == a + 1 for a, b in zip(steps, steps[1:], strict=False))
        seen["active_neurons"] = sum(len(x["neurons"]) for o in outputs for x in o["outputs"])
        seen["nonzero_drive"] = sum(1 for c in commands if c.get("deltas", {}).get("drive"))
        seen["max_abs_drive"] = max((abs(c.get("deltas", {}).get("drive", 0.0))
                                     for c in commands), default=0.0)
        seen["stream_error"] = session.output_stream.error
    finally:
        if loop is not None:
            loop.stop()
        if session is not None:
            session.stop()
        client.close()
    seen["stopped"] = True
    print("RESULT " + json.dumps(seen))


def resume() -> None:
    """A session whose output stream is cut (the test drops it from the server side)
    must go on from its cursor: every step once, in order."""
    from ab import ABClient

    client = ABClient.from_env(env_path=".env")
    session = client.start_from_env(env_path=".env")
    outputs: list[dict] = []
    session.on_output(outputs.append)
    count, resumed = 0, False
    try:
        wait_for(lambda: len(outputs) >= 100)
        print("READY", flush=True)
        sys.stdin.readline()          # the test drops the stream, then writes a line
        count = len(outputs)
        resumed = wait_for(lambda: len(outputs) >= count + 1500, 30)
    finally:
        session.stop()
        client.close()
    steps = [o["step"] for o in outputs]
    print("RESULT " + json.dumps({
        "outputs": len(outputs), "resumed": resumed, "after_drop": len(outputs) - count,
        "duplicates": len(steps) - len(set(steps)),
        "consecutive": all(b == a + 1 for a, b in zip(steps, steps[1:], strict=False)),
        "error": session.output_stream.error}))


if __name__ == "__main__":
    {"design": design, "run": run, "resume": resume}[sys.argv[1]]()
