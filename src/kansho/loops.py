"""Step 1-2: loop closure, detection of unwrapping errors, reference area.

For three epochs i < j < k the loop phase ``φ_ij + φ_jk − φ_ik`` of unwrapped interferograms is
zero up to noise (and small non-closure terms such as soil moisture), whatever the deformation and
atmosphere, because every epoch's phase enters once with + and once with −.  An unwrapping error
of ``2πn`` in one member adds ``±2πn`` to the loop phase of every loop that contains that member
(Morishita et al., 2020, *Remote Sensing* 12(3), 424, §2.3; Yunjun et al., 2019, *Computers &
Geosciences* 133, 104331, "phase closure" correction).  Loops are given as a loop matrix ``L``
(nloop, npair) int8 with +1, +1, −1 for the pairs (i,j), (j,k), (i,k), so that
``loop phase = L @ phase``.

Functions here work on blocks of pixels flattened to (npair, npix); the frame-wide decisions
(:func:`find_bad_pairs`) use accumulators (:func:`loop_sums`) summed over blocks. Before them,
:func:`pixel_cycle_fix` corrects (or nulls) the errors pixel by pixel from the integer part of the
loop phases (:func:`apply_cycle_fix` applies its result).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import ndimage, sparse

from kansho import _loops_jit as _jit
from kansho import _loopsq_jit
from kansho._types import BoolArray, Float64Array, FloatArray, IndexArray
from kansho._unwfix_jit import NULL
from kansho.errors import NetworkError
from kansho.loopfix import pixel_cycle_fix_trusted

log = logging.getLogger(__name__)

__all__ = [
    "NULL_FIX", "BadPairs", "apply_cycle_fix", "choose_reference", "find_bad_pairs", "fix_mode", "loop_phase",
    "loop_phase_sums", "loop_rms", "loop_sums", "pairs_in_valid_loop", "pixel_cycle_fix", "pixel_cycle_fix_trusted",
    "pixel_loop_sums", "reference_offsets", "robust_offsets", "trusted_loops",
]

TWO_PI = 2.0 * np.pi
#: value of a cycle-fix array (:func:`pixel_cycle_fix`) meaning "null this pair at this pixel"
NULL_FIX = NULL


def _members(L: npt.ArrayLike) -> BoolArray:
    """(nloop, npair) bool membership matrix of a loop matrix."""
    L = np.asarray(L)
    if L.ndim != 2:
        raise ValueError(f"loop matrix must be (nloop, npair), got shape {L.shape}")
    return L != 0


def _sparse(L: npt.ArrayLike, dtype: npt.DTypeLike, absolute: bool = False) -> sparse.csr_array:
    """Loop matrix as a CSR sparse array (3 non-zeros per row: products are ~100× cheaper)."""
    a = np.asarray(L)
    return sparse.csr_array((np.abs(a) if absolute else a).astype(dtype))


def loop_phase(unw: npt.ArrayLike, L: npt.ArrayLike, out: FloatArray | None = None) -> FloatArray:
    """Loop (closure) phase of every loop at every pixel.

    Parameters
    ----------
    unw:
        Unwrapped phase, shape (npair, npix), radians, NaN = no data.
    L:
        Loop matrix, shape (nloop, npair), entries in {−1, 0, +1}.
    out:
        (nloop, npix) C-contiguous array of the result's dtype to write into (a float input only).

    Returns
    -------
    (nloop, npix) radians, in the floating dtype of ``unw`` (float64 for integer input); NaN where
    any member of the loop is not finite.  Each loop's members are summed in pair order from 0,
    as the sparse product ``L @ where(finite, unw, 0)`` does, in one compiled pass
    (:func:`kansho._loops_jit.loop_phase`).

    LiCSAR interferograms each carry an arbitrary constant (unwrapping starts anywhere), which
    would add a constant to the loop phase: refer every pair to one area first (subtract
    :func:`reference_offsets`, e.g. of a preliminary high-coherence window).
    """
    unw = np.asarray(unw)
    unw = unw if np.issubdtype(unw.dtype, np.floating) else unw.astype(np.float64)
    member = _members(L)
    if unw.ndim != 2 or unw.shape[0] != member.shape[1]:
        raise ValueError(f"unw must be (npair={member.shape[1]}, npix); got {unw.shape}")
    if unw.dtype not in _jit.FLOATS:
        valid = np.isfinite(unw)
        ph = np.asarray(_sparse(L, unw.dtype) @ np.where(valid, unw, 0))
        n_valid = _sparse(L, np.float32, absolute=True) @ valid.astype(np.float32)
        ph[n_valid < member.sum(axis=1)[:, None]] = np.nan
        return ph
    out = np.empty((member.shape[0], unw.shape[1]), unw.dtype) if out is None else out
    _jit.loop_phase(np.ascontiguousarray(unw), *_jit.csr(L, unw.dtype), out)
    return out


def loop_sums(loop_ph: npt.ArrayLike) -> tuple[Float64Array, npt.NDArray[np.int64]]:
    """Accumulators of the loop RMS over one block.

    Parameters
    ----------
    loop_ph:
        (nloop, npix) loop phase, radians, NaN = no data.

    Returns
    -------
    sum_sq:
        (nloop,) float64, sum of squared loop phase over the finite pixels (rad²).
    count:
        (nloop,) int64, number of finite pixels.

    Sum both over blocks; the RMS per loop is ``sqrt(sum_sq / count)`` (:func:`loop_rms`).
    """
    ph = np.asarray(loop_ph, dtype=np.float64)
    finite = np.isfinite(ph)
    sum_sq = np.where(finite, ph, 0.0)
    sum_sq = np.einsum("ij,ij->i", sum_sq, sum_sq)
    return sum_sq, finite.sum(axis=1, dtype=np.int64)


def loop_phase_sums(unw: npt.ArrayLike, L: npt.ArrayLike, fix: npt.ArrayLike | None = None,
                    offsets: npt.ArrayLike | None = None, cycles: npt.ArrayLike | None = None
                    ) -> tuple[Float64Array, npt.NDArray[np.int64]]:
    """``loop_sums(loop_phase(v, L))`` of ``v = apply_cycle_fix(unw, fix) - offsets[:, None]`` taken
    as float64 (no fix, no offsets when None; ``unw`` float32 or float64, else taken as float64), in
    one compiled pass without the loop phase array; with ``cycles``, of ``unw + 2π·cycles`` (float64,
    as NumPy adds them) instead of ``unw``, without making it. The counts are :func:`loop_sums`' and the
    loop phases squared are its own, bit for bit; their sum runs pixel after pixel in chunks of
    :data:`kansho._loops_jit.CHUNK` added in order, where NumPy's ``einsum`` has its own order: the sums
    agree to round-off (1.3e-13 relative at most over the 1000² benchmark frame's 316 loops, each a sum of up
    to a million squares) and do not depend on the threads.

    ``unw`` (npair, npix) rad, ``fix`` and ``cycles`` (npair, npix) int8 (:func:`pixel_cycle_fix`; the
    spatial check's), ``offsets`` (npair,) rad; returns (nloop,) float64 sums of squares and int64 counts
    as :func:`loop_sums`."""
    u = np.asarray(unw)
    u = u if u.dtype in _jit.FLOATS else u.astype(np.float64)
    member = _members(L)
    f = np.zeros((0, 0), np.int8) if fix is None else np.asarray(fix, np.int8)
    k = np.zeros((0, 0), np.int8) if cycles is None else np.asarray(cycles, np.int8)
    if u.ndim != 2 or u.shape[0] != member.shape[1] or any(g is not None and a.shape != u.shape
                                                           for a, g in ((f, fix), (k, cycles))):
        raise ValueError(f"unw must be (npair={member.shape[1]}, npix) like fix, cycles: {u.shape} {f.shape} {k.shape}")
    off = np.zeros(u.shape[0]) if offsets is None else np.asarray(offsets, np.float64).reshape(u.shape[0])
    nchunk = -(-u.shape[1] // _jit.CHUNK)
    sq = np.zeros((nchunk, member.shape[0]))
    count = np.zeros((nchunk, member.shape[0]), np.int64)
    _loopsq_jit.loop_square_sums(np.ascontiguousarray(u), np.ascontiguousarray(f), _jit.cycle_table(u.dtype),
                                 NULL_FIX, off, *_jit.csr(L), sq, count, np.ascontiguousarray(k),
                                 _jit.cycle_table(np.float64))
    total = np.zeros(member.shape[0])
    for row in sq:  # the chunks in order
        total += row
    return total, count.sum(axis=0)


def loop_rms(sum_sq: npt.ArrayLike, count: npt.ArrayLike) -> Float64Array:
    """RMS loop phase per loop (rad) from the :func:`loop_sums` totals; NaN where count is 0."""
    sum_sq = np.asarray(sum_sq, dtype=np.float64)
    count = np.asarray(count)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.sqrt(sum_sq / np.maximum(count, 1)), np.nan)


@dataclass(frozen=True)
class BadPairs:
    """Result of :func:`find_bad_pairs`.

    Attributes
    ----------
    bad:
        (npair,) bool, pairs judged to hold an unwrapping error (to drop).
    no_loop:
        (npair,) bool, pairs in no loop with a measured RMS (not checkable by loop closure).
    no_loop_after:
        (npair,) bool, pairs not bad that are left in no loop once the bad pairs are removed.
    n_loops, n_bad_loops:
        (npair,) int, number of measured loops containing the pair and how many of them are bad
        (before anything is removed), for the info table.
    bad_loop:
        (nloop,) bool, loops with RMS >= threshold.
    unresolved_loop:
        (nloop,) bool, bad loops that contain no pair judged bad (to report: the error could not
        be attributed to a pair without dropping one whose loops are mostly good).
    order:
        Indices of the bad pairs in the order they were chosen.
    threshold:
        The loop-RMS threshold used (rad).
    """

    bad: BoolArray
    no_loop: BoolArray
    no_loop_after: BoolArray
    n_loops: npt.NDArray[np.int64]
    n_bad_loops: npt.NDArray[np.int64]
    bad_loop: BoolArray
    unresolved_loop: BoolArray
    order: list[int] = field(default_factory=list)
    threshold: float = 1.5


def _greedy_drop(member: BoolArray, measured: BoolArray, bad_loop: BoolArray) -> tuple[BoolArray, BoolArray, list[int]]:
    """Steps 1-4 of :func:`find_bad_pairs` on the (nloop, npair) membership: returns the dropped
    pairs (npair,) bool, the loops still active (nloop,) bool and the pairs in the order dropped."""
    mem_f = member.astype(np.float64)
    npair = member.shape[1]
    dropped = np.zeros(npair, bool)
    active = measured.copy()
    order: list[int] = []
    while True:
        chosen = _next_drop(mem_f, active, active & bad_loop, dropped)
        if chosen is None:
            break
        order.extend(int(p) for p in chosen)
        dropped[chosen] = True
        active &= ~member[:, chosen].any(axis=1)
    return dropped, active, order


def _next_drop(mem_f: Float64Array, active: BoolArray, act_bad: BoolArray, dropped: BoolArray) -> IndexArray | None:
    """The pairs to drop next (steps 1-4 of :func:`find_bad_pairs`), or None when done.

    ``mem_f`` (nloop, npair) loop membership as 0/1, ``active`` and ``act_bad`` (nloop,) the active
    loops and the bad ones among them, ``dropped`` (npair,) the pairs dropped so far.
    """
    if not act_bad.any():
        return None
    n = mem_f[active].sum(axis=0)
    b = mem_f[act_bad].sum(axis=0)
    g = n - b
    cand = (b > g) & ~dropped
    if not cand.any():
        return None
    unvouched = (g <= 0).astype(np.float64)
    mb = mem_f[act_bad]  # (nab, npair)
    n_unv = mb @ unvouched  # unvouched members per bad loop
    # pair p gets evidence from loop l if all *other* members of l are vouched for
    ev = (mb * ((n_unv[:, None] - unvouched[None, :]) == 0)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(n > 0, b / np.maximum(n, 1), 0.0)
    key = np.stack([ev, frac, b], axis=1)
    key[~cand] = -np.inf
    best = key[np.lexsort(key.T[::-1])[-1]]
    chosen = np.flatnonzero(cand & np.all(np.isclose(key, best[None, :], rtol=0, atol=1e-12), axis=1))
    for p in chosen:
        log.debug("loop closure: drop pair %d (evidence %d, %d of %d loops bad)", p, ev[p], b[p], n[p])
    return chosen


def find_bad_pairs(loop_rms: npt.ArrayLike, L: npt.ArrayLike, threshold: float = 1.5) -> BadPairs:
    """Attribute bad loops to the pairs with unwrapping errors.

    A loop is *bad* if its RMS loop phase (rad, over the frame) is ``>= threshold`` (LiCSBAS
    default 1.5 rad); loops with NaN RMS (no common valid pixel) carry no information and are
    ignored.  An unwrapping error in pair *p* makes every loop containing *p* bad, while the other
    loops of its clean partners stay good.  The error pairs are therefore found by a greedy
    elimination (Morishita et al., 2020, §2.3, describe the idea; the procedure below is ours):

    1. *Active* loops are measured loops that contain no pair dropped so far.  For every pair not
       yet dropped count its active loops ``n``, bad ones ``b`` and good ones ``g = n - b``.  A
       pair with ``g > 0`` is *vouched for* by a good loop.
    2. Stop if no active loop is bad.  *Candidates* are pairs whose active loops are in strict
       majority bad (``b > g``): a pair whose loops are mostly good is never dropped.
    3. Rank candidates by, in order: the *evidence* ``e`` = number of their bad active loops in
       which every other member is vouched for (so the candidate is the only member that can
       explain the loop); the bad fraction ``b / n``; the count ``b``.
    4. Drop the best candidate (all candidates tied on the full key at once — on a truly
       ambiguous configuration such as an isolated bad triangle every member is dropped, which
       is the conservative choice), deactivate its loops and repeat.

    Bad loops still active at the end are reported in ``unresolved_loop``.

    *Guarantee.* If a loop is bad exactly when it contains an error pair, the result is exact
    (every error pair found, no clean pair dropped) whenever (a) every error pair has at least one
    loop whose two other members are clean and (b) no clean pair has more loops containing an
    error pair than loops free of them: by (b) a clean pair is never a candidate while only error
    pairs have been dropped, and by (a) every error pair keeps an active bad loop until it is
    dropped.  Networks linking each epoch to its 3–4 successors with a few errors nearly always
    satisfy this.  Outside it the frame RMS alone cannot tell the culprit (e.g. two pairs that
    share their only loop) and the tie rule above applies.  Known limitation: two error pairs
    whose errors cancel exactly in a shared loop make that loop look good.

    Parameters
    ----------
    loop_rms:
        (nloop,) RMS loop phase per loop, radians (NaN = not measured).
    L:
        (nloop, npair) loop matrix.
    threshold:
        Bad-loop threshold, radians.
    """
    rms = np.asarray(loop_rms, dtype=np.float64)
    member = _members(L)
    nloop = member.shape[0]
    if rms.shape != (nloop,):
        raise ValueError(f"loop_rms must have shape ({nloop},), got {rms.shape}")
    measured = np.isfinite(rms)
    bad_loop = measured & (rms >= threshold)
    mem_f = member.astype(np.float64)

    n_loops = (mem_f[measured]).sum(axis=0).astype(np.int64)
    n_bad_loops = (mem_f[bad_loop]).sum(axis=0).astype(np.int64)
    dropped, active, order = _greedy_drop(member, measured, bad_loop)

    unresolved = active & bad_loop
    remaining = measured & ~member[:, dropped].any(axis=1)
    no_loop = n_loops == 0
    no_loop_after = ~dropped & ~member[remaining].any(axis=0)
    if dropped.any():
        log.info("loop closure: %d pairs with unwrapping errors: %s", int(dropped.sum()), order)
    if unresolved.any():
        log.warning(
            "loop closure: %d bad loops could not be attributed to a pair (kept)", int(unresolved.sum())
        )
    return BadPairs(
        bad=dropped,
        no_loop=no_loop,
        no_loop_after=no_loop_after,
        n_loops=n_loops,
        n_bad_loops=n_bad_loops,
        bad_loop=bad_loop,
        unresolved_loop=unresolved,
        order=order,
        threshold=float(threshold),
    )


def pixel_loop_sums(loop_ph: npt.ArrayLike, L: npt.ArrayLike, valid: npt.ArrayLike, err_threshold: float = np.pi,
                    base: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike] | None = None,
                    rows: npt.ArrayLike | None = None, phase_of_pairs: bool = False
                    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], Float64Array, BoolArray]:
    """Per-pixel loop-closure accumulators (LiCSBAS's ``n_loop_err``, loop RMS), and which loops are
    valid where.

    Parameters
    ----------
    loop_ph:
        (nloop, npix) loop phase, radians (NaN where a member is missing).
    L:
        (nloop, npair) loop matrix.
    valid:
        (npair, npix) bool, pair valid at the pixel.
    err_threshold:
        |loop phase| above which a loop counts as an unwrapping error at the pixel (rad).
    base:
        Accumulators ``(n_loop_err, count, sum_sq)`` of earlier loops to continue (an update that
        adds loops); default zeros.
    rows:
        (nloop,) bool, the loops added to the accumulators (``loop_valid`` still covers every loop).
    phase_of_pairs:
        ``loop_ph`` is the phase of the pairs (npair, npix) instead: its :func:`loop_phase` is taken
        on the way (bit for bit the same, without the (nloop, npix) array).

    Returns
    -------
    n_loop_err:
        (npix,) int32, loops with ``|loop phase| > err_threshold``.
    count:
        (npix,) int32, valid loops (every member valid and the loop phase finite).
    sum_sq:
        (npix,) float64, sum of the squared loop phase over the valid loops (rad²). The loops are
        added one after another in row order, so continuing from ``base`` gives bit for bit
        what one pass over all the loops gives.
    loop_valid:
        (nloop, npix) bool.
    """
    ph, member, valid = np.asarray(loop_ph), _members(L), np.asarray(valid, dtype=bool)
    nloop, npair = member.shape
    if ph.ndim != 2 or ph.shape[0] != (npair if phase_of_pairs else nloop) or valid.shape != (npair, ph.shape[1]):
        raise ValueError(f"shapes disagree: loop_ph {ph.shape}, L {member.shape}, valid {valid.shape}")
    npix = ph.shape[1]
    if base is None:
        n_err, cnt, ss = np.zeros(npix, np.int32), np.zeros(npix, np.int32), np.zeros(npix)
    else:
        n_err, cnt, ss = (np.array(b, dt) for b, dt in zip(base, (np.int32, np.int32, np.float64), strict=True))
    sel = np.ones(nloop, bool) if rows is None else np.asarray(rows, bool).reshape(nloop)
    ph = ph if ph.dtype in _jit.FLOATS else ph.astype(np.float64)
    loop_valid, by = np.empty((nloop, npix), bool), L if phase_of_pairs else np.eye(nloop, dtype=np.int8)
    # loops in order at each pixel (continuing from ``base`` as one pass); the loop phase is 0 + ph itself or by L
    _jit.pixel_sums(np.ascontiguousarray(ph), *_jit.csr(by, ph.dtype), *_jit.csr(member)[:2],
                    np.ascontiguousarray(valid), sel, float(err_threshold), n_err, cnt, ss, loop_valid)
    return n_err, cnt, ss, loop_valid


def pairs_in_valid_loop(L: npt.ArrayLike, loop_valid: npt.ArrayLike) -> BoolArray:
    """(npair, npix) bool: the pair belongs, at the pixel, to a loop of ``L`` valid there."""
    member = _members(L)
    lv = np.ascontiguousarray(loop_valid, dtype=bool)
    if lv.ndim != 2 or lv.shape[0] != member.shape[0]:
        raise ValueError(f"loop_valid must be (nloop={member.shape[0]}, npix); got {lv.shape}")
    out = np.empty((member.shape[1], lv.shape[1]), bool)
    _jit.pairs_in_loop(*_jit.csr(member)[:2], lv, out)
    return out


def choose_reference(score: npt.ArrayLike, ok: npt.ArrayLike, size: int = 5) -> tuple[int, int, int, int]:
    """Choose the reference area: the ``size`` × ``size`` window of best mean score.

    Parameters
    ----------
    score:
        (ny, nx) float, lower is better (e.g. loop RMS, or minus the coherence). NaN pixels are
        treated as not ok.
    ok:
        (ny, nx) bool, pixels allowed in the reference (e.g. valid in all kept pairs, coherent).
    size:
        Window side in pixels. If no window of that size has every pixel ok the size is reduced
        one by one down to 1 (logged).

    Returns
    -------
    (row0, row1, col0, col1):
        Half-open pixel bounds: the window is ``[row0:row1, col0:col1]``. Ties go to the first
        window in raster order.

    Raises
    ------
    NetworkError
        If no pixel is ok.
    """
    sc = np.asarray(score, dtype=np.float64)
    ok_in = np.asarray(ok, dtype=bool)
    if sc.ndim != 2 or ok_in.shape != sc.shape:
        raise ValueError(f"score and ok must be 2-D of one shape; got {sc.shape}, {ok_in.shape}")
    good = ok_in & np.isfinite(sc)
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if not good.any():
        raise NetworkError("no pixel qualifies as reference (none valid in every kept pair and coherent)")
    s0 = np.where(good, sc, 0.0)
    ok_u8 = good.astype(np.uint8)
    ny, nx = sc.shape
    for s in range(min(size, ny, nx), 0, -1):
        # window of output pixel (i, j) covers rows i - s//2 ... i - s//2 + s - 1
        all_ok = ndimage.minimum_filter(ok_u8, size=s, mode="constant", cval=0) == 1
        if not all_ok.any():
            continue
        mean = ndimage.uniform_filter(s0, size=s, mode="constant", cval=0.0)
        mean = np.where(all_ok, mean, np.inf)
        i, j = np.unravel_index(int(np.argmin(mean)), mean.shape)
        r0, c0 = int(i) - s // 2, int(j) - s // 2
        if s < size:
            log.warning("reference: no %d×%d window is fully ok; using %d×%d", size, size, s, s)
        log.info(
            "reference area rows %d:%d, cols %d:%d (mean score %.4g)", r0, r0 + s, c0, c0 + s, mean[i, j]
        )
        return r0, r0 + s, c0, c0 + s
    raise NetworkError("no pixel qualifies as reference")  # unreachable: size 1 always qualifies


def reference_offsets(unw_ref_window: npt.ArrayLike) -> Float64Array:
    """Mean of each pair over the reference window: (npair, nref_pix) -> (npair,), NaN if none valid.

    Subtract it from each pair (``unw - offsets[:, None]``) to refer every pair to the area.
    """
    a = np.asarray(unw_ref_window, dtype=np.float64)
    a = a.reshape(a.shape[0], -1)
    finite = np.isfinite(a)
    cnt = finite.sum(axis=1)
    tot = np.where(finite, a, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)


def pixel_cycle_fix(loop_ph: npt.ArrayLike, L: npt.ArrayLike, pairs: npt.ArrayLike, tol: float = 1.0,
                    min_loops: int = 2) -> npt.NDArray[np.int8]:
    """Per-pixel unwrapping-error correction from triangle-loop misclosures.

    A loop's phase at a pixel is ``2π·K + ε`` where ``K = L k`` is the integer misclosure made by
    the cycle errors ``k`` of its members and ``ε`` the non-closure noise (atmosphere and
    deformation cancel exactly). A loop is *trusted* at a pixel where it closes within ``tol`` of
    a multiple of 2π (``|loop − 2π·round(loop / 2π)| <= tol``); loops closing farther from every
    multiple (noise of a few radians) are not used, so noise is never "corrected". Only pixels
    with a trusted loop of non-zero ``K`` are touched. There the cycle errors are found by a
    greedy descent of ``Σ_l |K_l − (L k)_l|`` over the trusted loops, one cycle of one pair at a
    time (:mod:`kansho._unwfix_jit`; Yunjun et al. 2019, *Computers & Geosciences* 133, 104331,
    §3.2, phase-closure correction with a sparsity prior; Benoit et al. 2020, *Remote Sensing of
    Environment* 237, 111502; Biggs et al. 2007, *Geophys. J. Int.* 170(3), 1165): a pair is
    corrected when its cycle closes at least ``min_loops`` trusted loops and more than it opens,
    and no rival move (any member of those loops that gains at all, followed to the end of the
    descent) leaves a smaller misfit with as few cycles. Where the loops do not determine the
    culprit (a tie, too few loops, or loops left open that no majority of good loops vouches for)
    the pairs concerned are nulled instead. So are the pairs at an epoch where a shift of that epoch by
    whole cycles (which no loop sees) explains the loops with at most one more pair in error (two of the
    three pairs of a network's last epoch off by a cycle look like the third off by the opposite), and
    the pairs left doubtful by an open loop (:func:`kansho._unwfix_jit.null_doubtful`).

    Parameters
    ----------
    loop_ph:
        (nloop, npix) loop phase, radians (NaN where a member is missing), of pairs referred to
        one area (see :func:`loop_phase`).
    L:
        (nloop, npair) triangle-loop matrix (three non-zeros a row).
    pairs:
        (npair, 2) epoch indices of each pair (first, second).
    tol:
        Largest distance (rad) of a trusted loop phase from a multiple of 2π.
    min_loops:
        Fewest trusted loops a correction must close (else the pixel is nulled in that pair).

    Returns
    -------
    (npair, npix) int8: 0 = unchanged, ``c`` = add ``2π·c`` to the pair's phase there,
    :data:`NULL_FIX` = set it to no data (apply with :func:`apply_cycle_fix`).
    """
    return pixel_cycle_fix_trusted(loop_ph, L, pairs, tol, min_loops)[0]


def trusted_loops(loop_ph: npt.ArrayLike, tol: float = 1.0) -> tuple[Float64Array, BoolArray]:
    """Integer misclosure ``round(loop / 2π)`` (nloop, npix) and where the loop is trusted: finite
    and within ``tol`` rad of that multiple of 2π (see :func:`pixel_cycle_fix`)."""
    ph = np.asarray(loop_ph, dtype=np.float64)
    if ph.ndim != 2:
        raise ValueError(f"loop_ph must be (nloop, npix); got {ph.shape}")
    K, trusted = np.empty(ph.shape), np.empty(ph.shape, bool)
    _jit.trusted_loops(np.ascontiguousarray(ph), float(tol), K, trusted)
    return K, trusted


def fix_mode(fix: npt.ArrayLike, checked: npt.ArrayLike, span: int = 4) -> npt.NDArray[np.int64]:
    """Per pair, the counts of each cycle fix -span..span over the pixels ``checked`` (in a trusted
    loop): (npair, 2·span + 1) int64. Summed over blocks, its arg-max less ``span`` is the pair's
    most common fix; when that is not 0 the pair's reference was itself off by whole cycles."""
    f = np.asarray(fix)
    ok = np.asarray(checked, bool)
    if f.dtype == np.int8 and f.ndim == 2 and ok.shape == f.shape:
        return np.asarray(_jit.fix_counts(np.ascontiguousarray(f), np.ascontiguousarray(ok), int(span)))
    return np.stack([((f == c) & ok).sum(axis=1) for c in range(-span, span + 1)], axis=1).astype(np.int64)


def apply_cycle_fix(unw: npt.ArrayLike, fix: npt.ArrayLike) -> FloatArray:
    """Unwrapped phase with the cycle fix of :func:`pixel_cycle_fix` applied.

    ``unw`` and ``fix`` of one shape (any), radians and int8; returns ``unw + 2π·fix`` in the
    floating dtype of ``unw``, NaN where ``fix == NULL_FIX``. Where ``fix`` is 0 the value is
    unchanged bit for bit.
    """
    u = np.asarray(unw)
    u = u if np.issubdtype(u.dtype, np.floating) else u.astype(np.float64)
    f = np.asarray(fix)
    if f.shape != u.shape:
        raise ValueError(f"fix {f.shape} and unw {u.shape} differ in shape")
    if u.dtype not in _jit.FLOATS or f.dtype != np.int8:
        out = np.where(f != 0, u + u.dtype.type(TWO_PI) * f.astype(u.dtype), u)
        out[f == NULL_FIX] = np.nan
        return out
    out = np.empty(u.shape, u.dtype)
    _jit.apply_fix(np.ascontiguousarray(u).reshape(-1), np.ascontiguousarray(f).reshape(-1), _jit.cycle_table(u.dtype),
                   NULL_FIX, out.reshape(-1))
    return out


def robust_offsets(unw_ref_window: npt.ArrayLike) -> Float64Array:
    """Each pair's phase over a reference window, blind to whole-cycle errors in part of it:
    (npair, nref_pix) -> (npair,) rad, NaN if none valid.

    The median, plus the mean of the deviations from it wrapped to (−π, π]: a 2π patch covering
    less than half the window moves it by the noise only, where the plain mean
    (:func:`reference_offsets`) moves by 2π times the patch's share of the window.
    """
    a = np.asarray(unw_ref_window, dtype=np.float64)
    a = a.reshape(a.shape[0], -1)
    finite = np.isfinite(a)
    cnt = finite.sum(axis=1)
    out = np.full(a.shape[0], np.nan)
    ok = cnt > 0
    if ok.any():
        med = np.nanmedian(a[ok], axis=1)
        dev = np.angle(np.exp(1j * (a[ok] - med[:, None])))
        out[ok] = med + np.where(finite[ok], dev, 0.0).sum(axis=1) / cnt[ok]
    return out
