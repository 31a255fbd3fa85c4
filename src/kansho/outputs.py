"""Final products of a run: results GeoTIFFs, LiCSBAS-compatible HDF5, info tables, plots, report.

Names follow DESIGN §4 (LiCSBAS's names). Every file is written through a temporary name and a
rename, so an interrupted run never leaves a half-written product behind.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kansho._files import write_text_atomic as _atomic_text
from kansho.config import yaml_template
from kansho.io.geotiff import write_geotiff
from kansho.io.licsbas_h5 import write_cum_h5

if TYPE_CHECKING:
    from kansho.pipeline import Context

log = logging.getLogger(__name__)

#: results/<name>.tif  <- (work array or stack array, units, description)
RESULT_MAPS: dict[str, tuple[str, str, str]] = {
    "vel": ("vel", "mm/yr", "LOS velocity, positive toward the satellite"),
    "vintercept": ("vintercept", "mm", "intercept of the linear fit"),
    "vstd": ("vstd", "mm/yr", "bootstrap standard deviation of the velocity"),
    "coh_avg": ("coh_avg", "1", "mean coherence of the pairs used"),
    "n_unw": ("n_unw", "count", "number of valid unwrapped pairs used"),
    "n_loop_err": ("n_loop_err", "count", "number of loops with an unwrapping error"),
    "n_gap": ("n_gap", "count", "number of gaps in the network"),
    "n_ifg_noloop": ("n_ifg_noloop", "count", "number of pairs in no closed loop"),
    "resid_rms": ("resid_rms", "mm", "RMS of the inversion residuals"),
    "stc": ("stc", "mm", "spatio-temporal consistency"),
    "maxTlen": ("maxTlen", "yr", "longest connected time span of the network"),
    "mask": ("mask", "1", "1 = kept by the noisy-pixel mask"),
    "vel.filt": ("vel_filt", "mm/yr", "velocity after the spatio-temporal filter"),
    "loop_ph_rms": ("loop_rms", "rad", "RMS of loop phases at the pixel"),
}


def write_outputs(ctx: Context) -> dict[str, Any]:
    """Write every product of a finished chain under ``ctx.out``; returns what was written."""
    out = ctx.out
    st = ctx.stack
    grid = st.grid
    res_dir = out / "results"
    info = out / "info"
    plots = out / "plots"
    for d in (res_dir, info, plots):
        d.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    maps: dict[str, np.ndarray] = {}
    for name, (src, units, desc) in RESULT_MAPS.items():
        arr = ctx.read2d(src).astype(np.float32)
        maps[name] = arr
        write_geotiff(res_dir / f"{name}.tif", arr, grid, units=units, description=desc)
        written.append(f"results/{name}.tif")
    keep = maps["mask"] == 1
    for name in ("vel", "vel.filt"):
        m = np.where(keep, maps[name], np.nan).astype(np.float32)
        write_geotiff(res_dir / f"{name}.mskd.tif", m, grid, units="mm/yr", description=f"{name} masked")
        written.append(f"results/{name}.mskd.tif")
    hgt = st.read2d("hgt").astype(np.float32)
    if np.isfinite(hgt).any():
        write_geotiff(res_dir / "hgt.tif", hgt, grid, units="m", description="DEM height")
        written.append("results/hgt.tif")

    lres = ctx.result("loops")
    epochs = np.asarray(lres["epochs"], np.int64)
    pos = {int(e): i for i, e in enumerate(st.epochs)}
    bperp = np.array([st.bperp[pos[int(e)]] for e in epochs], np.float64)
    r0, r1, c0, c1 = lres["ref"]
    gap = ctx.work["gap"]  # cubes are streamed block by block, never loaded whole
    for fname, cube_name, vel_name in (("cum.h5", "cum", "vel"), ("cum_filt.h5", "cum_filt", "vel.filt")):
        cube = ctx.work[cube_name]
        write_cum_h5(out / fname, cum=cube, imdates=epochs, vel=maps[vel_name], vintercept=maps["vintercept"],
                     refarea=(r0, r1, c0, c1), grid=grid, gap=gap, bperp=bperp, mask=maps["mask"])
        written.append(fname)

    _write_info(ctx, info, epochs)
    try:
        from kansho import plots as plotmod

        written += plotmod.write_all(ctx, plots, maps, epochs)
    except Exception as exc:  # noqa: BLE001 - plotting must never lose a run's numerical products
        log.warning("plots could not be drawn: %s", exc)
    from kansho.report import write_report

    write_report(ctx, out / "report.html", maps)
    written.append("report.html")
    return {"written": written}


def dropped_pairs(ctx: Context) -> list[tuple[str, str, str]]:
    """(pair, step, reason) for every interferogram the run did not use."""
    st = ctx.stack
    names = st.pair_names()
    qres = ctx.result("qc")
    lres = ctx.result("loops")
    rows = [(str(n), str(step), str(r)) for n, step, r in ctx.result("ingest").get("dropped", [])]  # 0-3 GACOS
    rows += [(names[i], "1-1", r) for i, r in enumerate(qres["reason"]) if not qres["keep"][i]]
    pairs_in = lres["pairs_in"]
    nl = dict(zip(pairs_in, lres["n_loops"], strict=True))
    nb = dict(zip(pairs_in, lres["n_bad_loops"], strict=True))
    for i in lres["bad"]:
        rows.append((names[i], "1-2", f"unwrapping error: {nb[i]} of {nl[i]} loops bad"))
    for i in lres.get("bad_noloop", []):
        rows.append((names[i], "1-2", "unwrapping error in a pair outside every loop (inversion residual > pi)"))
    return rows


def _write_info(ctx: Context, info: Path, epochs: np.ndarray) -> None:
    st = ctx.stack
    names = st.pair_names()
    qres = ctx.result("qc")
    lres = ctx.result("loops")
    from kansho._dates import to_ordinal

    o1 = to_ordinal(st.date1)
    o2 = to_ordinal(st.date2)
    pos = {int(e): i for i, e in enumerate(st.epochs)}
    bp = st.bperp
    lines = ["# pair              bperp_m  dt_day  coverage  mean_coh  used  note"]
    used = set(lres["pairs"])
    bad = set(lres["bad"]) | set(lres["bad_noloop"])
    for i, n in enumerate(names):
        db = bp[pos[int(st.date2[i])]] - bp[pos[int(st.date1[i])]]
        note = qres["reason"][i] or ("loop closure" if i in bad else "")
        lines.append(f"{n}  {db:8.1f}  {o2[i] - o1[i]:6d}  {qres['coverage'][i]:8.3f}  "
                     f"{_f(qres['mean_coh'][i]):>8}  {'yes' if i in used else 'no ':>4}  {note}")
    _atomic_text(info / "11ifg_stats.txt", "\n".join(lines) + "\n")
    _write_coherence_model(ctx, info)
    _atomic_text(info / "11bad_ifg.txt",
                 "".join(f"{names[i]}  {r}\n" for i, r in enumerate(qres["reason"]) if not qres["keep"][i]))
    loop_lines = ["# pair_ij            pair_jk            pair_ik            rms_rad  bad"]
    thr = ctx.cfg.loops.loop_rms_threshold
    for members, rms in zip(lres["loops"], lres["loop_rms"], strict=True):
        m = [names[k] for k in members]
        loop_lines.append(f"{'  '.join(m)}  {rms:7.3f}  {'bad' if rms >= thr else ''}")
    _atomic_text(info / "12loop_stats.txt", "\n".join(loop_lines) + "\n")
    _atomic_text(info / "12bad_ifg.txt", "".join(f"{names[i]}\n" for i in lres["bad"] + lres["bad_noloop"]))
    _atomic_text(info / "12no_loop_ifg.txt", "".join(f"{names[i]}\n" for i in lres["no_loop"]))
    r0, r1, c0, c1 = lres["ref"]
    g = st.grid
    lon = g.lon()
    lat = g.lat()
    _atomic_text(info / "12ref.txt",
                 f"{c0}:{c1}/{r0}:{r1}\n# columns x1:x2 / rows y1:y2 (end-exclusive), chosen: {lres['ref_how']}\n"
                 f"# lon {lon[c0]:.5f}..{lon[c1 - 1]:.5f}  lat {lat[r1 - 1]:.5f}..{lat[r0]:.5f}\n")
    drops = dropped_pairs(ctx)
    _atomic_text(info / "dropped_pairs.csv",
                 "pair,step,reason\n" + "".join(f"{p},{s},\"{r}\"\n" for p, s, r in drops))
    ires = ctx.result("invert")
    gaps = ires["network_gaps"]
    _atomic_text(info / "13network_gaps.txt",
                 "".join(f"{epochs[k]}_{epochs[k + 1]}\n" for k in gaps) or "# no gap\n")
    mres = ctx.result("mask")
    ml = [f"# {mres['n_kept']} of {mres['n_valid']} solved pixels kept",
          "# criterion     threshold   removed_alone"]
    for k, thr_v in mres["thresholds"].items():
        ml.append(f"{k:14s}  {'off' if thr_v is None else f'{thr_v:g}':>9}   {mres['removed'].get(k, 0)}")
    ml += [f"# WARNING {w}" for w in mres["warnings"]]
    _atomic_text(info / "15mask_stats.txt", "\n".join(ml) + "\n")
    _atomic_text(info / "parameters.yaml", yaml_template(ctx.cfg))
    tl = ["# step      seconds"] + [f"{k:10s}  {v:8.2f}" for k, v in ctx.timings.items()]
    _atomic_text(info / "timings.txt", "\n".join(tl) + "\n")


def _write_coherence_model(ctx: Context, info: Path) -> None:
    """``info/11coh_model.txt``: each pair's observed mean coherence against the decorrelation model.

    The temporal model (exponential decay to a floor, :mod:`kansho.planning`) is fitted to this
    run's own pairs, so large residuals point at pairs that decorrelated more than their temporal
    and perpendicular baselines explain (snow, rain, vegetation change, processing problems).
    """
    st = ctx.stack
    obs = np.asarray(ctx.result("qc")["mean_coh"], float)
    if np.isfinite(obs).sum() < 5 or not np.isfinite(st.bperp).all():
        return
    from kansho.planning import predicted_vs_observed

    sensor = "sentinel1_iw" if st.wavelength < 0.1 else "alos2"
    try:
        cmp = predicted_vs_observed(st.date1, st.date2, (st.epochs, st.bperp), obs, sensor, fit=True)
    except Exception as exc:  # noqa: BLE001 - a model that cannot be fitted must not lose the run's products
        log.warning("coherence model not fitted to this run's pairs: %s", exc)
        return
    _atomic_text(info / "11coh_model.txt", cmp.to_text())


def _f(v: float | None) -> str:
    return "nan" if v is None or not np.isfinite(v) else f"{v:.3f}"
