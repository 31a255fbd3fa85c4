"""Orchestration of the geodesy tools on run folders: read, call the numerics, write products.

The numerics live in :mod:`.fit`, :mod:`.compare`, :mod:`.decompose` and :mod:`.strain`; this
module reads a time-series run (``results/vel.tif``, ``vstd.tif``, ``mask.tif``, ``cum.h5``, the
LOS vectors of ``stack.zarr``) and GNSS files, and writes GeoTIFFs, CSV/JSON tables and plots.
Each public function is what one ``kansho`` sub-command calls.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kansho._files import write_text_atomic as _atomic_text
from kansho.errors import InputError
from kansho.geodesy import compare as cmp
from kansho.geodesy.decompose import decompose_east_up, interpolate_stations
from kansho.geodesy.fit import fit_trajectory
from kansho.geodesy.strain import strain_rate
from kansho.grid import Grid, NoOverlap, common_grid, resample
from kansho.io.geotiff import read_grid, read_raster, write_geotiff
from kansho.io.gnss import (
    GnssSeries,
    StationVelocities,
    date_to_mjd,
    mjd_to_decyear,
    read_gnss,
)
from kansho.layout import RunLayout
from kansho.run import open_run

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


@dataclass
class Track:
    """The parts of a run that the geodesy tools use (maps (ny, nx) float32)."""

    path: Path
    grid: Grid
    vel: F32
    vstd: F32
    los_e: F32
    los_n: F32
    los_u: F32
    vel_path: Path


def load_track(out_dir: str | Path, vel_path: str | Path | None = None, *, use_mask: bool = True) -> Track:
    """Read a run folder: velocity (``results/vel.tif`` or ``vel_path``), ``vstd``, mask and LOS vectors."""
    run = open_run(out_dir, need_cum=False)
    vp = Path(vel_path) if vel_path is not None else run.map_path("vel")
    grid = read_grid(vp)
    vel = read_raster(vp)
    vstd = run.read_map("vstd") if run.has_map("vstd") else np.full(grid.shape, np.nan, np.float32)
    if vstd.shape != vel.shape:
        raise InputError(vp, f"grid {vel.shape} differs from the run's vstd.tif {vstd.shape}")
    if use_mask and run.has_map("mask"):
        m = run.read_map("mask")
        if m.shape == vel.shape:
            vel = np.where(m == 1, vel, np.nan).astype(np.float32)
    le, ln, lu = run.los()
    if le.shape != vel.shape:
        raise InputError(vp, f"grid {vel.shape} differs from the stack's LOS vectors {le.shape}")
    return Track(run.path, grid, vel, vstd, le, ln, lu, vp)


# --------------------------------------------------------------------------------------------------
# GNSS comparison
# --------------------------------------------------------------------------------------------------


@dataclass
class StationRow:
    name: str
    lon: float
    lat: float
    source: str
    n_pix: int = 0
    los: tuple[float, float, float] = (math.nan, math.nan, math.nan)
    v_gnss: float = math.nan
    s_gnss: float = math.nan
    v_insar: float = math.nan
    s_insar: float = math.nan
    diff: float = math.nan
    diff_tied: float = math.nan
    ts_rms: float = math.nan
    n_ts: int = 0


def gnss_compare(
    out_dir: str | Path,
    station_files: list[str | Path],
    dest: str | Path,
    *,
    radius_km: float = 0.5,
    tie: str | None = None,
    ref_station: str | None = None,
    window_days: float = 6.0,
    offsets: dict[str, list[int]] | None = None,
    plots: bool = True,
) -> dict[str, Any]:
    """Compare a run with GNSS (module :mod:`.compare`) and write the products to ``dest``.

    Writes ``stations.csv`` (per station), ``summary.json``, and with ``tie`` ``vel_tied.tif`` and
    ``tie_ramp.tif``; plots ``compare_map.png``, ``compare_scatter.png`` and ``ts_<station>.png``.
    Returns the summary dict (also with ``rows``: the per-station table as dicts).
    """
    out = Path(out_dir)
    dest = Path(dest)
    track = load_track(out)
    cum_d = _read_cum(out)
    t_ins = mjd_to_decyear([date_to_mjd(int(d)) for d in cum_d["imdates"]]) if cum_d else None
    rows, ins_ts, gn_ts = _station_rows(station_files, track, cum_d, t_ins, radius_km, window_days, offsets or {})
    names = [r.name for r in rows]
    ref = None
    if ref_station is not None:
        if ref_station not in names:
            raise InputError(None, f"reference station {ref_station!r} is not among the stations ({', '.join(names)})")
        ref = names.index(ref_station)
    raw = np.array([r.v_insar - r.v_gnss for r in rows])
    sig = np.hypot([r.s_insar for r in rows], [r.s_gnss for r in rows])
    if int(np.isfinite(raw).sum()) < (1 if ref is not None else 2):
        raise InputError(None, "fewer than two stations have both InSAR and GNSS velocities: no common reference")
    offset = cmp.common_reference(raw, sig, ref)
    for r, d in zip(rows, raw, strict=True):
        r.diff = float(d - offset)
    summary: dict[str, Any] = {"run": str(out), "radius_km": radius_km, "n_station": len(rows),
                               "reference": ref_station or "network mean", "offset_mm_yr": offset}
    if cum_d is not None and any(np.isfinite(g).any() for g in gn_ts):
        summary.update(_timeseries_summary(rows, ins_ts, gn_ts, ref))
    dv = np.array([r.diff for r in rows])
    okv = np.isfinite(dv)
    summary["vel_rms_mm_yr"] = float(np.sqrt(np.mean(dv[okv] ** 2)))
    summary["vel_mean_abs_mm_yr"] = float(np.mean(np.abs(dv[okv])))
    dest.mkdir(parents=True, exist_ok=True)
    if tie is not None:
        summary["tie"] = _tie_to_gnss(track, rows, raw, sig, tie, dest)
    summary["rows"] = [_row_dict(r) for r in rows]
    _write_station_table(dest / "stations.csv", rows)
    _write_json(dest / "summary.json", summary)
    if plots:
        _compare_plots(track, rows, t_ins, ins_ts, gn_ts, ref, dest, tied=tie is not None)
    return summary


def _station_rows(station_files: list[str | Path], track: Track, cum_d: dict[str, Any] | None, t_ins: F64 | None,
                  radius_km: float, window_days: float, offsets: dict[str, list[int]],
                  ) -> tuple[list[StationRow], list[F64], list[F64]]:
    """One row per station of every file, with its InSAR and GNSS series on the InSAR epochs."""
    rows: list[StationRow] = []
    ins_ts: list[F64] = []
    gn_ts: list[F64] = []
    for f in station_files:
        items = read_gnss(f)
        stations: list[Any] = [items] if isinstance(items, GnssSeries) else [
            (items, i) for i in range(len(items))]
        for st in stations:
            row, its, gts = _one_station(st, f, track, cum_d, t_ins, radius_km, window_days, offsets)
            rows.append(row)
            ins_ts.append(its)
            gn_ts.append(gts)
    if not rows:
        raise InputError(None, "no GNSS stations given")
    return rows, ins_ts, gn_ts


def _timeseries_summary(rows: list[StationRow], ins_ts: list[F64], gn_ts: list[F64], ref: int | None,
                        ) -> dict[str, float]:
    """Per-station RMS of the series differences (set on ``rows``) and the overall figures."""
    d = cmp.timeseries_differences(np.array(ins_ts), np.array(gn_ts), ref)
    for r, di in zip(rows, d, strict=True):
        ok = np.isfinite(di)
        r.n_ts = int(ok.sum())
        r.ts_rms = float(np.sqrt(np.mean(di[ok] ** 2))) if ok.any() else math.nan
    allv = d[np.isfinite(d)]
    return {"ts_rms_all_mm": float(np.sqrt(np.mean(allv**2))) if allv.size else math.nan,
            "ts_rms_median_mm": float(np.nanmedian([r.ts_rms for r in rows])) if allv.size else math.nan}


def _tie_to_gnss(track: Track, rows: list[StationRow], raw: F64, sig: F64, tie: str, dest: Path) -> dict[str, Any]:
    """Fit the ``tie`` ramp InSAR - GNSS, write ``vel_tied.tif`` and ``tie_ramp.tif``; the summary's ``tie``."""
    grid = track.grid
    x, y = cmp.local_km(grid, [r.lon for r in rows], [r.lat for r in rows])
    try:
        tie_res = cmp.fit_ramp(x, y, raw, sig, tie)
    except ValueError as exc:
        raise InputError(None, f"cannot tie to GNSS: {exc}") from None
    for r, d in zip(rows, tie_res.residual, strict=True):
        r.diff_tied = float(d)
    gx, gy = cmp.local_km(grid, *np.meshgrid(grid.lon(), grid.lat()))
    ramp = tie_res.model(gx, gy).astype(np.float32)
    vel_all = read_raster(track.vel_path)
    write_geotiff(dest / "vel_tied.tif", (vel_all - ramp).astype(np.float32), grid, units="mm/yr",
                  description=f"LOS velocity tied to GNSS ({tie} ramp removed)")
    write_geotiff(dest / "tie_ramp.tif", ramp, grid, units="mm/yr", description=f"{tie} ramp InSAR - GNSS")
    okt = np.isfinite(tie_res.residual)
    return {"kind": tie, "coef": tie_res.coef.tolist(), "coef_sigma": np.sqrt(np.diag(tie_res.cov)).tolist(),
            "terms": ["1", "x_km", "y_km", "x_km^2", "x_km*y_km", "y_km^2"][: tie_res.coef.size],
            "vel_rms_after_mm_yr": float(np.sqrt(np.mean(tie_res.residual[okt] ** 2)))}


