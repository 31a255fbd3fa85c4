"""Network adjustment of frames on one grid: offsets (and ramps) from their overlaps, then a feathered blend.

Model (frame ``i``, pixel at east/north distance ``x, y`` in km from the mosaic centre)::

    d_i(x, y) = v(x, y) + a_i + b_i x + c_i y + noise      (b = c = 0 without ramps)

and for every pixel in the overlap of frames ``i`` and ``j``::

    d_i - d_j = (a_i - a_j) + (b_i - b_j) x + (c_i - c_j) y

whose normal equations are assembled per overlap from sums over its pixels (no per-pixel loop),
with the fixed frame's parameters removed (Wang & Wright 2012, GRL 39, L07303). Maps are
(n_frame, ny, nx) float64 on one grid, NaN outside a frame; :mod:`kansho.batch.mosaic` reads and
writes the files.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from kansho.grid import Grid

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
Normal = tuple[int, int, F64, F64, int, float]
#: fewest common pixels for an overlap to count
MIN_OVERLAP = 20


def _data_box(valid: npt.NDArray[np.bool_]) -> tuple[int, int, int, int] | None:
    """(row0, row1, col0, col1), end-exclusive, of the True pixels of a (ny, nx) mask; None if none."""
    rows = np.flatnonzero(valid.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(valid.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def overlap_normals(stack: F64, x: F64, y: F64, ramp: bool, min_overlap: int = MIN_OVERLAP) -> list[Normal]:
    """Normal-equation blocks of every overlap.

    ``stack``: (n_frame, ny, nx) maps on one grid, NaN outside a frame; ``x``, ``y``: (ny, nx)
    coordinates (km). Returns ``(i, j, A, b, n_px, rms)`` for each pair ``i < j`` with at least
    ``min_overlap`` common pixels, where ``A = G^T G`` and ``b = G^T (d_i - d_j)`` with
    ``G = [1, x, y]`` (or ``[1]``), and ``rms`` the RMS of ``d_i - d_j`` (before correction).
    Only the intersection of the two frames' data boxes is scanned.
    """
    n = stack.shape[0]
    valid = np.isfinite(stack)
    boxes = [_data_box(v) for v in valid]
    out = []
    for i in range(n):
        for j in range(i + 1, n):
            bi, bj = boxes[i], boxes[j]
            if bi is None or bj is None:
                continue
            r0, r1, c0, c1 = max(bi[0], bj[0]), min(bi[1], bj[1]), max(bi[2], bj[2]), min(bi[3], bj[3])
            if r1 <= r0 or c1 <= c0:
                continue
            win = (slice(r0, r1), slice(c0, c1))
            m = valid[i][win] & valid[j][win]
            k = int(m.sum())
            if k < min_overlap:
                continue
            r = stack[i][win][m] - stack[j][win][m]
            g = np.stack([np.ones(k), x[win][m], y[win][m]], axis=1) if ramp else np.ones((k, 1))
            out.append((i, j, g.T @ g, g.T @ r, k, float(np.sqrt(np.mean(r * r)))))
    return out


def adjust_network(n: int, normals: Sequence[Normal], n_par: int, fixed: int = 0, *,
                   warn: bool = True) -> tuple[F64, list[int]]:
    """Least-squares corrections (n, n_par) of every frame from the overlap normals, ``fixed`` at zero.

    Minimises ``sum over overlaps, pixels of (G (p_i - p_j) - (d_i - d_j))^2``. Frames not connected
    to ``fixed`` through overlaps get their own component's first frame fixed (and, with ``warn``,
    a warning). Returns the parameters and, per frame, the frame fixed in its component.
    """
    N = np.zeros((n * n_par, n * n_par))
    rhs = np.zeros(n * n_par)
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i, j, A, b, _, _ in normals:
        si, sj = slice(i * n_par, (i + 1) * n_par), slice(j * n_par, (j + 1) * n_par)
        N[si, si] += A
        N[sj, sj] += A
        N[si, sj] -= A
        N[sj, si] -= A
        rhs[si] += b
        rhs[sj] -= b
        parent[find(i)] = find(j)
    anchors: dict[int, int] = {find(fixed): fixed}
    anchor_of = []
    for k in range(n):
        anchor_of.append(anchors.setdefault(find(k), k))
    free = [k for k in range(n) if anchor_of[k] != k]
    if warn:
        for k in sorted(set(anchor_of) - {fixed}):
            log.warning("mosaic: frame %d shares no overlap with the fixed frame's group; its group keeps its own "
                        "reference", k)
    params = np.zeros((n, n_par))
    if free:
        idx = np.concatenate([np.arange(k * n_par, (k + 1) * n_par) for k in free])
        Nf = N[np.ix_(idx, idx)]
        # minimum-norm solution: a gradient that an overlap too narrow cannot fix stays 0
        sol = np.linalg.lstsq(Nf, rhs[idx], rcond=1e-12)[0]
        params[free] = sol.reshape(len(free), n_par)
    return params, anchor_of


def feather_weights(valid: npt.NDArray[np.bool_]) -> F64:
    """Weights (n, ny, nx): distance (px) of each pixel to the edge of its frame's data, 0 outside."""
    from scipy.ndimage import distance_transform_edt

    return np.stack([distance_transform_edt(np.pad(v, 1))[1:-1, 1:-1] for v in valid]).astype(np.float64)


