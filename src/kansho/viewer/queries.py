"""The viewer's data answers built from :class:`~kansho.viewer.data.RunData`: a pixel's series with
the run's model, a reference date and the velocity over a date range; a layer as an array (also the
velocity over a date range, every pixel at once); a profile along a polyline; the series as CSV.
The HTTP layer (:mod:`kansho.viewer.server`) parses the query and calls these.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from kansho._dates import decimal_year
from kansho._version import __version__
from kansho.layout import MAP_UNITS
from kansho.viewer.analysis import range_fit, range_indices, sample_line
from kansho.viewer.data import RunData, ViewerError
from kansho.viewer.model import pixel_model

__all__ = ["RANGE_LAYER", "layer_array", "pixel_answer", "profile_answer", "range_map", "series_csv", "window_array"]

#: name of the computed layer "velocity over a date range" (``d1``/``d2`` give the range)
RANGE_LAYER = "vel_range"

Box = tuple[int, int, int, int]
Range = tuple[int, int] | None


def _clean(a: npt.ArrayLike) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(a, np.float64)]


def _date_index(run: RunData, date: int) -> int:
    hit = np.flatnonzero(run.dates == date)
    if hit.size == 0:
        raise ViewerError(f"reference date {date} is not an epoch of this run "
                          f"({int(run.dates[0])}..{int(run.dates[-1])}, {run.dates.size} epochs)", 400, "bad_epoch")
    return int(hit[0])


def pixel_answer(run: RunData, row: int, col: int, ref: Box | None, ref_date: int | None = None,
                 date_range: Range = None) -> dict[str, Any]:
    """The JSON answer for one pixel: series (raw, filtered, σ across gaps), the run's model
    (:func:`~kansho.viewer.model.pixel_model`), the map's velocity, quality values; relative to
    ``ref_date`` (an epoch, yyyymmdd) if given, and with the line fitted over ``date_range``."""
    s = run.series(row, col, ref)
    quality = run.pixel_values(row, col)
    vstd = quality.get("vstd")
    te = np.linspace(0.0, float(run.t[-1]), 200) if run.t.size > 1 else run.t
    cum, filt = s.cum.copy(), None if s.cum_filt is None else s.cum_filt.copy()
    model = pixel_model(run.t, cum, vstd, te, annual=run.uses_annual(row, col), weights=run.epoch_weights)
    if ref_date is not None:
        k = _date_index(run, ref_date)
        off = float(cum[k])
        if not np.isfinite(off):
            raise ViewerError(f"pixel (row {row}, col {col}) has no data at the reference date {ref_date}",
                              404, "no_data")
        cum -= off
        if filt is not None:
            filt -= filt[k]
        if model["model"] is not None:
            model["intercept"] -= off
            model["model"] = [v - off for v in model["model"]]
            model["at_epochs"] = [v - off for v in model["at_epochs"]]
    vel_map = quality.get("vel")
    if ref is not None and vel_map is not None:
        try:
            vel_map = vel_map - run.layer_ref_value("vel", ref)
        except ViewerError:
            vel_map = None
    g = run.grid
    out = {"row": row, "col": col, "lon": float(g.lon()[col]), "lat": float(g.lat()[row]),
           "ref": list(ref) if ref else (list(run.refarea) if run.refarea else None),
           "ref_is_run": ref is None, "ref_date": ref_date, "dates": [int(d) for d in s.dates],
           "t": [float(v) for v in s.t], "cum": _clean(cum), "cum_filt": _clean(filt) if filt is not None else None,
           "cum_std": _clean(s.cum_std) if s.cum_std is not None else None, "model": model,
           "temporal_model": run.temporal_model, "vel_map": vel_map, "vstd": vstd, "quality": quality,
           "range": None}
    if date_range is not None:
        out["range"] = _range_answer(run, cum, date_range)
    return out


def _range_answer(run: RunData, cum: npt.NDArray[np.float64], date_range: tuple[int, int]) -> dict[str, Any]:
    idx = range_indices(run.dates, *date_range)
    fit = {k: float(v[0]) for k, v in range_fit(run.t, cum[:, None], idx).items()}
    ok = np.isfinite(fit["vel"])
    t0, t1 = float(run.t[idx[0]]), float(run.t[idx[-1]])
    return {"d1": date_range[0], "d2": date_range[1], "first": int(run.dates[idx[0]]), "last": int(run.dates[idx[-1]]),
            "vel": fit["vel"] if ok else None, "intercept": fit["intercept"] if ok else None, "n": int(fit["n"]),
            "span_yr": fit["span"] if np.isfinite(fit["span"]) else None, "rms": fit["rms"] if ok else None,
            "t": [t0, t1], "model": [fit["vel"] * t0 + fit["intercept"], fit["vel"] * t1 + fit["intercept"]]
            if ok else None}


def range_map(run: RunData, step: int, date_range: tuple[int, int], ref: Box | None) -> npt.NDArray[np.float32]:
    """Velocity (mm/yr) over ``date_range`` at every ``step``-th pixel: the line fitted to each pixel's
    epochs in the range, all pixels at once (:func:`~kansho.viewer.analysis.range_fit`)."""
    idx = range_indices(run.dates, *date_range)
    block = run.cum_block(int(idx[0]), int(idx[-1]) + 1, step)
    if ref is not None:
        block -= run.ref_series(ref)[idx][:, None, None]
    ny, nx = block.shape[1:]
    vel = range_fit(run.t[idx[0]:idx[-1] + 1], block.reshape(block.shape[0], -1), np.arange(idx.size))["vel"]
    return vel.reshape(ny, nx).astype(np.float32)


def layer_array(run: RunData, layer: str, step: int, epoch: int, ref: Box | None, masked: bool,
                date_range: Range = None) -> npt.NDArray[np.float32]:
    """A layer as shown (a writable copy): a ``results/`` map, ``cum``/``cum_filt`` at ``epoch``, or
    :data:`RANGE_LAYER`; re-referenced to ``ref``, NaN outside the mask when ``masked``."""
    if layer == RANGE_LAYER:
        if date_range is None:
            raise ViewerError(f"layer {RANGE_LAYER!r} needs a date range 'd1' and 'd2' (yyyymmdd)")
        a = range_map(run, step, date_range, ref)
    elif layer in ("cum", "cum_filt"):
        a = np.array(run.cum_plane(epoch, step, layer == "cum_filt"), np.float32)
    else:
        a = np.array(run.map_array(layer, step), np.float32)
    if ref is not None and layer != RANGE_LAYER:
        a -= np.float32(run.layer_ref_value(layer, ref, epoch))
    if masked and "mask" in run.layers:
        a[run.map_array("mask", step) != 1] = np.nan
    return a


def window_array(run: RunData, layer: str, win: Box, epoch: int, ref: Box | None, masked: bool,
                 date_range: Range, step: int = 1) -> npt.NDArray[np.float64]:
    """A layer as shown over the window ``win`` (row0, row1, col0, col1), every ``step``-th pixel:
    only that window is read (a zoomed view, or a profile's bounding box, of a large frame)."""
    if layer == RANGE_LAYER:
        if date_range is None:
            raise ViewerError(f"layer {RANGE_LAYER!r} needs a date range 'd1' and 'd2' (yyyymmdd)")
        idx = range_indices(run.dates, *date_range)
        block = run.cum_block(int(idx[0]), int(idx[-1]) + 1, step, win)
        if ref is not None:
            block -= run.ref_series(ref)[idx][:, None, None]
        vel = range_fit(run.t[idx[0]:idx[-1] + 1], block.reshape(block.shape[0], -1), np.arange(idx.size))["vel"]
        a = vel.reshape(block.shape[1:])
    else:
        if layer in ("cum", "cum_filt"):
            if layer == "cum_filt" and not run.has_filt:
                raise ViewerError("cum_filt.h5 is not in this run", 404, "not_found")
            a = run.cum_block(epoch, epoch + 1, step, win, filt=layer == "cum_filt")[0]
        else:
            a = run.map_window(layer, win, step)
        if ref is not None:
            a = a - run.layer_ref_value(layer, ref, epoch)
    if masked and "mask" in run.layers:
        a = np.where(run.map_window("mask", win, step) == 1, a, np.nan)
    return a


def profile_answer(run: RunData, layer: str, vertices: npt.NDArray[np.float64], epoch: int, ref: Box | None,
                   masked: bool, date_range: Range = None) -> dict[str, Any]:
    """Values of a layer (full resolution, as shown) along the polyline ``vertices`` (lon, lat)."""
    pts = sample_line(run.grid, vertices)
    rows, cols = pts["row"].astype(np.int64), pts["col"].astype(np.int64)
    win = (int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1)
    a = window_array(run, layer, win, epoch, ref, masked, date_range)
    vals = a[rows - win[0], cols - win[2]]
    units = "mm/yr" if layer == RANGE_LAYER else ("mm" if layer in ("cum", "cum_filt") else MAP_UNITS.get(layer, ""))
    return {"layer": layer, "units": units, "epoch": int(run.dates[epoch]) if layer in ("cum", "cum_filt") else None,
            "vertices": vertices.tolist(), "distance_km": pts["distance_km"].tolist(), "lon": pts["lon"].tolist(),
            "lat": pts["lat"].tolist(), "row": rows.tolist(), "col": cols.tolist(), "value": _clean(vals),
            "length_km": float(pts["distance_km"][-1])}


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.3f}"


