"""Bad input values are refused with one line naming the file, never accepted into wrong products (issue 18 §6).

Each test builds a small LiCSAR GEOC folder (five epochs, a few pairs, 12 x 10 pixels) with one
fault, runs ``kansho ts`` through :func:`kansho.cli.main`, and checks the exit code, that stderr
ends with one ``kansho: error:`` line naming the faulty file, that no traceback is printed, and that
no product holds an infinite value. A valid copy of the same folder runs through.
"""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine
from tests._shared import one_error_line

from kansho.cli import main
from kansho.config import RunConfig, load_config
from kansho.errors import ConfigError
from kansho.grid import Grid
from kansho.io.geotiff import write_geotiff

GRID = Grid(12, 10, (10.0, 0.01, 0.0, 20.0, 0.0, -0.01))
EPOCHS = ["20180101", "20180113", "20180125", "20180206", "20180218"]
PAIRS = [(EPOCHS[i], EPOCHS[j]) for i in range(len(EPOCHS)) for j in range(i + 1, min(i + 3, len(EPOCHS)))]
RATE = 0.02  # rad / day everywhere (plus a little noise): a network that inverts cleanly


def _day(d: str) -> int:
    return int(np.datetime64(f"{d[:4]}-{d[4:6]}-{d[6:]}").astype(int))


def make_geoc(root: Path) -> Path:
    """A valid LiCSAR GEOC folder: float32 unw (radians) and uint8 cc per pair, plus E/N/U/hgt."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for d1, d2 in PAIRS:
        name = f"{d1}_{d2}"
        (root / name).mkdir()
        unw = (RATE * (_day(d2) - _day(d1)) + 0.05 * rng.standard_normal(GRID.shape)).astype(np.float32)
        write_geotiff(root / name / f"{name}.geo.unw.tif", unw, GRID)
        write_geotiff(root / name / f"{name}.geo.cc.tif", np.full(GRID.shape, 200, np.uint8), GRID, nodata=0)
    for key, val in (("E", -0.6), ("N", -0.1), ("U", 0.77), ("hgt", 100.0)):
        write_geotiff(root / f"frame.geo.{key}.tif", np.full(GRID.shape, val, np.float32), GRID)
    return root


def _pair_file(geoc: Path, k: int = 1, kind: str = "unw") -> Path:
    d1, d2 = PAIRS[k]
    return geoc / f"{d1}_{d2}" / f"{d1}_{d2}.geo.{kind}.tif"


def _write_raw(path: Path, data: np.ndarray, *, nodata: float | None = None) -> None:
    """Overwrite ``path`` with ``data`` (bands, y, x) of any dtype, on :data:`GRID`."""
    data = data if data.ndim == 3 else data[None]
    profile = {"driver": "GTiff", "width": GRID.width, "height": GRID.height, "count": data.shape[0],
               "dtype": data.dtype.name, "crs": GRID.crs, "transform": Affine.from_gdal(*GRID.transform)}
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def run_ts(capsys: pytest.CaptureFixture[str], geoc: Path, out: Path, *extra: str) -> tuple[int, str]:
    rc = main(["-q", "ts", str(geoc), "-o", str(out), *extra])
    return rc, capsys.readouterr().err


def assert_refused(rc: int, err: str, out: Path, *fragments: str) -> str:
    """Non-zero exit, one error line holding ``fragments``, no traceback, no inf anywhere."""
    line = one_error_line(rc, err, *fragments)
    assert not (out / "stack.zarr.partial").exists()
    for tif in out.rglob("*.tif") if out.exists() else []:
        assert not np.isinf(_read(tif)).any(), tif
    return line


@pytest.fixture
def geoc(tmp_path: Path, no_figures: None) -> Path:
    return make_geoc(tmp_path / "GEOC")


def test_complex_interferogram_is_refused(geoc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _pair_file(geoc)
    _write_raw(f, (_read(f) + 1j * _read(f)).astype(np.complex64))
    rc, err = run_ts(capsys, geoc, tmp_path / "out")
    assert_refused(rc, err, tmp_path / "out", f.name, "complex", "unwrapped phase")


@pytest.mark.parametrize("kind", ["unw", "cc"])
def test_multiband_file_is_refused(kind: str, geoc: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    f = _pair_file(geoc, 2, kind)
    band = _read(f)
    _write_raw(f, np.stack([band, band]))
    rc, err = run_ts(capsys, geoc, tmp_path / "out")
    assert_refused(rc, err, tmp_path / "out", f.name, "2 bands")


def test_float_coherence_out_of_range_is_refused(geoc: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    f = _pair_file(geoc, 3, "cc")
    cc = np.full(GRID.shape, 0.8, np.float32)
    cc[2, 3] = 7.5
    _write_raw(f, cc)
    rc, err = run_ts(capsys, geoc, tmp_path / "out")
    assert_refused(rc, err, tmp_path / "out", f.name, "7.5", "[0, 1]")


def test_float_coherence_in_range_and_uint8_are_accepted(geoc: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Float coherence 0-1 is taken as is, uint8 is scaled by 255 (even where all 0 or 1): one stack either way."""
    from kansho.store import open_stack

    low = _pair_file(geoc, 0, "cc")  # uint8 coherence 1 is 1/255, not 1.0, though no value exceeds 1
    write_geotiff(low, np.ones(GRID.shape, np.uint8), GRID, nodata=0)
    rc, err = run_ts(capsys, geoc, tmp_path / "uint8")
    assert rc == 0, err
    coh_u8 = open_stack(tmp_path / "uint8").read("coh", slice(0, 10), slice(0, 12))
    for k, (d1, d2) in enumerate(PAIRS):
        f = geoc / f"{d1}_{d2}" / f"{d1}_{d2}.geo.cc.tif"
        write_geotiff(f, np.full(GRID.shape, (1 if k == 0 else 200) / 255, np.float32), GRID)
    rc, err = run_ts(capsys, geoc, tmp_path / "float")
    assert rc == 0, err
    coh = open_stack(tmp_path / "float").read("coh", slice(0, 10), slice(0, 12))
    np.testing.assert_allclose(coh, coh_u8, rtol=1e-6)
    expected = np.full(len(PAIRS), 200 / 255)
    expected[0] = 1 / 255  # pairs are stored in (date2, date1) order: PAIRS[0] stays first
    np.testing.assert_allclose(coh[:, 0, 0], expected, rtol=1e-6)


