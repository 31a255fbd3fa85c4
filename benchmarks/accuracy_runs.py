"""Runs of the accuracy harness: simulate a scenario (cached), run Kansho (default or a preset) and
LiCSBAS (cached: it does not change when Kansho does), turn each into a
:class:`accuracy_score.Solution`; and the real Mexico City check.

LiCSBAS (GPLv3) is only *run* here, as a separate program: its steps 02, 11-16 on the scenario's
GEOC folder, with the environment of ``~/.cache/licsbas/env.sh`` (made by
``/work/shared/bench/setup_licsbas.sh``; override with ``$LICSBAS_ENV``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from accuracy_scenarios import Scenario
from accuracy_score import Box, Solution

log = logging.getLogger("bench_accuracy")

LICSBAS_ENV = Path(os.environ.get("LICSBAS_ENV", str(Path.home() / ".cache" / "licsbas" / "env.sh")))
#: LiCSBAS's published L-band thresholds of its step 1-5 (its usage text), given explicitly
LICSBAS_L_MASK = ["-c", "0.01", "-u", "1", "-v", "200", "-T", "1", "-g", "1", "-s", "10", "-i", "50", "-l", "1",
                  "-r", "10"]


#: imported by LiCSBAS's Python at start-up (``sitecustomize``) from its step 1-2 on: its quick-look
#: PNGs (one per loop, pair and epoch) are not drawn. They take most of its run time here and no
#: number depends on them.
NOFIG = """import matplotlib
matplotlib.use("Agg")
import matplotlib.figure
import matplotlib.pyplot


