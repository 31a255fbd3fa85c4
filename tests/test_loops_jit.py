"""The compiled kernels of :mod:`kansho._loops_jit` give bit for bit what the NumPy / sparse
formulations of :mod:`kansho.loops` they replaced gave (those are kept here as the reference)."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from kansho import loops
from kansho.loops import NULL_FIX

TWO_PI = 2.0 * np.pi


# ------------------------------------------------------------------ the reference formulations
def ref_loop_phase(unw: np.ndarray, L: np.ndarray) -> np.ndarray:
    valid = np.isfinite(unw)
    ph = np.asarray(sparse.csr_array(L.astype(unw.dtype)) @ np.where(valid, unw, 0))
    n_valid = sparse.csr_array(np.abs(L).astype(np.float32)) @ valid.astype(np.float32)
    ph[n_valid < (L != 0).sum(axis=1)[:, None]] = np.nan
    return ph


def ref_trusted(ph: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    finite = np.isfinite(ph)
    K = np.rint(np.where(finite, ph, 0.0) / TWO_PI)
    return K, finite & (np.abs(np.where(finite, ph, 0.0) - TWO_PI * K) <= tol)


def ref_apply(u: np.ndarray, f: np.ndarray) -> np.ndarray:
    out = np.where(f != 0, u + u.dtype.type(TWO_PI) * f.astype(u.dtype), u)
    out[f == NULL_FIX] = np.nan
    return out


def ref_pairs_in_loop(L: np.ndarray, lv: np.ndarray) -> np.ndarray:
    return np.asarray(sparse.csr_array((L != 0).astype(np.float32)).T @ lv.astype(np.float32)) > 0


def ref_fix_mode(f: np.ndarray, ok: np.ndarray, span: int = 4) -> np.ndarray:
    return np.stack([((f == c) & ok).sum(axis=1) for c in range(-span, span + 1)], axis=1).astype(np.int64)


def ref_pixel_sums(ph, L, valid, thr, base=None, rows=None):
    member = L != 0
    loop_valid = (sparse.csr_array(member.astype(np.float32)) @ valid.astype(np.float32)) >= member.sum(axis=1)[:, None]
    loop_valid &= np.isfinite(ph)
    ph0 = np.where(loop_valid, ph, 0.0).astype(np.float64, copy=False)
    npix = ph.shape[1]
    if base is None:
        n_err, cnt, ss = np.zeros(npix, np.int32), np.zeros(npix, np.int32), np.zeros(npix)
    else:
        n_err, cnt, ss = (np.array(b, dt) for b, dt in zip(base, (np.int32, np.int32, np.float64), strict=True))
    for r in range(ph.shape[0]) if rows is None else np.flatnonzero(rows):
        n_err += np.abs(ph0[r]) > thr
        cnt += loop_valid[r]
        ss += np.square(ph0[r])
    return n_err, cnt, ss, loop_valid


def ref_cycle_fix(ph: np.ndarray, L: np.ndarray, pairs: np.ndarray, tol: float, min_loops: int) -> np.ndarray:
    from kansho._unwfix_jit import solve_pixels

    member = L != 0
    fix = np.zeros((L.shape[1], ph.shape[1]), np.int8)
    K, trusted = ref_trusted(ph, tol)
    act = np.flatnonzero((trusted & (K != 0)).any(axis=0))
    if act.size == 0:
        return fix
    mem = np.argsort(~member, axis=1, kind="stable")[:, :3].astype(np.int64)
    sgn = np.take_along_axis(L, mem, axis=1).astype(np.int32)
    Kc = np.clip(K, -1000, 1000).astype(np.int16)
    solve_pixels(Kc, trusted, mem, sgn, pairs.astype(np.int64), min_loops, act.astype(np.int64), fix)
    ref_null_doubtful(Kc, trusted, L, act, fix)
    return fix


def ref_null_doubtful(K: np.ndarray, trusted: np.ndarray, L: np.ndarray, act: np.ndarray, fix: np.ndarray) -> None:
    """The rule of ``_unwfix_jit.null_doubtful``, pixel by pixel and loop by loop."""
    for p in act:
        f = fix[:, p].astype(int)
        opened, closed = [], []
        for lp in range(L.shape[0]):
            if not trusted[lp, p]:
                continue
            m = np.flatnonzero(L[lp])
            rest = K[lp, p] + sum(int(L[lp, i]) * (0 if f[i] == NULL_FIX else f[i]) for i in m)
            if rest != 0:
                opened.append(m)
            elif all(f[i] != NULL_FIX for i in m):
                closed.append(m)
        doubtful = {int(i) for m in opened for i in m if f[i] != NULL_FIX}
        vouched = {int(i) for m in closed for i in m if not (set(m.tolist()) - {int(i)}) & doubtful}
        for i in doubtful - vouched:
            fix[i, p] = NULL_FIX


# ------------------------------------------------------------------ data
def network(n_epoch: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    pairs = np.array([(i, i + d) for i in range(n_epoch) for d in range(1, k + 1) if i + d < n_epoch])
    idx = {(int(i), int(j)): n for n, (i, j) in enumerate(pairs)}
    rows = []
    for (i, j), a in idx.items():
        for (j2, kk), b in idx.items():
            if j2 == j and (i, kk) in idx:
                r = np.zeros(len(pairs), np.int8)
                r[a], r[b], r[idx[(i, kk)]] = 1, 1, -1
                rows.append(r)
    return pairs, np.array(rows, np.int8).reshape(-1, len(pairs))


def phases(seed: int, npair: int, npix: int, dtype: type, p_nan: float = 0.1) -> np.ndarray:
    """Noisy phases with whole-cycle jumps, NaN, ±inf and signed zeros."""
    rng = np.random.default_rng(seed)
    jump = rng.integers(-2, 3, (npair, npix)) * (rng.random((npair, npix)) < 0.2)
    u = rng.normal(0, 3, (npair, npix)) + TWO_PI * jump
    u[rng.random(u.shape) < p_nan] = np.nan
    u[rng.random(u.shape) < 0.01] = np.inf
    u[rng.random(u.shape) < 0.01] = -np.inf
    u[rng.random(u.shape) < 0.02] = 0.0
    u[rng.random(u.shape) < 0.02] = -0.0
    return u.astype(dtype)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal dtype, shape and bits (NaN in the same places, signed zeros alike)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# ------------------------------------------------------------------ tests
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), n_epoch=st.integers(3, 12), k=st.integers(2, 4),
       npix=st.integers(0, 5000), f32=st.booleans())
def test_loop_phase_bit_identical(seed: int, n_epoch: int, k: int, npix: int, f32: bool) -> None:
    pairs, L = network(n_epoch, k)
    u = phases(seed, len(pairs), npix, np.float32 if f32 else np.float64)
    assert same(loops.loop_phase(u, L), ref_loop_phase(u, L))


def test_loop_phase_general_matrix() -> None:
    """Any loop matrix of −1, 0, +1 (rows of other lengths, empty rows)."""
    rng = np.random.default_rng(1)
    L = rng.integers(-1, 2, (7, 9)).astype(np.int8)
    L[3] = 0
    u = phases(2, 9, 3000, np.float64)
    assert same(loops.loop_phase(u, L), ref_loop_phase(u, L))
    assert same(loops.loop_phase(u[:, ::2], L), ref_loop_phase(u[:, ::2], L))  # a non-contiguous input


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), npix=st.integers(0, 5000), tol=st.floats(0.1, 3.0))
def test_trusted_loops_bit_identical(seed: int, npix: int, tol: float) -> None:
    ph = phases(seed, 13, npix, np.float64) * 3
    if npix >= 5:  # huge values and exact odd multiples of pi (rint rounds half to even)
        ph[:, :5] = [1e300, -1e300, np.pi, -np.pi, 3 * np.pi]
    K, tr = loops.trusted_loops(ph, tol)
    K0, tr0 = ref_trusted(ph, tol)
    assert same(K, K0) and same(tr, tr0)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), n_epoch=st.integers(3, 10), npix=st.integers(0, 3000), null=st.booleans())
def test_cycle_fix_bit_identical(seed: int, n_epoch: int, npix: int, null: bool) -> None:
    pairs, L = network(n_epoch, 3)
    ph = loops.loop_phase(phases(seed, len(pairs), npix, np.float64, p_nan=0.05), L)
    fix, trusted = loops.pixel_cycle_fix_trusted(ph, L, pairs, tol=1.0, min_loops=2)
    assert same(fix, ref_cycle_fix(ph, L, pairs, 1.0, 2))
    assert same(fix, loops.pixel_cycle_fix(ph, L, pairs))
    assert same(trusted, ref_trusted(ph, 1.0)[1])


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), n_epoch=st.integers(3, 10), npix=st.integers(0, 3000), big=st.booleans())
def test_cycle_fix_from_the_phase_bit_identical(seed: int, n_epoch: int, npix: int, big: bool) -> None:
    """loopfix.unw_cycle_fix (the loop phase never stored) gives the fix, the trusted loops and the pixels of
    each pair in a complete loop exactly as the three passes over the stored loop phase do; ``big``: values
    whose sums overflow to ±inf (a loop summed to inf is neither complete nor trusted)."""
    from kansho import loopfix

    pairs, L = network(n_epoch, 3)
    u = phases(seed, len(pairs), npix, np.float64, p_nan=0.05)
    if big and npix:
        with np.errstate(over="ignore"):
            u[:, : max(1, npix // 10)] *= 1e308
    ph = loops.loop_phase(u, L)
    fix, trusted, in_loop = loopfix.unw_cycle_fix(u, L, pairs, tol=1.0, min_loops=2)
    fix0, trusted0 = loops.pixel_cycle_fix_trusted(ph, L, pairs, tol=1.0, min_loops=2)
    assert same(fix, fix0) and same(trusted, trusted0)
    assert same(in_loop, ref_pairs_in_loop(L, np.isfinite(ph)).sum(axis=1))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), npix=st.integers(0, 5000), f32=st.booleans())
def test_apply_cycle_fix_bit_identical(seed: int, npix: int, f32: bool) -> None:
    rng = np.random.default_rng(seed)
    u = phases(seed, 6, npix, np.float32 if f32 else np.float64)
    f = rng.integers(-128, 128, u.shape).astype(np.int8)
    f[rng.random(u.shape) < 0.5] = 0
    assert same(loops.apply_cycle_fix(u, f), ref_apply(u, f))
    u3, f3 = u.reshape(2, 3, -1), f.reshape(2, 3, -1)
    assert same(loops.apply_cycle_fix(u3, f3), ref_apply(u3, f3))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), n_epoch=st.integers(3, 10), npix=st.integers(0, 5000))
def test_pairs_in_loop_and_fix_mode(seed: int, n_epoch: int, npix: int) -> None:
    rng = np.random.default_rng(seed)
    _, L = network(n_epoch, 3)
    lv = rng.random((L.shape[0], npix)) < 0.3
    assert same(loops.pairs_in_valid_loop(L, lv), ref_pairs_in_loop(L, lv))
    f = rng.integers(-6, 7, (L.shape[1], npix)).astype(np.int8)
    f[rng.random(f.shape) < 0.1] = NULL_FIX
    ok = rng.random(f.shape) < 0.7
    assert same(loops.fix_mode(f, ok), ref_fix_mode(f, ok))
    assert same(loops.fix_mode(f, ok, span=2), ref_fix_mode(f, ok, span=2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("of_pairs", [False, True])
def test_pixel_loop_sums_bit_identical(dtype: type, split: bool, of_pairs: bool) -> None:
    pairs, L = network(9, 3)
    u = phases(5, len(pairs), 4000, dtype) * 2
    ph = ref_loop_phase(u, L)
    valid = np.isfinite(u)
    valid[:, ::7] = False  # valid need not follow the phase
    arg = u if of_pairs else ph  # with phase_of_pairs the loop phase is taken from u on the way
    if not split:
        got = loops.pixel_loop_sums(arg, L, valid, 2.0, phase_of_pairs=of_pairs)
        want = ref_pixel_sums(ph, L, valid, 2.0)
    else:
        rows = np.arange(L.shape[0]) % 3 == 0
        b = loops.pixel_loop_sums(arg, L, valid, 2.0, rows=~rows, phase_of_pairs=of_pairs)[:3]
        got = loops.pixel_loop_sums(arg, L, valid, 2.0, rows=rows, base=b, phase_of_pairs=of_pairs)
        want = ref_pixel_sums(ph, L, valid, 2.0, rows=rows, base=ref_pixel_sums(ph, L, valid, 2.0, rows=~rows)[:3])
    for a, b2 in zip(got, want, strict=True):
        assert same(np.asarray(a), np.asarray(b2))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), n_epoch=st.integers(3, 10), npix=st.integers(0, 5000), f32=st.booleans(),
       with_fix=st.booleans(), with_off=st.booleans(), with_cycles=st.booleans())
def test_loop_phase_sums_bit_identical(seed: int, n_epoch: int, npix: int, f32: bool, with_fix: bool,
                                       with_off: bool, with_cycles: bool) -> None:
    """Against NumPy: the phase (plus the spatial check's cycles: float64 then), fixed, less the offsets."""
    rng = np.random.default_rng(seed)
    _, L = network(n_epoch, 3)
    u = phases(seed, L.shape[1], npix, np.float32 if f32 else np.float64)
    f = rng.integers(-3, 4, u.shape).astype(np.int8) * (rng.random(u.shape) < 0.2)
    f[rng.random(u.shape) < 0.05] = NULL_FIX
    k = rng.integers(-128, 128, u.shape).astype(np.int8) * (rng.random(u.shape) < 0.3)
    off = rng.normal(0, 10, L.shape[1])
    base = u + TWO_PI * k if with_cycles else u  # float64 with the cycles, as NumPy adds them
    v = np.asarray(ref_apply(base, f) if with_fix else base, np.float64)
    v = v - off[:, None] if with_off else v
    s0, c0 = loops.loop_sums(ref_loop_phase(v, L))
    s, c = loops.loop_phase_sums(u, L, f if with_fix else None, off if with_off else None,
                                 cycles=k if with_cycles else None)
    assert same(c, c0)  # the counts bit for bit; the sums of the same squares in another order: to round-off
    np.testing.assert_allclose(s, s0, rtol=1e-12, atol=0.0)
    # the chunks' order, not the threads', fixes the sums: the same bits on one thread
    numba.set_num_threads(1)
    try:
        s1, c1 = loops.loop_phase_sums(u, L, f if with_fix else None, off if with_off else None,
                                       cycles=k if with_cycles else None)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert same(s1, s) and same(c1, c)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), npix=st.integers(0, 6000), general=st.booleans())
