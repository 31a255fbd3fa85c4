"""Viewer latency on a 1000 x 1000 px, 100-epoch run: pixel clicks (time series) and map requests.

Builds the run's outputs directly from synthetic arrays (``cum.h5``, ``cum_filt.h5`` with
:func:`write_cum_h5`, ``results/*.tif`` with :func:`write_geotiff`) in ``benchmarks/_cache``, starts
the viewer in a thread and times HTTP requests from a client, as a browser would make them.
Writes ``docs/benchmarks_viewer.md``.

    .venv/bin/python benchmarks/bench_viewer.py [--size 1000] [--epochs 100] [--clicks 60]
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

from kansho.grid import Grid
from kansho.io.geotiff import write_geotiff
from kansho.io.licsbas_h5 import write_cum_h5
from kansho.viewer import serve_in_thread

ROOT = Path(__file__).resolve().parent.parent


def build_run(out: Path, size: int, n_epoch: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    grid = Grid(size, size, (139.0, 0.001, 0.0, 36.0, 0.0, -0.001))
    dates = np.array([int((np.datetime64("2018-01-01") + np.timedelta64(12 * i, "D")).astype(str).replace("-", ""))
                      for i in range(n_epoch)])
    t = np.arange(n_epoch) * 12 / 365.25
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    vel = (-40 * np.exp(-((xx - 0.6) ** 2 + (yy - 0.4) ** 2) / 0.02) + 5 * xx).astype(np.float32)
    water = (xx + yy) > 1.7
    vel[water] = np.nan
    cum = (vel[None] * t[:, None, None].astype(np.float32)
           + rng.normal(0, 3, (n_epoch, 1, 1)).astype(np.float32) * (1 + xx)[None]).astype(np.float32)
    cum[0] = np.where(water, np.nan, 0)
    mask = np.where(water, np.nan, (rng.random((size, size)) > 0.2).astype(np.float32))
    common = {"imdates": dates, "vel": vel, "vintercept": np.zeros_like(vel), "refarea": (10, 15, 10, 15),
              "grid": grid, "gap": np.zeros((n_epoch - 1, size, size), np.int8), "bperp": rng.normal(0, 80, n_epoch),
              "mask": mask}
    write_cum_h5(out / "cum.h5", cum=cum, **common)
    write_cum_h5(out / "cum_filt.h5", cum=cum, **common)
    res = out / "results"
    hgt = (500 * np.sin(6 * xx) * np.cos(4 * yy) + 800).astype(np.float32)
    for name, arr, units in (("vel", vel, "mm/yr"), ("vel.filt", vel, "mm/yr"),
                             ("vstd", np.abs(vel) * 0.05 + 1, "mm/yr"),
                             ("coh_avg", np.where(water, np.nan, 0.5).astype(np.float32), "1"), ("mask", mask, "1"),
                             ("hgt", hgt, "m")):
        write_geotiff(res / f"{name}.tif", np.asarray(arr, np.float32), grid, units=units)


def _get(host: str, port: int, path: str) -> tuple[int, float]:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    t0 = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    r.read()
    dt = time.perf_counter() - t0
    conn.close()
    return r.status, dt


def _stats(ms: list[float]) -> str:
    s = sorted(ms)
    p95 = s[min(len(s) - 1, round(0.95 * (len(s) - 1)))]
    return f"{statistics.median(s):.1f} | {p95:.1f} | {s[-1]:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--clicks", type=int, default=60)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "_cache" / "viewer_run")
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks_viewer.md")
    args = ap.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    t0 = time.perf_counter()
    build_run(args.out, args.size, args.epochs)
    t_build = time.perf_counter() - t0
    srv, _url = serve_in_thread(args.out)
    host, port = srv.server_address[:2]
    rng = np.random.default_rng(1)
    rows: dict[str, list[float]] = {}
    try:
        status, _first_meta = _get(host, port, "/api/meta")
        assert status == 200
        clicks = []
        for _ in range(args.clicks):
            r, c = (int(v) for v in rng.integers(0, int(args.size * 0.8), 2))
            status, dt = _get(host, port, f"/api/pixel?row={r}&col={c}")
            assert status == 200, (r, c, status)
            clicks.append(dt * 1e3)
        rows["click: /api/pixel (raw + filtered series, model, 6 quality maps)"] = clicks
        refs = []
        for _ in range(args.clicks // 3):
            r, c = (int(v) for v in rng.integers(0, int(args.size * 0.8), 2))
            status, dt = _get(host, port, f"/api/pixel?row={r}&col={c}&ref=100:105,100:105")
            assert status == 200
            refs.append(dt * 1e3)
        rows["click with a new reference area (5 x 5 px)"] = refs
        csvs = [(_get(host, port, f"/api/ts.csv?row={r}&col={r}")[1] * 1e3) for r in range(100, 400, 30)]
        rows["CSV download of a clicked series"] = csvs
        vm = [_get(host, port, f"/api/map.png?layer=vel&masked={k % 2}&max_px=800&vmin=-{20 + k}&vmax={20 + k}")[1]
              * 1e3 for k in range(10)]
        rows["velocity map PNG at 800 px (limits changed each time)"] = vm
        cm = [_get(host, port, f"/api/map.png?layer=cum&epoch={int(e)}&max_px=800")[1] * 1e3
              for e in rng.choice(args.epochs, 15, replace=False)]
        rows["cumulative map PNG at 800 px, new epoch each time (date slider)"] = cm
        rm = [_get(host, port, f"/api/map.png?layer=vel&max_px=800&ref={k}:{k + 5},{k}:{k + 5}")[1] * 1e3
              for k in range(50, 500, 50)]
        rows["velocity map re-referenced to a new area"] = rm
        hs = [_get(host, port, "/api/hillshade.png?max_px=800")[1] * 1e3 for _ in range(3)]
        rows["hillshade PNG at 800 px"] = hs
    finally:
        srv.shutdown()
        srv.server_close()
    size_mb = (args.out / "cum.h5").stat().st_size / 1e6
    lines = ["# Viewer benchmark", "",
             ("`benchmarks/bench_viewer.py`: a synthetic run of "
             f"{args.size} × {args.size} px and {args.epochs} epochs (`cum.h5` {size_mb:.0f} MB gzip, the same again "
             "for `cum_filt.h5`, six `results/*.tif`), served by `kansho view`'s server in a thread; each figure is "
             "the wall time of one HTTP request from a local client (connect, compute, transfer). A click reads one "
             "pixel's series from `cum.h5` and `cum_filt.h5` by h5py slicing (the cube is never loaded)."), "",
             (f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs "
             f"(shared with other "
             f"jobs while measured), Python {platform.python_version()}, {platform.system()}. Building the run took "
             f"{t_build:.0f} s."), "",
             "| request | median (ms) | p95 (ms) | max (ms) | n |", "|---|---|---|---|---|"]
    for k, v in rows.items():
        lines.append(f"| {k} | {_stats(v)} | {len(v)} |")
    worst = max(rows["click: /api/pixel (raw + filtered series, model, 6 quality maps)"])
    lines += ["", f"Every click answered in at most {worst:.0f} ms (requirement: well under 1 s).", ""]
    args.doc.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
