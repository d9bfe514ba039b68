"""Decoder parity on randomized spike payloads.

Two references: the reference SDK itself (`artificialbrains-sdk` 0.1.0, a
test dependency: its decode_stream_rows on the same rows), and an oracle
written here, bit by bit and row by row, from the documented formulas of
docs/protocols.md, "Decoding output spikes" (per timestep, rows in arrival order,
entries in mapping order, zero deltas left out), so the formulas stay
checked if the SDK ever changes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ab_bridge.decoding import (
    DecodeError,
    Decoder,
    MappingEntry,
    neuron_event_to_cycle,
    parse_mapping,
    rows_to_cycle,
)

SCHEMES = ["bipolarSplit", "addition", "booleanThreshold", "bipolarScalar"]


def oracle_value(bits: list[int], entry: MappingEntry) -> float:
    n = len(bits)
    half = n // 2
    first, second = sum(bits[:half]), sum(bits[half:2 * half])
    if entry.scheme == "bipolarSplit":
        return float(first - second) if n >= 2 else 0.0
    if entry.scheme == "addition":
        return float(sum(bits))
    if entry.scheme == "booleanThreshold":
        if n == 0:
            return 0.0
        threshold = entry.threshold if entry.threshold is not None else max(1, n // 2)
        threshold = min(max(threshold, 1), n)
        return 1.0 if sum(bits) >= threshold else 0.0
    if entry.scheme == "bipolarScalar":
        if n < 2:
            return 0.0
        return 1.0 if first > second else -1.0 if second > first else 0.0
    return 0.0


def oracle_delta(value: float, entry: MappingEntry) -> float:
    if entry.invert:
        value = -value
    delta = value * entry.per_step_max * entry.gain
    if entry.deadzone and abs(delta) < entry.deadzone:
        return 0.0
    if entry.min_step and 0.0 < abs(delta) < entry.min_step:
        delta = entry.min_step if delta > 0 else -entry.min_step
    if entry.clamp is not None:
        lo, hi = entry.clamp
        delta = lo if delta < lo else hi if delta > hi else delta
    return delta


def oracle(rows: list, mapping: list[MappingEntry]) -> list[dict]:
    by_t: dict[int, list] = {}
    for row in rows:
        t, pid, bits = (row["t"], row["id"], row["bits"]) if isinstance(row, dict) else row
        by_t.setdefault(int(t), []).append((pid, bits))
    out = []
    for t in sorted(by_t):
        deltas: dict[str, float] = {}
        for pid, bits in by_t[t]:
            for entry in mapping:
                if entry.population != pid:
                    continue
                delta = oracle_delta(oracle_value(list(bits), entry), entry)
                if delta != 0.0:
                    deltas[entry.channel] = deltas.get(entry.channel, 0.0) + delta
        out.append({"t": t, "deltas": {k: v for k, v in deltas.items() if v != 0.0}})
    return out


finite = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False, allow_infinity=False)
# Scales and limits of real mappings, so most entries give non-zero deltas.
scale = st.one_of(st.sampled_from([0.001, 0.003, 0.01, 0.25, 1.0, -0.002, -0.5]), finite)
small = st.sampled_from([0.0005, 0.002, 0.004, 0.02, 0.3])


@st.composite
def payloads(draw):
    populations = [f"pop{i}" for i in range(draw(st.integers(1, 4)))]
    if draw(st.booleans()):   # one width for all (the fast path of protocol rows)
        width = draw(st.integers(0, 12))
        widths = dict.fromkeys(populations, width)
    else:
        widths = {p: draw(st.integers(0, 12)) for p in populations}
    form = draw(st.sampled_from(["dict", "triple", "mixed"]))
    steps = draw(st.lists(st.integers(0, 400), min_size=1, max_size=6, unique=True))
    # Bits from a seeded generator at a drawn firing rate: dense, varied rasters
    # (hypothesis' own lists shrink towards all-zero rows).
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    firing = draw(st.sampled_from([0.05, 0.3, 0.5, 0.8]))
    rows = []
    for t in steps:
        for p in populations:
            if rng.random() < 0.85:
                bits = (rng.random(widths[p]) < firing).astype(int).tolist()
                triple = form == "triple" or form == "mixed" and rng.random() < 0.5
                rows.append([t, p, bits] if triple else {"t": t, "id": p, "bits": bits})
    if draw(st.booleans()):
        rows = draw(st.permutations(rows))
    mapping = []
    for _ in range(draw(st.integers(1, 6))):
        entry = {draw(st.sampled_from(["node_id", "nodeId", "output_id", "outputId"])):
                 draw(st.sampled_from(populations + ["absent"])),
                 draw(st.sampled_from(["channel", "controllerChannel"])):
                 draw(st.sampled_from(["joint:0", "joint:1", "gripper"])),
                 "scheme": draw(st.sampled_from(SCHEMES)),
                 draw(st.sampled_from(["per_step_max", "perStepMax"])): draw(scale),
                 "gain": draw(st.one_of(st.sampled_from([1.0, 0.5, 2.0, -1.0]), finite))}
        if draw(st.booleans()):
            entry["deadzone"] = draw(small)
        if draw(st.booleans()):
            entry[draw(st.sampled_from(["min_step", "minStep"]))] = draw(small)
        if draw(st.booleans()):
            entry["invert"] = True
        if draw(st.booleans()):
            entry["threshold"] = draw(st.integers(-2, 14))
        if draw(st.integers(0, 3)) == 0:
            lo, hi = draw(finite), draw(finite)
            entry[draw(st.sampled_from(["clamp", "limits"]))] = \
                {"min": lo, "max": hi} if draw(st.booleans()) else [lo, hi]
        mapping.append(entry)
    return rows, mapping


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads())
def test_random_payloads_decode_exactly_as_the_formulas_say(payload):
    rows, mapping = payload
    expected = oracle(rows, parse_mapping(mapping))
    assert Decoder(mapping).decode_rows(rows).commands() == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads())
def test_random_payloads_decode_exactly_as_the_reference_sdk(payload):
    reference = pytest.importorskip("ab_sdk.plugins.decoder")
    rows, mapping = payload
    # The SDK reads dict rows; 0.1.0 names populations node_id / nodeId only.
    sdk_rows = [r if isinstance(r, dict) else {"t": r[0], "id": r[1], "bits": r[2]}
                for r in rows]
    sdk_mapping = [{("node_id" if k in ("output_id", "outputId") else k): v
                    for k, v in entry.items()} for entry in mapping]
    expected = [{"t": c["t"], "deltas": {k: v for k, v in c["deltas"].items() if v != 0.0}}
                for c in reference.decode_stream_rows(sdk_rows, sdk_mapping)]
    assert Decoder(mapping).decode_rows(rows).commands() == expected


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 4), st.integers(1, 30),
       st.one_of(st.sampled_from([8, 16, 32, 64]), st.integers(1, 70)),
       st.integers(0, 2**32 - 1))
def test_stack_bitmap_and_rows_forms_agree(populations, steps, neurons, seed):
    rng = np.random.default_rng(seed)
    stack = (rng.random((populations, steps, neurons)) < 0.1).astype(np.uint8)
    ids = [f"p{i}" for i in range(populations)]
    mapping = [{"node_id": p, "channel": f"c{i % 2}", "scheme": SCHEMES[i % 4],
                "per_step_max": 0.003, "gain": 0.5} for i, p in enumerate(ids)]
    decoder = Decoder(mapping)
    rows = [{"t": t, "id": p, "bits": stack[i, t].tolist()} for t in range(steps)
            for i, p in enumerate(ids)]
    packed = [{"t": t, "id": p, "n": neurons, "bits": np.packbits(stack[i, t]).tobytes()}
              for t in range(steps) for i, p in enumerate(ids)]
    from_rows = decoder.decode_rows(rows)
    np.testing.assert_array_equal(decoder.decode_stack(ids, stack).deltas, from_rows.deltas)
    np.testing.assert_array_equal(decoder.decode_rows(packed).deltas, from_rows.deltas)
    bitmaps = [np.packbits(stack[i], axis=1).tobytes() for i in range(populations)]
    np.testing.assert_array_equal(decoder.decode_packed(ids, bitmaps, steps, neurons).deltas,
                                  from_rows.deltas)
    assert from_rows.commands() == oracle(rows, parse_mapping(mapping))


def test_documented_examples():
    bits = [1, 1, 0, 1, 0, 0, 1, 0]         # first half 3, second half 1
    rows = [{"t": 190, "id": "V2", "bits": bits}, {"t": 191, "id": "V2", "bits": [0] * 8}]
    split = Decoder([{"node_id": "V2", "channel": "joint:3", "per_step_max": 0.003, "gain": 0.5}])
    assert split.decode_rows(rows).commands() == [
        {"t": 190, "deltas": {"joint:3": 2 * 0.003 * 0.5}}, {"t": 191, "deltas": {}}]
    odd = Decoder([{"node_id": "V2", "channel": "c", "per_step_max": 1.0}])
    # n = 5: halves of 2, the last bit is ignored.
    assert odd.decode_rows([[0, "V2", [1, 1, 0, 0, 1]]]).commands()[0]["deltas"] == {"c": 2.0}
    assert odd.decode_rows([[0, "V2", [1]]]).commands()[0]["deltas"] == {}
    threshold = Decoder([{"node_id": "V2", "channel": "g", "scheme": "booleanThreshold",
                          "per_step_max": 1.0}])
    # Default threshold n // 2 = 4.
    out = threshold.decode_rows([[0, "V2", bits], [1, "V2", [1] * 4 + [0] * 4]]).commands()
    assert [c["deltas"] for c in out] == [{"g": 1.0}, {"g": 1.0}]
    scalar = Decoder([{"node_id": "V2", "channel": "s", "scheme": "bipolarScalar",
                       "per_step_max": 0.1, "invert": True}])
    assert scalar.decode_rows([[0, "V2", bits]]).commands()[0]["deltas"] == {"s": -0.1}
    shaped = Decoder([{"node_id": "V2", "channel": "x", "scheme": "addition",
                       "per_step_max": 0.001, "minStep": 0.01, "limits": {"min": -1, "max": 0.02},
                       "deadzone": 0.0005}])
    out = shaped.decode_rows([[0, "V2", [1] + [0] * 7], [1, "V2", [1] * 8],
                              [2, "V2", [0] * 8]]).commands()
    assert [c["deltas"] for c in out] == [{"x": 0.01}, {"x": 0.01}, {}]
    together = Decoder([{"node_id": "A", "channel": "j", "scheme": "addition", "per_step_max": 1},
                        {"node_id": "B", "channel": "j", "scheme": "addition", "per_step_max": 2}])
    out = together.decode_rows([[0, "A", [1, 1]], [0, "B", [1, 0]]]).commands()
    assert out == [{"t": 0, "deltas": {"j": 4.0}}]


def test_sparse_neuron_events_of_newer_releases():
    decoder = Decoder([{"outputId": "left", "channel": "wheel:left", "scheme": "bipolarSplit",
                        "per_step_max": 1.0, "n": 6},
                       {"outputId": "idle", "channel": "g", "scheme": "booleanThreshold",
                        "n": 4, "clamp": [0.5, 1.0]}])
    event = {"step": 12, "outputs": [{"t": 0, "neurons": ["left:0", "left:1"]},
                                     {"t": 1, "neurons": ["left:1", "left:4", "other:9"]}]}
    cycle = neuron_event_to_cycle(event, {"left": 6, "idle": 4})
    assert cycle.populations == ["left", "idle", "other"]
    assert cycle.rasters[0].tolist() == [[1, 1, 0, 0, 1, 0]]
    decoded = decoder.decode_neuron_event(event)
    # left: 2 - 1 = 1; idle (no spikes, width from n): 0 then clamped up to 0.5.
    assert decoded.commands() == [{"t": 12, "deltas": {"wheel:left": 1.0, "g": 0.5}}]
    assert decoded.unknown_populations == ["other"]
    with pytest.raises(DecodeError, match="bad neuron id"):
        decoder.decode_neuron_event({"step": 1, "outputs": [{"neurons": ["left-3"]}]})


@pytest.mark.parametrize("entry, message", [
    ({"channel": "x"}, "missing the output population"),
    ({"node_id": "a"}, "missing 'channel'"),
    ({"node_id": "a", "channel": "x", "scheme": "weird"}, "unknown scheme 'weird'"),
    ({"node_id": "a", "channel": "x", "gain": "lots"}, "'gain' must be a number"),
    ({"node_id": "a", "channel": "x", "per_step_max": math.nan}, "'per_step_max' must be finite"),
    ({"node_id": "a", "channel": "x", "clamp": [1, 2, 3]}, "'clamp' must be"),
])
def test_bad_mapping_entries_are_named(entry, message):
    with pytest.raises(DecodeError, match=message):
        Decoder([{"node_id": "ok", "channel": "y"}, entry])


def test_mapping_from_yaml_shapes():
    assert parse_mapping({"mapping": [{"node_id": "a", "channel": "x"}]})[0].population == "a"
    keyed = parse_mapping({"joint:0": {"node_id": "a", "gain": 2}})
    assert keyed[0].channel == "joint:0" and keyed[0].gain == 2.0


def test_row_limits_protect_against_oversized_frames():
    with pytest.raises(DecodeError, match="limit of 4 neurons"):
        rows_to_cycle([[0, "a", [0] * 5]], max_neurons=4)
    with pytest.raises(DecodeError, match="more than the limit of 3"):
        rows_to_cycle([[t, "a", [0]] for t in range(4)], max_rows=3)
    with pytest.raises(DecodeError, match="4 timesteps, more than the limit of 2"):
        rows_to_cycle([[t, "a", [0]] for t in range(4)], max_timesteps=2)
    with pytest.raises(DecodeError, match="'t' must be an integer"):
        rows_to_cycle([[0.5, "a", [0]]])
    with pytest.raises(DecodeError, match="packed 'bits'"):
        rows_to_cycle([{"t": 0, "id": "a", "bits": b"\x00\x00", "n": 3}])


def test_packed_bitmaps_of_the_wrong_size_are_refused_by_name():
    decoder = Decoder([{"node_id": "a", "channel": "c"}, {"node_id": "b", "channel": "c"}])
    good = bytes(2 * 2)                                   # 2 steps x 16 neurons
    assert not decoder.decode_packed(["a", "b"], [good, good], 2, 16).deltas.any()
    with pytest.raises(DecodeError, match="population 'b': bitmap has 3 bytes, expected 4"):
        decoder.decode_packed(["a", "b"], [bytes(4), bytes(3)], 2, 16)
    # lengths that add up to the right total still name the population that is off
    with pytest.raises(DecodeError, match="population 'a': bitmap has 5 bytes"):
        decoder.decode_packed(["a", "b"], [bytes(5), bytes(3)], 2, 16)
    with pytest.raises(ValueError):
        decoder.decode_packed(["a", "b"], [good], 2, 16)
    # the decoder keeps serving
    assert decoder.decode_packed(["a", "b"], [b"\xff\x00" * 2, good], 2, 16).deltas.any()
