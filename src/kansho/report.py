"""``OUT/report.html``: one self-contained page with the parameters, network, QC decisions, maps of
velocity, uncertainty and masks, and per-step timings.

Self-contained means offline: every image is an inline ``data:`` PNG, styles are inline, there is
no script, and a Content-Security-Policy forbids the page from loading anything else. Maps come
from ``plots/*.png`` when the plotting step drew them; otherwise they are rendered here from the
arrays (:mod:`kansho.render`), so a run whose plots failed still has its maps.
"""

from __future__ import annotations

import base64
import html
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kansho._files import write_text_atomic
from kansho._version import __version__
from kansho.chain.info import dropped_pairs
from kansho.chain.steps.filter import FilterResult
from kansho.chain.steps.invert import InvertResult
from kansho.chain.steps.loops import LoopsResult
from kansho.chain.steps.mask import MaskResult
from kansho.chain.steps.qc import QCResult
from kansho.config import yaml_template

if TYPE_CHECKING:
    from kansho.chain.context import Context
    from kansho.grid import Grid

log = logging.getLogger(__name__)

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}table{border-collapse:collapse;
font-size:90%}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}th{background:#eee}td.l{text-align:left}
img{max-width:100%;border:1px solid #ddd}.grid{display:grid;grid-template-columns:1fr 1fr;gap:1em}
.map figcaption{font-size:90%}.cb{height:12px;border:1px solid #999}.cbl{display:flex;justify-content:space-between;
font-size:80%}pre{background:#f6f6f6;padding:1em;font-size:85%;overflow-x:auto}.warn{color:#a00;font-weight:bold}
nav a{margin-right:1em}"""


def _b64(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _img(path: Path) -> str:
    if not path.exists():
        return ""
    return f'<img alt="{html.escape(path.stem)}" src="{_b64(path.read_bytes())}">'


def _map_figure(arr: np.ndarray, title: str, units: str, *, cmap: str, symmetric: bool) -> str:
    """An inline map (PNG data URI) with a CSS colour bar, drawn from the array itself."""
    from kansho.render import colormap_lut, colourize, encode_png, robust_limits

    lo, hi = robust_limits(arr, symmetric=symmetric)
    rgba = colourize(arr, lo, hi, cmap)
    step = max(1, int(np.ceil(max(arr.shape) / 800)))
    lut = colormap_lut(cmap)
    stops = ",".join(f"rgb({r},{g},{b})" for r, g, b, _ in [*lut[::32].tolist(), lut[-1].tolist()])
    return (f"<figure class='map'><img alt='{html.escape(title)}' src='{_b64(encode_png(rgba[::step, ::step]))}' "
            f"style='image-rendering:pixelated;width:100%'><div class='cb' style='background:linear-gradient(to right,"
            f"{stops})'></div><div class='cbl'><span>{lo:.3g}</span><span>{html.escape(units)}</span>"
            f"<span>{hi:.3g}</span></div><figcaption>{html.escape(title)}</figcaption></figure>")


def _map_or_plot(plots: Path, name: str, arr: np.ndarray | None, title: str, units: str, cmap: str,
                 symmetric: bool) -> str:
    p = plots / f"{name}.png"
    if p.exists():
        return _img(p)
    if arr is None:
        return ""
    return _map_figure(arr, title, units, cmap=cmap, symmetric=symmetric)


def write_report(ctx: Context, path: Path, maps: dict[str, np.ndarray]) -> None:
    """Write the run report (atomic)."""
    st = ctx.stack
    lres = ctx.get(LoopsResult)
    plots = ctx.layout.plots
    vel = maps["vel"]
    keep = maps["mask"] == 1
    e = lres.epochs
    parts = [(f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta http-equiv='Content-Security-Policy' content=\"{_CSP}\"><title>Kansho run report</title>"
             f"<style>{_CSS}</style></head><body>"),
             (f"<h1>Kansho time-series report</h1><p>kansho {__version__} · input "
             f"<code>{html.escape(str(st.attrs.get('source', {}).get('path', '')))}</code> · "
             f"{st.shape[1]}×{st.shape[0]} px ({html.escape(_bounds_text(st.grid))}) · "
             f"{len(e)} epochs {e[0]}–{e[-1]} · "
             f"{len(lres.pairs)} of {st.n_pair} pairs used · {_ref_text(lres)} · "
             f"explore it with <code>kansho view {html.escape(ctx.out.name)}</code></p>"),
             ("<nav><a href='#summary'>summary</a><a href='#network'>network</a><a href='#qc'>QC decisions</a>"
             "<a href='#velocity'>velocity</a><a href='#mask'>mask</a><a href='#timings'>timings</a>"
             "<a href='#parameters'>parameters</a></nav>")]
    fin = np.isfinite(vel)
    nan = float("nan")
    parts.append("<h2 id='summary'>Summary</h2><table><tr><th>solved pixels</th><th>kept by mask</th>"
                 "<th>median |vel| (mm/yr)</th><th>min vel</th><th>max vel</th><th>median vstd (mm/yr)</th></tr>"
                 f"<tr><td>{int(fin.sum())}</td><td>{int(keep.sum())}</td>"
                 f"<td>{np.nanmedian(np.abs(vel)) if fin.any() else nan:.2f}</td>"
                 f"<td>{np.nanmin(vel) if fin.any() else nan:.1f}</td>"
                 f"<td>{np.nanmax(vel) if fin.any() else nan:.1f}</td>"
                 f"<td>{np.nanmedian(maps['vstd']) if np.isfinite(maps['vstd']).any() else nan:.2f}</td></tr></table>")
    parts.append("<h2 id='network'>Network</h2>" + _img(plots / "network.png") + _img(plots / "qc_stats.png"))
    gaps = ctx.get(InvertResult).network_gaps
    parts.append(f"<p>{len(gaps)} gap(s) in the network"
                 + (": " + ", ".join(f"{e[k]}–{e[k + 1]}" for k in gaps) if gaps else "")
                 + " (bridged by the inversion's constraint).</p>")
    parts.append(_qc_section(ctx))
    parts.append("<h3>Loop closure</h3>" + _img(plots / "loop_rms.png"))
    parts.append("<h2 id='velocity'>Velocity and uncertainty</h2><div class='grid'>"
                 + _map_or_plot(plots, "vel", vel, "Velocity (unmasked)", "mm/yr", "RdBu_r", True)
                 + _map_or_plot(plots, "vel_mskd", np.where(keep, vel, np.nan), "Velocity (masked)", "mm/yr",
                                "RdBu_r", True)
                 + _map_or_plot(plots, "vel_filt_mskd", np.where(keep, maps["vel.filt"], np.nan),
                                "Velocity, filtered (masked)", "mm/yr", "RdBu_r", True)
                 + _map_or_plot(plots, "vstd", maps["vstd"], "Velocity std (bootstrap)", "mm/yr", "magma", False)
                 + "</div>" + _filter_note(ctx)
                 + ("<h3>Cumulative displacement per epoch</h3>" + _img(plots / "cum_epochs.png")
                    if (plots / "cum_epochs.png").exists() else ""))
    parts.append(_mask_section(ctx, plots, maps))
    parts.append(_timings_section(ctx))
    params = html.escape(yaml_template(ctx.options.whole()))
    parts.append(f"<h2 id='parameters'>Parameters</h2><pre>{params}</pre></body></html>")
    write_text_atomic(path, "\n".join(parts))


def _bounds_text(grid: Grid) -> str:
    """The frame's extent in words: ``99.18°W–99.04°W, 19.37°N–19.45°N`` (metres for a projected grid)."""
    from kansho.mapfig import bounds, format_lat, format_lon, is_geographic

    w, e, s, n = bounds(grid)
    if not is_geographic(grid):
        return f"x {w:.0f}–{e:.0f} m, y {s:.0f}–{n:.0f} m"
    return f"{format_lon(round(w, 5))}–{format_lon(round(e, 5))}, {format_lat(round(s, 5))}–{format_lat(round(n, 5))}"


def _filter_note(ctx: Context) -> str:
    """One line on the spatio-temporal filter (step 1-6): its method, widths and decision."""
    try:
        fres = ctx.get(FilterResult)
    except LookupError:  # a run without the filter step has no filter to describe
        return ""
    return (f"<p>Filtered series and velocity (step 1-6, method {html.escape(fres.method)}): "
            f"{html.escape(fres.decision)}.</p>")


def _ref_text(lres: LoopsResult) -> str:
    """The reference in words: a set of stable pixels, or a box (window or the user's)."""
    r0, r1, c0, c1 = lres.ref
    how = html.escape(str(lres.ref_how))
    if lres.ref_kind == "set":
        return (f"reference: the mean of {lres.ref_pixels} stable pixels ({how}; dotted on the velocity maps; "
                f"representative window x {c0}:{c1}, y {r0}:{r1})")
    return f"reference area x {c0}:{c1}, y {r0}:{r1} ({how})"


def _timings_section(ctx: Context) -> str:
    """One row per step of the chain: its LiCSBAS number, what it does, its time in this run."""
    total = sum(ctx.timings.values())
    trows = ""
    for spec in ctx.chain:
        if spec.name in ctx.timings:
            secs = ctx.timings[spec.name]
            cell = f"{secs:.2f}" if secs > 0 else "up to date"
        else:
            cell = "(writing this report)" if spec.name == ctx.current else "not run"
        trows += (f"<tr><td class='l'>{spec.name}</td><td>{spec.licsbas}</td><td class='l'>{html.escape(spec.title)}"
                  f"</td><td>{cell}</td></tr>")
    return (f"<h2 id='timings'>Timings (s)</h2><table><tr><th>step</th><th>LiCSBAS</th><th>what it does</th>"
            f"<th>seconds</th></tr>{trows}<tr><th>total</th><th></th><th></th><th>{total:.2f}</th></tr></table>")


def _qc_section(ctx: Context) -> str:
    """The QC decisions: thresholds, the dropped interferograms and every pair's statistics."""
    cfg = ctx.cfg
    st = ctx.stack
    qres = ctx.get(QCResult)
    lres = ctx.get(LoopsResult)
    drops = dropped_pairs(ctx)
    coh_test = (f"or whose mean coherence is below {cfg.qc.min_coh:g}" if np.isfinite(qres.mean_coh).any()
                else "(the input has no coherence: no coherence test)")
    out = (f"<h2 id='qc'>QC decisions</h2><p>Step 1-1 drops a pair whose valid-pixel coverage is below "
                 f"{cfg.qc.min_coverage:g} {coh_test}; step 1-2 drops a pair "
                 f"with an unwrapping error found by loop closure (a loop is bad at RMS ≥ "
                 f"{cfg.loops.loop_rms_threshold:g} rad) or by its inversion residual.</p>"
                 f"<h3>Dropped interferograms ({len(drops)})</h3><table><tr><th>pair</th><th>step</th>"
                 "<th>reason</th></tr>" + "".join(f"<tr><td>{html.escape(p)}</td><td>{s}</td>"
                                                   f"<td class='l'>{html.escape(r)}</td></tr>" for p, s, r in drops)
                 + "</table>")
    names = st.pair_names()
    bad = set(lres.bad) | set(lres.bad_noloop)
    used = set(lres.pairs)
    rows = "".join(f"<tr><td>{n}</td><td>{qres.coverage[i]:.3f}</td><td>{_f(qres.mean_coh[i])}</td>"
                   f"<td>{'yes' if i in used else 'no'}</td><td class='l'>"
                   f"{html.escape(qres.reason[i] or ('loop closure' if i in bad else ''))}</td></tr>"
                   for i, n in enumerate(names))
    return out + (f"<details><summary>Per-interferogram statistics ({len(names)} pairs)</summary><table><tr>"
                  f"<th>pair</th><th>coverage</th><th>mean coherence</th><th>used</th><th>note</th></tr>{rows}"
                  "</table></details>")


def _mask_section(ctx: Context, plots: Path, maps: dict[str, np.ndarray]) -> str:
    """The mask: each criterion's threshold and what it removed alone, warnings, index maps."""
    mres = ctx.get(MaskResult)
    trows = "".join(f"<tr><td class='l'>{k}</td><td>{'off' if v is None else f'{v:g}'}</td>"
                    f"<td>{mres.removed.get(k, 0)}</td></tr>" for k, v in mres.thresholds.items())
    return (f"<h2 id='mask'>Mask</h2><p>{mres.n_kept} of {mres.n_valid} solved pixels kept.</p>"
                 + "".join(f"<p class='warn'>Warning: {html.escape(w)}</p>" for w in mres.warnings)
                 + "".join(f"<p class='warn'>Threshold adapted to this frame: {html.escape(k)} {a[0]:g} &rarr; "
                           f"{a[1]:g} ({html.escape(str(a[2]))})</p>" for k, a in mres.adapted.items())
                 + "<table><tr><th>criterion</th><th>threshold</th><th>removed (alone)</th></tr>"
                 + trows + "</table><div class='grid'>"
                 + "".join(_map_or_plot(plots, n, maps.get(n), n, u, "viridis" if n != "mask" else "gray", False)
                           for n, u in (("mask", "1 = kept"), ("coh_avg", ""), ("n_unw", "count"),
                                        ("n_loop_err", "count"), ("resid_rms", "mm"), ("stc", "mm"),
                                        ("n_gap", "count"), ("maxTlen", "yr"), ("n_unchecked", "count"),
                                        ("n_corrected", "count"), ("n_resid_fix", "count")))
                 + "</div>")


def _f(v: float | None) -> str:
    return "nan" if v is None or not np.isfinite(v) else f"{v:.3f}"