def _no_png(*args, **kwargs):
    # a 1 x 1 PNG where the figure would go: LiCSBAS moves and links these files afterwards
    import os, struct, zlib
    fname = next((a for a in args if isinstance(a, (str, os.PathLike))), kwargs.get("fname"))
    if fname is None:
        return None
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    png = (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\\x00\\x00")) + chunk(b"IEND", b""))
    with open(fname, "wb") as f:
        f.write(png)


matplotlib.figure.Figure.savefig = _no_png
matplotlib.pyplot.savefig = _no_png
"""


def _stamp(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def simulate(scn: Scenario, cache: Path, scale: float) -> tuple[Path, Any]:
    """The scenario's simulated frame under ``cache/<name>/sim`` (re-simulated only if its
    configuration or seed changed); returns (GEOC folder, truth)."""
    from kansho.synth import load_truth, simulate_frame

    cfg = scn.sim_config(scale)
    sim = cache / scn.name / "sim"
    key = _stamp({"cfg": cfg.to_dict(), "seed": scn.seed})
    stamp = sim / "stamp.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("key") == key and (sim / "truth.npz").is_file():
        return sim / "GEOC", load_truth(sim)
    t0 = time.perf_counter()
    truth = simulate_frame(sim, cfg, rng=scn.seed)
    stamp.write_text(json.dumps({"key": key}))
    log.info("%s: simulated in %.0f s", scn.name, time.perf_counter() - t0)
    return sim / "GEOC", truth


def run_kansho(geoc: Path, out: Path, band: str, preset: str | None, figures: bool = False) -> tuple[Solution, float]:
    """``kansho ts`` with its defaults (the band, and the preset if any), from scratch. Without
    ``figures`` the outputs step draws no plots and writes no HTML report (no number depends on them)."""
    import kansho.plots
    import kansho.report
    from kansho.chain.runner import run_timeseries
    from kansho.config import load_config

    if out.exists():
        shutil.rmtree(out)
    cfg = load_config(None, {"band": band, "preset": preset})
    saved = kansho.plots.write_all, kansho.report.write_report
    if not figures:
        kansho.plots.write_all = lambda *a, **k: []  # type: ignore[assignment]
        kansho.report.write_report = lambda *a, **k: None  # type: ignore[assignment]
    t0 = time.perf_counter()
    try:
        run_timeseries(geoc, out, cfg, progress=False)
    finally:
        kansho.plots.write_all, kansho.report.write_report = saved
    return kansho_solution(out), time.perf_counter() - t0


def kansho_solution(out: Path) -> Solution:
    """A finished Kansho run as a :class:`Solution` on its reference: the set of pixels of
    ``refmask`` (a box, a window or the stable set alike)."""
    from kansho.run import open_run

    run = open_run(out)
    lres: Any = run.result("loops")
    names = run.stack.pair_names()
    ref = run.read2d("refmask") == 1
    return Solution(
        epochs=np.asarray(lres.epochs, np.int64), cum=run.array("cum"), cum_filt=run.array("cum_filt"),
        vel=run.read2d("vel"), mask=run.read2d("mask") == 1, ref=ref, ref_filt=ref,
        used={names[i] for i in lres.pairs}, dropped={names[i] for i in list(lres.bad) + list(lres.bad_noloop)},
    )


def licsbas_available() -> bool:
    return LICSBAS_ENV.is_file()


def run_licsbas(geoc: Path, out: Path, band: str, sim_key: str) -> tuple[Solution, float]:
    """LiCSBAS steps 02, 11-16 with its defaults (its L-band ones for ``band == "L"``), cached
    under ``out`` for this simulated frame (``sim_key``); returns the solution and its run time."""
    stamp = out / "stamp.json"
    ts = out / "TS_GEOCml1"
    if stamp.is_file() and json.loads(stamp.read_text()).get("key") == sim_key and (ts / "cum_filt.h5").is_file():
        return licsbas_solution(out), float(json.loads(stamp.read_text())["seconds"])
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "GEOC").symlink_to(geoc.resolve())
    freq = ["--freq", "1.27e9"] if band == "L" else []
    mask_opts = LICSBAS_L_MASK if band == "L" else []
    steps = [
        ["LiCSBAS02_ml_prep.py", "-i", "GEOC", "-o", "GEOCml1", "-n", "1", "--n_para", "1", *freq],
        ["LiCSBAS11_check_unw.py", "-d", "GEOCml1", "-t", "TS_GEOCml1"],
        ["LiCSBAS12_loop_closure.py", "-d", "GEOCml1", "-t", "TS_GEOCml1", "--n_para", "1"],
        ["LiCSBAS13_sb_inv.py", "-d", "GEOCml1", "-t", "TS_GEOCml1", "--n_para", "1"],
        ["LiCSBAS14_vel_std.py", "-t", "TS_GEOCml1"],
        ["LiCSBAS15_mask_ts.py", "-t", "TS_GEOCml1", *mask_opts],
        ["LiCSBAS16_filt_ts.py", "-t", "TS_GEOCml1", "--n_para", "1"],
    ]
    nofig = out / "_nofig"
    nofig.mkdir()
    (nofig / "sitecustomize.py").write_text(NOFIG)
    # steps 02 and 11 draw the pairs' PNGs that 11 needs; from 12 on none is read again
    script = f"unset PYTHONPATH; source {LICSBAS_ENV}; export OMP_NUM_THREADS=1\n" + "\n".join(
        ("" if i < 2 else f"PYTHONPATH={nofig}:$PYTHONPATH ") + " ".join(s) + " || exit $?"
        for i, s in enumerate(steps))
    t0 = time.perf_counter()
    with open(out / "licsbas.log", "w") as logf:
        rc = subprocess.run(["bash", "-c", script], cwd=out, stdout=logf, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f"LiCSBAS failed (exit {rc}); see {out / 'licsbas.log'}")
    stamp.write_text(json.dumps({"key": sim_key, "seconds": seconds}))
    return licsbas_solution(out), seconds


def _box(text: Any) -> Box:
    """LiCSBAS's 'x1:x2/y1:y2' as (row0, row1, col0, col1)."""
    s = text.decode() if isinstance(text, bytes) else str(text)
    xs, ys = s.split("/")
    x1, x2 = (int(v) for v in xs.split(":"))
    y1, y2 = (int(v) for v in ys.split(":"))
    return (y1, y2, x1, x2)


def _names(path: Path) -> set[str]:
    return {ln.strip() for ln in path.read_text().splitlines() if ln.strip()} if path.is_file() else set()


def licsbas_solution(out: Path) -> Solution:
    """A finished LiCSBAS run folder as a :class:`Solution`."""
    import h5py

    ts = out / "TS_GEOCml1"
    with h5py.File(ts / "cum.h5", "r") as f:
        cum = f["cum"][()]
        vel = f["vel"][()]
        epochs = np.asarray(f["imdates"][()], np.int64)
        ref = _box(f["refarea"][()])
    with h5py.File(ts / "cum_filt.h5", "r") as f:
        cum_filt = f["cum"][()]
        ref_filt = _box(f["refarea"][()])
    mask = np.fromfile(ts / "results" / "mask", np.float32).reshape(vel.shape) == 1
    every = {p.name for p in (out / "GEOCml1").iterdir() if p.is_dir() and len(p.name) == 17}
    bad11, bad12 = _names(ts / "info" / "11bad_ifg.txt"), _names(ts / "info" / "12bad_ifg.txt")
    eps = {int(e) for e in epochs}
    used = {n for n in every - bad11 - bad12 if int(n[:8]) in eps and int(n[9:]) in eps}
    return Solution(epochs=epochs, cum=cum, cum_filt=cum_filt, vel=vel, mask=mask, ref=ref, ref_filt=ref_filt,
                    used=used, dropped=bad12)


