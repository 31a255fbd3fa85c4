"""PNG plots of a run: network, QC statistics, loop closure, maps of velocity, uncertainty, mask."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np

from kansho._dates import parse_date
from kansho.chain.steps.loops import LoopsResult
from kansho.chain.steps.qc import QCResult

if TYPE_CHECKING:
    from kansho.chain.context import Context

log = logging.getLogger(__name__)


def _save(fig: Any, path: Path) -> str:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    return f"plots/{path.name}"


def plot_network(date1: np.ndarray, date2: np.ndarray, epochs: np.ndarray, bperp: np.ndarray,
                 status: list[str], path: Path) -> str:
    """Pairs as lines between (date, B⊥) points; colour by status ('used', '1-1', '1-2')."""
    d = {int(e): mdates.date2num(parse_date(int(e))) for e in epochs}
    bp = {int(e): (0.0 if not np.isfinite(b) else float(b)) for e, b in zip(epochs, bperp, strict=True)}
    colours = {"used": "tab:blue", "1-1": "tab:orange", "1-2": "tab:red"}
    fig, ax = plt.subplots(figsize=(10, 4))
    for a, b, s in zip(date1, date2, status, strict=True):
        ax.plot([d[int(a)], d[int(b)]], [bp[int(a)], bp[int(b)]], color=colours.get(s, "grey"),
                lw=0.8 if s == "used" else 1.5, alpha=0.7 if s == "used" else 1.0)
    ax.plot([d[int(e)] for e in epochs], [bp[int(e)] for e in epochs], "ko", ms=3)
    for s, c in colours.items():
        ax.plot([], [], color=c, label={"used": "used", "1-1": "dropped by 1-1 (coverage/coherence)",
                                       "1-2": "dropped by 1-2 (loop closure)"}[s])
    ax.legend(loc="best", fontsize=8)
    ax.set_ylabel("B⊥ (m)")
    ax.xaxis.set_major_locator(mdates.AutoDateLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    ax.set_title(f"Interferogram network: {len(date1)} pairs, {len(epochs)} epochs")
    return _save(fig, path)


def plot_map(arr: np.ndarray, path: Path, title: str, units: str, *, cmap: str = "viridis",
             symmetric: bool = False, ref: tuple[int, int, int, int] | None = None,
             ref_set: np.ndarray | None = None) -> str:
    """One raster map with a colour bar (robust 2-98 % limits; symmetric around 0 if asked); the
    reference box ``ref`` outlined, and the pixels of a reference set ``ref_set`` ((ny, nx) bool) dotted.

    Frames larger than the figure's pixels are decimated to at most ~1000 px a side first: the
    PNG cannot show more, and drawing a full 2500 x 2500 frame would cost seconds per map.
    """
    fig, ax = plt.subplots(figsize=(6, 5))
    step = max(1, int(np.ceil(max(arr.shape) / 1000)))
    if step > 1:
        arr = arr[::step, ::step]
        if ref is not None:
            ref = tuple(v // step for v in ref)  # type: ignore[assignment]
        if ref_set is not None:
            ref_set = ref_set[::step, ::step]
    finite = arr[np.isfinite(arr)]
    vmin = vmax = None
    if finite.size:
        lo, hi = np.percentile(finite, [2, 98])
        if symmetric:
            m = max(abs(lo), abs(hi)) or 1.0
            vmin, vmax = -m, m
        else:
            vmin, vmax = lo, hi if hi > lo else lo + 1
    im = ax.imshow(arr, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    if ref_set is not None and ref_set.any():
        yy, xx = np.nonzero(ref_set)
        ax.scatter(xx, yy, s=1.0, c="k", marker=".", lw=0, alpha=0.5, label=f"reference set ({yy.size} px)")
        ax.legend(loc="lower right", fontsize="small", markerscale=8)
    elif ref is not None:
        r0, r1, c0, c1 = ref
        ax.add_patch(plt.Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, ec="k", lw=1.5))
    fig.colorbar(im, ax=ax, label=units, shrink=0.8)
    ax.set_title(title)
    return _save(fig, path)


def plot_qc(names: list[str], coverage: list[float], mean_coh: list[float], keep: list[bool],
            min_cov: float, min_coh: float, path: Path) -> str:
    fig, axs = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
    x = np.arange(len(names))
    col = np.where(np.asarray(keep), "tab:blue", "tab:orange")
    axs[0].bar(x, coverage, color=col)
    axs[0].axhline(min_cov, color="k", ls="--", lw=0.8)
    axs[0].set_ylabel("coverage")
    axs[1].bar(x, np.nan_to_num(np.asarray(mean_coh, float)), color=col)
    axs[1].axhline(min_coh, color="k", ls="--", lw=0.8)
    axs[1].set_ylabel("mean coherence")
    axs[1].set_xlabel("pair number (orange = dropped by 1-1)")
    fig.suptitle("Step 1-1 interferogram statistics")
    return _save(fig, path)


def plot_loops(loop_rms: list[float], threshold: float, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(6, 4))
    v = np.asarray(loop_rms, float)
    v = v[v >= 0]
    if v.size:
        ax.hist(v, bins=min(50, max(5, v.size // 3)), color="tab:blue")
    ax.axvline(threshold, color="tab:red", ls="--", label=f"bad loop threshold {threshold:g} rad")
    ax.set_xlabel("loop phase RMS (rad)")
    ax.set_ylabel("number of loops")
    ax.legend()
    ax.set_title(f"Step 1-2 loop closure: {v.size} loops")
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


def write_all(ctx: Context, plots: Path, maps: dict[str, np.ndarray], epochs: np.ndarray) -> list[str]:
    """Draw every plot of a run into ``plots``; returns the relative paths written."""
    st = ctx.stack
    qres = ctx.get(QCResult)
    lres = ctx.get(LoopsResult)
    bad = set(lres.bad) | set(lres.bad_noloop)
    status = ["used" if qres.keep[i] and i not in bad else ("1-1" if not qres.keep[i] else "1-2")
              for i in range(st.n_pair)]
    r0, r1, c0, c1 = lres.ref
    ref = (r0, r1, c0, c1)
    ref_set = maps["refmask"] == 1 if lres.ref_kind == "set" and "refmask" in maps else None
    out = [plot_network(st.date1, st.date2, st.epochs, st.bperp, status, plots / "network.png")]
    out.append(plot_qc(st.pair_names(), qres.coverage, qres.mean_coh, qres.keep,
                       ctx.cfg.qc.min_coverage, ctx.cfg.qc.min_coh, plots / "qc_stats.png"))
    out.append(plot_loops(lres.loop_rms, ctx.cfg.loops.loop_rms_threshold, plots / "loop_rms.png"))
    keep = maps["mask"] == 1
    out.append(plot_map(maps["vel"], plots / "vel.png", "Velocity (unmasked)", "mm/yr", cmap="RdBu_r",
                        symmetric=True, ref=ref, ref_set=ref_set))
    out.append(plot_map(np.where(keep, maps["vel"], np.nan), plots / "vel_mskd.png", "Velocity (masked)",
                        "mm/yr", cmap="RdBu_r", symmetric=True, ref=ref, ref_set=ref_set))
    out.append(plot_map(np.where(keep, maps["vel.filt"], np.nan), plots / "vel_filt_mskd.png",
                        "Velocity, filtered (masked)", "mm/yr", cmap="RdBu_r", symmetric=True, ref=ref,
                        ref_set=ref_set))
    out.append(plot_map(maps["vstd"], plots / "vstd.png", "Velocity std (bootstrap)", "mm/yr", cmap="magma"))
    out.append(plot_map(maps["mask"], plots / "mask.png", "Mask (1 = kept)", "", cmap="gray"))
    for name, units in (("coh_avg", ""), ("n_loop_err", "count"), ("resid_rms", "mm"), ("stc", "mm"),
                        ("n_unw", "count"), ("n_gap", "count")):
        out.append(plot_map(maps[name], plots / f"{name}.png", name, units))
    return out
