"""PNG plots of a run: network, QC statistics, loop closure, maps of velocity, uncertainty, mask."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from kansho import sideproc
from kansho._dates import parse_date
from kansho.grid import Grid
from kansho.mapfig import TITLE_Y, overview_panels, plot_categorical_map, plot_cum_overview, plot_geo_map, save_figure
from kansho.sideproc import SideProcess, side_map

if TYPE_CHECKING:
    from kansho.chain.context import Context

log = logging.getLogger(__name__)


def _save(fig: Any, path: Path) -> str:
    return save_figure(fig, path)


#: pair statuses of the network figure: colour, line style, width, legend text
NETWORK_STYLES: dict[str, tuple[str, str, float, str]] = {
    "used": ("tab:blue", "-", 0.8, "used"),
    "corrected 1-2": ("tab:green", "-", 1.4, "used, unwrapping corrected (1-2)"),
    "corrected 1-3": ("tab:purple", "-", 1.4, "used, corrected by the residual check (1-3)"),
    "corrected 1-2+1-3": ("tab:olive", "-", 1.6, "used, corrected by 1-2 and 1-3"),
    "0-3": ("tab:brown", "--", 1.4, "dropped by 0-3 (a delay layer missing)"),
    "1-1": ("tab:orange", "--", 1.4, "dropped by 1-1 (coverage / coherence)"),
    "1-2": ("tab:red", "--", 1.6, "dropped by 1-2 (loop closure / residual)"),
}


def plot_network(epochs: np.ndarray, bperp: np.ndarray, pairs: list[tuple[int, int, str]], path: Path, *,
                 used_epochs: np.ndarray | None = None, gaps: list[tuple[int, int]] | None = None) -> str:
    """The interferogram network as LiCSBAS draws it: epochs at (date, B⊥), every pair a line between its
    epochs, coloured and styled by its status (:data:`NETWORK_STYLES`: used, corrected by 1-2 / 1-3, dropped
    by 0-3 / 1-1 / 1-2), the network gaps (``(date1, date2)`` of consecutive epochs no used pair spans)
    shaded, epochs outside the inversion (``used_epochs``) as open circles. An epoch without a known B⊥
    is drawn at 0 and the title says so."""
    known = {int(e): float(b) for e, b in zip(epochs, bperp, strict=True) if np.isfinite(b)}
    extra = sorted({d for a, b, _ in pairs for d in (a, b)} - {int(e) for e in epochs})
    all_ep = sorted({int(e) for e in epochs} | set(extra))
    t = {e: mdates.date2num(parse_date(e)) for e in all_ep}
    bp = {e: known.get(e, 0.0) for e in all_ep}
    fig = plt.figure(figsize=(11, 4.6))
    ax = fig.add_axes((0.07, 0.12, 0.62, 0.78))
    for g1, g2 in gaps or []:
        ax.axvspan(t[int(g1)], t[int(g2)], color="tab:red", alpha=0.12, lw=0)
    counts: dict[str, int] = {}
    segments: dict[str, list[list[tuple[float, float]]]] = {}
    for a, b, s in pairs:
        segments.setdefault(s, []).append([(t[int(a)], bp[int(a)]), (t[int(b)], bp[int(b)])])
        counts[s] = counts.get(s, 0) + 1
    # one collection a status (a line a pair took ~0.1 s of the 222-pair figure's 0.18 s), used drawn first
    for s in sorted(segments, key=lambda s: (s != "used", s)):
        col, ls, lw, _ = NETWORK_STYLES.get(s, ("grey", ":", 1.0, s))
        ax.add_collection(LineCollection(segments[s], colors=col, linestyles=ls, linewidths=lw,
                                         alpha=0.75 if s == "used" else 1.0, zorder=2 if s == "used" else 3))
    used = {int(e) for e in (used_epochs if used_epochs is not None else epochs)}
    on = [e for e in all_ep if e in used]
    off = [e for e in all_ep if e not in used]
    ax.plot([t[e] for e in on], [bp[e] for e in on], "o", color="k", ms=4, zorder=4)
    if off:
        ax.plot([t[e] for e in off], [bp[e] for e in off], "o", mfc="white", mec="k", ms=5, zorder=4)
    handles: list[Any] = [Line2D([], [], color=NETWORK_STYLES.get(s, ("grey", ":", 1.0, s))[0],
                      ls=NETWORK_STYLES.get(s, ("grey", ":", 1.0, s))[1], lw=1.6,
                      label=f"{NETWORK_STYLES.get(s, ('', '', 0, s))[3]} ({counts[s]})")
               for s in [*NETWORK_STYLES, *sorted(set(counts) - set(NETWORK_STYLES))] if s in counts]
    handles.append(Line2D([], [], ls="", marker="o", color="k", ms=4, label=f"epoch in the inversion ({len(on)})"))
    if off:
        handles.append(Line2D([], [], ls="", marker="o", mfc="white", mec="k", ms=5,
                              label=f"epoch not inverted ({len(off)})"))
    if gaps:
        handles.append(Patch(fc="tab:red", alpha=0.12, label=f"network gap ({len(gaps)})"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set_ylabel("perpendicular baseline B⊥ (m)")
    ax.set_xlabel("acquisition date")
    ax.xaxis.set_major_locator(mdates.AutoDateLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    ax.grid(alpha=0.3, lw=0.5)
    note = "" if len(known) == len(all_ep) else (
        " — B⊥ unknown: epochs drawn at 0" if not known else f" — B⊥ unknown for {len(all_ep) - len(known)} epoch(s)")
    ax.set_title(f"Interferogram network: {len(pairs)} pairs, {len(all_ep)} epochs{note}",
                 fontsize=10, y=TITLE_Y)
    return _save(fig, path)


def plot_map(arr: np.ndarray, path: Path, title: str, units: str, *, grid: Grid, cmap: str = "viridis",
             symmetric: bool = False, ref: tuple[int, int, int, int] | None = None,
             ref_set: np.ndarray | None = None, nodata: np.ndarray | None = None) -> str:
    """One raster map on lon/lat axes (:func:`kansho.mapfig.plot_geo_map`)."""
    return plot_geo_map(arr, grid, path, title, units, cmap=cmap, symmetric=symmetric, ref=ref, ref_set=ref_set,
                        nodata=nodata)


def plot_qc(names: list[str], coverage: list[float], mean_coh: list[float], keep: list[bool],
            min_cov: float, min_coh: float, path: Path) -> str:
    fig, axs = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.11, top=0.9, hspace=0.12)
    col = np.where(np.asarray(keep), "tab:blue", "tab:orange")
    _bars(axs[0], np.asarray(coverage, float), col)
    axs[0].axhline(min_cov, color="k", ls="--", lw=0.8)
    axs[0].set_ylabel("coverage")
    _bars(axs[1], np.nan_to_num(np.asarray(mean_coh, float)), col)
    axs[1].axhline(min_coh, color="k", ls="--", lw=0.8)
    axs[1].set_ylabel("mean coherence")
    axs[1].set_xlabel("pair number (orange = dropped by 1-1)")
    fig.suptitle("Step 1-1 interferogram statistics")
    return _save(fig, path)


def _bars(ax: Any, heights: np.ndarray, colours: np.ndarray, width: float = 0.8) -> None:
    """A bar of each height at 0, 1, 2, ... as ``ax.bar`` draws them (``width`` wide, centred, from 0, the axis
    starting at 0), as one collection: a patch a bar took ~0.2 s of the 222 pairs' figure."""
    x = np.arange(heights.size, dtype=float)
    lo, hi = x - width / 2, x + width / 2
    zero = np.zeros_like(x)
    verts = np.stack([np.stack([lo, zero], 1), np.stack([lo, heights], 1), np.stack([hi, heights], 1),
                      np.stack([hi, zero], 1)], 1)
    bars = PolyCollection(list(verts), facecolors=colours, edgecolors="none", linewidths=0)
    bars.sticky_edges.y.append(0.0)
    ax.add_collection(bars)
    ax.autoscale_view()