def mexico_check(src: Path, out: Path) -> dict[str, Any]:
    """Kansho's default chain on the real Mexico City stack against an independent per-pixel
    least-squares solution (the normal equations of the same used pairs solved per pixel with
    ``numpy.linalg.solve``, weighted by coherence as the chain's default is, each pair put on the
    run's reference) on pixels where every used pair is valid. Returns the agreement
    (median / 99th percentile / max |difference| in mm over those pixels and epochs), the pixels
    that differ by more than 1 mm at some epoch (what the chain corrected, or a disagreement), and
    the pairs the chain dropped."""
    from kansho._constants import phase_to_mm
    from kansho.chain.runner import run_timeseries
    from kansho.demo import real_config

    if out.exists():
        shutil.rmtree(out)
    run = run_timeseries(src, out, real_config(), progress=False)  # the same options as below
    lres: Any = run.result("loops")
    st = run.stack
    names = st.pair_names()
    pairs = np.asarray(lres.pairs, np.intp)
    epochs = [int(e) for e in lres.epochs]
    epos = {e: i for i, e in enumerate(epochs)}
    ny, nx = st.shape
    unw = st.read("unw", slice(0, ny), slice(0, nx), pairs).astype(np.float64)  # (pair, y, x) rad
    in_ref = run.read2d("refmask") == 1
    unw -= np.nanmean(unw[:, in_ref], axis=1)[:, None, None]
    mm = unw * phase_to_mm(st.wavelength)
    g = np.zeros((pairs.size, len(epochs) - 1))
    for p, k in enumerate(pairs):
        i, j = epos[int(st.date1[k])], epos[int(st.date2[k])]
        g[p, i:j] = 1.0
    full = np.isfinite(mm).all(axis=0)
    cfg = real_config()
    if cfg.invert.coh_weight:  # the chain's default: each pair weighted by its coherence's phase variance
        from kansho.chain.steps.invert import coh_weights

        w = coh_weights(st.read("coh", slice(0, ny), slice(0, nx), pairs).astype(np.float64))[:, full]
        gw = g[None, :, :] * w.T[:, :, None]  # (pixel, pair, epoch - 1): W G per pixel
        normal = np.einsum("pke,kf->pef", gw, g)  # G^T W G
        rhs = np.einsum("pke,kp->pe", gw, mm[:, full])  # G^T W d
        inc = np.linalg.solve(normal, rhs[..., None])[..., 0].T  # (n_epoch - 1, n_pixel)
    else:
        inc, *_ = np.linalg.lstsq(g, mm[:, full], rcond=None)  # (n_epoch - 1, n_pixel)
    ls = np.vstack([np.zeros((1, inc.shape[1])), np.cumsum(inc, axis=0)])
    cum = np.asarray(run.array("cum")[:], np.float64)[:, full]
    d = np.abs(cum - ls)
    fin = np.isfinite(d)
    differ = (np.where(fin, d, 0) > 1.0).any(axis=0)
    # every correction is listed: pixels the chain changed (1-2 per-pixel fix, 1-3 residual check)
    fix12 = np.asarray(run.array("unw_fix")[:])[pairs]  # 1-2: cycles added or NULL, per pair and pixel
    touched = (fix12 != 0).any(axis=0) | (np.nan_to_num(run.read2d("n_resid_fix")) > 0)
    ires: Any = run.result("invert")
    return {
        "pixels_corrected": int(touched.sum()),
        "differing_not_listed": int((differ & ~touched[full]).sum()),
        "pixel_pairs_fixed_12": int(sum(lres.n_fixed) + sum(lres.n_nulled)),
        "pixel_pairs_fixed_13": int(sum(ires.resid_fixed) + sum(ires.resid_nulled)),
        "pixels_compared": int(full.sum()), "rank_deficient": bool(np.linalg.matrix_rank(g) < g.shape[1]),
        "median_abs_mm": float(np.median(d[fin])), "p99_abs_mm": float(np.percentile(d[fin], 99)),
        "max_abs_mm": float(d[fin].max()),
        "agree_fraction": float(1.0 - differ.mean()), "pixels_differing": int(differ.sum()),
        "pairs_used": int(pairs.size),
        "pairs_dropped": sorted(names[i] for i in list(lres.bad) + list(lres.bad_noloop)),
    }
