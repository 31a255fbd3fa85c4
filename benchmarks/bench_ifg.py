"""Time and peak memory of ``kansho ifg`` per pair for a 2000 x 2000 SLC pair → docs/benchmarks_ifg.md.

Run: ``.venv/bin/python benchmarks/bench_ifg.py [--size 2000] [--out docs/benchmarks_ifg.md]``.
The pair is simulated (kansho.synth.slc), then the chain (formation 9x3 looks, Goldstein filter,
SNAPHU, geocoding at 0.001°, export) runs in this process; each stage is timed by re-running its
function on the same data, and peak memory is the process's maximum resident set size (plus
SNAPHU's, a child process).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--out", default="docs/benchmarks_ifg.md")
    a = ap.parse_args()
    from kansho.ifg.chain import prepare_geometry, run_ifg
    from kansho.ifg.config import IfgConfig
    from kansho.ifg.filter import goldstein_filter
    from kansho.ifg.form import multilooked_interferogram, reference_phase
    from kansho.ifg.readers import open_slc_stack
    from kansho.ifg.unwrap import unwrap_phase
    from kansho.synth.slc import SlcSimConfig, simulate_slc_stack

    n = a.size
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t0 = time.perf_counter()
        # simulate in a child process so this process's peak memory measures the chain only
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as ex:
            sim_cfg = SlcSimConfig(shape=(n, n), n_epoch=2, interval_days=12)
            ex.submit(simulate_slc_stack, d / "slc", sim_cfg, 1).result()
        t_sim = time.perf_counter() - t0
        cfg = IfgConfig()
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        run = run_ifg(d / "slc", d / "GEOC", cfg, progress=False)
        t_total = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rss_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        assert not run.failed, run.failed
        st = open_slc_stack(d / "slc")
        d1, d2 = st.dates
        stages: dict[str, float] = {}
        t0 = time.perf_counter()
        prepare_geometry(st, cfg, d / "GEOC2")
        stages["geometry + lookup table (once per stack, not per pair)"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        s1, s2 = st.read(d1), st.read(d2)
        stages["read 2 SLCs"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = reference_phase(st.bperp[d2] - st.bperp[d1], st.wavelength, st.geometry["range"], st.geometry["inc"],
                              st.geometry["hgt"])
        ifg, coh = multilooked_interferogram(s1, s2, cfg.form.azimuth_looks, cfg.form.range_looks, ref)
        stages["reference phase + multilook + coherence"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        filt = goldstein_filter(ifg, cfg.filter.alpha, cfg.filter.window, cfg.filter.step, cfg.filter.smooth)
        stages["Goldstein filter"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        unwrap_phase(filt, coh, cfg.form.azimuth_looks * cfg.form.range_looks)
        stages["SNAPHU unwrapping"] = time.perf_counter() - t0
        ml = ifg.shape
        grid = run.grid
    lines = [
        "# Benchmark: `kansho ifg` per pair",
        "",
        (f"Machine: {platform.machine()}, {os.cpu_count()} CPU(s) (shared with other jobs), Python "
         f"{platform.python_version()}, {platform.system()} {platform.release()}."),
        (f"Input: simulated coregistered SLC pair, {n} x {n} px complex64 (GAMMA format); "
         f"{cfg.form.range_looks} x {cfg.form.azimuth_looks} looks → {ml[1]} x {ml[0]} px; "
         f"output grid {grid.width} x {grid.height} px at {cfg.geocode.posting_deg}° (default options)."),
        "",
        "| measure | value |",
        "|---|---|",
        f"| simulation of the pair (not part of the chain) | {t_sim:.1f} s |",
        f"| whole chain for the pair (`run_ifg`: read, form, filter, unwrap, geocode, write) | {t_total:.1f} s |",
        *(f"| stage: {k} | {v:.2f} s |" for k, v in stages.items()),
        f"| peak resident memory, Python process (before the chain: {rss0:.0f} MB) | {rss:.0f} MB |",
        f"| peak resident memory of child processes (simulation, SNAPHU) | {rss_child:.0f} MB |",
        "",
        "Per pair, memory is dominated by the two full-resolution SLCs (2 x 32 MB for 2000 x 2000) and",
        "the full-resolution reference phase and products (about 6 arrays of that size); pairs run in",
        "separate dask workers with `--workers N`, so N pairs need about N times this.",
        "",
    ]
    Path(a.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
