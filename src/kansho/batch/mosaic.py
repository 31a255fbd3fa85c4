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

The same adjustment serves three kinds of map:

* **velocity** of frames of one track (:func:`mosaic_runs`);
* **cumulative displacement** of frames of one track, epoch by epoch at the epochs common to
  all frames (:func:`mosaic_cum`): each frame's series is first re-referenced to the first of
  those epochs, then every epoch gets its own offsets (and ramps), since a frame's reference
  area and orbit errors differ from epoch to epoch. Epochs are read, adjusted and written one at
  a time, so memory does not grow with the number of epochs;
* **east and up** velocities of several track pairs after decomposition (:func:`mosaic_decomposed`):
  LOS velocities of different tracks see different directions and cannot be merged, but east
  and up maps of adjacent asc/desc pairs can, each component with its own offsets (and ramps),
  as in Wang & Wright (2012).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from kansho._files import write_json_atomic
from kansho.errors import InputError
from kansho.grid import Grid, common_grid, resample

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
Normal = tuple[int, int, F64, F64, int, float]
#: fewest common pixels for an overlap to count
MIN_OVERLAP = 20
#: components of a decomposition that can be mosaicked (``kansho decompose`` writes ``<component>.tif``)
COMPONENTS = ("east", "up")


# ------------------------------------------------------------------------------------ numerics


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


# ------------------------------------------------------------------------------------ finding the inputs


def _is_run(p: Path) -> bool:
    return (p / "results" / "vel.tif").is_file()


def _is_decomposed(p: Path) -> bool:
    return any((p / f"{c}.tif").is_file() for c in COMPONENTS)


def find_inputs(paths: Sequence[str | Path]) -> tuple[Literal["los", "enu"], list[Path]]:
    """Classify the inputs: ``("los", runs)`` for run folders and/or batch roots (``ROOT/frames/*``) of one
    track, ``("enu", folders)`` for ``kansho decompose`` output folders (``east.tif``, ``up.tif``).

    Raises :class:`InputError` for an input that is neither, for a mix of the two kinds (LOS
    velocities of different tracks cannot be merged with east/up maps), and for fewer than two.
    """
    found: list[tuple[str, Path]] = []
    for p in map(Path, paths):
        if _is_run(p):
            found.append(("los", p))
        elif (p / "frames").is_dir():
            runs = sorted(d for d in (p / "frames").iterdir() if _is_run(d))
            if not runs:
                raise InputError(p, "batch root without any finished frame (frames/*/results/vel.tif)")
            found.extend(("los", d) for d in runs)
        elif _is_decomposed(p):
            found.append(("enu", p))
        else:
            raise InputError(p, "neither a run folder (results/vel.tif), a batch root (frames/) nor a decompose "
                                "folder (east.tif, up.tif)")
    kinds = {k for k, _ in found}
    if len(kinds) > 1:
        enu = next(p for k, p in found if k == "enu")
        los = next(p for k, p in found if k == "los")
        raise InputError(enu, f"is a decompose folder (east/up) but {los} is a run (LOS velocity): mosaic either "
                              "runs of one track or decompose folders, not both")
    if len(found) < 2:
        raise InputError(None, f"a mosaic needs at least two frames; found {len(found)}")
    return ("enu" if kinds == {"enu"} else "los"), [p for _, p in found]


def find_runs(paths: Sequence[str | Path]) -> list[Path]:
    """Run folders (holding ``results/vel.tif``) from run folders and/or batch roots (``ROOT/frames/*``)."""
    kind, found = find_inputs(paths)
    if kind != "los":
        raise InputError(found[0], "is a decompose folder, not a run folder (results/vel.tif)")
    return found