def plot_loops(loop_rms: list[float], threshold: float, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(6, 4))
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.13, top=0.9)
    v = np.asarray(loop_rms, float)
    v = v[v >= 0]
    if v.size:
        ax.hist(v, bins=min(50, max(5, v.size // 3)), color="tab:blue")
    ax.axvline(threshold, color="tab:red", ls="--", label=f"bad loop threshold {threshold:g} rad")
    ax.set_xlabel("loop phase RMS (rad)")
    ax.set_ylabel("number of loops")
    ax.legend()
    ax.set_title(f"Step 1-2 loop closure: {v.size} loops", y=TITLE_Y)
    return _save(fig, path)


def plot_corrections(prep_attrs: dict[str, Any], path: Path) -> str | None:
    """``plots/corrections.png``: per layer, each pair's phase std after against before (Step 0-3).

    One panel per layer of ``prep_attrs["layers"]`` (the stack's record): kept pairs in blue,
    declined in orange, the 1:1 line dashed (below it the layer lowered the std). None when the run
    applied no layer.
    """
    layers = prep_attrs.get("layers")
    if not layers or not layers.get("order"):
        return None
    order = list(layers["order"])
    fig, axs = plt.subplots(1, len(order), figsize=(4.2 * len(order), 4), squeeze=False)
    fig.subplots_adjust(left=0.7 / (4.2 * len(order)), right=0.98, bottom=0.13, top=0.84, wspace=0.3)
    for ax, k in zip(axs[0], order, strict=True):
        lay = layers["layer"][k]
        b = np.array([np.nan if v is None else v for v in lay["std_before"]], float)
        a = np.array([np.nan if v is None else v for v in lay["std_after"]], float)
        kept = np.asarray(lay["kept"], bool)
        ok = np.isfinite(a) & np.isfinite(b)
        what = "forced" if lay.get("force") else "kept"
        ax.scatter(b[ok & kept], a[ok & kept], s=12, c="tab:blue", label=f"{what} ({int((ok & kept).sum())})")
        ax.scatter(b[ok & ~kept], a[ok & ~kept], s=12, c="tab:orange", label=f"declined ({int((ok & ~kept).sum())})")
        if ok.any():
            hi = float(np.nanmax(np.r_[a[ok], b[ok]])) * 1.05
            ax.plot([0, hi], [0, hi], "k--", lw=0.8)
            ax.set_xlim(0, hi)
            ax.set_ylim(0, hi)
        ax.set_xlabel("phase std before (rad)")
        ax.set_ylabel("phase std after (rad)")
        ax.set_title(f"{k} ({lay['unit']})")
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle("Step 0-3 delay layers: phase std per pair")
    return _save(fig, path)


def network_pairs(ctx: Context) -> tuple[list[tuple[int, int, str]], list[tuple[int, int]]]:
    """Every pair of a run with its status for :func:`plot_network` (dropped by 0-3 / 1-1 / 1-2, corrected
    by 1-2 / 1-3, used), and the network gaps as ``(date1, date2)``."""
    from kansho.chain.steps.ingest import IngestResult
    from kansho.chain.steps.invert import InvertResult
    from kansho.chain.steps.loops import LoopsResult
    from kansho.chain.steps.qc import QCResult

    st = ctx.stack
    qres = ctx.get(QCResult)
    lres = ctx.get(LoopsResult)
    bad = set(lres.bad) | set(lres.bad_noloop)
    fixed12 = {i for i, nf, nn in zip(lres.pairs_in, lres.n_fixed, lres.n_nulled, strict=False) if nf or nn}
    try:
        ires: InvertResult | None = ctx.get(InvertResult)
    except LookupError:
        ires = None
    fixed13 = ({i for i, nf, nn in zip(lres.pairs, ires.resid_fixed, ires.resid_nulled, strict=False) if nf or nn}
               if ires is not None else set())
    used = set(lres.pairs)
    out: list[tuple[int, int, str]] = []
    for i in range(st.n_pair):
        if not qres.keep[i]:
            s = "1-1"
        elif i in bad or i not in used:
            s = "1-2"
        else:
            s = {(True, True): "corrected 1-2+1-3", (True, False): "corrected 1-2",
                 (False, True): "corrected 1-3"}.get((i in fixed12, i in fixed13), "used")
        out.append((int(st.date1[i]), int(st.date2[i]), s))
    try:
        for name, _step, _reason in ctx.get(IngestResult).dropped:
            a, _, b = str(name).partition("_")
            if a.isdigit() and b.isdigit() and (int(a), int(b)) not in {(x, y) for x, y, _ in out}:
                out.append((int(a), int(b), "0-3"))  # dropped before ingest: not in the stack
    except LookupError:
        pass
    e = lres.epochs
    gaps = [(int(e[k]), int(e[k + 1])) for k in (ires.network_gaps if ires is not None else [])]
    return out, gaps


#: integer layers drawn with categorical colours: name → (title, units)
CATEGORICAL_MAPS = {
    "n_unw": ("Number of pairs used (n_unw)", "pairs"),
    "n_gap": ("Network gaps at the pixel (n_gap)", "gaps"),
    "n_loop_err": ("Loops with an unwrapping error (n_loop_err)", "loops"),
    "n_ifg_noloop": ("Used pairs in no loop (n_ifg_noloop)", "pairs"),
    "n_unchecked": ("Used pairs on no closed loop (n_unchecked)", "pairs"),
    "n_corrected": ("Pairs corrected for unwrapping (1-2, n_corrected)", "pairs"),
    "n_resid_fix": ("Pairs corrected by the residual check (1-3, n_resid_fix)", "pairs"),
}
#: continuous layers: name → (title, units, colour map)
CONTINUOUS_MAPS = {
    "coh_avg": ("Mean coherence (coh_avg)", "", "viridis"),
    "resid_rms": ("RMS of the inversion residuals (resid_rms)", "mm", "viridis"),
    "stc": ("Spatio-temporal consistency (stc)", "mm", "viridis"),
    "maxTlen": ("Longest connected time span (maxTlen)", "yr", "viridis"),
}


#: a figure to draw: a function of this module or :mod:`kansho.mapfig` returning ``plots/<name>``, its
#: positional and keyword arguments (picklable, but for the jobs :func:`figure_jobs` keeps in this process)
Job = tuple[Callable[..., str | None], tuple[Any, ...], dict[str, Any]]


def figure_jobs(ctx: Context, plots: Path, maps: dict[str, np.ndarray], epochs: np.ndarray) -> list[Job]:
    """The figures of a run into ``plots``, the longest first; their arguments are arrays and numbers only
    (the cube overview's panels are read here)."""
    from kansho.chain.steps.loops import LoopsResult  # here: a side process drawing figures needs none of the chain
    from kansho.chain.steps.qc import QCResult

    st = ctx.stack
    grid = st.grid
    qres = ctx.get(QCResult)
    lres = ctx.get(LoopsResult)
    r0, r1, c0, c1 = lres.ref
    ref = (r0, r1, c0, c1)
    ref_set = maps["refmask"] == 1 if lres.ref_kind == "set" and "refmask" in maps else None
    pairs, gaps = network_pairs(ctx)
    keep = maps["mask"] == 1
    nodata = ~np.isfinite(maps["vel"])  # pixels the inversion did not solve
    jobs: list[Job] = [
        (plot_cum_overview, (None, [int(e) for e in epochs], grid, plots / "cum_epochs.png"),
         {"mask": keep, "panels": overview_panels(ctx.array("cum"), len(epochs), grid)}),
        (plot_network, (st.epochs, st.bperp, pairs, plots / "network.png"),
         {"used_epochs": np.asarray(lres.epochs), "gaps": gaps}),
        (plot_qc, (st.pair_names(), qres.coverage, qres.mean_coh, qres.keep, ctx.cfg.qc.min_coverage,
                   ctx.cfg.qc.min_coh, plots / "qc_stats.png"), {}),
        (plot_loops, (lres.loop_rms, ctx.cfg.loops.loop_rms_threshold, plots / "loop_rms.png"), {})]
    vel_kw: dict[str, Any] = {"grid": grid, "cmap": "RdBu_r", "symmetric": True, "ref": ref, "ref_set": ref_set}
    jobs += [(plot_map, (maps["vel"], plots / "vel.png", "Velocity (unmasked)", "mm/yr"), vel_kw),
             (plot_map, (np.where(keep, maps["vel"], np.nan), plots / "vel_mskd.png", "Velocity (masked)",
                         "mm/yr"), vel_kw),
             (plot_map, (np.where(keep, maps["vel.filt"], np.nan), plots / "vel_filt_mskd.png",
                         "Velocity, filtered (masked)", "mm/yr"), vel_kw),
             (plot_map, (maps["vstd"], plots / "vstd.png", "Velocity std (bootstrap)", "mm/yr"),
              {"grid": grid, "cmap": "magma"}),
             (plot_categorical_map, (maps["mask"], grid, plots / "mask.png", "Mask"),
              {"units": "", "mask": True, "labels": {0: "0 removed", 1: "1 kept"}, "nodata": nodata})]
    for name, (title, units, cmap) in CONTINUOUS_MAPS.items():
        if name in maps:
            jobs.append((plot_map, (maps[name], plots / f"{name}.png", title, units),
                         {"grid": grid, "cmap": cmap, "nodata": nodata}))
    for name, (title, units) in CATEGORICAL_MAPS.items():
        if name in maps:
            jobs.append((plot_categorical_map, (maps[name], grid, plots / f"{name}.png", title),
                         {"units": units, "nodata": nodata}))
    jobs.append((plot_corrections, (st.attrs.get("prep", {}), plots / "corrections.png"), {}))
    return jobs


def run_job(job: Job) -> str | None:
    """Draw one figure (:data:`Job`); returns its ``plots/<name>`` (None when there is nothing to draw)."""
    fn, args, kwargs = job
    return fn(*args, **kwargs)


def write_all(ctx: Context, plots: Path, maps: dict[str, np.ndarray], epochs: np.ndarray,
              side: SideProcess | None = None, *, help_after: Callable[[], object] | None = None,
              meanwhile: Callable[[], object] | None = None) -> list[str]:
    """Draw every plot of a run into ``plots``; returns the relative paths written.

    With ``side`` (a child Python started by the caller, :class:`kansho.sideproc.SideProcess`) the child
    draws them while this process runs ``meanwhile`` (the caller's own work, given the figures' list
    first) and returns from ``help_after`` (the caller's wait for its products' writers, whose threads need
    the GIL that drawing here would hold), then takes those the child has not reached. With a dask cluster
    its workers draw a share; else all are drawn here, after ``meanwhile``."""
    jobs = figure_jobs(ctx, plots, maps, epochs)
    handed = side is not None and ctx.client is None and side.submit(run_job, jobs)
    if meanwhile is not None:
        meanwhile()
    if side is None or not handed:
        # a dask cluster takes a fixed share (a quarter stays here), or none does
        n_here = len(jobs) // SIDE_SHARE if ctx.client is not None else len(jobs)
        return [p for p in side_map(run_job, jobs[:n_here], jobs[n_here:], client=ctx.client) if p]
    if help_after is not None:
        help_after()
    side.take_back()
    return [p for p in side.collect(sideproc.SIDE_TIMEOUT_S) if p]


#: with a dask cluster this process draws 1/SIDE_SHARE of the figures (the 1000 x 1000 px
#: benchmark frame's outputs step: ~5.2 s with 4, ~6.0 s with 3, before a side process shared its list)
SIDE_SHARE = 4
