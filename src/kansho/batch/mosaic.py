"""Mosaics of adjacent frames: one grid, one reference.

Each frame's velocity map is relative to its own reference area, and may carry a residual
orbital ramp, so adjacent frames disagree in their overlaps by a constant (and a plane). The
frames are resampled onto one lon/lat grid; in every overlap the difference of two frames gives
observations of the difference of their corrections; one least-squares *network adjustment*
over all overlaps, with one frame held fixed, gives every frame's correction; the corrected maps
are averaged with feathering weights (distance to each frame's edge) so that no seam remains.

Model (frame ``i``, pixel at east/north distance ``x, y`` in km from the mosaic centre)::

    d_i(x, y) = v(x, y) + a_i + b_i x + c_i y + noise      (b = c = 0 without --ramp)

and for every pixel in the overlap of frames ``i`` and ``j``::

    d_i - d_j = (a_i - a_j) + (b_i - b_j) x + (c_i - c_j) y

whose normal equations are assembled per overlap from sums over its pixels (no per-pixel loop),
with the fixed frame's parameters removed. This is the joint estimation of per-track offsets and
ramps from overlaps of Wang & Wright (2012), "Satellite geodetic imaging reveals internal
deformation of western Tibet", GRL 39, L07303, reduced to frames of one track.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kansho._files import write_json_atomic
from kansho.errors import InputError
from kansho.grid import Grid

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
#: fewest common pixels for an overlap to count
MIN_OVERLAP = 20


# ------------------------------------------------------------------------------------ numerics


def overlap_normals(stack: F64, x: F64, y: F64, ramp: bool, min_overlap: int = MIN_OVERLAP,
                    ) -> list[tuple[int, int, F64, F64, int, float]]:
    """Normal-equation blocks of every overlap.

    ``stack``: (n_frame, ny, nx) maps on one grid, NaN outside a frame; ``x``, ``y``: (ny, nx)
    coordinates (km). Returns ``(i, j, A, b, n_px, rms)`` for each pair ``i < j`` with at least
    ``min_overlap`` common pixels, where ``A = G^T G`` and ``b = G^T (d_i - d_j)`` with
    ``G = [1, x, y]`` (or ``[1]``), and ``rms`` the RMS of ``d_i - d_j`` (before correction).
    """
    n = stack.shape[0]
    valid = np.isfinite(stack)
    out = []
    for i in range(n):
        for j in range(i + 1, n):
            m = valid[i] & valid[j]
            k = int(m.sum())
            if k < min_overlap:
                continue
            r = stack[i][m] - stack[j][m]
            g = np.stack([np.ones(k), x[m], y[m]], axis=1) if ramp else np.ones((k, 1))
            out.append((i, j, g.T @ g, g.T @ r, k, float(np.sqrt(np.mean(r * r)))))
    return out


def adjust_network(n: int, normals: Sequence[tuple[int, int, F64, F64, int, float]], n_par: int,
                   fixed: int = 0) -> tuple[F64, list[int]]:
    """Least-squares corrections (n, n_par) of every frame from the overlap normals, ``fixed`` at zero.

    Minimises ``sum over overlaps, pixels of (G (p_i - p_j) - (d_i - d_j))^2``. Frames not connected
    to ``fixed`` through overlaps get their own component's first frame fixed (and a warning).
    Returns the parameters and, per frame, the frame fixed in its component.
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
    for k in set(anchor_of) - {fixed}:
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


def merge(stack: F64, x: F64, y: F64, *, ramp: bool = False, fixed: int = 0,
          min_overlap: int = MIN_OVERLAP) -> tuple[F64, F64, dict[str, Any]]:
    """Adjust and blend frames already on one grid.

    ``stack`` (n, ny, nx), ``x``/``y`` (ny, nx) km. Returns the mosaic (ny, nx), the parameters
    (n, 1 or 3) subtracted from each frame (mm/yr; mm/yr/km for the gradients) and a summary of the
    overlaps (pixels, RMS difference before and after the adjustment).
    """
    n_par = 3 if ramp else 1
    normals = overlap_normals(stack, x, y, ramp, min_overlap)
    params, anchors = adjust_network(stack.shape[0], normals, n_par, fixed)
    corrected = stack - correction(params, x, y)
    after = overlap_normals(corrected, x, y, False, min_overlap)
    stats = {"overlaps": [{"frames": [i, j], "pixels": k, "rms_before": rb, "rms_after": ra[5]}
                          for (i, j, _, _, k, rb), ra in zip(normals, after, strict=True)],
             "anchors": anchors}
    return blend(corrected, feather_weights(np.isfinite(stack))), params, stats


def local_xy_km(grid: Grid) -> tuple[F64, F64]:
    """East and north distances (km) of every pixel from the grid's centre, (ny, nx) each."""
    lon, lat = grid.lon(), grid.lat()
    lat0 = float(lat.mean())
    kx = 111.32 * np.cos(np.radians(lat0))
    x = (lon - lon.mean()) * kx
    y = (lat - lat0) * 110.57
    return np.broadcast_to(x[None, :], grid.shape).copy(), np.broadcast_to(y[:, None], grid.shape).copy()


# ------------------------------------------------------------------------------------ grids and files


