"""A batch of six simulated frames on a real LocalCluster: one broken, the others correct; a re-run
after fixing it processes only that frame. Also the frames file reader and the retry rules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kansho.batch.frames import load_frames
from kansho.batch.runner import (
    DONE,
    FAILED,
    frame_out,
    is_transient,
    read_status,
    run_batch,
    select_dates,
)
from kansho.errors import InputError
from kansho.io.geotiff import read_raster
from kansho.synth import SimConfig, load_truth, simulate_frame

#: the batch of six frames on a LocalCluster takes ~1.5 min: its tests are in the slow tier; the
#: default tier keeps the same behaviour on one frame in this process (test_batch_cluster.py::
#: test_commands_end_to_end: a failing frame does not stop the others, a re-run skips done frames)
N_FRAMES = 6
BROKEN = "f3"
QUARANTINED_IN = 1  # f1 has a corrupt interferogram
# 40 x 40 px, 12 epochs 36 days apart (~1.1 yr, so the default maxTlen >= 1 yr mask keeps pixels)
SIM = {"shape": (40, 40), "n_epoch": 12, "interval_days": 36, "n_unw_errors": 0, "gap": False, "n_missing": 0,
       "n_long_pairs": 1, "n_dropped_pairs": 0}


def _sim_frames(base: Path, n: int) -> list[Path]:
    out = []
    for k in range(n):
        d = base / f"f{k}"
        simulate_frame(d, SimConfig(**SIM, lon0=139.0 + 0.05 * k, subsidence_rate=-40.0 - 25.0 * k), rng=100 + k)
        out.append(d)
    return out


def _vel_error(run: Path, truth_file: Path) -> tuple[float, float, float]:
    """RMS (mm/yr) of vel - true vel over masked-in pixels after removing the median difference
    (the run's reference area is its own), the true field's spread there, and the kept fraction."""
    truth = load_truth(truth_file)
    vel = read_raster(run / "results" / "vel.tif")
    keep = (read_raster(run / "results" / "mask.tif") == 1) & np.isfinite(vel)
    d = vel[keep] - truth.vel[keep]
    d -= np.median(d)
    return float(np.sqrt(np.mean(d * d))), float(np.std(truth.vel[keep])), float(keep.mean())


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from kansho.parallel import cluster

    base = tmp_path_factory.mktemp("batch")
    dirs = _sim_frames(base / "sim", N_FRAMES)
    # break one frame: a truncated geometry file (a cut download); keep the good file to restore it
    unw = next((dirs[3] / "GEOC").glob("*.geo.E.tif"))
    good = base / "good.E.tif"
    shutil.copy2(unw, good)
    unw.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    # and one interferogram of another frame: that pair is quarantined, the frame finishes without it
    cut = next(sorted(p for p in (dirs[QUARANTINED_IN] / "GEOC").iterdir() if p.is_dir())[2].glob("*.unw.tif"))
    cut.write_bytes(cut.read_bytes()[:2000])
    lines = ["defaults: {mask.stc: 20}", "frames:"]
    lines += [f"  - {{id: f{k}, source: sim/f{k}/GEOC}}" for k in range(N_FRAMES)]
    (base / "frames.yaml").write_text("\n".join(lines) + "\n")
    specs = load_frames(base / "frames.yaml")
    root = base / "ROOT"
    with cluster(workers=2, dashboard=False) as client:
        first = run_batch(specs, root, client=client, retries=1, backoff_s=0.1, progress=False)
    return base, root, specs, first, unw, good


@pytest.mark.slow  # six frames on a LocalCluster (see N_FRAMES)
def test_one_broken_frame_does_not_stop_the_others(batch: Any) -> None:
    _base, root, _specs, first, unw, _ = batch
    assert sorted(first.done) == sorted(f"f{k}" for k in range(N_FRAMES) if f"f{k}" != BROKEN)
    assert first.failed == [BROKEN] and first.skipped == []
    rec = read_status(root, BROKEN)
    assert rec is not None and rec["state"] == FAILED
    assert unw.name in rec["error"] and "\n" not in rec["error"]
    assert rec["error_type"] == "InputError" and rec["attempts"] == 1  # bad input is never retried
    summary = json.loads((root / "status.json").read_text())
    assert summary["counts"] == {DONE: N_FRAMES - 1, FAILED: 1}
    assert summary["frames"][BROKEN]["error"] == rec["error"]
    for fid in first.done:
        r = read_status(root, fid)
        assert r is not None and r["state"] == DONE and r["n_epoch"] == SIM["n_epoch"] and r["n_pair"] > 20
        assert len(r["quarantined"]) == (1 if fid == f"f{QUARANTINED_IN}" else 0), (fid, r["quarantined"])
        assert set(r["steps_seconds"]) >= {"ingest", "invert", "outputs"} and r["seconds"] > 0
        assert r["pid"] != __import__("os").getpid()  # ran in a worker process, not here


@pytest.mark.slow  # six frames on a LocalCluster (see N_FRAMES)
def test_finished_frames_match_their_truth(batch: Any) -> None:
    base, root, _, first, _, _ = batch
    for fid in first.done:
        rms, spread, kept = _vel_error(frame_out(root, fid), base / "sim" / fid / "truth.npz")
        # 12 epochs over 1.1 yr with ~5-15 mm of simulated atmosphere per epoch: sigma_v ~ 3-5 mm/yr;
        # 8 mm/yr bounds that; the true field's spread grows with the frame's subsidence rate (40-165
        # mm/yr), so the error must also be well below it (a sign error or no signal fails this)
        assert rms < 8.0, (fid, rms)
        assert rms < 0.7 * spread and kept > 0.3, (fid, rms, spread, kept)
    # results are not mixed up between frames: f4's run against f1's truth (subsidence 140 vs 65 mm/yr)
    wrong, _, _ = _vel_error(frame_out(root, "f4"), base / "sim" / "f1" / "truth.npz")
    right, _, _ = _vel_error(frame_out(root, "f4"), base / "sim" / "f4" / "truth.npz")
    assert wrong > 2 * right, (wrong, right)


@pytest.mark.slow  # six frames on a LocalCluster (see N_FRAMES)
def test_rerun_after_fix_processes_only_the_broken_frame(batch: Any) -> None:
    from kansho.parallel import cluster

    base, root, specs, first, unw, good = batch
    before = {fid: read_status(root, fid) for fid in first.done}
    states = {fid: (frame_out(root, fid) / "work" / "state.json").read_bytes() for fid in first.done}
    vel_mtime = {fid: (frame_out(root, fid) / "results" / "vel.tif").stat().st_mtime_ns for fid in first.done}
    shutil.copy2(good, unw)  # fixed
    with cluster(workers=2, dashboard=False) as client:
        second = run_batch(specs, root, client=client, retries=1, backoff_s=0.1, progress=False)
    assert second.done == [BROKEN] and second.failed == []
    assert sorted(second.skipped) == sorted(first.done)
    for fid in first.done:
        assert read_status(root, fid) == before[fid]  # status (timestamps, run id) untouched
        assert (frame_out(root, fid) / "work" / "state.json").read_bytes() == states[fid]
        assert (frame_out(root, fid) / "results" / "vel.tif").stat().st_mtime_ns == vel_mtime[fid]
    rec = read_status(root, BROKEN)
    assert rec is not None and rec["state"] == DONE and rec["error"] is None
    rms, _, _ = _vel_error(frame_out(root, BROKEN), base / "sim" / BROKEN / "truth.npz")
    assert rms < 8.0
    summary = json.loads((root / "status.json").read_text())
    assert summary["counts"] == {DONE: N_FRAMES} and summary["frames"]["f0"]["skipped"]
    # a changed option re-runs that frame only (its chain resumes: ingest is not redone)
    (base / "frames.yaml").write_text((base / "frames.yaml").read_text().replace(
        "{id: f1, source: sim/f1/GEOC}", "{id: f1, source: sim/f1/GEOC, options: {mask.stc: 25}}"))
    third = run_batch(load_frames(base / "frames.yaml"), root, progress=False)  # in this process
    assert third.done == ["f1"] and len(third.skipped) == N_FRAMES - 1
    r1 = read_status(root, "f1")
    assert r1 is not None and "ingest" not in r1["steps_run"] and "mask" in r1["steps_run"]


@pytest.mark.usefixtures("no_figures")  # checks the retry records only
def test_transient_faults_are_retried_and_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kansho.chain import runner

    calls: list[int] = []
    real = runner.run_timeseries

    def flaky(*a: Any, **k: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise TimeoutError("shared file system did not answer")
        return real(*a, **k)

    monkeypatch.setattr(runner, "run_timeseries", flaky)
    (_d,) = _sim_frames(tmp_path / "sim", 1)
    (tmp_path / "frames.csv").write_text("id,source,start,end,mask.stc\nf0,sim/f0/GEOC,,,20\n")
    specs = load_frames(tmp_path / "frames.csv")
    assert specs[0].options == {"mask.stc": 20}
    res = run_batch(specs, tmp_path / "ROOT", retries=2, backoff_s=0.01, progress=False)
    rec = read_status(tmp_path / "ROOT", "f0")
    assert res.done == ["f0"] and rec is not None and rec["attempts"] == 2
    assert rec["attempt_errors"] == ["shared file system did not answer"]
    assert is_transient(OSError("reset")) and not is_transient(InputError("x.tif", "truncated"))
    assert not is_transient(FileNotFoundError("gone")) and not is_transient(ValueError("bug"))


def test_date_range_selects_pairs(tmp_path: Path) -> None:
    (d,) = _sim_frames(tmp_path / "sim", 1)
    pairs = sorted(p.name for p in (d / "GEOC").iterdir() if p.is_dir() and p.name[:8].isdigit())
    dates = sorted({int(x) for p in pairs for x in p.split("_")})
    lo, hi = dates[2], dates[-3]
    sel = select_dates(d / "GEOC", tmp_path / "sel", lo, hi)
    kept = sorted(p.name for p in sel.iterdir() if p.name[:8].isdigit())
    assert kept == [p for p in pairs if int(p[:8]) >= lo and int(p[9:17]) <= hi] and kept
    others = {p.name for p in (d / "GEOC").iterdir() if not p.name[:8].isdigit()}
    assert others and others <= {p.name for p in sel.iterdir()}  # geometry and metadata kept


@pytest.mark.parametrize(("text", "suffix", "needle"), [
    ("frames: [{id: a, source: nowhere}]\n", ".yaml", "source folder nowhere not found"),
    ("frames: [{id: a, source: ., start: 20200231}]\n", ".yaml", "not a calendar date"),
    ("frames: [{id: a, source: ., colour: red}]\n", ".yaml", "unknown key(s) colour"),
    ("frames: [{id: a, source: .}, {id: a, source: .}]\n", ".yaml", "listed twice"),
    ("frames: [{id: a, source: ., options: {mask.stc: -1}}]\n", ".yaml", "frame a: option mask.stc"),
    ("frames: [{id: 'a b', source: .}]\n", ".yaml", "must be letters"),
    ("frames: [{id: abc, source: portal}]\n", ".yaml", "needs a LiCSAR frame id"),
    ("frames: [unclosed\n", ".yaml", "not valid YAML"),
    ("name,where\nx,y\n", ".csv", "columns id and source"),
    ("id,source\n", ".csv", "no frames listed"),
])
def test_frames_file_errors_are_one_line_naming_the_file(tmp_path: Path, text: str, suffix: str, needle: str) -> None:
    p = tmp_path / f"frames{suffix}"
    p.write_text(text)
    with pytest.raises(InputError) as ei:
        load_frames(p)
    msg = str(ei.value)
    assert needle in msg and str(p) in msg and "\n" not in msg


@pytest.mark.usefixtures("no_figures")
def test_corrupt_pair_is_quarantined(tmp_path: Path) -> None:
    """A truncated interferogram no longer fails its frame: the pair is set aside (listed in the
    status and the catalogue) and the frame equals a run of the same folder without that pair."""
    from kansho.batch.catalog import build_catalog

    (d,) = _sim_frames(tmp_path / "sim", 1)
    pair = sorted(p for p in (d / "GEOC").iterdir() if p.is_dir())[4]
    clean = tmp_path / "clean"  # the reference: the folder without that pair
    shutil.copytree(d, clean, symlinks=True)
    shutil.rmtree(clean / "GEOC" / pair.name)
    unw = next(pair.glob("*.unw.tif"))
    unw.write_bytes(unw.read_bytes()[:1500])  # a cut download
    (tmp_path / "frames.yaml").write_text("defaults: {mask.stc: 20}\nframes:\n  - {id: f0, source: sim/f0/GEOC}\n"
                                          "  - {id: ref, source: clean/GEOC}\n")
    res = run_batch(load_frames(tmp_path / "frames.yaml"), tmp_path / "ROOT", progress=False)
    assert sorted(res.done) == ["f0", "ref"] and res.failed == []
    rec = read_status(tmp_path / "ROOT", "f0")
    assert rec is not None and [q["pair"] for q in rec["quarantined"]] == [pair.name]
    assert rec["quarantined"][0]["file"] == str(unw) and "truncated" in rec["quarantined"][0]["error"]
    ref = read_status(tmp_path / "ROOT", "ref")
    assert ref is not None and ref["quarantined"] == [] and rec["n_pair"] == ref["n_pair"]
    assert unw.stat().st_size == 1500  # the source is left as it was
    for name in ("vel.tif", "vstd.tif", "mask.tif"):
        np.testing.assert_array_equal(read_raster(frame_out(tmp_path / "ROOT", "f0") / "results" / name),
                                      read_raster(frame_out(tmp_path / "ROOT", "ref") / "results" / name))
    build_catalog(tmp_path / "ROOT")
    assert f"1 corrupt pair(s) left out: {pair.name}" in (tmp_path / "ROOT" / "index.html").read_text()
    stac = json.loads((tmp_path / "ROOT" / "stac" / "f0.json").read_text())
    assert stac["properties"]["kansho:quarantined_pairs"] == [pair.name]


@pytest.mark.slow  # default suite under 5 min: an end-to-end path other default tests cover in parts
@pytest.mark.usefixtures("no_figures")
def test_downloaded_gacos_is_applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The GACOS delays downloaded with a portal frame correct it as ``ingest.gacos`` would; a frame
    that sets ``ingest.gacos`` itself keeps its choice."""
    from kansho.batch import runner
    from kansho.synth.gacos import write_gacos

    (d,) = _sim_frames(tmp_path / "sim", 1)
    write_gacos(load_truth(d / "truth.npz"), tmp_path / "gacos", rng=3)
    fid = "021D_05266_252525"

    def fake_download(spec: Any, dest: Path) -> Path:  # what download_frame leaves: GEOC/ and GACOS/
        if not (dest / "GACOS").exists():
            shutil.copytree(tmp_path / "gacos", dest / "GACOS")
        return d / "GEOC"

    monkeypatch.setattr(runner, "_download", fake_download)
    (tmp_path / "frames.yaml").write_text(
        f"defaults: {{mask.stc: 20}}\nframes:\n  - {{id: {fid}, source: portal}}\n"
        f"  - {{id: with, source: sim/f0/GEOC, options: {{ingest.gacos: {tmp_path / 'gacos'}}}}}\n"
        "  - {id: without, source: sim/f0/GEOC}\n")
    res = run_batch(load_frames(tmp_path / "frames.yaml"), tmp_path / "ROOT", progress=False)
    assert sorted(res.done) == sorted([fid, "with", "without"])
    rec = read_status(tmp_path / "ROOT", fid)
    assert rec is not None and rec["gacos"] == str(tmp_path / "ROOT" / "downloads" / fid / "GACOS")
    vel = {k: read_raster(frame_out(tmp_path / "ROOT", k) / "results" / "vel.tif") for k in (fid, "with", "without")}
    np.testing.assert_array_equal(vel[fid], vel["with"])
    assert not np.array_equal(vel[fid], vel["without"], equal_nan=True)
