"""``kansho tide`` writes the computed solid-earth tide as LiCSAR's TIDE layer, and the layer corrector
of Step 0-3 removes it: a wide simulated frame with the tide injected into its interferograms."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from kansho import run_timeseries
from kansho.cli import main
from kansho.config import IngestConfig, RunConfig
from kansho.errors import InputError
from kansho.io.geotiff import read_raster
from kansho.synth import SimConfig, simulate_frame
from kansho.tides import epoch_times, los_tide_mm


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 40 x 40 px frame at 0.05 deg (2 x 2 deg: the tide differs by a few mm across it), weak
    atmosphere, no unwrapping error; a copy with the tide of its own acquisition times injected."""
    d = tmp_path_factory.mktemp("tide")
    cfg = SimConfig(shape=(40, 40), posting_deg=0.05, n_epoch=12, interval_days=12, gap=False, n_unw_errors=0,
                    local_unw_errors=0.0, snow=False, atm_turb_mm=0.5, atm_strat_std=0.1, atm_strat_seasonal=0.0,
                    ramp_mm_per_100km=0.0)
    truth = simulate_frame(d / "clean", cfg, rng=2)
    geoc = d / "clean" / "GEOC"
    meta = dict(line.split("=", 1) for line in (geoc / "metadata.txt").read_text().split() if "=" in line)
    e, n, u = (read_raster(next(geoc.glob(f"*.geo.{k}.tif"))) for k in ("E", "N", "U"))
    tide = los_tide_mm(truth.grid.lon(), truth.grid.lat(), epoch_times(truth.epochs, meta["center_time"]), e, n, u)
    inj = d / "inj"
    shutil.copytree(d / "clean", inj)
    for a, b in truth.pairs:
        f = inj / "GEOC" / f"{a}_{b}" / f"{a}_{b}.geo.unw.tif"
        with rasterio.open(f, "r+") as ds:
            ph = ds.read(1)
            ok = np.isfinite(ph) & (ph != 0)
            add = (tide[truth.epoch_index(b)] - tide[truth.epoch_index(a)]) * truth.mm_to_rad
            ph[ok] += add[ok].astype(np.float32)
            ds.write(ph, 1)
    return {"d": d, "truth": truth, "tide": tide}


