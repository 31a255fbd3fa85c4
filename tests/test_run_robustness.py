"""A run that cannot go on stops with one line and leaves nothing wrong behind: a full disk, a
non-UTF-8 output path, an input error (no empty folders left), an unreachable scheduler (checked
before ingest) and a local dask cluster whose workers die while starting."""

from __future__ import annotations

import errno
import shutil
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.test_wavelength import flat_pairs, one_error_line

from kansho import _files
from kansho.cli import main
from kansho.errors import ConfigError


def run_ts(capsys: pytest.CaptureFixture[str], inp: Path, out: Path, *extra: str) -> tuple[int, str]:
    rc = main(["-q", "ts", str(inp), "-o", str(out), *extra])
    return rc, capsys.readouterr().err


@pytest.fixture
def inp(tmp_path: Path, no_figures: None) -> Path:
    return flat_pairs(tmp_path / "in", "wavelength=0.0555\n")


def _enospc(*_: Any, **__: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def _leftovers(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.name.endswith((".tmp", ".partial"))] if out.exists() else []


# ---------------------------------------------------------------------------------------------
# full disk
# ---------------------------------------------------------------------------------------------
def test_atomic_write_on_a_full_disk_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")

    def half(self: Path, data: bytes) -> int:  # writes part of the file, then the disk is full
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", half)
    with pytest.raises(_files.DiskFullError) as exc:
        _files.write_text_atomic(target, "x" * 5000)
    msg = str(exc.value)
    assert "\n" not in msg and str(tmp_path) in msg and "no space left" in msg and "5.0 kB needed" in msg
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary file left


def test_full_disk_while_recording_a_step(inp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The step's record (work/state.json) cannot be written: one line naming the run folder; no record,
    so the next run does the step again."""
    monkeypatch.setattr(_files.os, "replace", _enospc)
    out = tmp_path / "out"
    one_error_line(*run_ts(capsys, inp, out, "--steps", "ingest"), str(out), "no space left", "free")
    assert not (out / "work" / "state.json").exists()
    assert not _leftovers(out)


def test_full_disk_while_writing_the_stack(inp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import zarr.storage

    monkeypatch.setattr(zarr.storage.LocalStore, "set", lambda *a, **k: _enospc())
    out = tmp_path / "out"
    one_error_line(*run_ts(capsys, inp, out, "--steps", "ingest"), str(out), "no space left")
    assert not (out / "stack.zarr").exists() and not _leftovers(out)


def test_a_geotiff_on_a_full_disk_is_one_line_and_leaves_no_partial_file(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """GDAL says only "Write failed" where the disk is full (libtiff's ENOSPC goes to its own message): the space
    left tells it (a 25-million-pixel frame's run filled a disk so, and stopped with a RasterioIOError, its
    partial GeoTIFF left behind). With room left, the same error is not taken for a full disk."""
    import rasterio
    from rasterio.errors import RasterioIOError

    from kansho.grid import Grid
    from kansho.io import geotiff

    grid = Grid(300, 200, (0.001, 0.0, 130.0, 0.0, -0.001, 35.0))
    data = np.zeros(grid.shape, np.float32)
    real_open = rasterio.open

    def failing_open(path: Any, mode: str = "r", **kw: Any) -> Any:
        if mode != "w":
            return real_open(path, mode, **kw)
        Path(path).write_bytes(b"x" * 1000)  # the partial file
        raise RasterioIOError("Write failed. See previous exception for details.")

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(geotiff.rasterio, "open", failing_open)
    monkeypatch.setattr(_files.shutil, "disk_usage", lambda p: usage._replace(free=512))
    with pytest.raises(_files.DiskFullError) as exc:
        geotiff.write_geotiff(tmp_path / "vel.tif", data, grid)
    msg = str(exc.value)
    assert "\n" not in msg and "no space left" in msg and "vel.tif" in msg and "512 bytes free" in msg
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(_files.shutil, "disk_usage", lambda p: usage._replace(free=10**10))
    with pytest.raises(RasterioIOError, match="Write failed"):
        geotiff.write_geotiff(tmp_path / "vel.tif", data, grid)
    assert list(tmp_path.iterdir()) == []


def test_full_disk_while_writing_cum_h5_is_one_line(inp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """HDF5 reports a full disk as a RuntimeError (from h5py), and its objects complain again as they are freed
    ("Exception ignored in ...", a traceback each): one line all the same, naming the run folder."""
    from kansho.chain.steps import outputs

    class Unflushed:  # an h5py object freed after its file could not be flushed
        def __del__(self) -> None:
            raise OSError(errno.ENOSPC, "Driver write request failed (errno = 28, error message = 'No space left "
                                        "on device')")

    def full(path: Path, **_: Any) -> None:
        obj = Unflushed()
        del obj
        raise RuntimeError("Disable slist on flush dest failure failed (file write failed: errno = 28, error "
                           f"message = 'No space left on device', filename = '{path}')")

    monkeypatch.setattr(outputs, "write_cum_h5", full)
    out = tmp_path / "out"
    one_error_line(*run_ts(capsys, inp, out), str(out), "no space left", "free")


def test_an_interruption_during_a_full_disk_stays_an_interruption(inp: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while a full disk's error is handled: the run says it was interrupted (exit 130, resume by running
    the same command), not that the disk is full."""
    from kansho.chain.steps import outputs

    def interrupted(*_: Any, **__: Any) -> None:
        try:
            _enospc()
        except OSError:
            raise KeyboardInterrupt from None

    monkeypatch.setattr(outputs, "write_cum_h5", interrupted)
    rc, err = run_ts(capsys, inp, tmp_path / "out")
    assert rc == 130 and "interrupted" in err and "no space" not in err, err


# ---------------------------------------------------------------------------------------------
# paths
# ---------------------------------------------------------------------------------------------
def test_non_utf8_output_path_is_one_line(inp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out\udcff"  # the surrogate escape of the byte 0xff in a POSIX argv
    one_error_line(*run_ts(capsys, inp, out), "-o/--out", "not valid UTF-8", "\\udcff")
    assert [p.name for p in tmp_path.iterdir()] == ["in"]


@pytest.mark.parametrize("existing", [False, True])
def test_input_error_leaves_no_empty_folders(existing: bool, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = flat_pairs(tmp_path / "in", "wavelength=23.6\n")
    out = tmp_path / "a" / "b" / "out"
    if existing:
        out.mkdir(parents=True)
    one_error_line(*run_ts(capsys, bad, out), "centimetres")
    if existing:
        assert out.is_dir() and not any(out.iterdir())  # as it was: no empty work/
    else:
        assert not (tmp_path / "a").exists()  # nothing created is left


def test_input_error_keeps_a_previous_run(inp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert run_ts(capsys, inp, out, "--steps", "ingest")[0] == 0
    state = (out / "work" / "state.json").read_bytes()
    one_error_line(*run_ts(capsys, inp, out, "--wavelength", "23.6"), "centimetres")
    assert (out / "work" / "state.json").read_bytes() == state and (out / "stack.zarr").is_dir()


# ---------------------------------------------------------------------------------------------
# parallel execution
# ---------------------------------------------------------------------------------------------
def test_unreachable_scheduler_is_checked_before_ingest(inp: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import kansho.chain.steps.ingest
    import kansho.parallel

    monkeypatch.setattr(kansho.parallel, "SCHEDULER_CONNECT_TIMEOUT_S", 1.0)

    def no_ingest(*_: Any) -> None:
        raise AssertionError("the input was read before the scheduler was checked")

    monkeypatch.setattr(kansho.chain.steps.ingest, "discover_inputs", no_ingest)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    out = tmp_path / "out"
    one_error_line(*run_ts(capsys, inp, out, "--scheduler", address), address, "cannot connect")
    assert not out.exists()


def test_workers_that_die_while_starting_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import distributed

    from kansho.parallel import cluster

    class Dying:
        def __init__(self, **_: Any) -> None:
            raise RuntimeError("Nanny failed to start.\nmore lines of the worker's traceback")

    monkeypatch.setattr(distributed, "LocalCluster", Dying)
    with pytest.raises(ConfigError) as exc, cluster(2):
        pass
    msg = str(exc.value)
    assert "\n" not in msg and "Nanny failed to start" in msg and "--workers" in msg
