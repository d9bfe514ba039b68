"""device_inputs.encode gives the vectors of the official SDK 0.4.0's SpikeEncoder (run in
its own venv) on randomized values, widths and scales, mode by mode; and the `inputs`
entries are validated naming the field."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from ab_bridge.device_inputs import encode, parse_device_inputs

SDK_ENCODE = r"""
import json, sys
from ab_sdk.encoder import SpikeEncoder
from ab_sdk.maps import InputSensorMap
encoder = SpikeEncoder(InputSensorMap([]))
out = []
for case in json.load(sys.stdin):
    out.append(encoder.transform_to_spikes(signal=case["value"], kind="Input", n=case["n"],
               mode=case["mode"], vmax=case.get("vmax"), vmin=case.get("vmin"),
               absmax=case.get("absmax"), radius=case.get("radius", 1)))
print(json.dumps(out))
"""


def cases(seed: int, count: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        n = int(rng.integers(1, 60))
        mode = str(rng.choice(["vector_f32", "binary_spikes", "positive_scalar_population",
                               "positive_scalar_cumulative_population",
                               "ranged_scalar_population", "signed_scalar_population",
                               "reward_population"]))
        case = {"mode": mode, "n": n, "radius": int(rng.integers(0, 4))}
        if mode == "vector_f32":
            case["value"] = rng.random(n).round(4).tolist()
        elif mode == "binary_spikes":
            case["value"] = rng.normal(0, 1, n).round(3).tolist()
        else:
            case["value"] = round(float(rng.normal(0, 2)), 3)
            case["vmax"] = round(float(rng.uniform(0.5, 5)), 2)
            case["vmin"] = round(float(-rng.uniform(0, 5)), 2)
            case["absmax"] = round(float(rng.uniform(0.5, 5)), 2)
        out.append(case)
    return out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_encodings_equal_the_sdks(reference_python) -> None:
    python = reference_python("ab-sdk-040", ["artificialbrains-sdk==0.4.0"])
    batch = cases(7, 600)
    done = subprocess.run([str(python), "-c", SDK_ENCODE], input=json.dumps(batch),
                          capture_output=True, text=True, timeout=120, check=True)
    expected = json.loads(done.stdout)
    for case, want in zip(batch, expected, strict=True):
        got = encode(case["value"], case["mode"], case["n"], vmax=case.get("vmax"),
                     vmin=case.get("vmin"), absmax=case.get("absmax"), radius=case["radius"])
        assert got == want, case


def test_inputs_entries_are_validated() -> None:
    base = {"topic": "t", "type": "std_msgs/Float32MultiArray"}
    for extra, message in (
            ({"mode": "fancy"}, "inputs.x.mode"),
            ({"mode": "signed_scalar_population", "absmax": 1.0}, "inputs.x.n"),
            ({"mode": "positive_scalar_population", "n": 8}, "vmax"),
            ({"population": ["A", "B"]}, "needs a scalar mode"),
            ({"sign_split": True}, "sign_split"),
            ({"n": 600}, "inputs.x.n")):
        with pytest.raises(ValueError, match=message):
            parse_device_inputs({"x": {**base, **extra}})
    with pytest.raises(ValueError, match="width"):
        parse_device_inputs({"cam": {"topic": "c", "type": "sensor_msgs/Image"}})
    with pytest.raises(ValueError, match="audio"):
        parse_device_inputs({"mic": {"topic": "m", "type": "std_msgs/Int16MultiArray"}})
    binding = parse_device_inputs({"x": {**base, "mode": "signed_scalar_population",
                                         "absmax": 2.0, "n": 10,
                                         "population": ["A", "B"]}})["x"]
    assert binding.encode(np.array([-2.0, 1.9])) == {
        "A": [1.0, 1.0] + [0.0] * 8, "B": [0.0] * 8 + [1.0, 1.0]}