def test_loop_phase_sums_in_chunk_order(seed: int, npix: int, general: bool) -> None:
    """The sums bit for bit as each chunk of CHUNK pixels adds its squares pixel after pixel and the chunks
    add in order (NumPy's ``cumsum`` is that sequential sum), for triangles (summed eight loops side by side)
    and any other loop matrix (rows of other lengths, an empty row, a count of loops no multiple of eight)."""
    from kansho._loops_jit import CHUNK

    rng = np.random.default_rng(seed)
    if general:
        L = rng.integers(-1, 2, (13, 9)).astype(np.int8)
        L[3] = 0
    else:
        L = network(int(rng.integers(5, 12)), 3)[1]
    u = phases(seed, L.shape[1], npix, np.float64)
    off = rng.normal(0, 10, L.shape[1])
    ph = ref_loop_phase(u - off[:, None], L)
    q = np.where(np.isfinite(ph), ph, 0.0) ** 2
    want = np.zeros(L.shape[0])
    for j0 in range(0, npix, CHUNK):
        want += np.cumsum(q[:, j0:j0 + CHUNK], axis=1)[:, -1]
    s, c = loops.loop_phase_sums(u, L, None, off)
    assert same(c, np.isfinite(ph).sum(axis=1))
    assert same(s, want)


