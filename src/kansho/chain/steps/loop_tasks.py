"""Block tasks of step 1-2: the per-pixel unwrapping-error correction (:data:`FIX_ARRAY`), loop
sums per loop, and per pixel the loop statistics, the stacking rate and the no-loop residual check
(the work arrays :data:`PIXEL_LOOP_ARRAYS`); :func:`read_unw`, the one reader of the stack's ``unw``
for every step after the correction."""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import zarr

from kansho import _loops_jit, jumps, loopfix, loops
from kansho._columns import count_true, take_columns, take_rows
from kansho._threads import kernel_threads
from kansho.chain.tasks import Task, WorkStore
from kansho.chunkio import ChunkArray
from kansho.inversion import invert_nsbas
from kansho.store import PAIR_CHUNK, Stack

#: work array (pair of the stack store, y, x) int8 of the per-pixel cycle fix of step 1-2: 0 = unchanged,
#: c = add 2π·c, :data:`kansho.loops.NULL_FIX` = no data. Absent when the correction is off.
FIX_ARRAY = "unw_fix"
#: work array (y, x): pairs corrected at the pixel (among those the inversion uses)
N_CORRECTED = "n_corrected"
#: work array (pair of the stack store, y, x) int8: whole cycles the spatial check of step 1-2
#: (:func:`kansho.jumps.cycle_jumps`) adds before the loops are looked at, chunked by the stack's
#: pair chunks; absent when the check is off. :data:`FIX_ARRAY` includes it.
JUMP_ARRAY = "unw_jump"
#: bytes the spatial check of one pair chunk may hold at once: the pairs read (4 bytes a pixel) and, for
#: each thread, :data:`kansho.jumps.BYTES_PER_PIXEL`
JUMP_MEMORY = 1 << 30