def _range_col(p: dict[str, Any]) -> list[float | None]:
    r = p["range"]
    if not r or r["vel"] is None:
        return [None] * len(p["t"])
    return [r["vel"] * t + r["intercept"] if r["first"] <= d <= r["last"] else None
            for d, t in zip(p["dates"], p["t"], strict=True)]


def series_csv(run_name: str, points: list[dict[str, Any]]) -> str:
    """The shown series of one or two pixels (answers of :func:`pixel_answer`) as CSV text."""
    a = points[0]
    lines = [f"# kansho {__version__} time series, run {run_name}; LOS mm, positive toward the satellite"]
    for i, p in enumerate(points, 1):
        lines.append(f"# point {i}: pixel row {p['row']} col {p['col']}, lon {p['lon']:.6f} lat {p['lat']:.6f}; "
                     f"model {p['model']['kind']}, velocity (linear fit, as results/vel.tif) "
                     f"{_fmt(p['model']['vel_linear'])} mm/yr")
        r = p["range"]
        if r:
            lines.append(f"# point {i}: velocity over {r['first']}..{r['last']} ({r['n']} epochs) "
                         f"{_fmt(r['vel'])} mm/yr")
    lines.append(f"# reference area rows {a['ref'][0]}:{a['ref'][1]} cols {a['ref'][2]}:{a['ref'][3]}"
                 if a["ref"] else "# reference area: unknown")
    if a["ref_date"] is not None:
        lines.append(f"# relative to the date {a['ref_date']} (each series is 0 there)")
    head = ["date", "decimal_year"]
    cols: list[list[float | None]] = []
    for i, p in enumerate(points, 1):
        sfx = "" if i == 1 else str(i)
        head += [f"cum{sfx}_mm", f"cum{sfx}_filt_mm", f"model{sfx}_mm"]
        n = len(p["dates"])
        cols += [p["cum"], p["cum_filt"] or [None] * n, p["model"]["at_epochs"] or [None] * n]
        if p["range"]:
            head.append(f"range_line{sfx}_mm")
            cols.append(_range_col(p))
    lines.append(",".join(head))
    for j, (d, t) in enumerate(zip(a["dates"], decimal_year(a["dates"]), strict=True)):
        lines.append(f"{d},{t:.6f}," + ",".join(_fmt(c[j]) for c in cols))
    return "\n".join(lines) + "\n"