def _compare_plots(track: Track, rows: list[StationRow], t_ins: F64 | None, ins_ts: list[F64], gn_ts: list[F64],
                   ref: int | None, dest: Path, *, tied: bool) -> None:
    from kansho.geodesy import plots as gp

    try:
        gp.plot_compare_map(track.vel, track.grid, rows, dest / "compare_map.png", tied=tied)
        gp.plot_compare_scatter(rows, dest / "compare_scatter.png")
        if t_ins is not None:
            for r, its, gts in zip(rows, ins_ts, gn_ts, strict=True):
                if np.isfinite(its).any() and np.isfinite(gts).any():
                    gp.plot_station_ts(r, t_ins, its, gts, ref, ins_ts, gn_ts, dest / f"ts_{r.name}.png")
    except Exception as exc:  # noqa: BLE001 - plots must never lose the numerical products
        log.warning("GNSS comparison plots could not be drawn: %s", exc)


def _read_cum(out: Path) -> dict[str, Any] | None:
    run = open_run(out, need_cum=False)
    if not run.has_cum:
        log.warning("%s: no cum.h5, comparing velocities only", out)
        return None
    return run.read_cum()


def _one_station(st: Any, f: str | Path, track: Track, cum_d: dict[str, Any] | None, t_ins: F64 | None,
                 radius_km: float, window_days: float, offsets: dict[str, list[int]]) -> tuple[StationRow, F64, F64]:
    grid = track.grid
    n_ep = 0 if t_ins is None else t_ins.size
    nan_ts = np.full(n_ep, np.nan)
    if isinstance(st, GnssSeries):
        name, lon, lat = st.name, st.lon, st.lat
    else:
        sv, i = st
        name, lon, lat = sv.name[i], float(sv.lon[i]), float(sv.lat[i])
    row = StationRow(name, lon, lat, str(f))
    try:
        idx = cmp.disk_index(grid, lon, lat, radius_km)
    except cmp.StationOutsideGrid:
        raise InputError(f, f"station {name} at ({lon:.4f}, {lat:.4f}) is outside the InSAR grid "
                            f"(lon {grid.lon()[0]:.4f}..{grid.lon()[-1]:.4f}, "
                            f"lat {grid.lat()[-1]:.4f}..{grid.lat()[0]:.4f})") from None
    los = cmp.los_at(track.los_e, track.los_n, track.los_u, idx)
    if not np.all(np.isfinite(los)):
        raise InputError(RunLayout(track.path).stack, f"no LOS unit vector at station {name}")
    row.los = tuple(float(v) for v in los)  # type: ignore[assignment]
    v_ins, n_pix = cmp.station_mean(track.vel, idx)
    row.n_pix = n_pix
    row.v_insar = float(v_ins)
    s_ins, _ = cmp.station_mean(track.vstd, idx)
    row.s_insar = float(s_ins) if np.isfinite(s_ins) else 0.0
    if n_pix == 0:
        log.warning("station %s: no valid InSAR pixel within %.2f km", name, radius_km)
    its = nan_ts
    gts = nan_ts
    if cum_d is not None and n_pix:
        its, _ = cmp.station_mean(cum_d["cum"], idx)
    if isinstance(st, GnssSeries):
        t = st.decyear()
        enu = st.enu_mm()
        sg = st.sigma_mm()
        offs = [float(mjd_to_decyear(date_to_mjd(d))) for d in offsets.get(name, [])]
        sel = np.ones(t.size, bool)
        if t_ins is not None:
            span = (t >= t_ins[0] - window_days / 365.25) & (t <= t_ins[-1] + window_days / 365.25)
            if span.sum() >= 30 and np.ptp(t[span]) >= 1.0:
                sel = span
            else:
                log.warning("station %s: under a year of GNSS data in the InSAR period; velocity from the whole series",
                            name)
        try:
            fits = [fit_trajectory(t[sel], enu[sel, k], sg[sel, k], offsets=offs) for k in range(3)]
        except ValueError as exc:
            raise InputError(f, f"station {name}: {exc}") from None
        v = np.array([ft.velocity for ft in fits])
        s = np.array([ft.velocity_sigma for ft in fits])
        row.v_gnss = float(cmp.project_to_los(v, los))
        row.s_gnss = float(np.sqrt(np.sum((s * los) ** 2)))
        if t_ins is not None:
            # remove fitted steps so that the series compare with InSAR across equipment changes
            enu_c = enu.copy()
            for k, ft in enumerate(fits):
                for tk, ok_ in zip(ft.offset_times, ft.offsets, strict=True):
                    enu_c[t >= tk, k] -= ok_
            samp = cmp.sample_series(t, enu_c, t_ins, window_days / 2 / 365.25)
            gts = cmp.project_to_los(samp, los)
    else:
        sv, i = st
        v = np.array([sv.ve[i], sv.vn[i], sv.vu[i]])
        if not np.isfinite(v[2]):
            log.warning("station %s: no vertical velocity; taken as 0 for the LOS projection", name)
            v[2] = 0.0
        s = np.nan_to_num(np.array([sv.se[i], sv.sn[i], sv.su[i]]), nan=0.0)
        row.v_gnss = float(cmp.project_to_los(v, los))
        row.s_gnss = float(np.sqrt(np.sum((s * los) ** 2)))
    return row, np.asarray(its, np.float64), np.asarray(gts, np.float64)