def common_grid(grids: Sequence[Grid]) -> Grid:
    """The lon/lat grid covering every grid, with the finest posting, aligned on the first grid's lattice."""
    crs = {g.crs for g in grids}
    if len(crs) > 1:
        raise InputError(None, f"frames on different coordinate systems {sorted(crs)}: cannot mosaic")
    g0 = grids[0]
    dx = min(abs(g.transform[1]) for g in grids)
    dy = min(abs(g.transform[5]) for g in grids)
    west = min(g.transform[0] for g in grids)
    north = max(g.transform[3] for g in grids)
    east = max(g.transform[0] + g.width * abs(g.transform[1]) for g in grids)
    south = min(g.transform[3] - g.height * abs(g.transform[5]) for g in grids)
    # snap the origin onto the first grid's lattice (frames of one product line share it)
    west = g0.transform[0] - np.ceil(round((g0.transform[0] - west) / dx, 6)) * dx
    north = g0.transform[3] + np.ceil(round((north - g0.transform[3]) / dy, 6)) * dy
    width = int(np.ceil(round((east - west) / dx, 6)))
    height = int(np.ceil(round((north - south) / dy, 6)))
    return Grid(width, height, (float(west), dx, 0.0, float(north), 0.0, -dy), g0.crs)


def resample(array: F64, src: Grid, dst: Grid, method: str = "bilinear") -> F64:
    """``array`` on grid ``src`` → grid ``dst`` (NaN = no data), with rasterio's warper."""
    from affine import Affine
    from rasterio.warp import Resampling, reproject

    out = np.full(dst.shape, np.nan, np.float32)
    reproject(np.asarray(array, np.float32), out, src_transform=Affine.from_gdal(*src.transform), src_crs=src.crs,
              src_nodata=np.nan, dst_transform=Affine.from_gdal(*dst.transform), dst_crs=dst.crs, dst_nodata=np.nan,
              resampling=getattr(Resampling, method))
    return out.astype(np.float64)


def find_runs(paths: Sequence[str | Path]) -> list[Path]:
    """Run folders (holding ``results/vel.tif``) from run folders and/or batch roots (``ROOT/frames/*``)."""
    runs: list[Path] = []
    for p in map(Path, paths):
        if (p / "results" / "vel.tif").is_file():
            runs.append(p)
        elif (p / "frames").is_dir():
            found = sorted(d for d in (p / "frames").iterdir() if (d / "results" / "vel.tif").is_file())
            if not found:
                raise InputError(p, "batch root without any finished frame (frames/*/results/vel.tif)")
            runs.extend(found)
        else:
            raise InputError(p, "neither a run folder (results/vel.tif) nor a batch root (frames/)")
    if len(runs) < 2:
        raise InputError(None, f"a mosaic needs at least two frames; found {len(runs)}")
    return runs


@dataclass
class MosaicResult:
    """Files written and the corrections applied (per frame: name, parameters)."""

    out: Path
    files: list[Path] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)
    params: F64 = field(default_factory=lambda: np.zeros((0, 1)))
    stats: dict[str, Any] = field(default_factory=dict)


def mosaic_runs(runs: Sequence[str | Path], out: str | Path, *, ramp: bool = False, fixed: int = 0,
                estimate_from: str = "vel.mskd", products: Sequence[str] = ("vel", "vel.mskd", "vel.filt.mskd"),
                method: str = "bilinear") -> MosaicResult:
    """Mosaic the velocity maps of ``runs`` into ``out``.

    Corrections are estimated from ``results/<estimate_from>.tif`` (masked: reliable pixels only) and
    subtracted from every product in ``products`` found in every run; ``vstd`` is blended without
    correction. Writes ``<product>.tif`` and ``mosaic.json`` (frames, corrections, overlap RMS).
    """
    from kansho.io.geotiff import read_grid, read_raster, write_geotiff

    runs = [Path(r) for r in runs]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    est = estimate_from if all((r / "results" / f"{estimate_from}.tif").is_file() for r in runs) else "vel"
    grids = [read_grid(r / "results" / f"{est}.tif") for r in runs]
    grid = common_grid(grids)
    x, y = local_xy_km(grid)
    stack = np.stack([resample(read_raster(r / "results" / f"{est}.tif"), g, grid, method)
                      for r, g in zip(runs, grids, strict=True)])
    _, params, stats = merge(stack, x, y, ramp=ramp, fixed=fixed)
    if not stats["overlaps"]:
        raise InputError(None, "the frames do not overlap (no common pixels): cannot tie them together")
    res = MosaicResult(out=out, frames=[r.name for r in runs], params=params, stats=stats)
    corr = correction(params, x, y)
    for name in [*products, "vstd"]:
        files = [r / "results" / f"{name}.tif" for r in runs]
        if not all(f.is_file() for f in files):
            log.info("mosaic: %s missing in some runs, skipped", name)
            continue
        maps = np.stack([resample(read_raster(f), read_grid(f), grid, method) for f in files])
        if name != "vstd":
            maps = maps - corr
        mos = blend(maps, feather_weights(np.isfinite(maps)))
        write_geotiff(out / f"{name}.tif", mos.astype(np.float32), grid)
        res.files.append(out / f"{name}.tif")
    summary = {"frames": [str(r) for r in runs], "fixed": fixed, "ramp": ramp, "estimated_from": est,
               "grid": grid.to_dict(),
               "parameters": {r.name: dict(zip(("offset_mm_yr", "east_mm_yr_per_km", "north_mm_yr_per_km"),
                                              map(float, p), strict=False)) for r, p in zip(runs, params, strict=True)},
               **stats}
    write_json_atomic(out / "mosaic.json", summary, default=None)
    res.files.append(out / "mosaic.json")
    return res