def test_undeclared_sentinel_is_refused(geoc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for k in range(len(PAIRS)):
        f = _pair_file(geoc, k)
        unw = _read(f)
        unw[0, :4] = 3e38
        _write_raw(f, unw)
    rc, err = run_ts(capsys, geoc, tmp_path / "out")
    assert_refused(rc, err, tmp_path / "out", _pair_file(geoc, 0).name, "3e+38", "nodata")


@pytest.mark.parametrize("value", [3e38, np.inf])
def test_declared_sentinel_is_no_data(value: float, geoc: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from kansho.store import open_stack

    for k in range(len(PAIRS)):
        f = _pair_file(geoc, k)
        unw = _read(f)
        unw[0, :4] = value
        _write_raw(f, unw, nodata=value)
    rc, err = run_ts(capsys, geoc, tmp_path / "out")
    assert rc == 0, err
    unw = open_stack(tmp_path / "out").read("unw", slice(0, 1), slice(0, 12))
    assert np.isnan(unw[:, 0, :4]).all() and np.isfinite(unw[:, 0, 4:]).all()
    for tif in (tmp_path / "out").rglob("*.tif"):
        assert not np.isinf(_read(tif)).any(), tif


def test_undeclared_inf_is_refused(geoc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _pair_file(geoc, 4)
    unw = _read(f)
    unw[5, 5] = -np.inf
    _write_raw(f, unw)
    rc, err = run_ts(capsys, geoc, tmp_path / "out")
    assert_refused(rc, err, tmp_path / "out", f.name, "inf")


def test_bad_memory_limit_fails_at_once(geoc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("lots", "-5GB", "1e999", "GB"):
        with pytest.raises(ConfigError, match=r"option memory_limit: .*(cannot read|negative)") as exc:
            load_config(None, {"memory_limit": bad})
        assert "Value error" not in str(exc.value)
    assert RunConfig(memory_limit="6GB").memory_limit == "6GB"
    rc, err = run_ts(capsys, geoc, tmp_path / "out", "--memory-limit", "lots")
    line = assert_refused(rc, err, tmp_path / "out", "memory_limit", "lots")
    assert "6GB" in line
    assert not (tmp_path / "out").exists()


def test_unreachable_scheduler_is_one_line(geoc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import kansho.parallel

    monkeypatch.setattr(kansho.parallel, "SCHEDULER_CONNECT_TIMEOUT_S", 2.0)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    rc, err = run_ts(capsys, geoc, tmp_path / "out", "--scheduler", address)
    assert_refused(rc, err, tmp_path / "out", address)


def test_failed_ingest_leaves_no_partial_store(geoc: Path, tmp_path: Path) -> None:
    from kansho.errors import InputError
    from kansho.io.inputs import discover_inputs
    from kansho.store import create_stack

    f = _pair_file(geoc, len(PAIRS) - 1)
    _write_raw(f, (_read(f) * (1 + 0j)).astype(np.complex64))
    with pytest.raises(InputError, match="complex"):
        create_stack(discover_inputs(geoc), tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "stack.zarr.partial").exists()
    assert not (tmp_path / "out" / "stack.zarr").exists()


def test_frame_beyond_the_machine_is_refused_before_it_is_read(geoc: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A frame whose frame-wide steps need more memory than the machine has (here: a machine of one byte less
    than the 12 x 10 px frame's need) is refused at once, naming the input and a multilook that fits, before a
    stack store is written; the same frame with its need within the machine runs."""
    from kansho.chain import budget

    monkeypatch.setattr(budget, "FRAME_BYTES_LEAST", 10e6)  # 120 px: 1.2 GB beside the process's 0.4 GB
    need = budget.frame_need(GRID.shape)
    monkeypatch.setattr(budget, "usable_memory", lambda: int(need) - 1)
    rc, err = run_ts(capsys, geoc, tmp_path / "out")
    # multilooked by 2 (6 x 5 px): 0.7 GB, within the 1.2 GB that 80 % of the machine holds
    assert_refused(rc, err, tmp_path / "out", str(geoc), "12 x 10 px", "about 1.6 GB", "this machine lets it use",
                   "--nlook 2", "--clip-box")
    assert not (tmp_path / "out" / "stack.zarr").exists()
    monkeypatch.setattr(budget, "usable_memory", lambda: int(need) + 1)
    rc, err = run_ts(capsys, geoc, tmp_path / "ok")
    assert rc == 0, err


def test_frame_beyond_the_budget_is_said_once(geoc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """A frame whose frame-wide steps need more than ``--memory-limit`` (made so by counting 10 MB a pixel) runs
    past the budget with one warning that says by how much and how to stay within it (in the run's log too); a
    run resumed after its ingest says it again, once."""
    import logging

    from kansho.chain import budget

    monkeypatch.setattr(budget, "FRAME_BYTES_LEAST", 10e6)  # 120 px: 1.2 GB beside the process's 0.4 GB
    monkeypatch.setattr(budget, "usable_memory", lambda: 64 * 10**9)

    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and "frame-wide" in r.getMessage()]

    with caplog.at_level(logging.WARNING, logger="kansho"):
        rc, err = run_ts(capsys, geoc, tmp_path / "out", "--memory-limit", "1GB")
        assert rc == 0, err
        assert len(said()) == 1, said()
        line = said()[0]
        assert "12 x 10 px" in line and "about 1.6 GB" in line and "the 1.0 GB memory budget" in line, line
        assert "--memory-limit 2GB" in line and "--nlook 2" in line, line
        assert line in (tmp_path / "out" / "kansho.log").read_text()
        caplog.clear()
        rc, err = run_ts(capsys, geoc, tmp_path / "out", "--memory-limit", "1GB", "--steps", "mask,filter", "--force")
        assert rc == 0 and len(said()) == 1, (err, said())