def read_fixed(stack: Stack, work: zarr.Group | WorkStore, rows: slice, cols: slice, idx: npt.NDArray[np.intp],
               pixels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``unw`` (len(idx), rows, cols) of the stack's pairs ``idx`` (radians, NaN = no data) with the
    cycle fix of step 1-2 applied, and that fix (None when the run has none). With ``pixels`` ((rows ×
    cols,) bool), those pixels only: (len(idx), their number), the fix applied to them alone."""
    u = stack.read("unw", rows, cols, idx)
    fix = read_fix(work, rows, cols, idx)
    if pixels is not None:
        u = take_columns(u.reshape(idx.size, -1), pixels)
        fix = None if fix is None else take_columns(fix.reshape(idx.size, -1), pixels)
    return (u, None) if fix is None else (loops.apply_cycle_fix(u, fix), fix)


def read_fix(work: zarr.Group | WorkStore, rows: slice, cols: slice, idx: npt.NDArray[np.intp],
             name: str = FIX_ARRAY) -> np.ndarray | None:
    """The cycle fix (len(idx), rows, cols) int8 of the stack's pairs ``idx`` (of the work array
    ``name``: :data:`FIX_ARRAY` or :data:`JUMP_ARRAY`); None when the run has none."""
    if name not in work or idx.size == 0:
        return None
    arr = work[name]
    assert isinstance(arr, zarr.Array | ChunkArray)
    lo, hi = int(idx.min()), int(idx.max()) + 1
    return take_rows(np.asarray(arr[lo:hi, rows, cols]), idx - lo)


def read_jumped(stack: Stack, work: zarr.Group | WorkStore, rows: slice, cols: slice, idx: npt.NDArray[np.intp]
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """``unw`` (len(idx), rows, cols) of the stack's pairs ``idx`` (radians) with the spatial check's
    whole cycles (:data:`JUMP_ARRAY`) added: what the loops of step 1-2 look at; and those cycles
    (None when the run has none)."""
    u = stack.read("unw", rows, cols, idx)
    jump = read_fix(work, rows, cols, idx, JUMP_ARRAY)
    if jump is None:
        return u, None
    n = u.shape[0]  # u + 2π·jump in float64 as NumPy has it, in one pass (no offsets: each less 0.0, exactly itself)
    out = loopfix.referred_phase(u.reshape(n, -1), jump.reshape(n, -1), np.zeros(n)).reshape(u.shape)
    return out, jump


def jump_chunk(task: Task) -> np.ndarray:
    """The spatial check (:func:`kansho.jumps.cycle_jumps`, on whole images) of the pairs
    ``params["idx"]`` that lie in the stack's pair chunk ``task.epoch``, written to
    :data:`JUMP_ARRAY` (which no other task of the pass writes). Returns (3, n) int64: those pairs'
    store indices, pixels moved and regions.

    The pairs are read together (each chunk of the store decompressed once) and checked on threads
    (the kernels release the GIL; as many as numba may use here, 1 on a pinned dask worker; results
    do not depend on them), as far as :data:`JUMP_MEMORY` allows: a frame of 25 million pixels is
    read four pairs at a time and checked on one thread."""
    idx = np.asarray(task.params["idx"], np.intp)
    sel = idx[idx // PAIR_CHUNK == task.epoch]
    out = np.zeros((3, sel.size), np.int64)
    if sel.size == 0:
        return out
    st = task.stack
    ny, nx = st.shape
    lo = task.epoch * PAIR_CHUNK
    full = np.zeros((min(lo + PAIR_CHUNK, st.n_pair) - lo, ny, nx), np.int8)
    group = int(max(1, min(sel.size, JUMP_MEMORY // (4 * ny * nx))))
    nthr = int(max(1, min(kernel_threads(), group, JUMP_MEMORY // (jumps.BYTES_PER_PIXEL * ny * nx))))
    local = threading.local()  # each thread's working arrays, reused from pair to pair (freed on return)

    def check(img: np.ndarray) -> tuple[np.ndarray, int]:
        if not hasattr(local, "work"):
            local.work = jumps.Workspace()
        return jumps.cycle_jumps(img, work=local.work)

    with ThreadPoolExecutor(max_workers=nthr) as pool:
        for g0 in range(0, sel.size, group):
            u = st.read("unw", slice(0, ny), slice(0, nx), sel[g0:g0 + group])
            for m, (fix, n_reg) in enumerate(pool.map(check, u), start=g0):
                full[sel[m] - lo] = fix
                out[:, m] = sel[m], np.count_nonzero(fix), n_reg
            del u
    task.work[JUMP_ARRAY][lo:lo + full.shape[0]] = full
    return out


def read_unw(task: Task, idx: npt.ArrayLike, pixels: np.ndarray | None = None) -> np.ndarray:
    """The block's ``unw`` (len(idx), rows, cols) of the stack's pairs ``idx``, radians, as corrected
    by step 1-2 (:data:`FIX_ARRAY`; unchanged where the run corrects nothing); with ``pixels`` (the
    block's pixels, flat, bool) those only, (len(idx), their number). Every reader of the stack's phase
    after step 1-2 reads through here."""
    return read_fixed(task.stack, task.work, task.rows, task.cols, np.asarray(idx, np.intp), pixels)[0]


def read_referred(task: Task, idx: npt.ArrayLike, offsets: npt.ArrayLike, room: str | None = None
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """The block's phase of the stack's pairs ``idx`` as :func:`read_unw` gives it, less each pair's
    ``offsets`` (rad): (len(idx), npix) float64, made in one pass; and the cycle fix (None when the
    run has none). With ``room`` (a pass's key: :func:`_room`) the phase is made in that pass's array
    of this thread, reused from block to block (the task keeps nothing of it)."""
    i = np.asarray(idx, np.intp)
    u = task.stack.read("unw", task.rows, task.cols, i).reshape(i.size, -1)
    fix = read_fix(task.work, task.rows, task.cols, i)
    return loopfix.fixed_referred(u, fix, offsets, out=_room(room, "referred", u.shape, np.float64)), fix


#: working arrays of :func:`fix_block` kept from block to block in this process, by the pass's
#: ``params["work"]`` and the thread (:func:`release_work` frees them at the pass's end)
_PASS_WORK: dict[tuple[str, int], dict[str, np.ndarray]] = {}


def _room(key: str | None, name: str, shape: tuple[int, ...], dtype: npt.DTypeLike) -> np.ndarray:
    """A C-contiguous array of ``shape`` and ``dtype`` (contents undefined): a new one without a
    ``key``, else the pass's own of that name in this thread, reused from block to block: the loop
    arrays of an M block are ~170 MB, and fresh pages cost ~10 ms each time to fault in."""
    if key is None:
        return np.empty(shape, dtype)
    n = math.prod(shape)
    room = _PASS_WORK.setdefault((key, threading.get_ident()), {})
    flat = room.get(name)
    if flat is None or flat.size < n or flat.dtype != np.dtype(dtype):
        flat = room[name] = np.empty(n, dtype)
    return flat[:n].reshape(shape)


def release_work(key: str) -> None:
    """Free the working arrays of the pass ``key`` (:func:`_room`), in every thread."""
    for k in [k for k in _PASS_WORK if k[0] == key]:
        del _PASS_WORK[k]


@contextlib.contextmanager
def pass_work(in_process: bool, key: str) -> Iterator[str | None]:
    """The key of a pass's working arrays (:func:`_room`) for its tasks' ``params["work"]``: ``key`` when the
    pass runs in this process (each thread's arrays then reused from one block to the next), else None
    (workers: new arrays); the arrays are freed when the pass ends."""
    try:
        yield key if in_process else None
    finally:
        release_work(key)


def fix_block(task: Task) -> tuple[np.ndarray, ...]:
    """Per-pixel cycle fix of the block (:func:`kansho.loops.pixel_cycle_fix`), written to
    :data:`FIX_ARRAY` for the pairs ``params["idx"]`` (loop matrix ``L`` over them, referred by
    ``offsets``); with ``params["null"]`` every correction is a null instead.
    Returns the loop sums of the corrected phase (sum_sq, count) per loop (of the corrected
    ``unw`` less ``params["sum_offsets"]`` when given, as :func:`loop_sums_block` would measure it),
    per pair the pixels corrected and nulled, (2, npair): in a valid loop and corrected by the loops
    (the rest of the corrected pixels are the spatial check's, :data:`JUMP_ARRAY`), and the counts of
    each loop fix value (:func:`kansho.loops.fix_mode`)."""
    p = task.params
    idx = np.asarray(p["idx"], np.intp)
    L = np.asarray(p["L"])
    key, npix, nloop = p.get("work"), task.shape[0] * task.shape[1], L.shape[0]
    sum_off = p.get("sum_offsets")  # the corrected phase as read_unw gives it, referred to these
    # the phase read and referred in one pass, the spatial check's cycles added on the way
    jumped = read_fix(task.work, task.rows, task.cols, idx, JUMP_ARRAY)
    raw = task.stack.read("unw", task.rows, task.cols, idx).reshape(idx.size, -1)
    u = loopfix.referred_phase(raw, jumped, p["offsets"], out=_room(key, "phase", (idx.size, npix), np.float64))
    if sum_off is None:
        del raw
    # the loops' misclosures, where they are trusted and each pair's pixels in a complete loop, from the phase
    lfix, trusted, in_loop = loopfix.unw_cycle_fix(
        u, L, np.asarray(p["pairs"]), tol=float(p["tol"]), min_loops=int(p["min_loops"]),
        work=(_room(key, "K", (nloop, npix), np.int16), _room(key, "trusted", (nloop, npix), np.bool_),
              _room(key, "active", (npix,), np.bool_)))
    # a pair referred to an error patch is found in null mode too: its counts come before the nulls
    fix, sfix, hist, counts = loopfix.settle_fix(u, lfix, jumped, L, trusted, null_all=bool(p["null"]))
    del lfix, trusted
    s, c = (loops.loop_phase_sums(u, L, sfix) if sum_off is None else  # else of the stack's phase and cycles
            loops.loop_phase_sums(raw, L, sfix, sum_off, None if jumped is None else jumped.reshape(raw.shape)))
    lo, hi = int(idx.min()), int(idx.max()) + 1
    if np.array_equal(idx, np.arange(lo, hi)):  # every pair of the range, in order: written as it is
        full = fix.reshape(idx.size, *task.shape)
    else:
        full = np.zeros((hi - lo, *task.shape), np.int8)
        full[idx - lo] = fix.reshape(idx.size, *task.shape)
    task.work[FIX_ARRAY][lo:hi, task.rows, task.cols] = full
    return (np.asarray(s, np.float64), np.asarray(c, np.float64), counts[0], counts[1],
            np.vstack([in_loop, counts[2]]), hist)


def loop_sums_block(task: Task) -> tuple[np.ndarray, np.ndarray]:
    """Sums of squared loop phase and counts over the block's pixels, per loop (``L`` rows)."""
    p = task.params
    idx = np.asarray(p["idx"], np.intp)
    u = task.stack.read("unw", task.rows, task.cols, idx).reshape(idx.size, -1)
    fix = read_fix(task.work, task.rows, task.cols, idx)  # read_unw's correction, applied in the kernel
    s, c = loops.loop_phase_sums(u, np.asarray(p["L"]), None if fix is None else fix.reshape(idx.size, -1),
                                 np.asarray(p["offsets"]))
    return np.asarray(s, np.float64), np.asarray(c, np.float64)


PIXEL_LOOP_ARRAYS = ("n_loop_err", "n_ifg_noloop", "loop_rms", "stack_rate", "n_valid_final", "loop_ss", "loop_cnt",
                     "rate_num", "rate_den")


def pixel_loop_block(task: Task) -> np.ndarray:
    """Per-pixel loop statistics and stacking rate of a block (written to the work store).

    ``params["idx"]`` are the run's pairs (store indices; ``pairs`` their epoch indices,
    ``offsets`` their preliminary reference offsets); the statistics cover those of them in
    ``sub`` (default all), and ``L`` holds the loops over those. Without ``params["base"]`` that
    is every pair and loop of the run. With it (an update; a prefix of work-array names) the
    accumulators continue from those arrays, which hold the last run's pairs and loops:
    ``new_loop`` marks the rows of ``L`` to add, and over ``sub``, ``new_pair`` the pairs to add
    and ``touched`` the earlier pairs that are members of a new loop -- the only earlier pairs
    whose "in no loop" status can change; ``sub`` then holds those pairs, their partners in
    earlier loops and the new pairs, and only they are read unless the check needs every pair.
    Arrays are written with the prefix ``params["dest"]``.

    With ``params["check"]`` a preliminary inversion of the block's pixels whose global flat index
    is a multiple of ``params["every"]`` also counts, per pair, pixels whose residual exceeds half a
    cycle.
    With ``params["suspect"]`` ((npair,) bool: pairs where step 1-2 corrected a region), the pixels
    of those pairs in no valid loop, where an error could not be seen, are nulled (in
    :data:`FIX_ARRAY` too).
    Returns ``(3, npair)`` int64: (n_big, n_valid) of that check (zeros without it), pixels nulled.
    """
    p = task.params
    w = task.work
    idx = np.asarray(p["idx"], np.intp)
    pairs_f = np.asarray(p["pairs"], np.intp)
    offsets = np.asarray(p["offsets"], np.float64)
    sub = np.asarray(p.get("sub", np.ones(idx.size, bool)), bool)
    L2 = np.asarray(p["L"])
    t = np.asarray(p["t"], np.float64)
    conv = float(p["conv"])
    base, dest = p.get("base"), str(p.get("dest", ""))
    u_all, u, fix = _read_pairs(task, idx, offsets, sub, bool(p["check"]))
    pairs_s = pairs_f[sub]
    valid = np.isfinite(u)
    shp = task.shape
    npix = valid.shape[1]
    new_loop = np.asarray(p.get("new_loop", np.ones(L2.shape[0], bool)), bool)
    new_pair = np.asarray(p.get("new_pair", np.ones(u.shape[0], bool)), bool)
    prior: dict[str, np.ndarray] = {}
    if base is not None:
        prior = {n: np.asarray(w[base + n][task.rows, task.cols]).ravel() for n in
                 ("n_loop_err", "n_ifg_noloop", "loop_cnt", "loop_ss", "n_valid_final", "rate_num", "rate_den")}
    L2 = L2 if L2.shape[0] else np.zeros((0, u.shape[0]), np.int8)
    n_err, cnt, ss, loop_valid = loops.pixel_loop_sums(  # of loop_phase(u, L2), taken on the way
        u, L2, valid, err_threshold=float(p["pixel_loop_threshold"]), rows=new_loop,
        base=(prior["n_loop_err"], prior["loop_cnt"], prior["loop_ss"]) if prior else None, phase_of_pairs=True)
    in_all = loops.pairs_in_valid_loop(L2, loop_valid)
    n_null, drop = (np.zeros(idx.size, np.int64), None) if base is not None else _null_unchecked(task, idx, u, valid,
                                                                                                 in_all)
    if prior:  # earlier pairs that a new loop now covers leave the "in no loop" count
        touched = np.asarray(p["touched"], bool)
        old = ~new_loop
        in_old = loops.pairs_in_valid_loop(L2[old], loop_valid[old])
        left = (valid & ~in_old & in_all)[touched].sum(axis=0)
        n_noloop = prior["n_ifg_noloop"] - left + (valid & ~in_all)[new_pair].sum(axis=0)
    else:
        n_noloop = count_true(valid & ~in_all)
    dt = t[pairs_s[:, 1]] - t[pairs_s[:, 0]]
    num = np.array(prior["rate_num"], np.float64) if prior else np.zeros(npix)
    den = np.array(prior["rate_den"], np.float64) if prior else np.zeros(npix)
    nvf = np.array(prior["n_valid_final"], np.int32) if prior else np.zeros(npix, np.int32)
    # pair after pair: the same sums as one pass over all pairs
    _loops_jit.stack_sums(np.ascontiguousarray(u, np.float64), valid, np.asarray(dt, np.float64), new_pair, num, den,
                          nvf)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {"n_loop_err": n_err, "n_ifg_noloop": n_noloop, "loop_cnt": cnt, "loop_ss": ss,
               "loop_rms": np.where(cnt > 0, np.sqrt(ss / np.maximum(cnt, 1)), np.nan),
               "stack_rate": num * conv / den,  # mm/yr, for the reference
               "n_valid_final": nvf, "rate_num": num, "rate_den": den}
    for name, v in out.items():
        w[dest + name][task.rows, task.cols] = np.asarray(v).reshape(shp)
    if base is None:
        _count_corrected(task, fix, drop)
    if not p["check"]:
        return np.vstack([np.zeros((2, idx.size), np.int64), n_null])
    assert u_all is not None
    return np.vstack([_noloop_check(task, u_all, pairs_f, t, conv), n_null])


def _null_unchecked(task: Task, idx: npt.NDArray[np.intp], u: np.ndarray, valid: np.ndarray,
                    in_all: np.ndarray) -> tuple[npt.NDArray[np.int64], np.ndarray | None]:
    """Null (in ``u``, ``valid`` and :data:`FIX_ARRAY`) the pixels of the pairs ``params["suspect"]``
    that no valid loop checks; returns how many per pair, and where (None when none)."""
    suspect = task.params.get("suspect")
    if suspect is None:
        return np.zeros(idx.size, np.int64), None
    rows = np.flatnonzero(np.asarray(suspect, bool))  # often a few pairs, or none: only their rows are looked at
    sub = valid[rows] & ~in_all[rows]
    if not sub.any():
        return np.zeros(idx.size, np.int64), None
    drop = np.zeros(valid.shape, bool)
    drop[rows] = sub
    _null_pixels(task, idx, drop)
    u[drop] = np.nan
    valid &= ~drop
    return drop.sum(axis=1).astype(np.int64), drop


def _count_corrected(task: Task, fix: np.ndarray | None, drop: np.ndarray | None) -> None:
    """:data:`N_CORRECTED` of the block: pairs corrected at each pixel by the cycle fix ``fix`` (of every
    pair of the run, as read; unchanged without one) less those nulled since (``drop``)."""
    if fix is not None:
        f = fix.reshape(fix.shape[0], -1)
        corrected = (f != 0) & (f != loops.NULL_FIX)
        if drop is not None:
            corrected &= ~drop
        task.work[N_CORRECTED][task.rows, task.cols] = count_true(corrected).reshape(task.shape)


def _null_pixels(task: Task, idx: npt.NDArray[np.intp], drop: np.ndarray) -> None:
    """Set the cycle fix of the pairs ``idx`` to NULL where ``drop`` (len(idx), npix) in the block."""
    arr = task.work[FIX_ARRAY]
    lo, hi = int(idx.min()), int(idx.max()) + 1
    blk = np.asarray(arr[lo:hi, task.rows, task.cols])
    sub = blk[idx - lo].reshape(idx.size, -1)
    sub[drop] = loops.NULL_FIX
    blk[idx - lo] = sub.reshape(idx.size, *task.shape)
    arr[lo:hi, task.rows, task.cols] = blk




def _read_pairs(task: Task, idx: npt.NDArray[np.intp], offsets: npt.NDArray[np.float64], sub: np.ndarray,
                check: bool) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """The block's phase of the pairs ``idx`` minus their offsets: (every pair or None, the pairs
    ``sub``), and the cycle fix applied to every pair (None when the run has none or not every pair is read).

    Every pair is read when the check needs them all or ``sub`` is all of them; otherwise (an
    update without the check) only the pairs ``sub``.
    """
    if check or sub.all():
        u_all, fix = read_referred(task, idx, offsets, task.params.get("work"))
        return u_all, (u_all if sub.all() else u_all[sub]), fix
    return None, read_referred(task, idx[sub], offsets[sub])[0], None


def _noloop_check(task: Task, u_all: np.ndarray, pairs_f: npt.NDArray[np.intp], t: np.ndarray,
                  conv: float) -> np.ndarray:
    """Preliminary inversion of the block's pixels whose global flat index is a multiple of
    ``params["every"]``; per pair, the pixels whose residual exceeds half a cycle and the valid ones.
    Returns ``(2, npair)`` int64: (n_big, n_valid)."""
    p = task.params
    big = np.zeros((2, pairs_f.shape[0]), np.int64)
    nx = int(p["nx"])
    rr, cc = np.meshgrid(np.arange(task.rows.start, task.rows.stop), np.arange(task.cols.start, task.cols.stop),
                         indexing="ij")
    every = int(p.get("every", 5))
    pick = ((rr * nx + cc) % every == 0).ravel()  # the same pixels whatever the block size
    ifg = take_columns(u_all, pick) * conv
    if ifg.shape[1]:
        res = invert_nsbas(ifg, pairs_f, t, gamma=float(p["gamma"]), min_pairs=1,
                           compiled=bool(p.get("compiled", True)))
        cum = np.asarray(res.cum, np.float64)
        resid = cum[pairs_f[:, 1]] - cum[pairs_f[:, 0]] - ifg
        fin = np.isfinite(resid)
        half_cycle_mm = abs(conv) * math.pi
        big[0] = (np.abs(np.where(fin, resid, 0.0)) > half_cycle_mm).sum(axis=1)
        big[1] = fin.sum(axis=1)
    return big