def select_epochs(imdates: Sequence[npt.ArrayLike], files: Sequence[Path],
                  wanted: Sequence[int] | None = None) -> npt.NDArray[np.int64]:
    """The epochs (yyyymmdd, increasing) of a cumulative mosaic: ``wanted``, or those common to all frames.

    ``imdates``: each frame's epochs; ``files``: the frames' files (named in errors). Every epoch
    must be in every frame, so that each mosaic epoch is a complete map and each frame can be
    re-referenced to the first epoch. Raises :class:`InputError` with fewer than two epochs or
    when a wanted epoch is missing from a frame.
    """
    sets = [np.unique(np.asarray(d, np.int64)) for d in imdates]
    if wanted is not None:
        want = np.unique(np.asarray(list(wanted), np.int64))
        for s, f in zip(sets, files, strict=True):
            missing = np.setdiff1d(want, s)
            if missing.size:
                raise InputError(f, f"has no epoch {', '.join(map(str, missing[:5]))} (asked for with --epochs)")
        if want.size < 2:
            raise InputError(None, "--epochs needs at least two epochs (the first is the reference, 0 mm)")
        return want
    common = sets[0]
    for s in sets[1:]:
        common = np.intersect1d(common, s)
    if common.size < 2:
        spans = "; ".join(f"{f}: {s[0]}..{s[-1]} ({s.size} epochs)" if s.size else f"{f}: no epoch"
                          for s, f in zip(sets, files, strict=True))
        raise InputError(None, f"{'no epoch' if common.size == 0 else f'only one epoch ({common[0]})'} common to all "
                               f"frames ({spans}): a cumulative mosaic needs at least two")
    return common


# ------------------------------------------------------------------------------------ mosaics of files


@dataclass
class CumMosaic:
    """A cumulative-displacement mosaic: the file, its epochs, per-epoch corrections and the summary."""

    path: Path
    epochs: npt.NDArray[np.int64]
    #: (n_epoch, n_frame, 1 or 3): offset (mm) and east/north gradients (mm/km) subtracted per epoch
    params: F64
    summary: dict[str, Any]


@dataclass
class MosaicResult:
    """Files written and the corrections applied (per frame: name, parameters)."""

    out: Path
    files: list[Path] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)
    params: F64 = field(default_factory=lambda: np.zeros((0, 1)))
    stats: dict[str, Any] = field(default_factory=dict)
    #: decomposed inputs: component → (n_frame, 1 or 3) parameters
    components: dict[str, F64] = field(default_factory=dict)
    cum: CumMosaic | None = None


def _check_fixed(fixed: int, n: int) -> None:
    if not 0 <= fixed < n:
        raise InputError(None, f"--fixed {fixed} is not a frame index (0..{n - 1})")


def _read_stack(files: Sequence[Path], grid: Grid, method: str) -> F64:
    """GeoTIFFs resampled onto ``grid``, (n, ny, nx) float64."""
    from kansho.io.geotiff import read_grid, read_raster

    return np.stack([resample(read_raster(f), read_grid(f), grid, method) for f in files]).astype(np.float64)


def _param_dict(params: F64, keys: tuple[str, str, str]) -> dict[str, float]:
    return dict(zip(keys, map(float, params), strict=False))


def _mosaic_geotiffs(estimate: Sequence[Path], products: dict[str, Sequence[Path]], plain: dict[str, Sequence[Path]],
                     grid: Grid, out: Path, *, ramp: bool, fixed: int, method: str, units: str,
                     ) -> tuple[F64, dict[str, Any], list[Path]]:
    """Corrections from the ``estimate`` maps, subtracted from each of ``products`` and blended; ``plain``
    maps (uncertainties) blended without correction. Writes ``out/<name>.tif``; returns params, stats, files."""
    from kansho.io.geotiff import write_geotiff

    x, y = local_xy_km(grid)
    _, params, stats = merge(_read_stack(estimate, grid, method), x, y, ramp=ramp, fixed=fixed)
    if not stats["overlaps"]:
        raise InputError(None, "the frames do not overlap (no common pixels): cannot tie them together")
    corr = correction(params, x, y)
    files = []
    for name, fs in [*products.items(), *plain.items()]:
        maps = _read_stack(fs, grid, method)
        if name in products:
            maps = maps - corr
        mos = blend(maps, feather_weights(np.isfinite(maps)))
        files.append(write_geotiff(out / f"{name}.tif", mos.astype(np.float32), grid, units=units))
    return params, stats, files


