"""``OUT/report.html``: one self-contained page with the parameters, network, QC and maps."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kansho import __version__

if TYPE_CHECKING:
    from kansho.pipeline import Context

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;
font-size:90%}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}th{background:#eee}
img{max-width:100%;border:1px solid #ddd}.grid{display:grid;grid-template-columns:1fr 1fr;gap:1em}
pre{background:#f6f6f6;padding:1em;font-size:85%;overflow-x:auto}"""


def _img(path: Path) -> str:
    if not path.exists():
        return ""
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def write_report(ctx: Context, path: Path, maps: dict[str, np.ndarray]) -> None:
    """Write the run report (atomic)."""
    from kansho.outputs import dropped_pairs

    st = ctx.stack
    lres = ctx.result("loops")
    mres = ctx.result("mask")
    plots = ctx.out / "plots"
    vel = maps["vel"]
    keep = maps["mask"] == 1
    e = lres["epochs"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Kansho run report</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>Kansho time-series report</h1><p>kansho {__version__} · input "
             f"<code>{html.escape(str(st.attrs.get('source', {}).get('path', '')))}</code> · "
             f"{st.shape[1]}×{st.shape[0]} px · {len(e)} epochs {e[0]}–{e[-1]} · "
             f"{len(lres['pairs'])} of {st.n_pair} pairs used · reference area "
             f"x {lres['ref'][2]}:{lres['ref'][3]}, y {lres['ref'][0]}:{lres['ref'][1]} ({lres['ref_how']})</p>"]
    fin = np.isfinite(vel)
    parts.append("<h2>Summary</h2><table><tr><th>solved pixels</th><th>kept by mask</th>"
                 "<th>median |vel| (mm/yr)</th><th>min vel</th><th>max vel</th></tr>"
                 f"<tr><td>{int(fin.sum())}</td><td>{int(keep.sum())}</td>"
                 f"<td>{np.nanmedian(np.abs(vel)) if fin.any() else float('nan'):.2f}</td>"
                 f"<td>{np.nanmin(vel) if fin.any() else float('nan'):.1f}</td>"
                 f"<td>{np.nanmax(vel) if fin.any() else float('nan'):.1f}</td></tr></table>")
    parts.append("<h2>Network</h2>" + _img(plots / "network.png") + _img(plots / "qc_stats.png"))
    drops = dropped_pairs(ctx)
    parts.append(f"<h3>Dropped interferograms ({len(drops)})</h3><table><tr><th>pair</th><th>step</th>"
                 "<th>reason</th></tr>" + "".join(f"<tr><td>{html.escape(p)}</td><td>{s}</td>"
                                                   f"<td>{html.escape(r)}</td></tr>" for p, s, r in drops)
                 + "</table>")
    parts.append("<h2>Loop closure</h2>" + _img(plots / "loop_rms.png"))
    parts.append("<h2>Velocity</h2><div class='grid'>" + _img(plots / "vel.png") + _img(plots / "vel_mskd.png")
                 + _img(plots / "vel_filt_mskd.png") + _img(plots / "vstd.png") + "</div>")
    rows = "".join(f"<tr><td>{k}</td><td>{'off' if v is None else f'{v:g}'}</td><td>{mres['removed'].get(k, 0)}"
                   f"</td></tr>" for k, v in mres["thresholds"].items())
    parts.append(f"<h2>Mask</h2><p>{mres['n_kept']} of {mres['n_valid']} solved pixels kept.</p>"
                 + "".join(f"<p><b>Warning:</b> {html.escape(w)}</p>" for w in mres["warnings"])
                 + f"<table><tr><th>criterion</th><th>threshold</th><th>removed</th></tr>{rows}</table>"
                 + "<div class='grid'>" + "".join(_img(plots / f"{n}.png") for n in
                                                  ("mask", "coh_avg", "n_loop_err", "resid_rms", "stc", "n_gap"))
                 + "</div>")
    trows = "".join(f"<tr><td>{k}</td><td>{v:.2f}</td></tr>" for k, v in ctx.timings.items())
    parts.append(f"<h2>Timings (s)</h2><table>{trows}</table>")
    from kansho.config import yaml_template

    parts.append(f"<h2>Parameters</h2><pre>{html.escape(yaml_template(ctx.cfg))}</pre></body></html>")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("\n".join(parts))
    tmp.replace(path)
