"""Spike decoding throughput: ab_bridge's decoder against the reference SDK's, same spikes.

4 output populations x 64 neurons x 20 timesteps per cycle, ~5 % firing,
one mapping entry per population (the four schemes, one each), 256 distinct
random cycles decoded round-robin. Measured in this one run:

- ab_bridge from the message form (CycleSpikes packed bitmaps, what
  spike_decoder and brain_session publish) -> `cycles_per_s`;
- ab_bridge from protocol rows (`cycle:update` lists of 0/1, as they arrive
  over Socket.IO);
- the reference `artificialbrains-sdk` 0.1.0 `decode_stream_rows` on the same
  rows -> `reference_cycles_per_s`, in a reference venv of its own
  (scripts/refvenv.py, `.venv-ref/decode-bench`, made on first run). Its
  decoder module is loaded from its file: it needs none of the SDK's network
  dependencies.

Every cycle's result is also compared with the reference's (parity).

    python bench/decode.py [--seconds 0.4] [--rounds 25]

Rounds alternate between the reference and ours, short so that both halves of a round
see about the same load; `speedup` is the median of the rounds' ratios (wall clock),
`speedup_cpu` the same by each process's CPU time (what the work costs, whatever the
waits for a core on a shared machine).

Last line: JSON with cycles_per_s, reference_cycles_per_s, speedup, speedup_cpu,
load_average.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from ab_bridge.decoding import Decoder
from ab_bridge.spikes import pack_raster

REFERENCE = "artificialbrains-sdk==0.1.0"
ROOT = pathlib.Path(__file__).resolve().parents[1]
POPULATIONS, NEURONS, TIMESTEPS, FIRING = 4, 64, 20, 0.05
MAPPING = [
    {"node_id": "out0", "channel": "joint:0", "scheme": "bipolarSplit", "per_step_max": 0.003,
     "gain": 0.5},
    {"node_id": "out1", "channel": "joint:1", "scheme": "bipolarScalar", "per_step_max": 0.002,
     "invert": True},
    {"node_id": "out2", "channel": "gripper", "scheme": "addition", "per_step_max": 0.001,
     "min_step": 0.0005, "clamp": [-0.01, 0.01]},
    {"node_id": "out3", "channel": "joint:0", "scheme": "booleanThreshold", "threshold": 4,
     "per_step_max": 0.001, "deadzone": 0.0001},
]

def reference_runner() -> str:
    """The script run by the bench venv's python: load the reference decoder, print its
    results for every cycle, then time one round per `round` line read from stdin."""
    return r'''
import importlib.util, json, pathlib, sys, sysconfig, time
site = pathlib.Path(sysconfig.get_paths()["purelib"])
spec = importlib.util.spec_from_file_location("ref_decoder", site / "ab_sdk/plugins/decoder.py")
ref = importlib.util.module_from_spec(spec)
sys.modules["ref_decoder"] = ref
spec.loader.exec_module(ref)
job = json.load(open(sys.argv[1]))
cycles, mapping = job["cycles"], job["mapping"]
print(json.dumps([ref.decode_stream_rows(rows, mapping) for rows in cycles]), flush=True)
for line in sys.stdin:
    seconds = float(line.split()[1])
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        ref.decode_stream_rows(cycles[n % len(cycles)], mapping)
        n += 1
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(n / wall, n / cpu, flush=True)
'''


def ensure_reference_venv() -> pathlib.Path:
    sys.path.insert(0, str(ROOT / "scripts"))
    from refvenv import reference_python

    # --no-deps: its decoder module needs none of the SDK's network dependencies.
    return reference_python("decode-bench", [REFERENCE], pip_args=["--no-deps"])


def make_cycles(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(2026)
    return [(rng.random((POPULATIONS, TIMESTEPS, NEURONS)) < FIRING).astype(np.uint8)
            for _ in range(count)]


def rate(function, items: list, seconds: float) -> tuple[float, float]:
    """(calls per wall second, calls per CPU second of this process) over `seconds`."""
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        function(items[n % len(items)])
        n += 1
    return n / (time.perf_counter() - start), n / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.4, help="length of one timing round")
    parser.add_argument("--rounds", type=int, default=25, help="rounds per decoder (median)")
    args = parser.parse_args()

    python = ensure_reference_venv()
    ids = [f"out{i}" for i in range(POPULATIONS)]
    stacks = make_cycles(256)
    rows = [[{"t": t, "id": pid, "bits": stack[p, t].tolist()} for t in range(TIMESTEPS)
             for p, pid in enumerate(ids)] for stack in stacks]
    bitmaps = [[pack_raster(stack[p]) for p in range(POPULATIONS)] for stack in stacks]
    decoder = Decoder(MAPPING)

    def from_bitmaps(bundle: list[bytes]):
        return decoder.decode_packed(ids, bundle, TIMESTEPS, NEURONS)

    print(f"cycle: {POPULATIONS} populations x {NEURONS} neurons x {TIMESTEPS} timesteps, "
          f"{FIRING:.0%} firing, {len(stacks)} distinct cycles", flush=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as job:
        json.dump({"cycles": rows, "mapping": MAPPING}, job)
    print(f"reference ({REFERENCE}) decoding in {python}...", flush=True)
    peer = subprocess.Popen([str(python), "-c", reference_runner(), job.name], text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        reference_results = json.loads(peer.stdout.readline())
        mismatches = 0
        for bundle, expected in zip(bitmaps, reference_results, strict=True):
            ours = from_bitmaps(bundle).commands()
            expected = [{"t": c["t"], "deltas": {k: v for k, v in c["deltas"].items()
                                                 if v != 0.0}} for c in expected]
            mismatches += ours != expected
        print(f"parity with the reference: {len(stacks) - mismatches}/{len(stacks)} cycles "
              "identical", flush=True)

        # Rounds alternate between the decoders so that load from other processes on
        # the machine hits them alike; each figure is the median of its rounds.
        rates: dict[str, list[float]] = {"bitmaps": [], "rows": [], "reference": []}
        cpu_rates: dict[str, list[float]] = {"bitmaps": [], "reference": []}
        for round_index in range(args.rounds):
            if round_index % 5 == 0:
                print(f"round {round_index + 1}/{args.rounds}...", flush=True)
            peer.stdin.write(f"round {args.seconds}\n")
            peer.stdin.flush()
            wall, cpu = (float(x) for x in peer.stdout.readline().split())
            rates["reference"].append(wall)
            cpu_rates["reference"].append(cpu)
            wall, cpu = rate(from_bitmaps, bitmaps, args.seconds)
            rates["bitmaps"].append(wall)
            cpu_rates["bitmaps"].append(cpu)
            rates["rows"].append(rate(decoder.decode_rows, rows, args.seconds)[0])
    finally:
        peer.stdin.close()
        peer.wait(timeout=30)
        pathlib.Path(job.name).unlink()
    bitmap_rate, rows_rate, reference_rate = (statistics.median(rates[k])
                                              for k in ("bitmaps", "rows", "reference"))
    for name, value in (("ab_bridge, packed bitmaps (message form)", bitmap_rate),
                        ("ab_bridge, protocol rows (lists of 0/1)", rows_rate),
                        ("reference decode_stream_rows (rows)", reference_rate)):
        print(f"  {name:<42} {value:>10.0f} cycles/s  {1e6 / value:>8.1f} us/cycle")
    print(f"speedup from rows: {rows_rate / reference_rate:.2f}x (list-to-array conversion "
          "dominates)")
    if mismatches:
        print(f"WARNING: {mismatches} cycles differ from the reference", file=sys.stderr)
    # Speedup: median of the rounds' ratios (each round pair saw about the same load).
    ratios = [b / r for b, r in zip(rates["bitmaps"], rates["reference"], strict=True)]
    speedup = statistics.median(ratios)
    print("speedup per round: " + ", ".join(f"{x:.1f}" for x in ratios))
    # The same by CPU time (each process's own): what the work costs, whatever the waits.
    cpu_ratios = [b / r for b, r in zip(cpu_rates["bitmaps"], cpu_rates["reference"],
                                        strict=True)]
    speedup_cpu = statistics.median(cpu_ratios)
    print(f"by CPU time: ours {statistics.median(cpu_rates['bitmaps']):.0f} cycles/s, reference "
          f"{statistics.median(cpu_rates['reference']):.0f}; speedup per round: "
          + ", ".join(f"{x:.1f}" for x in cpu_ratios))
    print(json.dumps({"cycles_per_s": round(bitmap_rate, 1),
                      "reference_cycles_per_s": round(reference_rate, 1),
                      "speedup": round(speedup, 2), "speedup_cpu": round(speedup_cpu, 2),
                      "load_average": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    main()