def mosaic_runs(runs: Sequence[str | Path], out: str | Path, *, ramp: bool = False, fixed: int = 0,
                estimate_from: str = "vel.mskd", products: Sequence[str] = ("vel", "vel.mskd", "vel.filt.mskd"),
                method: str = "bilinear", cum: bool = False, cum_file: str = "cum.h5",
                epochs: Sequence[int] | None = None, progress: bool = False) -> MosaicResult:
    """Mosaic the velocity maps of ``runs`` (frames of one track) into ``out``.

    Corrections are estimated from ``results/<estimate_from>.tif`` (masked: reliable pixels only) and
    subtracted from every product in ``products`` found in every run; ``vstd`` is blended without
    correction. Writes ``<product>.tif`` and ``mosaic.json`` (frames, corrections, overlap RMS).
    With ``cum``, also the cumulative displacement of ``<run>/<cum_file>`` (:func:`mosaic_cum`),
    whose per-epoch corrections go to ``mosaic.json`` under ``"cum"`` (``progress``: a bar over its epochs).
    """
    from kansho.io.geotiff import read_grid

    runs = [Path(r) for r in runs]
    _check_fixed(fixed, len(runs))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    est = estimate_from if all((r / "results" / f"{estimate_from}.tif").is_file() for r in runs) else "vel"
    est_files = [r / "results" / f"{est}.tif" for r in runs]
    grid = common_grid([read_grid(f) for f in est_files])
    found = {}
    for name in [*products, "vstd"]:
        files = [r / "results" / f"{name}.tif" for r in runs]
        if all(f.is_file() for f in files):
            found[name] = files
        else:
            log.info("mosaic: %s missing in some runs, skipped", name)
    params, stats, written = _mosaic_geotiffs(
        est_files, {k: v for k, v in found.items() if k != "vstd"}, {k: v for k, v in found.items() if k == "vstd"},
        grid, out, ramp=ramp, fixed=fixed, method=method, units="mm/yr")
    res = MosaicResult(out=out, files=written, frames=[r.name for r in runs], params=params, stats=stats)
    summary = {"kind": "los", "frames": [str(r) for r in runs], "fixed": fixed, "ramp": ramp, "estimated_from": est,
               "grid": grid.to_dict(),
               "parameters": {r.name: _param_dict(p, ("offset_mm_yr", "east_mm_yr_per_km", "north_mm_yr_per_km"))
                              for r, p in zip(runs, params, strict=True)},
               **stats}
    if cum:
        res.cum = mosaic_cum(runs, out, ramp=ramp, fixed=fixed, cum_file=cum_file, epochs=epochs, method=method,
                             progress=progress)
        res.files.append(res.cum.path)
        summary["cum"] = res.cum.summary
    write_json_atomic(out / "mosaic.json", summary, default=None)
    res.files.append(out / "mosaic.json")
    return res


def _map_box(box: tuple[int, int, int, int], src: Grid, dst: Grid) -> tuple[int, int, int, int] | None:
    """A pixel box (row0, row1, col0, col1) of ``src`` as the box of ``dst`` pixels holding its corner centres."""
    r0, r1, c0, c1 = box
    lon, lat = src.lon(), src.lat()
    ra, ca = dst.rowcol(float(lon[c0]), float(lat[r0]))
    rb, cb = dst.rowcol(float(lon[c1 - 1]), float(lat[r1 - 1]))
    rb, cb = rb + 1, cb + 1
    if not (0 <= ra < rb <= dst.height and 0 <= ca < cb <= dst.width):
        return None
    return ra, rb, ca, cb