# ------------------------------------------------------------------ the fused passes of one block (kansho.loopfix)
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), npix=st.integers(0, 5000), f32=st.booleans(), with_cycles=st.booleans())
def test_referred_phase_bit_identical(seed: int, npix: int, f32: bool, with_cycles: bool) -> None:
    """``(unw + 2π·cycles) - offsets`` as NumPy has it (float32 phase, int8 cycles: float64)."""
    from kansho import loopfix

    rng = np.random.default_rng(seed)
    u = phases(seed, 7, npix, np.float32 if f32 else np.float64)
    k = rng.integers(-128, 128, u.shape).astype(np.int8) if with_cycles else None
    off = rng.normal(0, 2, 7)
    off[0] = 0.0  # -0.0 - 0.0 stays -0.0
    ref = ((u + TWO_PI * k) if k is not None else u) - off[:, None]
    assert same(loopfix.referred_phase(u, k, off), ref.astype(np.float64))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), n_epoch=st.integers(3, 10), npix=st.integers(0, 5000), null_all=st.booleans(),
       with_cycles=st.booleans())
def test_settle_fix_bit_identical(seed: int, n_epoch: int, npix: int, null_all: bool, with_cycles: bool) -> None:
    """The final fix, the fix the loops saw, the fix counts and the per-pair tallies of one block as
    the NumPy passes they replace gave them; the pixels in a complete loop (as the fused pass counts them)
    likewise."""
    from kansho import loopfix

    rng = np.random.default_rng(seed)
    pairs, L = network(n_epoch, 3)
    u = phases(seed, L.shape[1], npix, np.float64)
    lp = loops.loop_phase(u, L)
    trusted = rng.random(lp.shape) < 0.6
    lfix = rng.integers(-6, 7, u.shape).astype(np.int8) * (rng.random(u.shape) < 0.3)
    lfix[rng.random(u.shape) < 0.05] = NULL_FIX
    cycles = (rng.integers(-3, 4, u.shape) * (rng.random(u.shape) < 0.2)).astype(np.int8) if with_cycles else None
    cycles = None if cycles is None else np.where(rng.random(u.shape) < 0.01, np.int8(127), cycles)  # int8 wraps
    # the NumPy formulation of chain/steps/loop_tasks.fix_block before it
    lf = lfix.copy()
    lf[~np.isfinite(u)] = 0
    hist0 = ref_fix_mode(lf, ref_pairs_in_loop(L, trusted))
    jump = np.zeros_like(lf) if cycles is None else cycles
    fix0 = np.where(lf == NULL_FIX, lf, lf + jump).astype(np.int8)
    if null_all:
        fix0[fix0 != 0] = NULL_FIX
    sfix0 = np.where(fix0 == NULL_FIX, fix0, fix0 - jump).astype(np.int8)
    nulled = fix0 == NULL_FIX
    counts0 = np.vstack([((fix0 != 0) & ~nulled).sum(axis=1), nulled.sum(axis=1), ((sfix0 != 0) & ~nulled).sum(axis=1)])
    fix, sfix, hist, counts = loopfix.settle_fix(u, lfix, cycles, L, trusted, null_all=null_all)
    assert same(lfix, lf)  # zeroed where the phase is not finite, in place
    assert same(fix, fix0) and same(sfix, sfix0) and same(hist, hist0) and same(counts, counts0.astype(np.int64))
    in_loop = loopfix.unw_cycle_fix(u, L, pairs)[2]
    assert same(in_loop, ref_pairs_in_loop(L, np.isfinite(lp)).sum(axis=1).astype(np.int64))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), npix=st.integers(0, 5000), f32=st.booleans(), with_fix=st.booleans())
def test_fixed_referred_bit_identical(seed: int, npix: int, f32: bool, with_fix: bool) -> None:
    """``apply_cycle_fix(unw, fix) - offsets`` (the fix added in the phase's dtype, NaN at a null)."""
    from kansho import loopfix

    rng = np.random.default_rng(seed)
    u = phases(seed, 6, npix, np.float32 if f32 else np.float64)
    f = None
    if with_fix:
        f = rng.integers(-128, 128, u.shape).astype(np.int8)
        f[rng.random(u.shape) < 0.6] = 0
    off = rng.normal(0, 2, 6)
    ref = (u if f is None else ref_apply(u, f)) - off[:, None]
    assert same(loopfix.fixed_referred(u, f, off), ref.astype(np.float64))
