"""Preparation of interferograms before the time series (Steps 0-3 to 0-5): GACOS, mask, clip.

Plain functions on arrays (no file access). Conventions: phase in radians with LiCSAR's sign
(phase grows with range, so a larger path delay *increases* the phase); delays in metres;
grids are :class:`~kansho.grid.Grid` (north-up lon/lat, GDAL geotransform of pixel corners).

GACOS correction (Yu et al. 2018, *JGR Solid Earth* 123; Yu, Li & Penna 2018, *RSE* 204): GACOS
gives the zenith total delay ZTD (m) per epoch. Projected to the line of sight with the incidence
angle θ, whose cosine is the Up component of the LOS unit vector (``U = cos θ``)::

    slant(e) = ZTD(e) / U
    φ_atm(pair) = 4π/λ · (slant(date2) − slant(date1))          (rad)
    φ_corrected = φ − φ_atm

LiCSAR's per-epoch ``*.sltd.geo.tif`` already holds the slant delay as phase (rad, positive =
larger delay), so for it φ_atm = sltd(date2) − sltd(date1). Absolute delays (ZTD ~2.3 m) differ
between epochs by a near-constant that only shifts the interferogram, which the reference area
removes later; the spread of the correction is what matters. As LiCSBAS does, the correction's
effect is judged by the standard deviation of the phase before and after (Morishita et al. 2020).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.ndimage import map_coordinates

from kansho.grid import Grid

F32 = npt.NDArray[np.float32]
Window = tuple[slice, slice]

__all__ = [
    "LAYER_UNITS",
    "bilinear_resample",
    "box_mask",
    "choose_layers",
    "clip_window",
    "delay_phase",
    "layer_delay_phase",
    "layer_moments",
    "lonlat_window",
    "moment_std",
    "phase_std",
    "pixel_window",
    "polygon_mask",
        "zenith_to_slant",
]


# ----------------------------------------------------------------------------------------------- GACOS
def zenith_to_slant(ztd_m: npt.ArrayLike, los_u: npt.ArrayLike) -> F32:
    """Zenith delay → slant (LOS) delay: ``ztd / U`` with ``U = cos(incidence)``.

    ``ztd_m`` (ny, nx) metres; ``los_u`` (ny, nx) or scalar, Up component of the ground→satellite
    unit vector. Returns metres (ny, nx) float32; NaN where either is NaN or ``U <= 0.05``
    (incidence beyond ~87°, meaningless for SAR). Mapping function 1/cos θ as in Yu et al. 2018.
    """
    z = np.asarray(ztd_m, dtype=np.float32)
    u = np.asarray(los_u, dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(u > 0.05, z / u, np.nan)
    return out.astype(np.float32)


def delay_phase(slant1_m: npt.ArrayLike, slant2_m: npt.ArrayLike, wavelength_m: float) -> F32:
    """Interferometric phase (rad) of a change of slant delay: ``4π/λ · (slant2 − slant1)``.

    Inputs in metres (any matching shapes), ``wavelength_m`` in metres. Positive for a larger
    delay at the second date (LiCSAR sign: phase grows with range). Subtract it from the
    unwrapped phase to correct the interferogram.
    """
    d = np.asarray(slant2_m, dtype=np.float64) - np.asarray(slant1_m, dtype=np.float64)
    return (d * (4.0 * math.pi / wavelength_m)).astype(np.float32)


def phase_std(phase: npt.ArrayLike, valid: npt.ArrayLike | None = None) -> float:
    """Standard deviation (rad) of the finite values of ``phase`` (optionally only where ``valid``)."""
    a = np.asarray(phase, dtype=np.float64)
    sel = np.isfinite(a)
    if valid is not None:
        sel &= np.asarray(valid, bool)
    return float(a[sel].std()) if sel.any() else float("nan")


def bilinear_resample(src: npt.ArrayLike, src_grid: Grid, dst_grid: Grid) -> F32:
    """Bilinear interpolation of ``src`` (on ``src_grid``) at the pixel centres of ``dst_grid``.

    ``src`` (src.height, src.width); returns (dst.height, dst.width) float32, NaN where a
    destination centre lies outside the source's pixel centres by more than half a pixel or where
    any of the four neighbours is NaN. Both grids must share the CRS (lon/lat). Delay maps are
    smooth at the scale of a GACOS pixel (~90 m), so bilinear is what GACOS's users do.
    """
    a = np.asarray(src, dtype=np.float64)
    x0, dx, _, y0, _, dy = src_grid.transform
    # fractional source pixel index (0 = centre of the first pixel) of each destination centre
    cols = (dst_grid.lon() - x0) / dx - 0.5
    rows = (dst_grid.lat() - y0) / dy - 0.5
    ny, nx = a.shape
    cc = np.clip(cols, 0.0, nx - 1.0)
    rr = np.clip(rows, 0.0, ny - 1.0)
    out_c = (cols < -0.5) | (cols > nx - 0.5)
    out_r = (rows < -0.5) | (rows > ny - 0.5)
    R, C = np.meshgrid(rr, cc, indexing="ij")
    nan = ~np.isfinite(a)
    vals = map_coordinates(np.where(nan, 0.0, a), [R, C], order=1, mode="nearest")
    if nan.any():  # any NaN neighbour poisons the sample
        bad = map_coordinates(nan.astype(np.float64), [R, C], order=1, mode="nearest") > 1e-9
        vals[bad] = np.nan
    vals[out_r, :] = np.nan
    vals[:, out_c] = np.nan
    return vals.astype(np.float32)


# ------------------------------------------------------------------------------ per-epoch delay layers
#: units of a per-epoch layer: its value ``v`` → the epoch's delay phase ``φ`` (rad, LiCSAR sign) is
#: ``rad``: v (slant delay already as phase: LiCSAR sltd, ICAMS); ``m_los``: 4π/λ·v (slant delay, m);
#: ``m_zenith``: 4π/λ·v/U (zenith delay, m); ``m_disp``: −4π/λ·v (LOS displacement toward the satellite,
#: m: LiCSAR's solid-earth tide); ``rad_advance``: −v (LiCSAR's ionospheric phase, a phase *advance*)
LAYER_UNITS = ("rad", "m_los", "m_zenith", "m_disp", "rad_advance")


def layer_delay_phase(values: npt.ArrayLike, unit: str, wavelength_m: float,
                      los_u: npt.ArrayLike | None = None) -> F32:
    """One epoch's layer ``values`` (ny, nx) in ``unit`` (:data:`LAYER_UNITS`) → delay phase φ (rad).

    φ follows LiCSAR's sign (phase grows with range): a pair's correction is ``φ(date2) − φ(date1)``,
    subtracted from its unwrapped phase. A slant delay ``s`` (m) gives 4π/λ·s; a zenith delay is
    mapped with 1/cos θ = 1/U (``los_u``: (ny, nx) or scalar, needed for ``m_zenith`` only; Yu et al.
    2018); a LOS displacement ``d`` toward the satellite shortens the range, so φ = −4π/λ·d (the
    solid-earth tide, as LiCSAR corrects it: ``unw − (−4π/λ)(tide2 − tide1)``); LiCSAR's ionospheric
    screen (4π·K·STEC/(c·f), Lazecký et al. 2023) is a phase advance, φ = −v (LiCSAR corrects
    ``unw − (iono1 − iono2)``). Returns float32, NaN where the input is NaN.
    """
    v = np.asarray(values, dtype=np.float64)
    k = 4.0 * math.pi / wavelength_m
    if unit == "rad":
        out = v
    elif unit == "rad_advance":
        out = -v
    elif unit == "m_los":
        out = k * v
    elif unit == "m_disp":
        out = -k * v
    elif unit == "m_zenith":
        if los_u is None:
            raise ValueError("a zenith delay needs the LOS Up component (incidence angle)")
        out = k * zenith_to_slant(v, los_u).astype(np.float64)
    else:
        raise ValueError(f"unknown layer unit {unit!r} (one of {', '.join(LAYER_UNITS)})")
    return out.astype(np.float32)


def layer_moments(phase: npt.ArrayLike, corrections: Sequence[npt.ArrayLike | None]
                  ) -> tuple[int, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Count, sums and cross-products of ``x = [phase, c_1 … c_L]`` over the pixels where all are finite.

    ``phase`` (ny, nx) rad; ``corrections`` L arrays like it (a layer's pair correction
    ``φ(date2) − φ(date1)``), ``None`` for a layer that does not apply (its entries stay 0). Returns
    ``(n, s (L+1,), S (L+1, L+1))`` with ``s_i = Σ x_i`` and ``S_ij = Σ x_i x_j``: the standard
    deviation of any combination ``a·x`` then follows exactly (:func:`moment_std`), so the effect of
    every subset of layers is known after one pass over the data (:func:`choose_layers`). Sums are additive over strips.
    """
    u = np.asarray(phase, np.float64)
    ok = np.isfinite(u)
    cols: list[npt.NDArray[np.float64] | None] = []
    for c in corrections:
        if c is None:
            cols.append(None)
            continue
        a = np.asarray(c, np.float64)
        ok &= np.isfinite(a)
        cols.append(a)
    m = len(corrections) + 1
    x = np.zeros((m, int(ok.sum())))
    x[0] = u[ok]
    for i, col in enumerate(cols, start=1):
        if col is not None:
            x[i] = col[ok]
    return int(x.shape[1]), x.sum(axis=1), x @ x.T