def mosaic_cum(runs: Sequence[str | Path], out: str | Path, *, ramp: bool = False, fixed: int = 0,
               cum_file: str = "cum.h5", epochs: Sequence[int] | None = None, method: str = "bilinear",
               progress: bool = False) -> CumMosaic:
    """Mosaic the cumulative displacement (``<run>/<cum_file>``) of frames of one track, epoch by epoch.

    The epochs are ``epochs`` or all those common to every frame (:func:`select_epochs`). Each
    frame's series is re-referenced to the first of them (so frames whose series start on
    different dates agree: 0 mm there), then, per epoch, the offsets (and with ``ramp`` planes) of
    every frame are estimated from the overlaps of its reliable pixels (mask = 1: the file's
    ``mask`` dataset, else the run's ``results/mask.tif``, else all pixels), subtracted from all
    its pixels, and the frames blended with feathering weights of their footprints. Writes
    ``out/<stem>_mosaic.h5`` (``cum`` (n_epoch, ny, nx) mm, ``imdates``, LiCSBAS
    ``corner_*``/``post_*``, ``vel``/``vintercept`` fitted to the mosaic's series, ``mask``
    blended from the frames', ``refarea`` = the fixed frame's) one epoch at a time: memory holds
    one epoch of every frame on the mosaic grid, whatever the number of epochs.
    ``progress`` draws a bar over the epochs (stderr).
    """
    from tqdm.auto import tqdm

    from kansho._dates import years_since_first
    from kansho.io.geotiff import read_grid, read_raster
    from kansho.io.licsbas_h5 import CumReader, CumWriter

    runs = [Path(r) for r in runs]
    out = Path(out)
    files = [r / cum_file for r in runs]
    for f in files:
        if not f.is_file():
            raise InputError(f, "missing: a cumulative mosaic needs this file in every run")
    n = len(runs)
    _check_fixed(fixed, n)
    with ExitStack() as stack:
        readers = [stack.enter_context(CumReader(f)) for f in files]
        grids: list[Grid] = []
        for r in readers:
            if r.grid is None:
                raise InputError(r.path, "no corner_lat/corner_lon/post_lat/post_lon: its grid is unknown")
            grids.append(r.grid)
        dates = select_epochs([r.imdates for r in readers], files, epochs)
        index = [np.searchsorted(r.imdates, dates) for r in readers]
        grid = common_grid(grids)
        x, y = local_xy_km(grid)
        bases = [r.epoch(ix[0]) for r, ix in zip(readers, index, strict=True)]
        footprint = np.stack([np.isfinite(resample(b, g, grid, method)) for b, g in zip(bases, grids, strict=True)])
        weights = feather_weights(footprint)
        keep = np.ones(footprint.shape, bool)
        kept = np.zeros(footprint.shape)
        for k, (r, g) in enumerate(zip(readers, grids, strict=True)):
            m = r.plane("mask")
            tif = runs[k] / "results" / "mask.tif"
            if m is None and tif.is_file() and read_grid(tif).matches(g):
                m = read_raster(tif)
            if m is not None:
                kept[k] = resample(np.where(np.isfinite(m), (m == 1).astype(np.float32), np.nan), g, grid, "nearest")
                keep[k] = kept[k] == 1
            else:
                kept[k] = 1.0
        mask = blend(np.where(footprint, kept, np.nan), weights)
        mask = np.where(np.isfinite(mask), (mask >= 0.5).astype(np.float64), np.nan)
        t_yr = years_since_first(dates)
        rate = LinearRate(grid.shape)
        n_par = 3 if ramp else 1
        params = np.zeros((dates.size, n, n_par))
        overlaps: dict[tuple[int, int], dict[str, list[Any]]] = {}
        detached: dict[str, list[int]] = {}
        stem = Path(cum_file).name.split(".")[0]
        path = out / f"{stem}_mosaic.h5"
        attrs = {"convention": "LiCSBAS cum.h5; cum/vel in mm along LOS, positive toward the satellite",
                 "mosaic_of": json.dumps([str(f) for f in files]),
                 "reference": f"epoch {dates[0]} (0 mm); reference area of frame {fixed} ({runs[fixed].name})"}
        with CumWriter(path, dates, grid, attrs) as writer:
            for e, date in enumerate(tqdm(dates, desc="cum mosaic", unit="epoch", disable=not progress, leave=False)):
                maps = np.stack([resample(r.epoch(ix[e]) - b, g, grid, method)
                                 for r, ix, b, g in zip(readers, index, bases, grids, strict=True)]).astype(np.float64)
                mos, p, st = merge(maps, x, y, ramp=ramp, fixed=fixed, estimate=np.where(keep, maps, np.nan),
                                   weights=weights, warn=False)
                if e == 0 and not st["overlaps"]:  # the reference epoch: 0 mm wherever a frame has data
                    raise InputError(None, "the frames do not overlap (no common pixels): cannot tie them together")
                writer.write(e, mos)
                rate.add(float(t_yr[e]), mos)
                params[e] = p
                for o in st["overlaps"]:
                    rec = overlaps.setdefault(tuple(o["frames"]), {"epochs": [], "pixels": [], "rms_before": [],
                                                                   "rms_after": []})
                    rec["epochs"].append(int(date))
                    for key in ("pixels", "rms_before", "rms_after"):
                        rec[key].append(o[key])
                if e > 0 and any(a != fixed for a in st["anchors"]):
                    detached[str(date)] = st["anchors"]
                log.debug("cum mosaic: epoch %d (%d/%d)", date, e + 1, dates.size)
            vel, icp = rate.solve()
            ref = None
            box = readers[fixed].refarea_box
            if box is not None:
                ref = _map_box(box, grids[fixed], grid)
            writer.close({"vel": vel, "vintercept": icp, "mask": mask}, refarea=ref)
    if detached:
        log.warning("cum mosaic: at %d epoch(s) (%s ...) some frames share no overlap with the fixed frame's group "
                    "and keep their own reference", len(detached), next(iter(detached)))
    names = [r.name for r in runs]
    keys = ("offset_mm", "east_mm_per_km", "north_mm_per_km")[:n_par]
    after = [v for rec in overlaps.values() for v in rec["rms_after"]]
    summary = {"file": path.name, "source": cum_file, "epochs": [int(d) for d in dates],
               "reference_epoch": int(dates[0]), "fixed": fixed, "ramp": ramp, "grid": grid.to_dict(),
               "parameters": {nm: {k: [float(v) for v in params[:, i, c]] for c, k in enumerate(keys)}
                              for i, nm in enumerate(names)},
               "overlaps": [{"frames": list(ij), **rec} for ij, rec in overlaps.items()],
               "rms_after_max_mm": float(max(after)) if after else 0.0,
               "detached": detached}
    return CumMosaic(path=path, epochs=dates, params=params, summary=summary)


