"""Names that are not valid UTF-8 (undecodable bytes, surrogate-escaped on POSIX) are never skipped silently.

A folder, a name with a date, a candidate raster or the input path itself is refused with a one-line
InputError rather than read: GDAL cannot open such a path, the name could not go into the run's UTF-8
tables and logs, and a silently skipped pair would change the results unnoticed. Any other such entry
(no date, not a folder) is left out with a warning.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kansho
from kansho.errors import InputError
from kansho.grid import Grid
from kansho.io.geotiff import write_geotiff
from kansho.io.inputs import discover_inputs
from kansho.io.pairnames import is_utf8, shown

GRID = Grid(8, 6, (10.0, 0.01, 0.0, 20.0, 0.0, -0.01))
PAIRS = [("20180101", "20180113"), ("20180113", "20180125"), ("20180101", "20180125"), ("20180125", "20180206")]
SRC = str(Path(kansho.__file__).resolve().parents[1])


def _odd(parent: Path, raw: bytes) -> Path:
    """``parent / raw`` as Python names it (surrogate escapes); skip where the file system refuses such names."""
    path = Path(os.fsdecode(os.fsencode(parent) + b"/" + raw))
    if is_utf8(str(path)):
        pytest.skip("this platform decodes every byte of a file name")
    return path


def _pair(folder: Path, name: str) -> None:
    folder.mkdir()
    write_geotiff(folder / f"{name}.geo.unw.tif", np.full(GRID.shape, 0.5, np.float32), GRID)
    write_geotiff(folder / f"{name}.geo.cc.tif", np.full(GRID.shape, 200, np.uint8), GRID)


def make_geoc(root: Path) -> Path:
    root.mkdir(parents=True)
    for d1, d2 in PAIRS:
        _pair(root / f"{d1}_{d2}", f"{d1}_{d2}")
    return root


def _refused(folder: Path, *fragments: str) -> str:
    with pytest.raises(InputError) as exc:
        discover_inputs(folder)
    msg = str(exc.value)
    assert "\n" not in msg
    assert "not valid UTF-8" in msg
    for frag in fragments:
        assert frag in msg, (frag, msg)
    return msg


def test_valid_geoc_is_read(tmp_path: Path) -> None:
    assert len(discover_inputs(make_geoc(tmp_path / "GEOC")).pairs) == len(PAIRS)


@pytest.mark.parametrize("raw", [b"20180206_20180218\xff", b"2018\xff0206_20180218", b"\xe9t\xe9"])
def test_pair_folder_with_undecodable_name_is_refused(tmp_path: Path, raw: bytes) -> None:
    geoc = make_geoc(tmp_path / "GEOC")
    odd = _odd(geoc, raw)
    try:
        odd.mkdir()
    except (OSError, UnicodeEncodeError):
        pytest.skip("the file system refuses names that are not UTF-8")
    msg = _refused(geoc, str(geoc), repr(raw))
    assert "\\udc" not in msg  # the bytes are shown, not Python's surrogate escapes


@pytest.mark.parametrize("where", ["GEOC", "parent"])
def test_undecodable_dateless_file_is_left_out_with_a_warning(tmp_path: Path, where: str,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    geoc = make_geoc(tmp_path / "GEOC")
    folder = geoc if where == "GEOC" else tmp_path
    _odd(folder, b"notes-\xe9t\xe9.txt").write_text("x")
    found = discover_inputs(tmp_path if where == "parent" else geoc)
    assert len(found.pairs) == len(PAIRS)
    assert repr(b"notes-\xe9t\xe9.txt") in caplog.text
    assert "not valid UTF-8" in caplog.text


def test_undecodable_file_with_dates_is_refused(tmp_path: Path) -> None:
    geoc = make_geoc(tmp_path / "GEOC")
    _odd(geoc, b"20180206_20180218\xff.txt").write_text("x")
    _refused(geoc, repr(b"20180206_20180218\xff.txt"))


def test_undecodable_file_inside_a_pair_folder_is_refused(tmp_path: Path) -> None:
    geoc = make_geoc(tmp_path / "GEOC")
    d1, d2 = PAIRS[0]
    folder = geoc / f"{d1}_{d2}"
    (folder / f"{d1}_{d2}.geo.unw.tif").rename(_odd(folder, b"x\xff.geo.unw.tif"))
    _refused(geoc, repr(b"x\xff.geo.unw.tif"))


def test_undecodable_geometry_file_is_refused(tmp_path: Path) -> None:
    geoc = make_geoc(tmp_path / "GEOC")
    tif = write_geotiff(geoc / "frame.geo.E.tif", np.zeros(GRID.shape, np.float32), GRID)
    tif.rename(_odd(geoc, b"fr\xffme.geo.E.tif"))  # GDAL cannot write to such a name either
    _refused(geoc, repr(b"fr\xffme.geo.E.tif"))


def test_undecodable_input_path_is_refused(tmp_path: Path) -> None:
    root = _odd(tmp_path, b"fr\xffme")
    make_geoc(tmp_path / "frame" / "GEOC")
    (tmp_path / "frame").rename(root)
    with pytest.raises(InputError) as exc:
        discover_inputs(root)
    assert "\n" not in str(exc.value)
    assert repr(os.fsencode(root)) in str(exc.value)


def test_cli_with_undecodable_input_path_gives_one_line_error(tmp_path: Path) -> None:
    root = _odd(tmp_path, b"fr\xffme")
    make_geoc(tmp_path / "frame" / "GEOC")
    (tmp_path / "frame").rename(root)
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    code = "import sys; from kansho.cli import main; sys.exit(main(sys.argv[1:]))"
    res = subprocess.run([sys.executable, "-c", code, "-q", "ts", os.fsencode(root), "-o", str(tmp_path / "out")],
                         env=env, capture_output=True, timeout=300)
    err = res.stderr.decode("utf-8", "backslashreplace")
    assert res.returncode == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kansho: error: "), err
    assert "not valid UTF-8" in lines[0]


def test_shown() -> None:
    assert shown("20180101_20180113") == "20180101_20180113"
    assert shown(os.fsdecode(b"a\xffb")) == repr(b"a\xffb")
