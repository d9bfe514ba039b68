"""The embedded brain's compiled inner loops (numba, compiled on first use and cached).

Synapses are stored per projection, each projection's sorted by presynaptic neuron (CSR:
the outgoing synapses of a neuron in a projection are one contiguous row), projections
one after another; a learning layer is one projection, so its synapses are one contiguous
range and its parameters are scalars inside the loops.

`run_cycle` steps the neurons through one cycle, population by population in blocks whose
parameters are scalars (a loop without branches, on vector units), and delivers the
spikes of each step through the rows of the neurons that fired (projection by projection,
in graph order) into a ring buffer of future input currents. With learning on, the
cycle's STDP is described at its end by small tables (`potentiation_tables`, which also
steps the pre and post traces through the cycle from the neurons' spike steps): per pre
neuron that spiked, a row over the steps of what a post spike at that step adds (its
potentiation, less the depression of the pre neuron's later spikes), the depression by
the post trace as the cycle started, and for centered layers a number per row. One pass
over each layer's synapses, row by row (`potentiate`), adds it to the eligibility and
applies a reward when one comes before the next cycle: the reward reads the same arrays.
The rows of pre neurons silent all cycle need no table: their trace is x_0 d^k and they
were not depressed, so a synapse's gain is x_0 times a number per post neuron
(`post_gain`). No synapse is reached by a random jump, and the delivery reads no
eligibility: a post spike potentiating its incoming synapses one by one, scattered over
the synapse arrays, cost several times this pass.

The eligibility is kept scaled: the true value of synapse s in layer L is
`e_hat[s] * scale[L]`, and a cycle's decay of layer L only multiplies `scale[L]`;
contributions come divided by it (`c_plus`, `c_minus` already are). `rescale` folds the
scale back into `e_hat` when it gets small, so the decay needs no pass over the synapses.

Membrane noise is drawn for the whole cycle before its first step, a block of neurons at
a time, from the kernels' own generator (SplitMix64 bits, ziggurat normals), seeded from
the network's seed. Every loop runs in float32 in a fixed order (no fastmath, so no
reassociation or fused multiply-adds): a seed gives the same spikes on every run. The hot
loops index with unsigned integers (row slices, or in `potentiate` a row's start plus an
offset), so that LLVM can drop wraparound checks and vectorise the loops without
branches.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

ir = cgutils.ir        # llvmlite's IR builder, as numba (which depends on it) uses it

#: Traces below this are set to 0: they would turn into subnormal floats, whose arithmetic
#: is tens of times slower, and weigh nothing (a trace is 1 at a spike).
TINY = np.float32(1e-30)
#: In a neuron's spike code (`potentiation_tables`): it spiked three times or more.
MORE = np.int32(1 << 30)
_U10, _U20, _U1023 = np.uint32(10), np.uint32(20), np.uint32(1023)
#: The delivery prefetches the rows of the neuron that fired this many places later
#: (`prefetch_ahead` of `run_cycle`): a little ahead while the synapse arrays the delivery
#: reads fit in the caches, further when their rows come from memory (see
#: `prefetch_distance`).
PREFETCH_NEAR, PREFETCH_FAR = 2, 6
#: The delivery's arrays (post neurons, delays, weights) take PREFETCH_FAR above this size.
PREFETCH_FAR_BYTES = 16 * 2 ** 20


def prefetch_distance(delivery_bytes: int) -> int:
    """How many fired neurons ahead the delivery prefetches rows, for synapse arrays of
    `delivery_bytes` in all."""
    return PREFETCH_FAR if delivery_bytes > PREFETCH_FAR_BYTES else PREFETCH_NEAR


# ---- membrane noise: normal deviates drawn inside the loops ------------------------------
# SplitMix64 (Steele, Lea & Flood 2014) gives the bits; the ziggurat method (Marsaglia &
# Tsang 2000, here with 1024 layers) turns them into standard normal deviates. SplitMix64's
# n-th output is a function of the seed plus n times a constant, so a block of deviates is
# drawn in one loop that runs on vector units. Each 64-bit output makes two draws of 32
# bits: a layer (10 bits) and a signed 22-bit number, which give a deviate and whether the
# layer's rectangle takes it (~99.6 % of draws; the tables, 8 kB, stay in the L1 cache).
# The others (the wedges and the tail) are redone one by one with uniforms of a second
# SplitMix64 stream.

ZIG_LAYERS = 1024
# the base layer's edge and each layer's area for 1024 layers (solved so that the top
# layer's edge is 0)
ZIG_R = 4.038849846109505
ZIG_V = 1.2263246463530852e-3
ZIG_SCALE = 2.0 ** 21             # a draw's magnitude: 21 bits and a sign


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(k, w, f) of the 1024-layer ziggurat for a signed 22-bit draw: layer i's rectangle
    takes a draw whose magnitude is below k[i], and its deviate is draw · w[i]; f: the
    density at each layer's edge."""
    dn = tn = ZIG_R
    k, w, f = np.zeros(ZIG_LAYERS), np.zeros(ZIG_LAYERS), np.zeros(ZIG_LAYERS)
    q = ZIG_V / np.exp(-0.5 * dn * dn)
    k[0], k[1] = np.floor(dn / q * ZIG_SCALE), 0.0     # the top layer has no rectangle
    w[0], w[-1] = q / ZIG_SCALE, dn / ZIG_SCALE
    f[0], f[-1] = 1.0, np.exp(-0.5 * dn * dn)
    for i in range(ZIG_LAYERS - 2, 0, -1):
        dn = np.sqrt(-2.0 * np.log(ZIG_V / dn + np.exp(-0.5 * dn * dn)))
        k[i + 1] = np.floor(dn / tn * ZIG_SCALE)
        tn = dn
        f[i] = np.exp(-0.5 * dn * dn)
        w[i] = dn / ZIG_SCALE
    return k, w, f


