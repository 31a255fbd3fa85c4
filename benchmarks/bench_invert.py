"""Benchmark the NSBAS inversion kernel on one block: the compiled CPU kernel against the numpy path.

    python benchmarks/bench_invert.py            # writes docs/benchmarks_invert.md

Blocks as the pipeline inverts them (16,384 pixels = 128 x 128), with coherence weights, random
NaNs, a network gap at some pixels and a few long pairs; M-like (60 epochs, 4 pairs an epoch) and
L-like (150 epochs). Each path is timed on the same arrays (best of 3, after a warm-up call that
also compiles the kernel) and the results compared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_chain import ROOT, machine  # noqa: E402 - found through sys.path above

log = logging.getLogger("bench")


def _case(n_epoch: int, npix: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n_epoch) * 12 / 365.25
    short = [(i, j) for i in range(n_epoch) for j in range(i + 1, min(n_epoch, i + 4))]
    long = [(i, i + 30) for i in range(0, n_epoch - 30, 10)]
    pairs = np.array(short + long)
    truth = np.cumsum(rng.normal(0, 2, (n_epoch, npix)), axis=0) + 20 * t[:, None]
    truth -= truth[:1]
    ifg = truth[pairs[:, 1]] - truth[pairs[:, 0]] + rng.normal(0, 1.5, (len(pairs), npix))
    ifg[rng.random(ifg.shape) < 0.1] = np.nan
    mid = n_epoch // 2
    crossing = (pairs[:, 0] < mid) & (pairs[:, 1] >= mid)
    ifg[np.ix_(crossing, np.arange(npix // 10))] = np.nan  # a gap at a tenth of the pixels
    coh = rng.uniform(0.2, 0.95, ifg.shape)
    w = 2 * coh**2 / (1 - coh**2)
    return ifg, pairs, t, w


def _best(fn: object, repeat: int = 3) -> tuple[object, float]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return out, best


def main() -> None:
    from kansho.inversion import invert_nsbas

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--npix", type=int, default=16_384)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = []
    for name, ne in (("M-like", 60), ("L-like", 150)):
        ifg, pairs, t, w = _case(ne, args.npix)
        res = {}
        for engine in ("numpy", "compiled"):
            if engine == "numpy":
                os.environ["KANSHO_NO_JIT"] = "1"
            else:
                os.environ.pop("KANSHO_NO_JIT", None)
            invert_nsbas(ifg[:, :64], pairs, t, weights=w[:, :64])  # warm-up (compiles the kernel once)
            r, sec = _best(lambda a=ifg, p=pairs, tt=t, ww=w: invert_nsbas(a, p, tt, weights=ww))
            res[engine] = (r, sec)
            log.info("%s %s: %.3f s", name, engine, sec)
        (rn, tn), (rc, tc) = res["numpy"], res["compiled"]
        scale = float(np.nanmax(np.abs(rn.cum)))
        diff = float(np.nanmax(np.abs(rc.cum.astype(np.float64) - rn.cum))) / scale
        rows.append(f"| {name} | {ne} | {len(pairs)} | {args.npix:,} | {tn:.2f} | {tc:.2f} | {tn / tc:.1f}× | "
                    f"{1e6 * tc / args.npix:.1f} | {diff:.1e} |")
    m = machine()
    lines = [
        "# NSBAS inversion kernel", "",
        (f"Written by `python benchmarks/bench_invert.py` on {dt.date.today().isoformat()} ({m['cpu']}, "
         f"{m['cores']} cores, load {m['load1']:.1f}). One block as step 1-3 inverts it: coherence weights, 10 % "
         "random NaNs, a network gap at a tenth of the pixels, 3 short pairs an epoch plus a few 30-epoch pairs. "
         "Best of 3 calls of `invert_nsbas`; the compiled kernel (numba, all cores) against the vectorised numpy "
         "path (`KANSHO_NO_JIT=1`, also the GPU path's code)."), "",
        ("| block | epochs | pairs | pixels | numpy (s) | compiled (s) | speed-up | µs a pixel (compiled) | "
         "cum difference, relative to the largest cum |"),
        "|---|---|---|---|---|---|---|---|---|", *rows, ""]
    path = ROOT / "docs" / "benchmarks_invert.md"
    path.write_text("\n".join(lines))
    log.info("wrote %s", path)


if __name__ == "__main__":
    main()
