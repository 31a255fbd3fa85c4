"""The radar wavelength: read from every input format that carries it, given on the command line
(``--wavelength`` in m, ``--freq`` in Hz), refused when invalid, never guessed but for Sentinel-1.

Before, a missing or invalid wavelength silently became Sentinel-1's (an INFO line that ``-q``
hides): L-band velocities came out 4.3 times too small.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr
from tests._shared import one_error_line

from kansho._constants import SPEED_OF_LIGHT
from kansho.cli import main
from kansho.demo import bundled_real_stack, compare_with_truth
from kansho.grid import Grid
from kansho.io.geotiff import write_geotiff
from kansho.io.inputs import discover_inputs
from kansho.io.radar_meta import S1_WAVELENGTH_M
from kansho.run import open_run
from kansho.synth import SimConfig, load_truth, simulate_frame

GRID = Grid(12, 10, (10.0, 0.01, 0.0, 20.0, 0.0, -0.01))
EPOCHS = ["20200101", "20200113", "20200125", "20200206", "20200218", "20200301"]
PAIRS = [(EPOCHS[i], EPOCHS[j]) for i in range(len(EPOCHS)) for j in range(i + 1, min(i + 3, len(EPOCHS)))]
L_BAND = 0.2362  # ALOS-2 (m)


def _day(d: str) -> int:
    return int(np.datetime64(f"{d[:4]}-{d[4:6]}-{d[6:]}").astype(int))


def flat_pairs(folder: Path, meta: str | None = None) -> Path:
    """A flat folder of GeoTIFF pairs (no tags, so no wavelength) with an optional ``metadata.txt``."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for d1, d2 in PAIRS:
        unw = (0.02 * (_day(d2) - _day(d1)) + 0.05 * rng.standard_normal(GRID.shape)).astype(np.float32)
        write_geotiff(folder / f"{d1}_{d2}_unw.tif", unw, GRID)
        write_geotiff(folder / f"{d1}_{d2}_cc.tif", np.full(GRID.shape, 0.8, np.float32), GRID)
    if meta is not None:
        (folder / "metadata.txt").write_text(meta)
    return folder


def licsar_geoc(folder: Path, meta: str | None = None) -> Path:
    """The same pairs in the LiCSAR GEOC layout (no frame id in any name)."""
    flat = flat_pairs(folder.parent / (folder.name + "_flat"))
    folder.mkdir(parents=True)
    for d1, d2 in PAIRS:
        d = folder / f"{d1}_{d2}"
        d.mkdir()
        for kind, tag in (("unw", "unw"), ("cc", "cc")):
            shutil.copy(flat / f"{d1}_{d2}_{tag}.tif", d / f"{d1}_{d2}.geo.{kind}.tif")
    if meta is not None:
        (folder / "metadata.txt").write_text(meta)
    return folder


def rsc_pairs(folder: Path, wavelength: str) -> Path:
    """A ROI_PAC folder: ``d1-d2.unw`` float32 binaries with ``.unw.rsc`` headers holding ``WAVELENGTH``."""
    folder.mkdir(parents=True)
    x0, dx, y0, dy = 10.0, 0.01, 20.0, -0.01  # GRID's corner and steps
    for d1, d2 in PAIRS:
        name = f"{d1}-{d2}.unw"
        np.full(GRID.shape, 0.5, "<f4").tofile(folder / name)
        (folder / f"{name}.rsc").write_text(
            f"WIDTH {GRID.width}\nFILE_LENGTH {GRID.height}\nX_FIRST {x0}\nY_FIRST {y0}\nX_STEP {dx}\n"
            f"Y_STEP {dy}\nWAVELENGTH {wavelength}\n")
    return folder


def run_ts(capsys: pytest.CaptureFixture[str], inp: Path, out: Path, *extra: str) -> tuple[int, str]:
    rc = main(["-q", "ts", str(inp), "-o", str(out), "--steps", "ingest", *extra])
    return rc, capsys.readouterr().err


def stack_wavelength(out: Path) -> float:
    return float(zarr.open_group(str(out / "stack.zarr"), mode="r").attrs["wavelength"])