def correction(params: F64, x: F64, y: F64) -> F64:
    """(n, ny, nx) planes ``a + b x + c y`` (or constants) of every frame."""
    c = params[:, 0][:, None, None] * np.ones((1, *x.shape))
    if params.shape[1] == 3:
        c = c + params[:, 1][:, None, None] * x + params[:, 2][:, None, None] * y
    return c


def blend(stack: F64, weights: F64) -> F64:
    """Weighted mean over frames (n, ny, nx) → (ny, nx), NaN where no frame has data."""
    w = np.where(np.isfinite(stack), weights, 0.0)
    num = np.nansum(np.where(w > 0, stack, 0.0) * w, axis=0)
    den = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def merge(stack: F64, x: F64, y: F64, *, ramp: bool = False, fixed: int = 0, min_overlap: int = MIN_OVERLAP,
          estimate: F64 | None = None, weights: F64 | None = None, warn: bool = True,
          ) -> tuple[F64, F64, dict[str, Any]]:
    """Adjust and blend frames already on one grid.

    ``stack`` (n, ny, nx), ``x``/``y`` (ny, nx) km. The corrections are estimated from
    ``estimate`` (n, ny, nx), e.g. the same maps with unreliable pixels set to NaN (default:
    ``stack``), subtracted from ``stack``, and the result is blended with ``weights`` (n, ny, nx)
    (default: feathering from ``stack``'s data). Returns the mosaic (ny, nx), the parameters
    (n, 1 or 3) subtracted from each frame (map units; map units per km for the gradients) and a
    summary of the overlaps (pixels, RMS difference before and after the adjustment) and anchors.
    """
    n_par = 3 if ramp else 1
    est = stack if estimate is None else estimate
    normals = overlap_normals(est, x, y, ramp, min_overlap)
    params, anchors = adjust_network(stack.shape[0], normals, n_par, fixed, warn=warn)
    corr = correction(params, x, y)
    after = overlap_normals(est - corr, x, y, False, min_overlap)
    stats = {"overlaps": [{"frames": [i, j], "pixels": k, "rms_before": rb, "rms_after": ra[5]}
                          for (i, j, _, _, k, rb), ra in zip(normals, after, strict=True)],
             "anchors": anchors}
    w = feather_weights(np.isfinite(stack)) if weights is None else weights
    return blend(stack - corr, w), params, stats


def local_xy_km(grid: Grid) -> tuple[F64, F64]:
    """East and north distances (km) of every pixel from the grid's centre, (ny, nx) each."""
    lon, lat = grid.lon(), grid.lat()
    lat0 = float(lat.mean())
    kx = 111.32 * np.cos(np.radians(lat0))
    x = (lon - lon.mean()) * kx
    y = (lat - lat0) * 110.57
    return np.broadcast_to(x[None, :], grid.shape).copy(), np.broadcast_to(y[:, None], grid.shape).copy()


class LinearRate:
    """Per-pixel least-squares line ``d = vel * t + intercept`` through maps that arrive one epoch at a time.

    ``add(t, d)``: ``t`` in years, ``d`` (ny, nx) (NaN = no data). :meth:`solve` returns ``vel``
    (units per year) and ``intercept`` (units), (ny, nx) each, NaN where fewer than two epochs
    have data. Five running sums per pixel: memory does not grow with the number of epochs.
    """

    def __init__(self, shape: tuple[int, int]) -> None:
        self._s = np.zeros((5, *shape))  # n, sum t, sum t^2, sum d, sum t d

    def add(self, t: float, d: F64) -> None:
        ok = np.isfinite(d)
        d0 = np.where(ok, d, 0.0)
        self._s[0] += ok
        self._s[1] += ok * t
        self._s[2] += ok * t * t
        self._s[3] += d0
        self._s[4] += d0 * t

    def solve(self) -> tuple[F64, F64]:
        n, st, stt, sd, std = self._s
        den = n * stt - st * st
        with np.errstate(invalid="ignore", divide="ignore"):
            ok = (n >= 2) & (den > 1e-12 * np.maximum(n * stt, 1e-30))
            vel = np.where(ok, (n * std - st * sd) / den, np.nan)
            icp = np.where(ok, (sd - vel * st) / n, np.nan)
        return vel, icp
