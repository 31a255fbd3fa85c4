"""``kansho plot-ts OUT --point LON,LAT``: the CSV holds cum.h5 at the pixel minus the reference, the PNG is
drawn, the model is the run's line, and a point off the frame or without data is one line."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from tests._shared import FinishedRun, one_error_line

from kansho._dates import decimal_year, years_since_first
from kansho.cli import main
from kansho.grid import Grid
from kansho.run import Run


def _cube(out: Path) -> dict[str, np.ndarray]:
    with h5py.File(out / "cum.h5", "r") as f:
        return {k: np.asarray(f[k][()]) for k in ("cum", "vel", "vintercept", "imdates")}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def _col(rows: list[dict[str, str]], name: str, point: int) -> np.ndarray:
    return np.array([float(r[name]) if r[name] else np.nan for r in rows if int(r["point"]) == point])


def _pixels(out: Path) -> tuple[Grid, np.ndarray, np.ndarray]:
    """The grid, the (row, col) of pixels with data at every epoch, and those with data at none."""
    cum = _cube(out)["cum"]
    full = np.argwhere(np.isfinite(cum).all(axis=0))
    empty = np.argwhere(~np.isfinite(cum).any(axis=0))
    return Run(out).grid, full, empty


def _plot(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["plot-ts", *args])
    o, e = capsys.readouterr()
    return rc, o, e


def test_csv_is_cum_at_the_pixel_minus_the_reference(small_run: FinishedRun, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = small_run.out
    g, full, _ = _pixels(out)
    lon, lat = g.lon(), g.lat()
    (r1, c1), (r2, c2) = full[len(full) // 3], full[2 * len(full) // 3]
    # a reference box of 4 x 3 pixels in lon/lat, given by the centres of its corner pixels
    rr, cc = full[len(full) // 2]
    rr, cc = min(rr, 55), min(cc, 55)
    ref = f"{lon[cc]:.6f}:{lon[cc + 3]:.6f}/{lat[rr + 2]:.6f}:{lat[rr]:.6f}"
    rc, text, err = _plot(capsys, str(out), f"--point={lon[c1]},{lat[r1]}", "--point", f"{lon[c2]},{lat[r2]}",
                          "--ref", ref, "-o", str(tmp_path / "ts"))
    assert rc == 0, err
    assert text.split() == ["png:", str(tmp_path / "ts.png"), "csv:", str(tmp_path / "ts.csv")]
    assert (tmp_path / "ts.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cube = _cube(out)
    box = cube["cum"][:, rr:rr + 3, cc:cc + 4].reshape(cube["cum"].shape[0], -1).astype(np.float64)
    box = box[:, np.isfinite(box).all(axis=0)]
    assert box.shape[1] > 0
    ref_series = box.mean(axis=1)
    rows = _rows(tmp_path / "ts.csv")
    assert len(rows) == 2 * cube["imdates"].size
    for k, (r, c) in enumerate(((r1, c1), (r2, c2)), start=1):
        got = _col(rows, "cum_mm", k)
        np.testing.assert_allclose(got, cube["cum"][:, r, c] - ref_series, atol=6e-5)  # 4 decimals written
        assert {(int(x["row"]), int(x["col"])) for x in rows if int(x["point"]) == k} == {(r, c)}
        assert [int(x["date"]) for x in rows if int(x["point"]) == k] == cube["imdates"].tolist()
        assert np.isfinite(_col(rows, "cum_filt_mm", k)).all()  # the run has cum_filt.h5


def test_model_is_the_runs_line_without_a_reference(small_run: FinishedRun, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = small_run.out
    g, full, _ = _pixels(out)
    r, c = full[len(full) // 4]
    rc, _, err = _plot(capsys, str(out), f"--point={g.lon()[c]},{g.lat()[r]}", "-o", str(tmp_path / "p"))
    assert rc == 0, err
    cube = _cube(out)
    rows = _rows(tmp_path / "p.csv")
    np.testing.assert_allclose(_col(rows, "cum_mm", 1), cube["cum"][:, r, c], atol=6e-5)  # the run's reference
    t = years_since_first(cube["imdates"])
    np.testing.assert_allclose(_col(rows, "model_mm", 1), cube["vel"][r, c] * t + cube["vintercept"][r, c],
                               atol=1e-3)
    np.testing.assert_allclose(_col(rows, "decimal_year", 1), decimal_year(cube["imdates"]), atol=1e-5)


def test_default_output_is_in_the_runs_plots(small_run: FinishedRun, copy_run: Callable[..., Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = copy_run(small_run)
    g, full, _ = _pixels(out)
    r, c = full[0]
    rc, text, err = _plot(capsys, str(out), f"--point={g.lon()[c]},{g.lat()[r]}")
    assert rc == 0, err
    assert str(out / "plots") in text
    name = f"ts_{g.lon()[c]:.5f}E_{g.lat()[r]:.5f}N"
    assert (out / "plots" / f"{name}.png").is_file() and (out / "plots" / f"{name}.csv").is_file()


def test_points_off_the_frame_or_without_data_are_one_line(small_run: FinishedRun, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = small_run.out
    g, _, empty = _pixels(out)
    rc, _, err = _plot(capsys, str(out), "--point", "-99.1,19.4", "-o", str(tmp_path / "x"))
    one_error_line(rc, err, str(out), "99.10000°W, 19.40000°N", "outside the run's frame")
    r, c = empty[0]
    rc, _, err = _plot(capsys, str(out), f"--point={g.lon()[c]},{g.lat()[r]}", "-o", str(tmp_path / "x"))
    one_error_line(rc, err, str(out), f"no data at pixel (row {r}, col {c})")
    rc, _, err = _plot(capsys, str(out), f"--point={g.lon()[5]},{g.lat()[5]}", "--ref", "1:2/3",
                       "-o", str(tmp_path / "x"))
    one_error_line(rc, err, "--ref 1:2/3")
    rc, _, err = _plot(capsys, str(tmp_path), "--point=139.0,36.0")
    one_error_line(rc, err, str(tmp_path), "no cum.h5")
    assert not list(tmp_path.glob("x.*"))


def test_decimal_years() -> None:
    np.testing.assert_allclose(decimal_year(np.array([20190101, 20200701, 20191231])),
                               [2019.0, 2020 + 182 / 366, 2019 + 364 / 365])


def test_reference_forms_agree(small_run: FinishedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same box in pixels (x1:x2/y1:y2) and in degrees gives the same series; a point reference is the
    pixel holding it."""
    out = small_run.out
    g, full, _ = _pixels(out)
    lon, lat = g.lon(), g.lat()
    r, c = full[len(full) // 2]
    inner = full[(full[:, 0] <= 56) & (full[:, 1] <= 56)]  # a 4 x 4 box from here fits in the 60 x 60 frame
    rr, cc = inner[len(inner) // 5]  # with data at every epoch: the point reference
    point = f"--point={lon[c]},{lat[r]}"
    forms = {"pixel": f"{cc}:{cc + 4}/{rr}:{rr + 4}",
             "degrees": f"{lon[cc]:.6f}/{lon[cc + 3]:.6f}/{lat[rr + 3]:.6f}/{lat[rr]:.6f}",
             "point": f"{lon[cc]},{lat[rr]}"}
    got = {}
    for name, ref in forms.items():
        rc, _, err = _plot(capsys, str(out), point, f"--ref={ref}", "-o", str(tmp_path / name))
        assert rc == 0, err
        got[name] = _col(_rows(tmp_path / f"{name}.csv"), "cum_mm", 1)
    np.testing.assert_array_equal(got["pixel"], got["degrees"])
    cum = _cube(out)["cum"].astype(np.float64)
    np.testing.assert_allclose(got["point"], cum[:, r, c] - cum[:, rr, cc], atol=6e-5)
    assert not np.allclose(got["point"], got["pixel"])  # the two references differ
