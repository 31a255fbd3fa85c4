"""The per-pixel cycle fix of one block of step 1-2 in fused passes: the phase referred to the pairs'
offsets with the spatial check's cycles added, the pixels of each pair in a complete loop, and the
loops' fix made final (:func:`kansho.loops.pixel_cycle_fix`; Morishita et al. 2020, *Remote Sens.*
12(3):424, for the loops; the cycles of whole regions are :mod:`kansho.jumps`').

Each function is one compiled pass over the block (:mod:`kansho._loops_jit`) in place of a chain of
whole-array NumPy passes, with the same operations in the same order: results are bit for bit those
of the NumPy formulation each docstring gives (``tests/test_loops_jit.py`` checks it).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kansho import _loopfuse_jit, _unwfix_jit
from kansho import _loops_jit as _jit
from kansho._types import BoolArray
from kansho._unwfix_jit import NULL

#: 2π·c for c = -128 .. 127 as NumPy's float64 product of 2π and an int8 has it
CYCLE_TABLE = _jit.cycle_table(np.float64)
#: fix values counted per pair (-SPAN .. SPAN: :func:`kansho.loops.fix_mode`)
SPAN = 4


def _member_csr(L: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    return _jit.csr(np.asarray(L) != 0)[:2]


def referred_phase(unw: np.ndarray, cycles: np.ndarray | None, offsets: npt.ArrayLike,
                   out: npt.NDArray[np.float64] | None = None) -> npt.NDArray[np.float64]:
    """``(unw + 2π·cycles) - offsets[:, None]`` in float64 (``unw - offsets[:, None]`` without cycles).

    ``unw`` (npair, npix) float32 or float64 rad, ``cycles`` (npair, npix) int8 (the spatial check's)
    or None, ``offsets`` (npair,) rad; returns (npair, npix) float64 (in ``out`` when given)."""
    u = np.ascontiguousarray(unw)
    if u.ndim != 2 or u.dtype not in _jit.FLOATS:
        raise ValueError(f"unw must be (npair, npix) float32/64; got {u.shape} {u.dtype}")
    k = np.zeros((0, 0), np.int8) if cycles is None else np.ascontiguousarray(cycles, np.int8).reshape(u.shape)
    out = np.empty(u.shape, np.float64) if out is None else out
    _jit.refer(u, k, CYCLE_TABLE, np.asarray(offsets, np.float64).reshape(u.shape[0]), out)
    return out


def fixed_referred(unw: np.ndarray, fix: np.ndarray | None, offsets: npt.ArrayLike,
                   out: npt.NDArray[np.float64] | None = None) -> npt.NDArray[np.float64]:
    """``apply_cycle_fix(unw, fix) - offsets[:, None]`` in float64 (:func:`kansho.loops.apply_cycle_fix`:
    the fix added in the dtype of ``unw``, NaN where it is :data:`NULL`; ``unw - offsets[:, None]``
    without a fix), in one pass.

    ``unw`` (npair, npix) float32 or float64 rad, ``fix`` (npair, npix) int8 or None, ``offsets``
    (npair,) rad; returns (npair, npix) float64 (in ``out`` when given)."""
    u = np.ascontiguousarray(unw)
    if u.ndim != 2 or u.dtype not in _jit.FLOATS:
        raise ValueError(f"unw must be (npair, npix) float32/64; got {u.shape} {u.dtype}")
    f = np.zeros((0, 0), np.int8) if fix is None else np.ascontiguousarray(fix, np.int8).reshape(u.shape)
    out = np.empty(u.shape, np.float64) if out is None else out
    _jit.fixed_refer(u, f, _jit.cycle_table(u.dtype), NULL, np.asarray(offsets, np.float64).reshape(u.shape[0]), out)
    return out


def settle_fix(unw: np.ndarray, lfix: np.ndarray, cycles: np.ndarray | None, L: npt.ArrayLike,
               trusted: np.ndarray, null_all: bool = False) -> tuple[np.ndarray, ...]:
    """The loops' cycle fix of a block made final, in one pass.

    ``unw`` (npair, npix) the phase the loops saw (NaN = no data), ``lfix`` (npair, npix) int8 their
    fix (:func:`kansho.loops.pixel_cycle_fix_trusted`; set to 0 where ``unw`` is not finite, in
    place), ``cycles`` the spatial check's (int8, or None), ``L`` (nloop, npair) the loops and
    ``trusted`` (nloop, npix) bool where each is trusted. Returns, as NumPy would have them:

    * ``fix`` (npair, npix) int8: ``lfix + cycles`` (:data:`NULL` kept), with ``null_all`` every
      non-zero one :data:`NULL`: what the later readers of the phase apply;
    * ``sfix``: ``fix - cycles`` (:data:`NULL` kept): the fix of the phase the loops saw;
    * ``hist`` (npair, 2·SPAN + 1) int64: ``fix_mode(lfix, pairs_in_valid_loop(L, trusted))``;
    * ``counts`` (3, npair) int64: pixels whose ``fix`` is neither 0 nor :data:`NULL`, pixels
      :data:`NULL`, and pixels whose ``sfix`` is neither (corrected by the loops themselves)."""
    u = np.ascontiguousarray(unw)
    if lfix.shape != u.shape or lfix.dtype != np.int8 or not lfix.flags.c_contiguous:
        raise ValueError(f"lfix must be C-contiguous int8 of unw's shape {u.shape}; got {lfix.shape} {lfix.dtype}")
    k = np.zeros((0, 0), np.int8) if cycles is None else np.ascontiguousarray(cycles, np.int8).reshape(u.shape)
    fix, sfix = np.empty(u.shape, np.int8), np.empty(u.shape, np.int8)
    hist, counts = _jit.settle_fix(u, lfix, k, bool(null_all), NULL, *_member_csr(L),
                                   np.ascontiguousarray(trusted, bool), SPAN, fix, sfix)
    return fix, sfix, hist, counts


def pixel_cycle_fix_trusted(loop_ph: npt.ArrayLike, L: npt.ArrayLike, pairs: npt.ArrayLike, tol: float = 1.0,
                            min_loops: int = 2, work: tuple[np.ndarray, ...] | None = None
                            ) -> tuple[npt.NDArray[np.int8], BoolArray]:
    """:func:`kansho.loops.pixel_cycle_fix`, and where each loop is trusted ((nloop, npix) bool, as
    :func:`kansho.loops.trusted_loops` gives it), from one pass over the loop phase. ``work``: room for the
    misclosures, the trusted loops and the active pixels, (nloop, npix) int16 and bool, (npix,) bool."""
    ph = np.asarray(loop_ph, dtype=np.float64)
    Lm = np.asarray(L)
    if ph.ndim != 2 or Lm.ndim != 2 or ph.shape[0] != Lm.shape[0]:
        raise ValueError(f"loop_ph must be (nloop={Lm.shape[0] if Lm.ndim == 2 else '?'}, npix); got {ph.shape}")
    K, trusted, active = _fix_room(Lm, ph.shape[1], tol, work)
    _jit.misclosures(np.ascontiguousarray(ph), float(tol), K, trusted, active)
    return _solve(K, trusted, active, Lm, pairs, min_loops), trusted


def unw_cycle_fix(unw: npt.NDArray[np.float64], L: npt.ArrayLike, pairs: npt.ArrayLike, tol: float = 1.0,
                  min_loops: int = 2, work: tuple[np.ndarray, ...] | None = None
                  ) -> tuple[npt.NDArray[np.int8], BoolArray, npt.NDArray[np.int64]]:
    """``pixel_cycle_fix_trusted(loop_phase(unw, L), ...)`` and, per pair, the pixels where it is a member of
    a complete loop (``pairs_in_valid_loop(L, isfinite(loop_phase(unw, L))).sum(axis=1)``, (npair,) int64), from
    the referred phase ``unw`` (npair, npix) float64 itself, without the loop phase array: one compiled pass
    (:func:`kansho._loopfuse_jit.loop_misclosures`), bit for bit the same."""
    u = np.ascontiguousarray(unw, dtype=np.float64)
    Lm = np.asarray(L)
    if u.ndim != 2 or Lm.ndim != 2 or u.shape[0] != Lm.shape[1]:
        raise ValueError(f"unw must be (npair={Lm.shape[1] if Lm.ndim == 2 else '?'}, npix); got {u.shape}")
    K, trusted, active = _fix_room(Lm, u.shape[1], tol, work)
    in_loop = _loopfuse_jit.loop_misclosures(u, *_jit.csr(Lm, np.float64), float(tol), K, trusted, active)
    return _solve(K, trusted, active, Lm, pairs, min_loops), trusted, in_loop


def _fix_room(Lm: np.ndarray, npix: int, tol: float, work: tuple[np.ndarray, ...] | None
              ) -> tuple[np.ndarray, ...]:
    """Checks the loops (triangles) and ``tol``; the room (K, trusted, active) of ``npix`` pixels."""
    nloop = Lm.shape[0]
    if nloop and not np.all((Lm != 0).sum(axis=1) == 3):
        raise ValueError("pixel_cycle_fix needs triangle loops (three members a row)")
    if not 0 < tol < np.pi:
        raise ValueError(f"tol must be in (0, pi), got {tol}")
    return work or (np.empty((nloop, npix), np.int16), np.empty((nloop, npix), bool), np.empty(npix, bool))


def _solve(K: np.ndarray, trusted: np.ndarray, active: np.ndarray, Lm: np.ndarray, pairs: npt.ArrayLike,
           min_loops: int) -> npt.NDArray[np.int8]:
    """The cycle fix (npair, npix) int8 of the active pixels from their misclosures (:mod:`kansho._unwfix_jit`)."""
    member = Lm != 0
    npair = member.shape[1]
    fix = np.zeros((npair, K.shape[1]), np.int8)
    act = np.flatnonzero(active)
    if act.size == 0:
        return fix
    mem = np.argsort(~member, axis=1, kind="stable")[:, :3].astype(np.int64)
    sgn = np.take_along_axis(Lm, mem, axis=1).astype(np.int32)
    ends = np.asarray(pairs, np.int64).reshape(npair, 2)
    _unwfix_jit.solve_pixels(K, trusted, mem, sgn, ends, int(min_loops), act.astype(np.int64), fix)
    _unwfix_jit.null_doubtful(K, trusted, mem, sgn, act, fix)
    return fix