def _row_dict(r: StationRow) -> dict[str, Any]:
    return {"name": r.name, "lon": r.lon, "lat": r.lat, "n_pix": r.n_pix, "los_e": r.los[0], "los_n": r.los[1],
            "los_u": r.los[2], "v_gnss_los": r.v_gnss, "sigma_gnss": r.s_gnss, "v_insar": r.v_insar,
            "sigma_insar": r.s_insar, "diff": r.diff, "diff_tied": r.diff_tied, "ts_rms_mm": r.ts_rms,
            "n_ts": r.n_ts, "source": r.source}


def format_table(summary: dict[str, Any]) -> str:
    """The per-station table and the overall figures as text (for the CLI)."""
    lines = [f"{'station':10s} {'v_gnss':>8s} {'v_insar':>8s} {'diff':>7s} {'tied':>7s} {'ts_rms':>7s} {'npix':>5s}"]
    for r in summary["rows"]:
        lines.append(f"{r['name']:10s} {r['v_gnss_los']:8.2f} {r['v_insar']:8.2f} {r['diff']:7.2f} "
                     f"{r['diff_tied']:7.2f} {r['ts_rms_mm']:7.2f} {r['n_pix']:5d}")
    lines.append(f"velocity difference RMS {summary['vel_rms_mm_yr']:.2f} mm/yr over {summary['n_station']} stations "
                 f"(reference: {summary['reference']}, offset {summary['offset_mm_yr']:.2f} mm/yr)")
    if "ts_rms_median_mm" in summary:
        lines.append(f"time-series RMS difference: median {summary['ts_rms_median_mm']:.2f} mm, "
                     f"all {summary['ts_rms_all_mm']:.2f} mm")
    if "tie" in summary:
        lines.append(f"tie ({summary['tie']['kind']}): RMS after {summary['tie']['vel_rms_after_mm_yr']:.2f} mm/yr")
    return "\n".join(lines)