@pytest.mark.slow  # three chain runs on a 2-degree frame: ~13 s
def test_tide_layer_written_and_removed(frames: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    d = frames["d"]
    assert main(["tide", str(d / "inj" / "GEOC")]) == 0
    assert "wrote 12 tide layers" in capsys.readouterr().out
    files = sorted((d / "inj" / "TIDE").glob("*.tide.geo.tif"))
    assert len(files) == 12
    # the file holds the LOS displacement toward the satellite in metres (LiCSAR's TIDE unit and sign)
    np.testing.assert_allclose(read_raster(files[3]) * 1000.0, frames["tide"][3], atol=1e-3)
    runs = {
        "clean": run_timeseries(d / "clean" / "GEOC", d / "ts_clean", RunConfig(), progress=False),
        "raw": run_timeseries(d / "inj" / "GEOC", d / "ts_raw", RunConfig(), progress=False),
        "fixed": run_timeseries(d / "inj" / "GEOC", d / "ts_fixed", RunConfig(ingest=IngestConfig(layers="tide")),
                                progress=False),
    }
    cum = {k: np.asarray(r.array("cum")[:], np.float64) for k, r in runs.items()}
    both = np.isfinite(cum["clean"]) & np.isfinite(cum["raw"]) & np.isfinite(cum["fixed"])

    def var(a: np.ndarray) -> float:  # the signal on each epoch's reference, its spatial variance
        x = np.where(both, a, np.nan)
        return float(np.nanmean((x - np.nanmean(x, axis=(1, 2), keepdims=True)) ** 2))

    injected, left = var(cum["raw"] - cum["clean"]), var(cum["fixed"] - cum["clean"])
    assert injected > 0.5  # mm²: the tide's gradient over 2 deg is a signal the test can see
    # issue 19: >= 80 % of the injected variance removed (measured: 14.7 mm² injected, 3e-11 left: the layer
    # is the injected tide itself, so this checks the file unit, sign and the corrector, not the tide model,
    # which tests/test_tides.py checks against pysolid)
    assert left <= 0.2 * injected, (injected, left)
    assert (d / "ts_fixed" / "info" / "03corrections.txt").read_text().count("tide") >= 1


def _without_time(frames: dict[str, Any], tmp_path: Path) -> Path:
    """A copy of the clean frame's GEOC whose metadata.txt has no center_time."""
    geoc = tmp_path / "GEOC"
    shutil.copytree(frames["d"] / "clean" / "GEOC", geoc)
    meta = geoc / "metadata.txt"
    meta.write_text("".join(ln + "\n" for ln in meta.read_text().split("\n") if ln and
                            not ln.startswith("center_time")))
    return geoc


@pytest.mark.slow  # shares the frames fixture (~5 s)
def test_tide_needs_a_time(frames: dict[str, Any], tmp_path: Path) -> None:
    geoc = _without_time(frames, tmp_path)
    assert main(["tide", str(geoc), "-o", str(tmp_path / "T")]) != 0
    assert main(["tide", str(geoc), "-o", str(tmp_path / "T"), "--time", "05:30:00"]) == 0
    assert len(list((tmp_path / "T").glob("*.tide.geo.tif"))) == 12


@pytest.mark.slow  # two chain runs on the 2-degree frame: ~10 s
def test_tide_computed_in_the_chain(frames: dict[str, Any], tmp_path: Path) -> None:
    """``--layers tide`` with no TIDE/ folder: Step 0-3 computes the tide from center_time and the LOS
    files, removes >= 80 % of the injected tide (issue 19), and on the frame without a tide declines it."""
    d = frames["d"]
    for name in ("inj", "clean"):
        shutil.copytree(d / name / "GEOC", tmp_path / name / "GEOC")     # no TIDE/ beside these copies
    cfg = RunConfig(ingest=IngestConfig(layers="tide"))
    ref = run_timeseries(d / "clean" / "GEOC", tmp_path / "ts_ref", RunConfig(), progress=False)
    fixed = run_timeseries(tmp_path / "inj" / "GEOC", tmp_path / "ts_inj", cfg, progress=False)
    # the tide is forced by default (exact physics); with the decision on, a frame without it declines it
    decide = RunConfig(ingest=IngestConfig(layers="tide", layers_force=None))
    clean = run_timeseries(tmp_path / "clean" / "GEOC", tmp_path / "ts_clean", decide, progress=False)
    c_ref, c_fix = (np.asarray(r.array("cum")[:], np.float64) for r in (ref, fixed))
    tide = frames["tide"] - frames["tide"][:1]                  # the series is relative to the first epoch
    both = np.isfinite(c_ref) & np.isfinite(c_fix)

    def var(a: np.ndarray) -> float:
        x = np.where(both, a, np.nan)
        return float(np.nanmean((x - np.nanmean(x, axis=(1, 2), keepdims=True)) ** 2))

    injected, left = var(tide), var(c_fix - c_ref)
    assert injected > 0.5
    # measured: the model tide is the injected one, so nearly all of it goes (left ~1e-4 of injected)
    assert left <= 0.2 * injected, (injected, left)
    text = (tmp_path / "ts_inj" / "info" / "03corrections.txt").read_text()
    assert "computed (IERS 2010 solid-earth tide" in text and text.count(" forced") >= 10
    # where there is no tide in the data, removing one would add its variance: every pair declines it
    text = (tmp_path / "ts_clean" / "info" / "03corrections.txt").read_text()
    rows = [ln for ln in text.splitlines() if ln and not ln.startswith("#") and " tide " in ln]
    assert rows and all(ln.rstrip().endswith("declined") for ln in rows)
    v_ref, v_clean = (np.asarray(r.array("vel")[:], np.float64) for r in (ref, clean))
    np.testing.assert_array_equal(v_ref, v_clean)


@pytest.mark.slow  # shares the frames fixture (~5 s)
def test_tide_computed_needs_time_and_geometry(frames: dict[str, Any], tmp_path: Path) -> None:
    """No TIDE/ folder and no center_time: a one-line error naming the input and the fix."""
    geoc = _without_time(frames, tmp_path)
    with pytest.raises(InputError, match="kansho tide INPUT --time"):
        run_timeseries(geoc, tmp_path / "ts", RunConfig(ingest=IngestConfig(layers="tide")), progress=False)
