"""Stacks without coherence (issue 18 §3): GeoTIFF pairs given without any ``*cc*`` file.

A real ENVISAT stack of ``yymmdd-yymmdd`` GeoTIFF pairs without coherence stopped in step 1-2 with
"no pixel qualifies as reference", even with ``--ref``: the loop closure's preliminary reference
was the most coherent of the most complete windows. Every step must run without coherence and a
user's ``--ref`` is always honoured.

The simulated frame is written in the LiCSAR layout, which requires coherence; its unwrapped
GeoTIFFs are copied flat into a folder of GeoTIFF pairs (the layout of such stacks), once with
the coherence files (the reference run) and once without.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from tests._shared import figures_skipped

from kansho.config import RunConfig
from kansho.demo import bundled_real_stack, real_config
from kansho.run import open_run
from kansho.synth import SimConfig

FRAME = SimConfig(shape=(48, 48), n_epoch=14, interval_days=24)
REF = "30:35/8:13"  # x1:x2/y1:y2, a box of valid pixels of FRAME (checked below)
REF_ROWS_COLS = [8, 13, 30, 35]  # LoopsResult.ref: (row0, row1, col0, col1)


def _config(ref: str = REF) -> RunConfig:
    cfg = RunConfig()
    cfg.loops.ref = ref
    cfg.mask.maxTlen = 0.4  # the frame spans < 1 yr: the default 1 yr would mask it all
    cfg.invert.coh_weight = False  # the runs with and without coherence solve the same system
    return cfg


def _flat_pairs(geoc: Path, dest: Path, *, coherence: bool, short: bool = False) -> Path:
    """The frame's pairs as a flat folder of GeoTIFF pairs (``yymmdd-yymmdd`` names with ``short``)."""
    dest.mkdir(parents=True)
    kinds = ("unw", "cc") if coherence else ("unw",)
    for d in sorted(p for p in geoc.iterdir() if p.is_dir()):
        a, b = d.name.split("_")
        for kind in kinds:
            src = d / f"{d.name}.geo.{kind}.tif"
            name = f"{a[2:]}-{b[2:]}_{kind}.tif" if short else src.name
            shutil.copy(src, dest / name)
    (dest / "metadata.txt").write_text("wavelength=0.05546576\n")  # bare GeoTIFFs carry no wavelength
    return dest