def _write_station_table(path: Path, rows: list[StationRow]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    d = [_row_dict(r) for r in rows]
    w.writerow(list(d[0]))
    for r in d:
        w.writerow([f"{v:.4f}" if isinstance(v, float) else v for v in r.values()])
    _atomic_text(path, buf.getvalue())


def _write_json(path: Path, data: Any) -> None:
    _atomic_text(path, json.dumps(data, indent=1, default=lambda o: o.item() if isinstance(o, np.generic) else str(o)))


# --------------------------------------------------------------------------------------------------
# decomposition
# --------------------------------------------------------------------------------------------------


def north_field(spec: str | Path, grid: Grid) -> tuple[F32, F32]:
    """North velocity (mm/yr) and 1-sigma on ``grid`` from a GeoTIFF or a GNSS station CSV."""
    p = Path(spec)
    if p.suffix.lower() in (".tif", ".tiff"):
        src = read_grid(p)
        vn = resample(read_raster(p), src, grid)
        sp = p.with_name(p.stem + "_std" + p.suffix)
        sd = resample(read_raster(sp), read_grid(sp), grid) if sp.is_file() else np.zeros(grid.shape, np.float32)
        return vn, sd
    st = read_gnss(p)
    if not isinstance(st, StationVelocities):
        raise InputError(p, "--gnss-north needs a station-velocity CSV or a north-velocity GeoTIFF")
    try:
        return interpolate_stations(st.lon, st.lat, st.vn, grid, sigma=st.sn)
    except ValueError as exc:
        raise InputError(p, str(exc)) from None


def decompose_runs(
    runs: list[str | Path],
    dest: str | Path,
    *,
    vel_files: list[str | Path] | None = None,
    gnss_north: str | Path | None = None,
    posting_deg: float | None = None,
    plots: bool = True,
) -> dict[str, Any]:
    """East/up velocities from two or more runs (tracks); writes GeoTIFFs, ``decompose.json`` and plots."""
    if len(runs) < 2:
        raise InputError(None, "decomposition needs at least two tracks")
    if vel_files and len(vel_files) != len(runs):
        raise InputError(None, f"{len(vel_files)} --vel files for {len(runs)} tracks: give one per track or none")
    tracks = [load_track(r, vel_files[i] if vel_files else None) for i, r in enumerate(runs)]
    try:
        grid = common_grid([t.grid for t in tracks], extent="intersection", posting=posting_deg)
    except NoOverlap:
        raise InputError(None, "the tracks do not overlap: " + "; ".join(
            f"{t.path}: lon {t.grid.lon()[0]:.3f}..{t.grid.lon()[-1]:.3f}, "
            f"lat {t.grid.lat()[-1]:.3f}..{t.grid.lat()[0]:.3f}" for t in tracks)) from None
    stack = {k: np.stack([resample(getattr(t, k), t.grid, grid) for t in tracks])
             for k in ("vel", "vstd", "los_e", "los_n", "los_u")}
    vstd = stack["vstd"]
    if not np.isfinite(vstd).any():
        log.warning("no vstd: equal weights (1 mm/yr) for every track")
    vstd = np.where(np.isfinite(vstd) & (vstd > 0), vstd, 1.0)
    vn = sn = None
    if gnss_north is not None:
        vn, sn = north_field(gnss_north, grid)
    res = decompose_east_up(stack["vel"], vstd, stack["los_e"], stack["los_n"], stack["los_u"], vn, sn)
    dest = Path(dest)
    products = {"east": res.east, "up": res.up, "east_std": res.east_std, "up_std": res.up_std,
                "n_tracks": res.n_tracks}
    if vn is None or sn is None:
        products["north_sens_e"] = res.sens_e
        products["north_sens_u"] = res.sens_u
    else:
        products["north"] = vn.astype(np.float32)
        products["north_std"] = sn.astype(np.float32)
    if len(runs) > 2:
        products["chi2"] = res.chi2
    for name, arr in products.items():
        write_geotiff(dest / f"{name}.tif", arr, grid, units="mm/yr" if "sens" not in name else "1")
    ok = np.isfinite(res.east)
    summary: dict[str, Any] = {"tracks": [str(t.path) for t in tracks], "vel_files": [str(t.vel_path) for t in tracks],
                               "grid": grid.to_dict(), "coverage": float(ok.mean()),
                               "north": str(gnss_north) if gnss_north else "neglected",
                               "east_std_median": float(np.nanmedian(res.east_std)) if ok.any() else math.nan,
                               "up_std_median": float(np.nanmedian(res.up_std)) if ok.any() else math.nan}
    if vn is None and ok.any():
        se = float(np.nanmedian(np.abs(res.sens_e)))
        su = float(np.nanmedian(np.abs(res.sens_u)))
        summary["north_neglected"] = {"median_abs_sens_e": se, "median_abs_sens_u": su,
                                      "note": f"each mm/yr of north velocity biases east by ~{se:.2f} and up by "
                                              f"~{su:.2f} mm/yr (maps north_sens_e/u.tif)"}
        log.warning("north velocity neglected: each mm/yr of north motion biases east by %.2f and up by %.2f mm/yr",
                    se, su)
    _write_json(dest / "decompose.json", summary)
    if plots:
        from kansho.geodesy import plots as gp

        try:
            gp.plot_decomposition(products, grid, dest / "decompose.png")
        except Exception as exc:  # noqa: BLE001 - plots must never lose the numerical products
            log.warning("decomposition plot could not be drawn: %s", exc)
    return summary


# --------------------------------------------------------------------------------------------------
# strain
# --------------------------------------------------------------------------------------------------


def strain_files(east: str | Path, north: str | Path, dest: str | Path, *, scale_km: float = 5.0,
                 plots: bool = True) -> dict[str, Any]:
    """Strain-rate maps from east and north velocity GeoTIFFs (north resampled onto east's grid)."""
    ge = read_grid(east)
    ve = read_raster(east)
    gn = read_grid(north)
    vn = resample(read_raster(north), gn, ge)
    if not np.isfinite(vn).any():
        raise InputError(north, f"does not overlap {east}")
    sr = strain_rate(ve, vn, ge, scale_km)
    dest = Path(dest)
    names = ("exx", "eyy", "exy", "rotation", "dilatation", "max_shear", "second_invariant")
    for n in names:
        write_geotiff(dest / f"{n}.tif", getattr(sr, n), ge, units="nanostrain/yr")
    summary = {"east": str(east), "north": str(north), "scale_km": scale_km, "units": "nanostrain/yr",
               "max_shear_max": float(np.nanmax(sr.max_shear)) if np.isfinite(sr.max_shear).any() else math.nan,
               "second_invariant_median": float(np.nanmedian(sr.second_invariant))
               if np.isfinite(sr.second_invariant).any() else math.nan}
    _write_json(dest / "strain.json", summary)
    if plots:
        from kansho.geodesy import plots as gp

        try:
            gp.plot_strain(sr, ve, vn, ge, dest / "strain.png", scale_km)
        except Exception as exc:  # noqa: BLE001 - plots must never lose the numerical products
            log.warning("strain plot could not be drawn: %s", exc)
    return summary


def strain_from_decomposition(folder: str | Path, gnss_north: str | Path | None, dest: str | Path, *,
                              scale_km: float = 5.0, plots: bool = True) -> dict[str, Any]:
    """Strain rates from a decompose folder's ``east.tif`` and its ``north.tif`` (or ``gnss_north``)."""
    folder = Path(folder)
    east = folder / "east.tif"
    if gnss_north is not None:
        grid = read_grid(east)
        vn, _ = north_field(gnss_north, grid)
        npath = Path(dest) / "north_used.tif"
        write_geotiff(npath, vn, grid, units="mm/yr")
        return strain_files(east, npath, dest, scale_km=scale_km, plots=plots)
    npath = folder / "north.tif"
    if not npath.is_file():
        raise InputError(folder, "has no north.tif (decompose was run without --gnss-north): give --gnss-north")
    return strain_files(east, npath, dest, scale_km=scale_km, plots=plots)
