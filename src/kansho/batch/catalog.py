"""The product catalogue of a batch: ``ROOT/index.html`` (static) and ``ROOT/catalog.json`` (STAC).

The page needs no server logic and no database: it is one HTML file with relative links, so any
file server (``python -m http.server``, nginx, a cloud bucket) or the file system itself serves
it. Each frame gets a row: thumbnail of its masked velocity map (a PNG copied to
``ROOT/catalog/<id>.png``), first and last dates, numbers of epochs and pairs, quality figures
(masked-in fraction of the solved pixels, median velocity standard deviation over them, velocity
percentiles) and links to its products and its report.

``catalog.json`` is a STAC 1.0 Catalog written as plain JSON (no pystac needed): one STAC Item
per finished frame in ``ROOT/stac/<id>.json`` with its footprint, time range, quality properties
(``kansho:*``) and assets, all linked with relative hrefs (a self-contained catalogue).
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from kansho._files import write_text_atomic
from kansho.batch.runner import DONE, frame_out, write_json
from kansho.layout import RunLayout
from kansho.run import Run

log = logging.getLogger(__name__)

STAC_VERSION = "1.0.0"
_REL = RunLayout(Path())  # paths inside a run, relative to it
#: products linked from the page and listed as STAC assets: (key, path in the run, media type, title)
PRODUCTS: tuple[tuple[str, str, str, str], ...] = (
    ("vel", _REL.result_map("vel").as_posix(), "image/tiff; application=geotiff", "velocity (mm/yr)"),
    ("vel_mskd", _REL.result_map("vel.mskd").as_posix(), "image/tiff; application=geotiff", "masked velocity (mm/yr)"),
    ("vstd", _REL.result_map("vstd").as_posix(), "image/tiff; application=geotiff", "velocity std (mm/yr)"),
    ("mask", _REL.result_map("mask").as_posix(), "image/tiff; application=geotiff", "mask"),
    ("coh_avg", _REL.result_map("coh_avg").as_posix(), "image/tiff; application=geotiff", "mean coherence"),
    ("cum", _REL.cum.as_posix(), "application/x-hdf5", "cumulative displacement (mm)"),
    ("cum_filt", _REL.cum_filt.as_posix(), "application/x-hdf5", "filtered cumulative displacement (mm)"),
    ("report", _REL.report.as_posix(), "text/html", "report"),
)


def frame_summary(run: Path | Run) -> dict[str, Any]:
    """Figures of one finished run folder: dates, counts, quality, footprint (reads a few maps)."""
    r = run if isinstance(run, Run) else Run(run)
    vel = r.read_map("vel")
    mask = r.read_map("mask") if r.has_map("mask") else np.isfinite(vel).astype(float)
    vstd = r.read_map("vstd") if r.has_map("vstd") else np.full(vel.shape, np.nan)
    solved = np.isfinite(vel)
    kept = solved & (mask == 1)
    grid = r.grid
    lon, lat = grid.lon(), grid.lat()
    hx, hy = abs(grid.transform[1]) / 2, abs(grid.transform[5]) / 2
    bbox = [float(lon.min() - hx), float(lat.min() - hy), float(lon.max() + hx), float(lat.max() + hy)]
    out: dict[str, Any] = {"shape": list(vel.shape), "bbox": bbox,
                           "masked_in_fraction": float(kept.sum() / solved.sum()) if solved.any() else 0.0,
                           "solved_fraction": float(solved.mean()),
                           "median_vstd": float(np.median(vstd[kept])) if kept.any() else None,
                           "vel_p05": float(np.percentile(vel[kept], 5)) if kept.any() else None,
                           "vel_p95": float(np.percentile(vel[kept], 95)) if kept.any() else None}
    dates = [int(d) for d in r.dates] if r.has_cum else []
    out["n_epoch"] = len(dates)
    out["first_date"] = dates[0] if dates else None
    out["last_date"] = dates[-1] if dates else None
    if r.has_state:
        out["n_pair"] = r.n_pair
        out["n_pair_used"] = r.n_pair_used
    return out


def _thumbnail(run: Run, dest: Path) -> bool:
    """Copy the run's masked-velocity plot to ``dest`` (or render one from vel.mskd.tif)."""
    for name in ("vel_mskd.png", "vel.png"):
        src = run.layout.plot(name)
        if src.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + ".tmp")
            shutil.copyfile(src, tmp)
            tmp.replace(dest)
            return True
    if not run.has_map("vel.mskd"):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v = run.read_map("vel.mskd")
    lim = float(np.nanpercentile(np.abs(v), 98)) if np.isfinite(v).any() else 1.0
    fig, ax = plt.subplots(figsize=(3, 3), dpi=80)
    ax.imshow(v, cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_axis_off()
    fig.subplots_adjust(0, 0, 1, 1)  # the map fills the thumbnail: no second draw for bbox_inches="tight"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(dest)
    return True


def _fmt_date(d: int | None) -> str:
    return "" if d is None else f"{d // 10000:04d}-{d // 100 % 100:02d}-{d % 100:02d}"


def _iso(d: int | None) -> str | None:
    return None if d is None else f"{_fmt_date(d)}T00:00:00Z"


def collect(root: str | Path) -> list[dict[str, Any]]:
    """One entry per frame with a status record under ``ROOT/status``: its status plus, for a finished
    frame, :func:`frame_summary`, the thumbnail and the existing products (paths relative to ROOT)."""
    root = Path(root)
    entries = []
    for sp in sorted((root / "status").glob("*.json")):
        try:
            rec = json.loads(sp.read_text())
        except ValueError:
            log.warning("%s: unreadable status, left out of the catalogue", sp)
            continue
        fid = str(rec.get("id", sp.stem))
        run = Run(frame_out(root, fid))
        e: dict[str, Any] = {"id": fid, "state": rec.get("state"), "error": rec.get("error"),
                             "finished": rec.get("finished"), "seconds": rec.get("seconds"),
                             "status": f"status/{sp.name}", "products": {}, "thumbnail": None,
                             "quarantined": [q.get("pair") for q in rec.get("quarantined") or []]}
        if run.has_map("vel"):
            try:
                e.update(frame_summary(run))
            except Exception as exc:  # noqa: BLE001 - a damaged run is listed, not fatal for the page
                e["error"] = f"cannot summarise: {exc}"
            thumb = root / "catalog" / f"{fid}.png"
            if _thumbnail(run, thumb):
                e["thumbnail"] = f"catalog/{fid}.png"
            for key, rel, _, _ in PRODUCTS:
                if (run.path / rel).is_file():
                    e["products"][key] = f"frames/{fid}/{rel}"
        entries.append(e)
    return entries


def build_catalog(root: str | Path, title: str = "Kansho products") -> Path:
    """Write ``ROOT/index.html``, ``ROOT/catalog.json`` and ``ROOT/stac/<id>.json``; return the page's path."""
    root = Path(root)
    entries = collect(root)
    _write_stac(root, entries, title)
    page = _html(entries, title, status_json=(root / "status.json").is_file())
    write_text_atomic(root / "index.html", page)
    log.info("catalogue of %d frame(s): %s", len(entries), root / "index.html")
    return root / "index.html"


def _write_stac(root: Path, entries: list[dict[str, Any]], title: str) -> None:
    links: list[dict[str, Any]] = [{"rel": "root", "href": "./catalog.json", "type": "application/json"}]
    for e in entries:
        if e["state"] != DONE or "bbox" not in e:
            continue
        w, s, east, n = e["bbox"]
        assets: dict[str, Any] = {
            key: {"href": f"../{e['products'][key]}", "type": mtype, "title": t,
                  "roles": ["metadata"] if key == "report" else ["data"]}
            for key, _, mtype, t in PRODUCTS if key in e["products"]}
        if e["thumbnail"]:
            assets["thumbnail"] = {"href": f"../{e['thumbnail']}", "type": "image/png", "roles": ["thumbnail"]}
        item = {
            "type": "Feature", "stac_version": STAC_VERSION, "stac_extensions": [], "id": e["id"],
            "geometry": {"type": "Polygon", "coordinates": [[[w, s], [east, s], [east, n], [w, n], [w, s]]]},
            "bbox": e["bbox"],
            "properties": {
                "datetime": None, "start_datetime": _iso(e.get("first_date")), "end_datetime": _iso(e.get("last_date")),
                "kansho:n_epoch": e.get("n_epoch"), "kansho:n_pair": e.get("n_pair"),
                "kansho:n_pair_used": e.get("n_pair_used"), "kansho:masked_in_fraction": e.get("masked_in_fraction"),
                "kansho:median_vstd_mm_yr": e.get("median_vstd"), "kansho:finished": e.get("finished"),
                "kansho:quarantined_pairs": e.get("quarantined", []),
            },
            "links": [{"rel": "root", "href": "../catalog.json", "type": "application/json"},
                      {"rel": "parent", "href": "../catalog.json", "type": "application/json"}],
            "assets": assets,
        }
        write_json(root / "stac" / f"{e['id']}.json", item)
        links.append({"rel": "item", "href": f"./stac/{e['id']}.json", "type": "application/geo+json",
                      "title": e["id"]})
    catalog = {"type": "Catalog", "stac_version": STAC_VERSION, "id": "kansho-batch", "title": title,
               "description": f"Kansho InSAR time-series products of {len(links) - 1} frame(s), updated "
                              f"{_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds')}",
               "links": links}
    write_json(root / "catalog.json", catalog)


_CSS = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:6px 10px;vertical-align:top;text-align:left}
th{background:#f4f4f4}img{width:160px;height:auto;border:1px solid #ccc}.failed{color:#b00}.num{text-align:right}
.links a{margin-right:.6em;white-space:nowrap}"""


def _html(entries: list[dict[str, Any]], title: str, status_json: bool = True) -> str:
    esc = html.escape
    n_done = sum(e["state"] == DONE for e in entries)
    rows = []
    for e in entries:
        fid = esc(e["id"])
        thumb = (f'<a href="{esc(e["products"].get("vel_mskd", e["thumbnail"]))}"><img src="{esc(e["thumbnail"])}" '
                 f'alt="velocity of {fid}"></a>' if e["thumbnail"] else "")
        links = " ".join(f'<a href="{esc(href)}">{esc(key)}</a>' for key, href in e["products"].items())
        links += f' <a href="{esc(e["status"])}">status</a>'
        if e["state"] != DONE:
            state = f'<span class="failed">{esc(str(e["state"]))}</span>'
            if e.get("error"):
                state += f'<br><span class="failed">{esc(str(e["error"]))[:300]}</span>'
        else:
            state = "done"
        if e.get("quarantined"):
            state += (f'<br><span class="failed">{len(e["quarantined"])} corrupt pair(s) left out: '
                      f'{esc(", ".join(map(str, e["quarantined"])))[:300]}</span>')
        mif = e.get("masked_in_fraction")
        vstd = e.get("median_vstd")
        p05, p95 = e.get("vel_p05"), e.get("vel_p95")
        rows.append(
            f'<tr id="frame-{fid}"><td>{thumb}</td><td><b>{fid}</b><br>{state}</td>'
            f'<td>{_fmt_date(e.get("first_date"))}<br>{_fmt_date(e.get("last_date"))}</td>'
            f'<td class="num">{e.get("n_epoch", "")}</td><td class="num">{e.get("n_pair", "")}</td>'
            f'<td class="num">{"" if mif is None else f"{100 * mif:.0f} %"}</td>'
            f'<td class="num">{"" if vstd is None else f"{vstd:.1f}"}</td>'
            f'<td class="num">{"" if p05 is None else f"{p05:.1f} … {p95:.1f}"}</td>'
            f'<td class="links">{links}</td></tr>')
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    extra = ', <a href="status.json">status.json</a>' if status_json else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>
<body><h1>{esc(title)}</h1>
<p>{n_done} of {len(entries)} frame(s) processed; updated {now}. Machine-readable:
<a href="catalog.json">catalog.json</a> (STAC){extra}.</p>
<table><thead><tr><th>velocity</th><th>frame</th><th>first / last date</th><th>epochs</th><th>pairs</th>
<th>masked in</th><th>median vstd (mm/yr)</th><th>velocity 5-95 % (mm/yr)</th><th>products</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""