def moment_std(n: npt.ArrayLike, s: npt.ArrayLike, S: npt.ArrayLike, a: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Standard deviation of ``a·x`` from the moments of :func:`layer_moments`, for many pairs at once.

    ``n`` (P,), ``s`` (P, m), ``S`` (P, m, m), ``a`` (P, m) coefficients. NaN where ``n`` is 0.
    """
    n_ = np.asarray(n, np.float64)
    a_ = np.asarray(a, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.einsum("pi,pi->p", a_, np.asarray(s, np.float64)) / n_
        msq = np.einsum("pi,pij,pj->p", a_, np.asarray(S, np.float64), a_) / n_
    return np.sqrt(np.maximum(msq - mean * mean, 0.0))


def choose_layers(
    n: npt.ArrayLike, s: npt.ArrayLike, S: npt.ArrayLike, applies: npt.ArrayLike, force: Sequence[bool],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per pair, the layers whose correction lowers the phase std given the others kept.

    ``n`` (P,), ``s`` (P, L+1), ``S`` (P, L+1, L+1) from :func:`layer_moments`; ``applies`` (P, L)
    bool (the layer exists for both dates of the pair); ``force`` (L,) keeps a layer wherever it
    applies. Backward elimination: every layer that applies starts kept; while removing one of the
    (unforced) kept layers lowers the std of ``u − Σ_kept c``, the one whose removal lowers it most
    is removed. At the end each kept layer lowers the std given the others (the criterion GACOS
    users apply to each interferogram, Yu et al. 2018; Morishita et al. 2020, here for several
    layers at once), and of two models of the same delay (GACOS and ICAMS, which would remove it
    twice) the worse is removed; the result does not depend on the layers' order. Returns ``keep``
    (P, L) and, per layer, ``before``/``after`` (P, L) rad: the std without and with that layer, the
    other layers as finally kept (NaN where the layer does not apply). At most L rounds of L+1
    evaluations, vectorised over pairs.
    """
    ap = np.asarray(applies, bool)
    p, nl = ap.shape
    forced = np.asarray(force, bool).reshape(nl)
    keep = ap.copy()

    def coef(k: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        c = np.zeros((p, nl + 1))
        c[:, 0] = 1.0
        c[:, 1:] = -k.astype(np.float64)
        return c

    for _ in range(nl):
        cur = moment_std(n, s, S, coef(keep))
        best_gain = np.zeros(p)
        best = np.full(p, -1)
        for li in range(nl):
            trial = keep.copy()
            trial[:, li] = False
            sd = moment_std(n, s, S, coef(trial))
            gain = cur - sd
            better = keep[:, li] & ~forced[li] & (gain > best_gain)
            best_gain[better] = gain[better]
            best[better] = li
        rm = np.flatnonzero(best >= 0)
        if not rm.size:
            break
        keep[rm, best[rm]] = False
    before = np.full((p, nl), np.nan)
    after = np.full((p, nl), np.nan)
    for li in range(nl):
        with_l, without = keep.copy(), keep.copy()
        with_l[:, li] = True
        without[:, li] = False
        on = ap[:, li]
        before[on, li] = moment_std(n, s, S, coef(without))[on]
        after[on, li] = moment_std(n, s, S, coef(with_l))[on]
    return keep, before, after


# ------------------------------------------------------------------------------------------ mask / clip
def pixel_window(box: tuple[int, int, int, int], shape: tuple[int, int]) -> Window:
    """``(x1, x2, y1, y2)`` (columns, rows, end-exclusive) → ``(rows, cols)`` slices inside ``shape``.

    Raises ValueError if the box does not overlap the grid.
    """
    x1, x2, y1, y2 = box
    ny, nx = shape
    c0, c1 = max(0, x1), min(nx, x2)
    r0, r1 = max(0, y1), min(ny, y2)
    if c1 <= c0 or r1 <= r0:
        raise ValueError(f"box {x1}:{x2}/{y1}:{y2} lies outside the {nx} x {ny} grid")
    return slice(r0, r1), slice(c0, c1)


def lonlat_window(box: tuple[float, float, float, float], grid: Grid) -> Window:
    """``(lon1, lon2, lat1, lat2)`` → the window of pixels whose centres lie inside the box.

    Raises ValueError if no pixel centre is inside.
    """
    lon1, lon2, lat1, lat2 = min(box[0], box[1]), max(box[0], box[1]), min(box[2], box[3]), max(box[2], box[3])
    cols = np.flatnonzero((grid.lon() >= lon1) & (grid.lon() <= lon2))
    rows = np.flatnonzero((grid.lat() >= lat1) & (grid.lat() <= lat2))
    if cols.size == 0 or rows.size == 0:
        raise ValueError(f"lon/lat box {lon1}/{lon2}/{lat1}/{lat2} contains no pixel centre of the grid")
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def box_mask(windows: Iterable[Window], shape: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """Boolean (ny, nx) map, True inside any of the ``windows``."""
    m = np.zeros(shape, dtype=bool)
    for rows, cols in windows:
        m[rows, cols] = True
    return m


def polygon_mask(geometries: Sequence[Mapping[str, Any]], grid: Grid) -> npt.NDArray[np.bool_]:
    """Boolean (ny, nx) map, True where a pixel centre lies inside any of the GeoJSON geometries.

    ``geometries`` are GeoJSON geometry mappings (Polygon / MultiPolygon) in the grid's lon/lat.
    """
    from rasterio.features import geometry_mask
    from rasterio.transform import Affine

    if not geometries:
        return np.zeros(grid.shape, dtype=bool)
    return geometry_mask(list(geometries), out_shape=grid.shape, transform=Affine.from_gdal(*grid.transform),
                         invert=True, all_touched=False)


def clip_window(inside: npt.NDArray[np.bool_]) -> Window:
    """The smallest window holding every True pixel of ``inside`` (ValueError if none)."""
    rows = np.flatnonzero(inside.any(axis=1))
    cols = np.flatnonzero(inside.any(axis=0))
    if rows.size == 0:
        raise ValueError("the clip area contains no pixel of the grid")
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def window_intersection(a: Window, b: Window) -> Window:
    """Intersection of two ``(rows, cols)`` windows (ValueError if empty)."""
    r0, r1 = max(a[0].start, b[0].start), min(a[0].stop, b[0].stop)
    c0, c1 = max(a[1].start, b[1].start), min(a[1].stop, b[1].stop)
    if r1 <= r0 or c1 <= c0:
        raise ValueError("the clip areas do not overlap")
    return slice(r0, r1), slice(c0, c1)
