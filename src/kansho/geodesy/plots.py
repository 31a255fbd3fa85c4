"""PNG plots of the geodesy products: GNSS comparison map and series, decomposition, strain rates."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt

from kansho.grid import Grid

log = logging.getLogger(__name__)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    if fig.get_layout_engine() is None:  # laid out once, not drawn twice as bbox_inches="tight" does
        fig.set_layout_engine("tight")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def _extent(grid: Grid) -> tuple[float, float, float, float]:
    """(left, right, bottom, top) of the grid for ``imshow``."""
    x0, dx, _, y0, _, dy = grid.transform
    return (x0, x0 + dx * grid.width, y0 + dy * grid.height, y0)


def _limits(arr: npt.NDArray[Any], symmetric: bool) -> tuple[float | None, float | None]:
    f = arr[np.isfinite(arr)]
    if not f.size:
        return None, None
    lo, hi = np.percentile(f, [2, 98])
    if symmetric:
        m = max(abs(lo), abs(hi)) or 1.0
        return -m, m
    return float(lo), float(hi) if hi > lo else float(lo) + 1


def _map(ax: Any, fig: Any, arr: npt.NDArray[Any], grid: Grid, title: str, units: str, cmap: str = "RdBu_r",
         symmetric: bool = True) -> Any:
    vmin, vmax = _limits(arr, symmetric)
    im = ax.imshow(arr, extent=_extent(grid), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest",
                   interpolation_stage="data")
    fig.colorbar(im, ax=ax, label=units, shrink=0.8)
    ax.set_title(title)
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    return im


def plot_compare_map(vel: npt.NDArray[Any], grid: Grid, rows: list[Any], path: Path, tied: bool = False) -> Path:
    """InSAR LOS velocity with stations coloured by their GNSS LOS velocity (same scale), labelled by difference."""
    fig, ax = plt.subplots(figsize=(7, 6))
    im = _map(ax, fig, vel, grid, "InSAR LOS velocity and GNSS (circles, LOS-projected)", "mm/yr")
    lon = [r.lon for r in rows]
    lat = [r.lat for r in rows]
    off = np.nanmean([r.v_insar - r.v_gnss - r.diff for r in rows])
    ax.scatter(lon, lat, c=[r.v_gnss + off for r in rows], cmap=im.cmap, norm=im.norm, edgecolors="k", s=60, zorder=3)
    for r in rows:
        d = r.diff_tied if tied else r.diff
        ax.annotate(f"{r.name}\n{d:+.1f}", (r.lon, r.lat), fontsize=6, xytext=(4, 4), textcoords="offset points")
    ax.set_xlim(_extent(grid)[:2])
    ax.set_ylim(_extent(grid)[2:])
    return _save(fig, path)


def plot_compare_scatter(rows: list[Any], path: Path) -> Path:
    """InSAR vs GNSS LOS velocity at the stations (after the common offset), with 1-sigma bars."""
    fig, ax = plt.subplots(figsize=(5, 5))
    g = np.array([r.v_gnss for r in rows])
    i = np.array([r.v_gnss + r.diff for r in rows])
    ax.errorbar(g, i, xerr=[r.s_gnss for r in rows], yerr=[r.s_insar for r in rows], fmt="o", ms=4, capsize=2)
    f = np.isfinite(g) & np.isfinite(i)
    if f.any():
        lo, hi = float(min(g[f].min(), i[f].min())), float(max(g[f].max(), i[f].max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    rms = float(np.sqrt(np.nanmean(np.array([r.diff for r in rows]) ** 2)))
    ax.set_xlabel("GNSS LOS velocity (mm/yr)")
    ax.set_ylabel("InSAR LOS velocity, common reference (mm/yr)")
    ax.set_title(f"{len(rows)} stations, RMS difference {rms:.2f} mm/yr")
    return _save(fig, path)


def plot_station_ts(row: Any, t: npt.NDArray[Any], insar: npt.NDArray[Any], gnss: npt.NDArray[Any], ref: int | None,
                    all_insar: list[Any], all_gnss: list[Any], path: Path) -> Path:
    """One station's InSAR and GNSS LOS displacement on the common reference used for the RMS."""
    ins = np.array(all_insar)
    gn = np.array(all_gnss)
    d = ins - gn
    common = d[ref] if ref is not None else np.nanmean(d, axis=0)
    ii = insar - common
    off = np.nanmean(ii - gnss)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(t, gnss, "o", ms=3, color="tab:gray", label="GNSS (LOS, window mean)")
    ax.plot(t, ii - off, "o-", ms=3, color="tab:blue", label="InSAR (disk mean)")
    ax.set_title(f"{row.name}: Δv {row.diff:+.2f} mm/yr, time-series RMS {row.ts_rms:.2f} mm")
    ax.set_xlabel("year")
    ax.set_ylabel("LOS displacement (mm)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_decomposition(products: dict[str, npt.NDArray[Any]], grid: Grid, path: Path) -> Path:
    """East, up and their 1-sigma (and north sensitivity when north was neglected)."""
    names = [("east", "East velocity", True, "RdBu_r"), ("up", "Up velocity", True, "RdBu_r"),
             ("east_std", "East 1σ", False, "magma"), ("up_std", "Up 1σ", False, "magma")]
    if "north_sens_e" in products:
        names += [("north_sens_e", "East bias per mm/yr of north", True, "PuOr"),
                  ("north_sens_u", "Up bias per mm/yr of north", True, "PuOr")]
    elif "north" in products:
        names += [("north", "North (GNSS, interpolated)", True, "RdBu_r")]
    n = len(names)
    ncol = 2
    fig, axs = plt.subplots((n + 1) // 2, ncol, figsize=(11, 4.3 * ((n + 1) // 2)))
    for ax, (k, title, sym, cmap) in zip(axs.ravel(), names, strict=False):
        _map(ax, fig, products[k], grid, title, "1" if "sens" in k else "mm/yr", cmap=cmap, symmetric=sym)
    for ax in axs.ravel()[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return _save(fig, path)


def plot_strain(sr: Any, ve: npt.NDArray[Any], vn: npt.NDArray[Any], grid: Grid, path: Path, scale_km: float) -> Path:
    """Maximum shear (with velocity arrows), second invariant, dilatation and rotation maps."""
    fig, axs = plt.subplots(2, 2, figsize=(11, 9))
    _map(axs[0, 0], fig, sr.max_shear, grid, f"Max shear strain rate (σ = {scale_km:g} km)", "nanostrain/yr",
         cmap="viridis", symmetric=False)
    step = max(1, max(grid.shape) // 16)
    lon, lat = np.meshgrid(grid.lon()[::step], grid.lat()[::step])
    axs[0, 0].quiver(lon, lat, ve[::step, ::step], vn[::step, ::step], color="w", scale_units="inches",
                     scale=max(float(np.nanpercentile(np.hypot(ve, vn), 95)), 1e-6) * 2.5)
    _map(axs[0, 1], fig, sr.second_invariant, grid, "Second invariant", "nanostrain/yr", cmap="viridis",
         symmetric=False)
    _map(axs[1, 0], fig, sr.dilatation, grid, "Dilatation (+ = extension)", "nanostrain/yr")
    _map(axs[1, 1], fig, sr.rotation, grid, "Rotation rate (+ = anticlockwise)", "nanorad/yr", cmap="PuOr")
    fig.tight_layout()
    return _save(fig, path)