@pytest.fixture(scope="module")
def frame(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kansho.synth import simulate_frame

    root = tmp_path_factory.mktemp("nocoh_frame")
    simulate_frame(root, FRAME, rng=5)
    return root / "GEOC"


@pytest.fixture(scope="module")
def runs(frame: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same frame with and without coherence through the whole chain, with the same --ref."""
    from kansho import run_timeseries

    base = tmp_path_factory.mktemp("nocoh_runs")
    out = {}
    with figures_skipped():
        inp = _flat_pairs(frame, base / "with_coh", coherence=True)
        run_timeseries(inp, base / "run_with_coh", _config(), progress=False)
        out["with_coh"] = base / "run_with_coh"
    inp = _flat_pairs(frame, base / "no_coh", coherence=False)
    run_timeseries(inp, base / "run_no_coh", _config(), progress=False)  # with the report and figures
    out["no_coh"] = base / "run_no_coh"
    return out


def _cli(*args: str) -> int:
    from kansho.cli import main

    return main(list(args))


def test_no_coherence_ref0_and_final_reference_without_user_box(frame: Path, tmp_path: Path) -> None:
    """Without --ref the chain chooses both references from validity and loop statistics alone."""
    inp = _flat_pairs(frame, tmp_path / "in", coherence=False)
    out = tmp_path / "run"
    with figures_skipped():
        rc = _cli("ts", str(inp), "-o", str(out), "--mask-maxTlen", "0.4")
    assert rc == 0
    run = open_run(out)
    lres: Any = run.result("loops")
    assert lres.ref_how == "auto"
    nvalid = run.read_map("n_unw")
    r0, r1, c0, c1 = lres.ref
    assert np.all(nvalid[r0:r1, c0:c1] == len(lres.pairs))  # valid in every used pair
    assert np.all(np.isfinite(lres.ref_offsets))


def test_the_same_pairs_and_velocities_as_with_coherence(runs: dict[str, Path]) -> None:
    """With coh_weight off, the inversion reads no coherence: with the same --ref (same final
    reference offsets) and the same pairs kept, its inputs are the same arrays, so the velocity
    is bit-identical (the loop closure's preliminary reference may differ, which only matters if
    it changed which pairs are kept: asserted equal first)."""
    a, b = open_run(runs["with_coh"]), open_run(runs["no_coh"])
    qa, qb = a.result("qc"), b.result("qc")
    assert np.all(np.isnan(qb.mean_coh)) and np.all(np.isfinite(qa.mean_coh))  # type: ignore[attr-defined]
    la, lb = a.result("loops"), b.result("loops")
    assert la.pairs == lb.pairs and la.epochs == lb.epochs  # type: ignore[attr-defined]
    assert la.ref == lb.ref == REF_ROWS_COLS  # type: ignore[attr-defined]
    np.testing.assert_array_equal(a.read_map("vel"), b.read_map("vel"))
    assert np.isfinite(b.read_map("vel")).sum() > 0.5 * b.read_map("vel").size


def test_user_ref_is_honoured(runs: dict[str, Path]) -> None:
    run = open_run(runs["no_coh"])
    assert run.result("loops").ref_how == "user"  # type: ignore[attr-defined]
    text = (runs["no_coh"] / "info" / "12ref.txt").read_text()
    assert text.splitlines()[0] == REF and "chosen: user" in text


def test_yymmdd_names_and_cli_exit_0(frame: Path, tmp_path: Path) -> None:
    """``yymmdd-yymmdd_unw.tif`` pairs without coherence (the ENVISAT stack's naming) with --ref."""
    inp = _flat_pairs(frame, tmp_path / "in", coherence=False, short=True)
    assert any(p.name.startswith("180105-") for p in inp.iterdir())
    out = tmp_path / "run"
    with figures_skipped():
        rc = _cli("ts", str(inp), "-o", str(out), "--ref", REF, "--mask-maxTlen", "0.4")
    assert rc == 0
    run = open_run(out)
    assert run.result("loops").ref == REF_ROWS_COLS  # type: ignore[attr-defined]
    assert "chosen: user" in (out / "info" / "12ref.txt").read_text()


def test_coh_avg_is_no_data_and_report_viewer_work(runs: dict[str, Path]) -> None:
    from kansho.viewer.data import RunData

    out = runs["no_coh"]
    run = open_run(out)
    assert not np.isfinite(run.read_map("coh_avg")).any()
    assert (out / "report.html").is_file()
    data = RunData(out)
    try:
        assert not np.isfinite(data.map_array("coh_avg", 1)).any()
        vals = data.pixel_values(10, 32)  # inside the --ref box: valid in every pair
        assert vals["coh_avg"] is None and vals["vel"] is not None
        assert data.qc()["mask_stats"]
    finally:
        data.close()


def test_coh_avg_criterion_does_not_empty_the_mask(runs: dict[str, Path]) -> None:
    out = runs["no_coh"]
    mres: Any = open_run(out).result("mask")
    assert mres.n_kept > 0.3 * mres.n_valid
    stats = (out / "info" / "15mask_stats.txt").read_text()
    line = next(ln for ln in stats.splitlines() if ln.startswith("coh_avg"))
    assert line.split()[1] == "off"
    assert "coherence" in stats


def test_coh_weight_without_coherence_is_ignored_with_a_warning(frame: Path, tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture,
                                                                runs: dict[str, Path]) -> None:
    from kansho import run_timeseries

    inp = _flat_pairs(frame, tmp_path / "in", coherence=False)
    cfg = _config()
    cfg.invert.coh_weight = True
    with figures_skipped(), caplog.at_level(logging.WARNING):
        run_timeseries(inp, tmp_path / "run", cfg, progress=False)
    assert any("coh" in r.getMessage() and "weight" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(open_run(tmp_path / "run").read_map("vel"),
                                  open_run(runs["no_coh"]).read_map("vel"))


def test_ref0_falls_back_to_the_user_box_when_no_coherent_window_is_complete(
        frame: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Coherence only where some pair has no data: the most coherent of the most complete windows
    does not exist, so the loop closure's reference is the user's --ref box (it used to stop)."""
    from kansho import run_timeseries

    inp = _flat_pairs(frame, tmp_path / "in", coherence=False)
    files = sorted(inp.glob("*.unw.tif"))
    stack = []
    for f in files:
        with rasterio.open(f) as s:
            stack.append(s.read(1))
            profile = s.profile
    valid = np.array(stack) != 0  # the simulator writes no data as 0.0
    r, c = np.argwhere(valid.any(0) & ~valid.all(0))[0]
    cc = np.full(valid.shape[1:], np.nan, np.float32)
    cc[r, c] = 0.5
    profile.update(dtype="float32", nodata=np.nan)
    for f in files:
        with rasterio.open(f.with_name(f.name.replace(".unw.", ".cc.")), "w", **profile) as d:
            d.write(cc, 1)
    cfg = _config()
    cfg.qc.min_coh = 0.0
    with figures_skipped(), caplog.at_level(logging.WARNING):
        run_timeseries(inp, tmp_path / "run", cfg, progress=False, steps=["ingest", "qc", "loops"])
    assert any("uses the --ref box" in r.getMessage() for r in caplog.records)
    lres: Any = open_run(tmp_path / "run", need_cum=False).result("loops")
    assert lres.ref0 == REF_ROWS_COLS and lres.ref == REF_ROWS_COLS and lres.ref_how == "user"


def test_real_mexico_stack_without_coherence(tmp_path: Path) -> None:
    src = bundled_real_stack()
    inp = tmp_path / "mexico"
    shutil.copytree(src, inp)
    removed = [p for p in inp.iterdir() if "_cc" in p.name]
    assert removed  # the bundled stack has coherence: delete it
    for p in removed:
        p.unlink()
    from kansho import run_timeseries

    with figures_skipped():
        run_timeseries(inp, tmp_path / "run", real_config(), progress=False)
    run = open_run(tmp_path / "run")
    assert all(np.isnan(run.result("qc").mean_coh))  # type: ignore[attr-defined]
    vel = run.read_map("vel")
    assert np.isfinite(vel).sum() > 1000
    # the city still subsides fast (same check as tests/test_real_mexico.py, with coherence)
    assert np.nanpercentile(vel, 5) < -100
    with rasterio.open(next(inp.glob("*_unw.tif"))) as s:
        assert vel.shape == (s.height, s.width)

