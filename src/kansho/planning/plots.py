"""Figures of the baseline planner: seed 001's Fig. 5 curves, the orbit tube (Fig. 6) and a suggested network.

Each function draws with matplotlib's Agg backend and writes a PNG atomically (temporary name, then
rename); it returns the path written.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kansho.planning import model
from kansho.planning.budget import BaselineBudget, document_tables
from kansho.planning.sensors import get_sensor

__all__ = ["plot_fig5", "plot_network", "plot_orbit_tube"]

log = logging.getLogger(__name__)

_LABELS = {"jers1": "a) JERS-1 SAR (15 MHz)", "palsar28": "b) PALSAR 28 MHz", "palsar14": "c) PALSAR 14 MHz"}


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.png")
    if fig.get_layout_engine() is None:  # laid out once, not drawn twice as bbox_inches="tight" does
        fig.set_layout_engine("tight")
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, path)
    log.info("wrote %s", path)
    return path


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_fig5(path: str | Path, budgets: Mapping[str, BaselineBudget] | None = None) -> Path:
    """Seed 001 Fig. 5: height-error std σ_z and coherence γ against B⊥, one panel per sensor.

    γ(B⊥) = γ_other · (1 − B⊥ / B_c) (γ_other = 0.5, eq. 10-1); σ_z(B⊥) = λ r sin θ σ_φ(γ, N) / (4π B⊥).
    The DEM (γ = 0.45) and deformation (γ = 0.40) baselines are marked.
    """
    plt = _pyplot()
    budgets = dict(budgets) if budgets is not None else document_tables()
    fig, axes = plt.subplots(1, len(budgets), figsize=(4.6 * len(budgets), 3.8), squeeze=False)
    for ax, (name, b) in zip(axes[0], budgets.items(), strict=True):
        s = get_sensor(name)
        bp = np.linspace(b.critical_baseline_m * 0.005, b.critical_baseline_m * 0.6, 400)
        coh = b.gamma_other * model.gamma_spatial(bp, b.critical_baseline_m)
        sz = model.height_std(bp, coh, b.looks, s.wavelength_m, s.slant_range_m, s.incidence_deg)
        ax.plot(bp, sz, color="tab:red", label="height error σz")
        ax.set_ylim(0, 40)
        ax.set_xlabel("perpendicular baseline B⊥ (m)")
        ax.set_ylabel("height error std (m)", color="tab:red")
        ax.set_title(_LABELS.get(name, name))
        ax2 = ax.twinx()
        ax2.plot(bp, coh, color="tab:blue", label="coherence γ")
        ax2.set_ylim(0, 0.55)
        ax2.set_ylabel("coherence γ", color="tab:blue")
        for bb, g, ls, lab, yt in ((b.dem_bperp_m, b.gamma_dem, "--", "DEM", 0.16),
                                   (b.def_bperp_m, b.gamma_def, ":", "deformation", 0.04)):
            ax2.axvline(bb, color="0.3", ls=ls, lw=1)
            ax2.annotate(f"{lab}: γ={g:.2f}, B⊥={bb:.0f} m", (bb, yt), xytext=(4, 0), textcoords="offset points",
                         fontsize=7, bbox={"fc": "white", "ec": "none", "alpha": 0.8})
        ax.grid(alpha=0.3)
    fig.suptitle("Height error and coherence against B⊥ (γ_thermal·γ_temporal = 0.5, N = 8)")
    fig.tight_layout()
    out = _save(fig, Path(path))
    plt.close(fig)
    return out


def plot_orbit_tube(path: str | Path, budgets: Mapping[str, BaselineBudget] | None = None,
                    sensors: Sequence[str] = ("palsar28", "palsar14")) -> Path:
    """Seed 001 Fig. 6 / Table 3: the horizontal orbit-keeping range ±B_x/2 for DEM and deformation work.

    Cross-track plane (x horizontal, y up): the nominal orbit at the origin, the line of sight at the
    off-nadir angle, and per sensor the tube widths (double arrows) within which each repeat orbit must stay.
    """
    plt = _pyplot()
    budgets = dict(budgets) if budgets is not None else document_tables()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    ys = np.arange(len(sensors))[::-1] * 1.0
    xmax = 0.0
    for y, name in zip(ys, sensors, strict=True):
        b = budgets[name]
        for tol, dy, col, lab in ((b.def_tolerance_m, 0.18, "tab:orange", f"deformation (γ≥{b.gamma_def:.2f})"),
                                  (b.dem_tolerance_m, -0.18, "tab:green", f"DEM (γ≥{b.gamma_dem:.2f})")):
            ax.annotate("", xy=(tol, y + dy), xytext=(-tol, y + dy),
                        arrowprops={"arrowstyle": "<->", "color": col, "lw": 2})
            ax.text(0, y + dy + 0.05, f"{lab}: ±{tol:.0f} m", ha="center", va="bottom", fontsize=8, color=col)
            xmax = max(xmax, tol)
        ax.text(-xmax * 1.25 if xmax else 0, y, _LABELS.get(name, name).split(") ")[-1], ha="right", va="center",
                fontsize=9, weight="bold")
        ax.plot(0, y, marker="o", color="k", ms=5)
    ax.axvline(0, color="0.5", lw=0.8, ls="--")
    ax.set_xlim(-xmax * 1.6, xmax * 1.25)
    ax.set_ylim(-0.6, ys.max() + 0.7)
    ax.set_yticks([])
    ax.set_xlabel("horizontal cross-track distance from the nominal orbit B_x/2 (m)")
    off = next(iter(budgets.values())).offnadir_deg
    ax.set_title(f"Orbit-keeping range (B_y = 0, off-nadir {off:.0f}°: B_x = B⊥ / cos θ, tolerance ±B_x/2)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    out = _save(fig, Path(path))
    plt.close(fig)
    return out


def plot_network(path: str | Path, epochs: npt.ArrayLike, bperp_m: npt.ArrayLike, pairs: npt.ArrayLike,
                 coherence: npt.ArrayLike, title: str = "suggested network") -> Path:
    """B⊥ against date with each pair drawn as a line coloured by its predicted coherence."""
    import datetime as _dt

    plt = _pyplot()
    from matplotlib.collections import LineCollection

    e = np.asarray(epochs, dtype=np.int64)
    b = np.asarray(bperp_m, dtype=float)
    p = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    c = np.asarray(coherence, dtype=float)
    import matplotlib.dates as mdates

    t = mdates.date2num([_dt.date(int(d) // 10000, int(d) // 100 % 100, int(d) % 100) for d in e])
    fig, ax = plt.subplots(figsize=(9, 4.5))
    segs = np.stack([np.column_stack([t[p[:, 0]], b[p[:, 0]]]), np.column_stack([t[p[:, 1]], b[p[:, 1]]])], axis=1)
    lc = LineCollection(list(segs), array=c, cmap="viridis", linewidths=1.2)
    ax.add_collection(lc)
    ax.plot(t, b, "k.", ms=4)
    ax.xaxis_date()
    ax.autoscale_view()
    fig.colorbar(lc, ax=ax, label="predicted coherence")
    ax.set_ylabel("B⊥ (m)")
    ax.set_title(title)
    fig.autofmt_xdate()
    out = _save(fig, Path(path))
    plt.close(fig)
    return out