def mosaic_decomposed(folders: Sequence[str | Path], out: str | Path, *, components: Sequence[str] = COMPONENTS,
                      ramp: bool = False, fixed: int = 0, method: str = "bilinear") -> MosaicResult:
    """Mosaic east and/or up velocities of several ``kansho decompose`` folders (adjacent track pairs).

    Each component is adjusted on its own (offsets, and with ``ramp`` planes, per folder, from the
    overlaps, folder ``fixed`` held) and blended; ``<component>_std.tif`` is blended without
    correction when every folder has it. Writes ``<component>.tif`` and ``mosaic.json``.
    Raises :class:`InputError` naming the file if a folder lacks a component.
    """
    from kansho.io.geotiff import read_grid

    folders = [Path(f) for f in folders]
    _check_fixed(fixed, len(folders))
    out = Path(out)
    comps = list(dict.fromkeys(components))
    bad = [c for c in comps if c not in COMPONENTS]
    if bad or not comps:
        raise InputError(None, f"unknown component(s) {bad or comps}: choose among {', '.join(COMPONENTS)}")
    for f in folders:
        for c in comps:
            if not (f / f"{c}.tif").is_file():
                raise InputError(f / f"{c}.tif", f"missing: every decompose folder needs {c}.tif to mosaic {c} "
                                                 f"(components must be the same in all folders)")
    norths = {}
    for f in folders:
        try:
            norths[f] = json.loads((f / "decompose.json").read_text()).get("north")
        except (OSError, ValueError):
            norths[f] = None
    if len({("neglected" if v == "neglected" else "gnss") for v in norths.values() if v is not None}) > 1:
        log.warning("mosaic: some decompositions used a GNSS north velocity and some neglected it; their east/up "
                    "differ by the north leakage (north_sens_e/u.tif), which the offsets absorb only in part")
    out.mkdir(parents=True, exist_ok=True)
    grid = common_grid([read_grid(f / f"{c}.tif") for f in folders for c in comps])
    res = MosaicResult(out=out, frames=[f.name for f in folders])
    summary: dict[str, Any] = {"kind": "enu", "folders": [str(f) for f in folders], "fixed": fixed, "ramp": ramp,
                               "grid": grid.to_dict(), "components": {}}
    for c in comps:
        std = [f / f"{c}_std.tif" for f in folders]
        plain = {f"{c}_std": std} if all(s.is_file() for s in std) else {}
        params, stats, written = _mosaic_geotiffs([f / f"{c}.tif" for f in folders],
                                                  {c: [f / f"{c}.tif" for f in folders]}, plain, grid, out,
                                                  ramp=ramp, fixed=fixed, method=method, units="mm/yr")
        res.components[c] = params
        res.files += written
        summary["components"][c] = {
            "parameters": {f.name: _param_dict(p, ("offset_mm_yr", "east_mm_yr_per_km", "north_mm_yr_per_km"))
                           for f, p in zip(folders, params, strict=True)},
            **stats}
    res.params = res.components[comps[0]]
    res.stats = summary["components"][comps[0]]
    write_json_atomic(out / "mosaic.json", summary, default=None)
    res.files.append(out / "mosaic.json")
    return res