ZIG_K, ZIG_W, ZIG_F = _ziggurat_tables()
ZIG_K32 = ZIG_K.astype(np.int32)
ZIG_W32 = ZIG_W.astype(np.float32)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_U30, _U27, _U31, _U32, _U11 = (np.uint64(x) for x in (30, 27, 31, 32, 11))
_LOW10 = np.uint64(ZIG_LAYERS - 1)
_LOW32 = np.uint64(0xFFFFFFFF)
#: Neurons per block of the neuron update and of the noise's draws (a seed's deviates
#: depend on it).
BLOCK = 1024


@intrinsic
def _prefetch(typingctx, array, index):
    """Ask the CPU to bring array[index]'s cache line in (llvm.prefetch: read, keep)."""
    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, view, [args[1]])
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]),
            "llvm.prefetch.p0")
        builder.call(function, [builder.bitcast(pointer, byte_pointer), ir.Constant(i32, 0),
                                ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return types.void(array, index), codegen


def seed_state(rng: np.random.Generator) -> np.ndarray:
    """A generator state for the kernels' normal deviates ([2] uint64: the block stream's
    position, the redraw stream's state), drawn from `rng`."""
    return rng.integers(0, 2 ** 64, size=2, dtype=np.uint64)


@njit(cache=True, nogil=True, inline="always")
def _mix(state):
    """SplitMix64's output for a state."""
    z = (state ^ (state >> _U30)) * _MIX1
    z = (z ^ (z >> _U27)) * _MIX2
    return z ^ (z >> _U31)


@njit(cache=True, nogil=True, inline="always")
def _uniform(state):
    """(uniform in (0, 1), the new state) from the redraw stream."""
    state = state + _GOLDEN
    return (np.float64(_mix(state) >> _U11) + 0.5) * (1.0 / 9007199254740992.0), state


@njit(cache=True, nogil=True, inline="always")
def _layer_and_draw(h):
    """(the ziggurat layer, the signed 22-bit draw) of 32 random bits (h's low 32)."""
    return np.int64(h & _LOW10), np.int64(np.int32(np.uint32(h & _LOW32))) >> 10


@njit(cache=True, nogil=True)
def _redraw(state, h):
    """(the deviate of the draw h (32 bits) that its layer's rectangle did not take, the
    redraw stream's new state): the wedge test or the tail (Marsaglia 1964), then fresh
    draws from the redraw stream until one is taken."""
    iz, hz = _layer_and_draw(h)
    while True:
        x = hz * ZIG_W[iz]
        if abs(hz) < ZIG_K[iz]:
            return x, state
        if iz == 0:                        # the tail beyond R
            while True:
                u, state = _uniform(state)
                x = -np.log(u) / ZIG_R
                u, state = _uniform(state)
                y = -np.log(u)
                if y + y >= x * x:
                    break
            return (ZIG_R + x if hz > 0 else -ZIG_R - x), state
        u, state = _uniform(state)
        if ZIG_F[iz] + u * (ZIG_F[iz - 1] - ZIG_F[iz]) < np.exp(-0.5 * x * x):
            return x, state
        state = state + _GOLDEN
        iz, hz = _layer_and_draw(_mix(state))


@njit(cache=True, nogil=True, inline="always")
def _normals(rng_state, out, missed):
    """Fill `out` (float32, at most BLOCK long) with the next standard normal deviates of
    the generator `rng_state` (advanced). `missed`: BLOCK // 8 uint64 of scratch. Output
    t of the block stream makes deviates t and half + t (half: out.size // 2), and one
    more output the last deviate of an odd-sized block."""
    key = rng_state[0]
    size = out.size
    half = size >> 1
    flags = missed.view(np.uint8)
    for w in range(missed.size):
        missed[w] = 0
    for t in range(half):
        z = _mix(key + np.uint64(t + 1) * _GOLDEN)
        ia, va = _layer_and_draw(z)
        ib, vb = _layer_and_draw(z >> _U32)
        out[t] = np.float32(va) * ZIG_W32[ia]
        out[half + t] = np.float32(vb) * ZIG_W32[ib]
        flags[t] = np.uint8(abs(va) >= ZIG_K32[ia])
        flags[half + t] = np.uint8(abs(vb) >= ZIG_K32[ib])
    if size & 1:
        z = _mix(key + np.uint64(half + 1) * _GOLDEN)
        ia, va = _layer_and_draw(z)
        out[size - 1] = np.float32(va) * ZIG_W32[ia]
        flags[size - 1] = np.uint8(abs(va) >= ZIG_K32[ia])
    state = rng_state[1]
    for w in range(missed.size):
        if missed[w] == 0:
            continue
        for t in range(w * 8, w * 8 + 8):
            if flags[t]:
                if t < half or t == size - 1 and size & 1:
                    h = _mix(key + np.uint64((t if t < half else half) + 1) * _GOLDEN)
                else:
                    h = _mix(key + np.uint64(t - half + 1) * _GOLDEN) >> _U32
                x, state = _redraw(state, h)
                out[t] = np.float32(x)
    rng_state[1] = state
    rng_state[0] = key + np.uint64(half + (size & 1)) * _GOLDEN


@njit(cache=True, nogil=True)
def standard_normal(rng_state, out):
    """Fill `out` (float32, 1-d) with standard normal deviates from the kernels' generator
    (`rng_state`: from `seed_state`, advanced), a block at a time as the neuron update
    draws them."""
    missed = np.empty(BLOCK // 8, dtype=np.uint64)
    for lo in range(0, out.size, BLOCK):
        _normals(rng_state, out[lo:min(lo + BLOCK, out.size)], missed)


#: Columns of a population's parameters (`run_cycle`'s `pop_param`).
P_DECAY_SYN, P_DECAY_M, P_REST_DRIVE, P_BIAS_DRIVE, P_SYN_GAIN, P_V_RESET, P_V_TH, P_NOISE = \
    range(8)


@njit(cache=True, nogil=True, inline="always")
def _step_block(v, i_syn, refractory, ring_row, drive, spikes, xi, decay_syn, decay_m,
                rest_drive, bias_drive, syn_gain, v_reset, v_th, refractory_steps, noise,
                noisy, spontaneous):
    """One step of a block of a population's neurons (its parameters scalars; `xi`: a
    deviate per neuron when `noisy`). No branch inside: it runs on vector units."""
    for t in range(v.size):
        current = i_syn[t] * decay_syn
        current = current + ring_row[t]
        ring_row[t] = 0.0
        i_syn[t] = current
        u = v[t] * decay_m
        u = u + rest_drive
        u = u + bias_drive
        u = u + current * syn_gain
        r = refractory[t]
        if noisy:
            free = u + xi[t] * noise          # σ√dt·ξ
        else:
            free = u
        u = v_reset if r > 0 else free
        r = r - 1 if r > 0 else r
        if spontaneous:                       # (no input drives it)
            spiked = u >= v_th
        else:
            spiked = drive[t]
        v[t] = v_reset if spiked else u
        refractory[t] = refractory_steps if spiked else r
        spikes[t] = spiked


@njit(cache=True, nogil=True)
def run_cycle(v, i_syn, refractory, pop_bounds, pop_param, pop_refractory, pop_spontaneous,
              rng_state, deviates, drive, spikes,
              ring, ring_base, pop_of, pop_proj_ptr, pop_proj, proj_pre_start, proj_row_base,
              proj_syn_range, row_ptr, post, delay, weights, prefetch_ahead,
              learn, proj_layer, x_tr, y_tr, y_start, x_decay, y_decay, layer_x, layer_y,
              c_plus, c_minus, ybar_per_rate, pot_offset, pot_table, pot_total, pot_dep,
              pot_x0, post_gain, quiet_total, spike_code):
    """One cycle of `spikes.shape[0]` steps; fills `spikes` [gamma, n]. Everything else is
    state updated in place (`rng_state`: the membrane noise's generator). Neurons are
    updated population by population (`pop_bounds`: where each starts, then n), with the
    population's parameters (`pop_param` [populations, 8], columns P_*), its refractory
    steps and whether it spikes on its own (else only where `drive` says). `deviates`
    ([gamma, n] float32, scratch) takes the cycle's membrane noise, drawn before the first
    step in the order the steps use it. The delivery prefetches the rows of the neuron
    that fired `prefetch_ahead` places later (`prefetch_distance`)."""
    gamma, n = spikes.shape
    rows = ring.shape[0]
    n_y = y_tr.shape[0]
    fired = np.empty(n, dtype=np.int32)
    missed = np.empty(BLOCK // 8, dtype=np.uint64)
    # the delivery indexes a flat view with unsigned integers (no wraparound checks)
    flat_ring = ring.reshape(rows * n)
    u_rows, u_n = np.uint64(rows), np.uint64(n)
    # The cycle's deviates in one go, in the order the steps use them (step by step,
    # population by population, a block at a time): drawn between the steps instead, a
    # 10k-neuron cycle took ~0.06 ms more (measured; why was not found).
    for k in range(gamma):
        for p in range(pop_bounds.size - 1):
            if pop_param[p, P_NOISE] != 0.0:
                for lo in range(pop_bounds[p], pop_bounds[p + 1], BLOCK):
                    _normals(rng_state, deviates[k, lo:min(lo + BLOCK, pop_bounds[p + 1])],
                             missed)
    if learn:
        none = np.int32(gamma | (gamma << 10) | (gamma << 20))
        for j in range(n):
            spike_code[j] = none
        for g in range(n_y):
            y_start[g] = y_tr[g]
    for k in range(gamma):
        row = (ring_base + k) % rows
        u_row = np.uint64(row)
        ring_row = ring[row]
        spikes_k = spikes[k]
        drive_k = drive[k]
        deviates_k = deviates[k]
        for p in range(pop_bounds.size - 1):
            param = pop_param[p]
            noise = param[P_NOISE]
            noisy = noise != 0.0
            for lo in range(pop_bounds[p], pop_bounds[p + 1], BLOCK):
                hi = min(lo + BLOCK, pop_bounds[p + 1])
                _step_block(v[lo:hi], i_syn[lo:hi], refractory[lo:hi], ring_row[lo:hi],
                            drive_k[lo:hi], spikes_k[lo:hi], deviates_k[lo:hi], param[P_DECAY_SYN],
                            param[P_DECAY_M], param[P_REST_DRIVE], param[P_BIAS_DRIVE],
                            param[P_SYN_GAIN], param[P_V_RESET], param[P_V_TH],
                            pop_refractory[p], noise, noisy, pop_spontaneous[p])
        # the neurons that fired, 8 at a time where none did (most of them)
        count = 0
        words = spikes_k[:(n >> 3) << 3].view(np.uint64)
        for w in range(words.size):
            if words[w] != 0:
                for i in range(w * 8, w * 8 + 8):
                    if spikes_k[i]:
                        fired[count] = i
                        count += 1
        for i in range(words.size * 8, n):
            if spikes_k[i]:
                fired[count] = i
                count += 1
        if learn:
            for a in range(count):
                _note_spike(spike_code, fired[a], k, gamma)
        for a in range(count):
            if a + prefetch_ahead < count:
                # the rows of a neuron that fired lie anywhere in the synapse arrays: ask
                # for those of a later one while this one's are delivered
                ahead = fired[a + prefetch_ahead]
                pop = pop_of[ahead]
                for q in range(pop_proj_ptr[pop], pop_proj_ptr[pop + 1]):
                    p = pop_proj[q]
                    r = proj_row_base[p] + ahead - proj_pre_start[p]
                    for s in range(row_ptr[r], row_ptr[r + 1], 16):
                        _prefetch(post, s)
                        _prefetch(weights, s)
                    for s in range(row_ptr[r], row_ptr[r + 1], 32):
                        _prefetch(delay, s)
            i = fired[a]
            pop = pop_of[i]
            for q in range(pop_proj_ptr[pop], pop_proj_ptr[pop + 1]):
                p = pop_proj[q]
                r = proj_row_base[p] + i - proj_pre_start[p]
                lo, hi = row_ptr[r], row_ptr[r + 1]
                row_post, row_delay, row_w = post[lo:hi], delay[lo:hi], weights[lo:hi]
                for t in range(hi - lo):
                    target = u_row + np.uint64(row_delay[t])
                    if target >= u_rows:
                        target -= u_rows
                    flat_ring[target * u_n + np.uint64(row_post[t])] += row_w[t]
    if learn:
        potentiation_tables(spikes, proj_layer, proj_pre_start, proj_syn_range, x_tr,
                            x_decay, layer_x, c_plus, pot_offset, pot_table, pot_total,
                            pot_x0, post_gain, quiet_total, spike_code, y_tr, y_decay,
                            layer_y, c_minus, ybar_per_rate, pot_dep)


@njit(cache=True, nogil=True, inline="always")
def _note_spike(spike_code, j, k, gamma):
    """Neuron j spiked at step k (steps in order): its spike code (`potentiation_tables`)."""
    code = spike_code[j]
    if (code & 1023) == gamma:
        spike_code[j] = (code & ~1023) | k
    elif ((code >> 10) & 1023) == gamma:
        spike_code[j] = (code & ~(1023 << 10)) | (k << 10)
    elif ((code >> 20) & 1023) == gamma:
        spike_code[j] = (code & ~(1023 << 20)) | (k << 20) | MORE


@njit(cache=True, nogil=True)
def potentiation_tables(spikes, proj_layer, proj_pre_start, proj_syn_range, x_tr, x_decay,
                        layer_x, c_plus, pot_offset, pot_table, pot_total, pot_x0, post_gain,
                        quiet_total, spike_code, y_tr, y_decay, layer_y, c_minus,
                        ybar_per_rate, pot_dep):
    """Describe the STDP of the cycle that `spikes` recorded for `potentiate`, and step the
    pre traces x and the post traces y to the cycle's end. The cycle's potentiation is Σ_k
    c⁺_k x_k[i] (s_k[j] − ρ_j) (x_k: the trace before step k's spikes); for each pre neuron
    that spiked, its table row holds c⁺_k x_k[i] by step, less the depression its later
    spikes owe a post spike at that step, with a zero column at step gamma (no spike);
    `pot_dep` the depression by the post trace the cycle started with (Σ over its spikes of
    c⁻_s e^s, e the post trace's decay) and `pot_total` Σ_k c⁺_k x_k[i] less the centered
    layers' part of the depression. x_k[i] is x_0 d^k plus d^(k−s−1) per spike s before k,
    so a row is x_0 times one table plus one table per spike. The other half, each post
    neuron's spike steps, is its spike code, which `run_cycle` writes as the neurons fire:
    its first, second and third spike step (gamma: none) and whether it spiked three times
    or more, packed as first | second << 10 | third << 20 | more << 30 (gamma < 1023)."""
    gamma, n = spikes.shape
    width = gamma + 1
    # A pre neuron silent all cycle has x_k = x_0 d^k: its row's gains are x_0 times a
    # number per post neuron, post_gain[layer, j] = Σ_k c⁺_k d^k s_k[j] (and its Σ_k is
    # x_0 quiet_total[layer] = x_0 Σ_k c⁺_k d^k).
    layer_powers = np.empty((c_plus.shape[1], width), dtype=np.float32)  # c⁺_k d^k, 0 at gamma
    for layer in range(c_plus.shape[1]):
        d = x_decay[layer_x[layer]]
        powers = layer_powers[layer]
        power = np.float32(1.0)
        quiet = np.float32(0.0)
        for k in range(gamma):
            powers[k] = c_plus[k, layer] * power
            quiet += powers[k]
            power = power * d
        powers[gamma] = 0.0
        quiet_total[layer] = quiet
        gain = post_gain[layer]
        for j in range(n):
            code = np.uint32(spike_code[j])
            gain[j] = powers[code & _U1023] + powers[(code >> _U10) & _U1023] \
                + powers[(code >> _U20) & _U1023]
            if code & MORE:
                for k in range(((code >> _U20) & _U1023) + 1, gamma):
                    if spikes[k, j]:
                        gain[j] += powers[k]
    # Per layer, what a spike of the pre neuron at step s adds to its row at step k:
    # c⁺_k d^(k−s−1) after it (its trace), −c⁻_s e^(s−1−k) before it (a post spike then
    # was followed by this pre spike: depression by the post trace, e its decay).
    shift = np.zeros((c_plus.shape[1], gamma, width), dtype=np.float32)
    for layer in range(c_plus.shape[1]):
        d, e = x_decay[layer_x[layer]], y_decay[layer_y[layer]]
        for s in range(gamma):
            power = np.float32(1.0)
            for k in range(s + 1, gamma):
                shift[layer, s, k] = c_plus[k, layer] * power
                power = power * d
            power = np.float32(1.0)
            for k in range(s - 1, -1, -1):
                shift[layer, s, k] = -c_minus[s, layer] * power
                power = power * e
    # per layer and spike step s: Σ_{k>s} of its shift (what it adds to the row's sum), and
    # its depression by the post trace the cycle started with, c⁻_s e^s
    tail = np.zeros((c_plus.shape[1], gamma), dtype=np.float32)
    dep_at = np.empty((c_plus.shape[1], gamma), dtype=np.float32)
    for layer in range(c_plus.shape[1]):
        e = y_decay[layer_y[layer]]
        power = np.float32(1.0)
        for s in range(gamma):
            for k in range(s + 1, gamma):
                tail[layer, s] += shift[layer, s, k]
            dep_at[layer, s] = c_minus[s, layer] * power
            power = power * e
    steps = np.empty(gamma, dtype=np.int64)
    for p in range(proj_layer.size):
        layer = proj_layer[p]
        if layer < 0:
            continue
        n_pre = proj_syn_range[p, 2]
        start = proj_pre_start[p]
        x0 = pot_x0[pot_offset[p]:pot_offset[p] + n_pre]
        x0[:] = x_tr[layer_x[layer], start:start + n_pre]
        table = pot_table[pot_offset[p] * width:(pot_offset[p] + n_pre) * width]
        total = pot_total[pot_offset[p]:pot_offset[p] + n_pre]
        dep = pot_dep[pot_offset[p]:pot_offset[p] + n_pre]
        powers = layer_powers[layer]
        quiet = quiet_total[layer]
        filled = 0                      # the rows of the pre neurons that fired, in order
        for local in range(n_pre):
            code = spike_code[start + local]
            if (code & 1023) == gamma:
                continue                # silent: `potentiate` needs no table row
            count = 0
            for field in range(3):
                k = (code >> (10 * field)) & 1023
                if k < gamma:
                    steps[count] = k
                    count += 1
            if code & MORE:
                for k in range(((code >> 20) & 1023) + 1, gamma):
                    if spikes[k, start + local]:
                        steps[count] = k
                        count += 1
            row = table[filled * width:(filled + 1) * width]
            x = x0[local]
            for k in range(width):
                row[k] = x * powers[k]
            acc = x * quiet
            at_start = np.float32(0.0)      # Σ_spikes c⁻_s e^s
            plain = np.float32(0.0)         # Σ_spikes c⁻_s
            for a in range(count):
                s = steps[a]
                added = shift[layer, s]
                for k in range(gamma):
                    row[k] += added[k]
                acc += tail[layer, s]
                at_start += dep_at[layer, s]
                plain += c_minus[s, layer]
            total[filled] = acc - plain * ybar_per_rate[layer]
            dep[filled] = at_start
            filled += 1
    # the traces at the cycle's end (x of the pre neurons, y of the post neurons)
    _traces_to_end(x_tr, x_decay, spikes, spike_code)
    _traces_to_end(y_tr, y_decay, spikes, spike_code)


@njit(cache=True, nogil=True)
def _traces_to_end(tr, decay, spikes, spike_code):
    """Step the spike traces `tr` [time constants, n] (each decays by `decay` per step and
    adds 1 at a spike, after the step's decay) through the cycle that `spikes` recorded:
    x_0 d^gamma + Σ_spikes d^(gamma−s−1), from each neuron's spike code."""
    gamma, n = spikes.shape
    left = np.empty(gamma + 1, dtype=np.float32)
    for g in range(tr.shape[0]):
        d = decay[g]
        power = np.float32(1.0)
        for k in range(gamma - 1, -1, -1):
            left[k] = power
            power = power * d
        left[gamma] = 0.0
        tr_g = tr[g]
        for i in range(n):
            code = np.uint32(spike_code[i])
            tr_g[i] = tr_g[i] * power + left[code & _U1023] + left[(code >> _U10) & _U1023] \
                + left[(code >> _U20) & _U1023]
        for i in range(n):
            code = spike_code[i]
            if code & MORE:
                for k in range(((code >> 20) & 1023) + 1, gamma):
                    if spikes[k, i]:
                        tr_g[i] += left[k]
        for i in range(n):
            x = tr_g[i]
            tr_g[i] = x if x >= TINY else np.float32(0.0)


@njit(cache=True, nogil=True)
def potentiate(spikes, proj_layer, proj_pre_start, proj_row_base, proj_syn_range, row_ptr,
               post_local, post_base, pot_offset, pot_table, pot_total, pot_x0, post_gain,
               quiet_total, spike_code, centered, rate, step, w_lo, w_hi, weights, e_hat,
               gains, pot_dep, y_start, layer_y):
    """Add the potentiation of the cycle that `potentiation_tables` described to the
    eligibility, row by row; where a layer's `step` is not 0, apply a reward in the same
    pass: weights ← clip(weights + step · e_hat, w_lo, w_hi) (the reward pass would read
    the same arrays again). `gains`: scratch, as long as the longest row. A plastic
    synapse's post neuron is `post_base[p] + post_local[s]` (p its projection; `post_local`
    uint16 when every plastic projection's posts span at most 65536 neurons: fewer bytes
    to read).

    Per row, a first loop looks each synapse's gain up from its post neuron's first two
    spike steps (no branch: it runs on vector units), a second adds the gains of the rare
    post neurons that spiked three times or more (~0.1 % of them at 20 Hz and 20 steps of
    1 ms: a third lookup for every synapse cost more), a third adds the gains to the
    eligibility and applies the reward."""
    gamma = spikes.shape[0]
    width = gamma + 1
    for p in range(proj_layer.size):
        layer = proj_layer[p]
        if layer < 0:
            continue
        n_pre = proj_syn_range[p, 2]
        table = pot_table[pot_offset[p] * width:(pot_offset[p] + n_pre) * width]
        total = pot_total[pot_offset[p]:pot_offset[p] + n_pre]
        c, lo, hi = step[layer], w_lo[layer], w_hi[layer]
        rewarded = c != 0.0
        is_centered = centered[layer]
        base = post_base[p]
        layer_rate = rate[layer][base:]
        codes = spike_code[base:]
        layer_gain = post_gain[layer][base:]
        quiet = quiet_total[layer]
        x0 = pot_x0[pot_offset[p]:pot_offset[p] + n_pre]
        dep = pot_dep[pot_offset[p]:pot_offset[p] + n_pre]
        y0 = y_start[layer_y[layer]][base:]
        pre_codes = spike_code[proj_pre_start[p]:proj_pre_start[p] + n_pre]
        filled = 0                      # table rows: the pre neurons that fired, in order
        row_base = proj_row_base[p]
        for local in range(n_pre):
            # (a row's synapses are indexed from its start, not sliced: at ~100 synapses a
            # row, making three slices per row is a large part of the pass)
            start = np.uint64(row_ptr[row_base + local])
            size = np.uint64(row_ptr[row_base + local + 1]) - start
            if (pre_codes[local] & 1023) == gamma:
                # a pre neuron silent all cycle: one lookup per synapse
                x = x0[local]
                if is_centered:
                    usual = x * quiet
                    for t in range(size):
                        j = post_local[start + t]
                        gains[t] = x * layer_gain[j] - usual * layer_rate[j]
                else:
                    for t in range(size):
                        gains[t] = x * layer_gain[post_local[start + t]]
            else:
                flags = np.uint32(0)
                # (the loops are written out per case, and index with unsigned integers:
                # a branch or a possibly negative index inside keeps them scalar)
                at = np.uint64(filled * width)      # the row's place in `table`
                usual = total[filled]
                a = dep[filled]
                filled += 1
                if is_centered:
                    for t in range(size):
                        j = post_local[start + t]
                        code = np.uint32(codes[j])
                        flags |= code
                        gains[t] = (table[at + (code & _U1023)]
                                    + table[at + ((code >> _U10) & _U1023)]) - a * y0[j] \
                            - usual * layer_rate[j]
                else:
                    for t in range(size):
                        j = post_local[start + t]
                        code = np.uint32(codes[j])
                        flags |= code
                        gains[t] = (table[at + (code & _U1023)]
                                    + table[at + ((code >> _U10) & _U1023)]) - a * y0[j]
                if flags & MORE:
                    for t in range(size):
                        j = post_local[start + t]
                        code = codes[j]
                        if code & MORE:
                            extra = np.float32(0.0)
                            for k in range(((code >> 10) & 1023) + 1, gamma):
                                if spikes[k, base + j]:
                                    extra += table[at + k]
                            gains[t] = gains[t] + extra
            if rewarded:
                for t in range(size):
                    e = e_hat[start + t] + gains[t]
                    e_hat[start + t] = e
                    weights[start + t] = min(max(weights[start + t] + c * e, lo), hi)
            else:
                for t in range(size):
                    e_hat[start + t] += gains[t]


@njit(cache=True, nogil=True)
def apply_reward(weights, e_hat, step, w_lo, w_hi):
    """weights ← clip(weights + step · e_hat, w_lo, w_hi), elementwise (one layer's range)."""
    for s in range(weights.size):
        w = weights[s] + step * e_hat[s]
        weights[s] = min(max(w, w_lo), w_hi)


@njit(cache=True, nogil=True)
def rescale(e_hat, factor):
    """e_hat *= factor (one layer's range)."""
    for s in range(e_hat.size):
        e_hat[s] *= factor
