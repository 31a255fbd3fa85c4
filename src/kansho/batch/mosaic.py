"""Mosaics of adjacent frames: one grid, one reference.

Each frame's velocity map is relative to its own reference area, and may carry a residual
orbital ramp, so adjacent frames disagree in their overlaps by a constant (and a plane). The
frames are resampled onto one lon/lat grid; in every overlap the difference of two frames gives
observations of the difference of their corrections; one least-squares *network adjustment*
over all overlaps, with one frame held fixed, gives every frame's correction; the corrected maps
are averaged with feathering weights (distance to each frame's edge) so that no seam remains.

The adjustment itself (the model and its normal equations, after the joint estimation of
per-track offsets and ramps from overlaps of Wang & Wright (2012), "Satellite geodetic imaging
reveals internal deformation of western Tibet", GRL 39, L07303, reduced to frames of one track)
is in :mod:`kansho.batch.adjust`; this module finds the inputs, reads and writes the files.

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
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from kansho._files import write_json_atomic
from kansho.batch.adjust import F64, LinearRate, blend, correction, feather_weights, local_xy_km, merge
from kansho.errors import InputError
from kansho.grid import Grid, common_grid, resample
from kansho.layout import CUM_NAME
from kansho.run import Run

if TYPE_CHECKING:
    from kansho.io.licsbas_h5 import CumReader

log = logging.getLogger(__name__)

#: resampling onto the mosaic grid
Method = Literal["bilinear", "nearest"]
#: components of a decomposition that can be mosaicked (``kansho decompose`` writes ``<component>.tif``)
COMPONENTS = ("east", "up")


# ------------------------------------------------------------------------------------ finding the inputs


def _is_run(p: Path) -> bool:
    return Run(p).has_map("vel")


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


def _read_stack(files: Sequence[Path], grid: Grid, method: Method) -> F64:
    """GeoTIFFs resampled onto ``grid``, (n, ny, nx) float64."""
    from kansho.io.geotiff import read_grid, read_raster

    return np.stack([resample(read_raster(f), read_grid(f), grid, method) for f in files]).astype(np.float64)


def _param_dict(params: F64, keys: tuple[str, str, str]) -> dict[str, float]:
    return dict(zip(keys, map(float, params), strict=False))


def _mosaic_geotiffs(estimate: Sequence[Path], products: Mapping[str, Sequence[Path]],
                     plain: Mapping[str, Sequence[Path]], grid: Grid, out: Path, *, ramp: bool, fixed: int,
                     method: Method, units: str) -> tuple[F64, dict[str, Any], list[Path]]:
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
                method: Method = "bilinear", cum: bool = False, cum_file: str = CUM_NAME,
                epochs: Sequence[int] | None = None, progress: bool = False) -> MosaicResult:
    """Mosaic the velocity maps of ``runs`` (frames of one track) into ``out``.

    Corrections are estimated from ``results/<estimate_from>.tif`` (masked: reliable pixels only) and
    subtracted from every product in ``products`` found in every run; ``vstd`` is blended without
    correction. Writes ``<product>.tif`` and ``mosaic.json`` (frames, corrections, overlap RMS).
    With ``cum``, also the cumulative displacement of ``<run>/<cum_file>`` (:func:`mosaic_cum`),
    whose per-epoch corrections go to ``mosaic.json`` under ``"cum"`` (``progress``: a bar over its epochs).
    """
    from kansho.io.geotiff import read_grid

    frames = [Run(r) for r in runs]
    _check_fixed(fixed, len(frames))
    dest = Path(out)
    dest.mkdir(parents=True, exist_ok=True)
    est = estimate_from if all(f.has_map(estimate_from) for f in frames) else "vel"
    est_files = [f.map_path(est) for f in frames]
    grid = common_grid([read_grid(f) for f in est_files])
    found = {}
    for name in [*products, "vstd"]:
        if all(f.has_map(name) for f in frames):
            found[name] = [f.map_path(name) for f in frames]
        else:
            log.info("mosaic: %s missing in some runs, skipped", name)
    params, stats, written = _mosaic_geotiffs(
        est_files, {k: v for k, v in found.items() if k != "vstd"}, {k: v for k, v in found.items() if k == "vstd"},
        grid, dest, ramp=ramp, fixed=fixed, method=method, units="mm/yr")
    names = [f.path.name for f in frames]
    res = MosaicResult(out=dest, files=written, frames=names, params=params, stats=stats)
    summary = {"kind": "los", "frames": [str(f.path) for f in frames], "fixed": fixed, "ramp": ramp,
               "estimated_from": est, "grid": grid.to_dict(),
               "parameters": {nm: _param_dict(p, ("offset_mm_yr", "east_mm_yr_per_km", "north_mm_yr_per_km"))
                              for nm, p in zip(names, params, strict=True)},
               **stats}
    if cum:
        res.cum = mosaic_cum([f.path for f in frames], dest, ramp=ramp, fixed=fixed, cum_file=cum_file,
                             epochs=epochs, method=method, progress=progress)
        res.files.append(res.cum.path)
        summary["cum"] = res.cum.summary
    write_json_atomic(dest / "mosaic.json", summary, default=None)
    res.files.append(dest / "mosaic.json")
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


@dataclass
class _CumFrames:
    """The open cubes of the frames of a cumulative mosaic and what the epoch loop needs of them."""

    readers: list[CumReader]
    grids: list[Grid]
    #: per frame, the index of every mosaic epoch in its file
    index: list[npt.NDArray[np.intp]]
    #: per frame, its map at the first mosaic epoch (subtracted: 0 mm there)
    bases: list[npt.NDArray[np.float32]]

    def epoch_maps(self, e: int, grid: Grid, method: Method) -> F64:
        """Every frame at mosaic epoch ``e``, re-referenced to the first epoch, on ``grid``: (n, ny, nx)."""
        return np.stack([resample(r.epoch(ix[e]) - b, g, grid, method) for r, ix, b, g in
                         zip(self.readers, self.index, self.bases, self.grids, strict=True)]).astype(np.float64)


def _open_cum_frames(files: Sequence[Path], stack: ExitStack, epochs: Sequence[int] | None,
                     ) -> tuple[_CumFrames, npt.NDArray[np.int64]]:
    from kansho.io.licsbas_h5 import CumReader

    readers = [stack.enter_context(CumReader(f)) for f in files]
    grids: list[Grid] = []
    for r in readers:
        if r.grid is None:
            raise InputError(r.path, "no corner_lat/corner_lon/post_lat/post_lon: its grid is unknown")
        grids.append(r.grid)
    dates = select_epochs([r.imdates for r in readers], files, epochs)
    index = [np.searchsorted(r.imdates, dates) for r in readers]
    bases = [r.epoch(ix[0]) for r, ix in zip(readers, index, strict=True)]
    return _CumFrames(readers, grids, index, bases), dates


def _cum_masks(frames: Sequence[Run], cf: _CumFrames, grid: Grid, footprint: npt.NDArray[np.bool_],
               weights: F64) -> tuple[npt.NDArray[np.bool_], F64]:
    """Reliable pixels of each frame on ``grid`` (n, ny, nx), and the mosaic's mask (1/0, NaN outside).

    A frame's mask is its cube's ``mask`` dataset, else its run's mask map (if on the cube's grid),
    else every pixel."""
    from kansho.io.geotiff import read_grid

    keep = np.ones(footprint.shape, bool)
    kept = np.zeros(footprint.shape)
    for k, (r, g) in enumerate(zip(cf.readers, cf.grids, strict=True)):
        m = r.plane("mask")
        run = frames[k]
        if m is None and run.has_map("mask") and read_grid(run.map_path("mask")).matches(g):
            m = run.read_map("mask")
        if m is not None:
            kept[k] = resample(np.where(np.isfinite(m), (m == 1).astype(np.float32), np.nan), g, grid, "nearest")
            keep[k] = kept[k] == 1
        else:
            kept[k] = 1.0
    mask = blend(np.where(footprint, kept, np.nan), weights)
    return keep, np.where(np.isfinite(mask), (mask >= 0.5).astype(np.float64), np.nan)


@dataclass
class _CumOverlaps:
    """Per-epoch overlap statistics of a cumulative mosaic, and the epochs where frames stay detached."""

    fixed: int
    overlaps: dict[tuple[int, int], dict[str, list[Any]]] = field(default_factory=dict)
    detached: dict[str, list[int]] = field(default_factory=dict)

    def add(self, e: int, date: int, st: dict[str, Any]) -> None:
        for o in st["overlaps"]:
            rec = self.overlaps.setdefault(tuple(o["frames"]), {"epochs": [], "pixels": [], "rms_before": [],
                                                                "rms_after": []})
            rec["epochs"].append(int(date))
            for key in ("pixels", "rms_before", "rms_after"):
                rec[key].append(o[key])
        if e > 0 and any(a != self.fixed for a in st["anchors"]):
            self.detached[str(date)] = st["anchors"]


def mosaic_cum(runs: Sequence[str | Path], out: str | Path, *, ramp: bool = False, fixed: int = 0,
               cum_file: str = CUM_NAME, epochs: Sequence[int] | None = None, method: Method = "bilinear",
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
    from kansho.io.licsbas_h5 import CumWriter

    frames = [Run(r) for r in runs]
    files = [f.path / cum_file for f in frames]
    for f in files:
        if not f.is_file():
            raise InputError(f, "missing: a cumulative mosaic needs this file in every run")
    n = len(frames)
    _check_fixed(fixed, n)
    path = Path(out) / f"{Path(cum_file).name.split('.')[0]}_mosaic.h5"
    with ExitStack() as stack:
        cf, dates = _open_cum_frames(files, stack, epochs)
        grid = common_grid(cf.grids)
        x, y = local_xy_km(grid)
        footprint = np.stack([np.isfinite(resample(b, g, grid, method)) for b, g in zip(cf.bases, cf.grids,
                                                                                         strict=True)])
        weights = feather_weights(footprint)
        keep, mask = _cum_masks(frames, cf, grid, footprint, weights)
        t_yr = years_since_first(dates)
        rate = LinearRate(grid.shape)
        params = np.zeros((dates.size, n, 3 if ramp else 1))
        log_ = _CumOverlaps(fixed)
        attrs = {"convention": "LiCSBAS cum.h5; cum/vel in mm along LOS, positive toward the satellite",
                 "mosaic_of": json.dumps([str(f) for f in files]),
                 "reference": f"epoch {dates[0]} (0 mm); reference area of frame {fixed} ({frames[fixed].path.name})"}
        with CumWriter(path, dates, grid, attrs) as writer:
            for e, date in enumerate(tqdm(dates, desc="cum mosaic", unit="epoch", disable=not progress, leave=False)):
                maps = cf.epoch_maps(e, grid, method)
                mos, params[e], st = merge(maps, x, y, ramp=ramp, fixed=fixed, estimate=np.where(keep, maps, np.nan),
                                           weights=weights, warn=False)
                if e == 0 and not st["overlaps"]:  # the reference epoch: 0 mm wherever a frame has data
                    raise InputError(None, "the frames do not overlap (no common pixels): cannot tie them together")
                writer.write(e, mos)
                rate.add(float(t_yr[e]), mos)
                log_.add(e, int(date), st)
                log.debug("cum mosaic: epoch %d (%d/%d)", date, e + 1, dates.size)
            vel, icp = rate.solve()
            box = cf.readers[fixed].refarea_box
            ref = None if box is None else _map_box(box, cf.grids[fixed], grid)
            writer.close({"vel": vel, "vintercept": icp, "mask": mask}, refarea=ref)
    if log_.detached:
        log.warning("cum mosaic: at %d epoch(s) (%s ...) some frames share no overlap with the fixed frame's group "
                    "and keep their own reference", len(log_.detached), next(iter(log_.detached)))
    summary = _cum_summary(path, cum_file, dates, fixed, ramp, grid, [f.path.name for f in frames], params, log_)
    return CumMosaic(path=path, epochs=dates, params=params, summary=summary)


def _cum_summary(path: Path, cum_file: str, dates: npt.NDArray[np.int64], fixed: int, ramp: bool, grid: Grid,
                 names: list[str], params: F64, log_: _CumOverlaps) -> dict[str, Any]:
    """The ``cum`` entry of ``mosaic.json``."""
    keys = ("offset_mm", "east_mm_per_km", "north_mm_per_km")[:params.shape[2]]
    after = [v for rec in log_.overlaps.values() for v in rec["rms_after"]]
    return {"file": path.name, "source": cum_file, "epochs": [int(d) for d in dates],
            "reference_epoch": int(dates[0]), "fixed": fixed, "ramp": ramp, "grid": grid.to_dict(),
            "parameters": {nm: {k: [float(v) for v in params[:, i, c]] for c, k in enumerate(keys)}
                           for i, nm in enumerate(names)},
            "overlaps": [{"frames": list(ij), **rec} for ij, rec in log_.overlaps.items()],
            "rms_after_max_mm": float(max(after)) if after else 0.0,
            "detached": log_.detached}


def mosaic_decomposed(folders: Sequence[str | Path], out: str | Path, *, components: Sequence[str] = COMPONENTS,
                      ramp: bool = False, fixed: int = 0, method: Method = "bilinear") -> MosaicResult:
    """Mosaic east and/or up velocities of several ``kansho decompose`` folders (adjacent track pairs).

    Each component is adjusted on its own (offsets, and with ``ramp`` planes, per folder, from the
    overlaps, folder ``fixed`` held) and blended; ``<component>_std.tif`` is blended without
    correction when every folder has it. Writes ``<component>.tif`` and ``mosaic.json``.
    Raises :class:`InputError` naming the file if a folder lacks a component.
    """
    from kansho.io.geotiff import read_grid

    dirs = [Path(f) for f in folders]
    _check_fixed(fixed, len(dirs))
    dest = Path(out)
    comps = list(dict.fromkeys(components))
    bad = [c for c in comps if c not in COMPONENTS]
    if bad or not comps:
        raise InputError(None, f"unknown component(s) {bad or comps}: choose among {', '.join(COMPONENTS)}")
    for f in dirs:
        for c in comps:
            if not (f / f"{c}.tif").is_file():
                raise InputError(f / f"{c}.tif", f"missing: every decompose folder needs {c}.tif to mosaic {c} "
                                                 f"(components must be the same in all folders)")
    norths = {}
    for f in dirs:
        try:
            norths[f] = json.loads((f / "decompose.json").read_text()).get("north")
        except (OSError, ValueError):
            norths[f] = None
    if len({("neglected" if v == "neglected" else "gnss") for v in norths.values() if v is not None}) > 1:
        log.warning("mosaic: some decompositions used a GNSS north velocity and some neglected it; their east/up "
                    "differ by the north leakage (north_sens_e/u.tif), which the offsets absorb only in part")
    dest.mkdir(parents=True, exist_ok=True)
    grid = common_grid([read_grid(f / f"{c}.tif") for f in dirs for c in comps])
    res = MosaicResult(out=dest, frames=[f.name for f in dirs])
    summary: dict[str, Any] = {"kind": "enu", "folders": [str(f) for f in dirs], "fixed": fixed, "ramp": ramp,
                               "grid": grid.to_dict(), "components": {}}
    for c in comps:
        std = [f / f"{c}_std.tif" for f in dirs]
        plain = {f"{c}_std": std} if all(s.is_file() for s in std) else {}
        params, stats, written = _mosaic_geotiffs([f / f"{c}.tif" for f in dirs],
                                                  {c: [f / f"{c}.tif" for f in dirs]}, plain, grid, dest,
                                                  ramp=ramp, fixed=fixed, method=method, units="mm/yr")
        res.components[c] = params
        res.files += written
        summary["components"][c] = {
            "parameters": {f.name: _param_dict(p, ("offset_mm_yr", "east_mm_yr_per_km", "north_mm_yr_per_km"))
                           for f, p in zip(dirs, params, strict=True)},
            **stats}
    res.params = res.components[comps[0]]
    res.stats = summary["components"][comps[0]]
    write_json_atomic(dest / "mosaic.json", summary, default=None)
    res.files.append(dest / "mosaic.json")
    return res