# ---------------------------------------------------------------------------------------------
# refusals: each exits != 0 with one line naming the file (or option) and the fault
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("meta", "fragments"), [
    ("wavelength=23.6\n", ("metadata.txt", "wavelength", "centimetres", "0.236 m", "--wavelength")),
    ("wavelength=5.55\n", ("metadata.txt", "centimetres", "0.0555 m")),
    ("wavelength=abc\n", ("metadata.txt", "wavelength", "not a number")),
    ("wavelength=-0.0555\n", ("metadata.txt", "not a positive length")),
    ("wavelength=0\n", ("metadata.txt", "not a positive length")),
    ("wavelength=0.0001\n", ("metadata.txt", "outside the radar bands")),
    ("radar_frequency=abc\n", ("metadata.txt", "radar_frequency", "not a number")),
    ("radar_frequency=-5.405e9\n", ("metadata.txt", "radar_frequency", "not positive")),
    ("radar_frequency=5e13\n", ("metadata.txt", "radar_frequency", "outside the radar bands")),
    (None, ("no radar wavelength", "not a Sentinel-1 frame", "--wavelength 0.2362", "--freq 1.2575e9")),
])
def test_bad_or_missing_wavelength_in_the_input_is_refused(
        meta: str | None, fragments: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inp = flat_pairs(tmp_path / "in", meta)
    one_error_line(*run_ts(capsys, inp, tmp_path / "out"), *fragments)
    assert not (tmp_path / "out" / "stack.zarr").exists()


@pytest.mark.parametrize(("extra", "fragments"), [
    (("--wavelength", "23.6"), ("wavelength", "centimetres", "0.236 m")),
    (("--wavelength", "abc"), ("--wavelength", "not a number")),
    (("--wavelength=-1",), ("wavelength", "not a positive length")),
    (("--wavelength", "0"), ("wavelength", "not a positive length")),
    (("--wavelength", "1.2575e9"), ("wavelength", "frequency")),
    (("--freq", "abc"), ("--freq", "not a number")),
    (("--freq=-1.2e9",), ("--freq", "not positive")),
    (("--freq", "1e15"), ("--freq", "outside the radar bands")),
    (("--freq", "1.2575e9", "--wavelength", "0.0555"), ("--wavelength", "--freq", "disagree")),
])
def test_bad_wavelength_options_are_refused(extra: tuple[str, ...], fragments: tuple[str, ...], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    inp = flat_pairs(tmp_path / "in", "wavelength=0.0555\n")
    one_error_line(*run_ts(capsys, inp, tmp_path / "out", *extra), *fragments)
    assert not (tmp_path / "out" / "stack.zarr").exists()


def test_band_l_without_a_wavelength_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A LiCSAR GEOC folder without metadata counts as Sentinel-1; with --band L nothing is guessed."""
    geoc = licsar_geoc(tmp_path / "GEOC")
    one_error_line(*run_ts(capsys, geoc, tmp_path / "out", "--band", "L"), str(geoc), "--band L",
                   "--wavelength")
    rc, err = run_ts(capsys, geoc, tmp_path / "out2")  # C band: Sentinel-1 is the only LiCSAR sensor
    assert rc == 0, err
    assert stack_wavelength(tmp_path / "out2") == pytest.approx(S1_WAVELENGTH_M)


def test_bad_rsc_wavelength_names_the_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inp = rsc_pairs(tmp_path / "in", "23.6")
    one_error_line(*run_ts(capsys, inp, tmp_path / "out"), ".unw.rsc", "WAVELENGTH".lower(), "centimetres")


def test_bad_gamma_par_frequency_names_the_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inp = flat_pairs(tmp_path / "in")
    (inp / "20200101.mli.par").write_text("title: x\nradar_frequency:  five GHz\nheading: -10.0\n")
    one_error_line(*run_ts(capsys, inp, tmp_path / "out"), "20200101.mli.par", "radar_frequency", "not a number")


# ---------------------------------------------------------------------------------------------
# every format that carries the wavelength gives it
# ---------------------------------------------------------------------------------------------
def test_rsc_wavelength_is_read(tmp_path: Path) -> None:
    assert discover_inputs(rsc_pairs(tmp_path / "in", "0.2360571")).wavelength == pytest.approx(0.2360571)


def test_gamma_par_frequency_is_read(tmp_path: Path) -> None:
    inp = flat_pairs(tmp_path / "in")
    (inp / "20200101.mli.par").write_text("radar_frequency:  1.2575000e+09  Hz\nheading: -10.0\n")
    assert discover_inputs(inp).wavelength == pytest.approx(SPEED_OF_LIGHT / 1.2575e9)


def test_frame_id_in_names_means_sentinel1(tmp_path: Path) -> None:
    inp = flat_pairs(tmp_path / "in")
    write_geotiff(inp / "124D_04854_171313.geo.hgt.tif", np.zeros(GRID.shape, np.float32), GRID)
    found = discover_inputs(inp)
    assert found.wavelength == pytest.approx(S1_WAVELENGTH_M)
    assert "124D_04854_171313" in str(found.metadata["wavelength_source"])


def test_mexico_city_keeps_its_wavelength() -> None:
    """The real stack's GeoTIFF tags (used) and its GAMMA .par (5.405 GHz) agree within 0.1 %."""
    found = discover_inputs(bundled_real_stack())
    par = next((bundled_real_stack() / "headers").glob("*.par"))
    freq = float(next(ln for ln in par.read_text().splitlines() if ln.startswith("radar_frequency")).split()[1])
    assert found.wavelength == pytest.approx(SPEED_OF_LIGHT / freq, rel=1e-3)
    assert found.wavelength == pytest.approx(0.05550415767769124, rel=1e-9)


def test_freq_and_wavelength_agree(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   caplog: pytest.LogCaptureFixture) -> None:
    """--freq (Hz, or GHz below 1000) and --wavelength give the same run; an input's value is overridden
    with a warning."""
    inp = flat_pairs(tmp_path / "in", "wavelength=0.0555\n")
    want = SPEED_OF_LIGHT / 1.2575e9
    for i, extra in enumerate((("--freq", "1.2575e9"), ("--freq", "1.2575"), ("--wavelength", f"{want:.9f}"),
                               ("--freq", "1.2575e9", "--wavelength", "0.2384"))):
        rc, err = run_ts(capsys, inp, tmp_path / f"out{i}", "--band", "L", *extra)
        assert rc == 0, err
        assert stack_wavelength(tmp_path / f"out{i}") == pytest.approx(want, rel=1e-6)
        assert "overrides the input's 0.0555 m" in caplog.text  # a warning: -q shows it
        caplog.clear()


def test_new_wavelength_reruns_ingest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inp = flat_pairs(tmp_path / "in", "wavelength=0.0555\n")
    out = tmp_path / "out"
    assert run_ts(capsys, inp, out)[0] == 0
    assert stack_wavelength(out) == pytest.approx(0.0555)
    assert run_ts(capsys, inp, out, "--wavelength", "0.056")[0] == 0
    assert stack_wavelength(out) == pytest.approx(0.056)
    state = json.loads((out / "work" / "state.json").read_text())
    assert state["ingest"]["reads"]["wavelength"] == 0.056
    rc = main(["-q", "ts", "-o", str(out), "--steps", "ingest", "--wavelength", "0.057"])  # no input folder
    one_error_line(rc, capsys.readouterr().err, "ingest must run", "--wavelength", "give the input folder")


def test_l_band_input_with_c_band_thresholds_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    inp = flat_pairs(tmp_path / "in", f"wavelength={L_BAND}\n")
    rc, err = run_ts(capsys, inp, tmp_path / "out")
    assert rc == 0, err
    assert "is L band" in caplog.text and "--band L" in caplog.text
    caplog.clear()
    rc, err = run_ts(capsys, inp, tmp_path / "out2", "--band", "L")
    assert rc == 0, err
    assert "L band" not in caplog.text


# ---------------------------------------------------------------------------------------------
# an L-band frame gives true velocities (not 4.3 times too small)
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow  # ~20 s: a whole run
def test_l_band_frame_velocities_match_truth(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             no_figures: None) -> None:
    """A simulated ALOS-2-like frame (its metadata.txt says 0.2362 m) with a strong subsidence bowl. The
    slope of the run's velocity against the true one is 1 within 10 % (it would be 0.235 = 0.0555 / 0.2362
    with C band assumed) over every solved land pixel."""
    truth = simulate_frame(tmp_path / "sim", SimConfig(shape=(48, 48), n_epoch=16, interval_days=36,
                                                       wavelength=L_BAND, n_unw_errors=0, subsidence_rate=-300.0),
                           rng=4)
    out = tmp_path / "out"
    rc = main(["-q", "ts", str(tmp_path / "sim" / "GEOC"), "-o", str(out), "--band", "L"])
    assert rc == 0, capsys.readouterr().err
    assert stack_wavelength(out) == pytest.approx(L_BAND)
    run = open_run(out)
    acc = compare_with_truth(run, load_truth(tmp_path / "sim"))
    vel = run.read2d("vel")
    tv = np.asarray(truth.vel_fit, np.float64)
    ok = np.isfinite(vel) & np.isfinite(tv) & ~np.asarray(truth.water, bool)  # every solved land pixel
    assert ok.sum() > 0.5 * ok.size
    a, b = vel[ok] - vel[ok].mean(), tv[ok] - tv[ok].mean()
    slope = float(np.sum(a * b) / np.sum(b * b))
    assert 0.9 < slope < 1.1, (slope, acc)
    # the true velocities spread 28 mm/yr; the noise of this frame leaves ~6.5 mm/yr RMSE. A 4.3x scale
    # error would add 77 % of the spread (~21 mm/yr)
    assert acc.vel_rmse_all < 0.3 * float(np.std(b)), acc
