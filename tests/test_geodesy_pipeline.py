"""End to end: a simulated frame through ``run_timeseries``, then ``kansho gnss compare`` against GNSS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tests._shared import FinishedRun

from kansho.geodesy import compare as cmp
from kansho.geodesy.runs import gnss_compare
from kansho.io.geotiff import read_raster
from kansho.store import open_stack
from kansho.synth.geodesy import gnss_from_frame, write_gnss


def test_gnss_compare_on_a_real_run(small_run: FinishedRun, tmp_path: Path) -> None:
    truth, out = small_run.truth, small_run.out
    assert truth is not None
    ny, nx = truth.grid.shape
    st = open_stack(out)
    lu = st.read2d("los_u")
    vel = read_raster(out / "results" / "vel.tif")
    mask = read_raster(out / "results" / "mask.tif")
    rng = np.random.default_rng(9)
    cand = np.argwhere((mask == 1) & np.isfinite(vel) & ~truth.water)
    cand = cand[(cand[:, 0] > 2) & (cand[:, 0] < ny - 3) & (cand[:, 1] > 2) & (cand[:, 1] < nx - 3)]
    pick = cand[rng.choice(len(cand), 8, replace=False)]
    series = gnss_from_frame(truth, lu, pick[:, 0], pick[:, 1], rng=10)
    files = write_gnss(tmp_path / "gnss", series)
    summ = gnss_compare(out, files, tmp_path / "cmp", radius_km=0.01, plots=False)
    # the pipeline's own velocity error at the stations (run minus truth, common offset removed) is
    # what the comparison reports; the GNSS error (1 mm daily white noise over ~1 yr: ~0.1 mm/yr
    # in LOS) bounds the difference
    err = np.array([vel[r, c] - truth.vel_fit[r, c] for r, c in pick], dtype=float)
    rows = summ["rows"]
    sig = np.hypot([x["sigma_insar"] for x in rows], [x["sigma_gnss"] for x in rows])
    expected = err - cmp.common_reference(err, sig)
    diff = np.array([x["diff"] for x in rows])
    sg = np.array([x["sigma_gnss"] for x in rows])
    assert np.all(np.abs(diff - expected) < 5 * sg + 0.2), np.c_[diff, expected, sg]
    assert summ["n_station"] == 8 and np.isfinite(summ["ts_rms_median_mm"])
    # the LOS vectors came from the ingested E/N/U rasters
    assert all(abs(x["los_u"] - lu[r, c]) < 1e-5 for x, (r, c) in zip(rows, pick, strict=True))
