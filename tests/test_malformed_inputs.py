"""One table of malformed inputs across ``kansho ts``, ``download``, ``gnss``, ``view`` and ``export``.

Each case builds a tiny faulty input (or option), runs the command through :func:`kansho.cli.main`
in this process and asserts: a non-zero exit, exactly one line on stderr that starts with
``kansho: error:`` and names the file or the fault, no traceback, and no wrong output left (the
output folder is not created, or holds no new file). The viewer's cases go to its HTTP handler:
a 4xx with a one-line JSON error, never a 500.

The cases cover faults that other test files check one by one (tests/test_io_inputs.py,
tests/test_bad_values.py, tests/test_wavelength.py, tests/test_gnss_io.py, tests/test_download.py):
here they all go through the command line the same way, so a new fault is one more row.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine
from tests._shared import figures_skipped, one_error_line
from tests.test_wavelength import EPOCHS, GRID, PAIRS, flat_pairs, licsar_geoc

from kansho.cli import main
from kansho.io.geotiff import write_geotiff

S1 = "wavelength=0.0555\n"
#: the tiny run's metadata: with the angles, a constant LOS (the GNSS comparison needs one)
RUN_META = S1 + "avg_incidence_angle=39.0\nheading=-10.0\n"


@dataclass(frozen=True)
class Env:
    tmp: Path
    run: Path  # a finished tiny run (read-only)


#: a case: (environment) -> (argv without -q, the output folder or file it must not leave wrong)
Build = Callable[[Env], tuple[list[str], Path]]


def _ts(inp: Path, env: Env, *extra: str) -> tuple[list[str], Path]:
    out = env.tmp / "out"
    return ["ts", str(inp), "-o", str(out), *extra], out


def _good(env: Env, meta: str | None = S1) -> Path:
    return flat_pairs(env.tmp / "in", meta)


def _unw(inp: Path, k: int = 1) -> Path:
    d1, d2 = PAIRS[k]
    return inp / f"{d1}_{d2}_unw.tif"


def _rewrite(path: Path, data: np.ndarray, **profile: Any) -> None:
    prof = {"driver": "GTiff", "height": data.shape[-2], "width": data.shape[-1],
            "count": 1 if data.ndim == 2 else data.shape[0], "dtype": data.dtype, "crs": "EPSG:4326",
            "transform": Affine.from_gdal(*GRID.transform), **profile}
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(data if data.ndim == 3 else data[None])


def _ts_file_fault(fault: Callable[[Path], None], **kw: str) -> Build:
    def build(env: Env) -> tuple[list[str], Path]:
        inp = _good(env, kw.get("meta", S1))
        fault(inp)
        return _ts(inp, env)
    return build


def _ts_option(*extra: str, meta: str | None = S1) -> Build:
    return lambda env: _ts(_good(env, meta), env, *extra)


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def _truncate(p: Path) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])


def _other_shape(p: Path) -> None:
    write_geotiff(p, np.zeros((GRID.height + 2, GRID.width), np.float32), GRID.window(slice(0, GRID.height),
                                                                                     slice(0, GRID.width)))


TS: dict[str, tuple[Build, tuple[str, ...]]] = {
    "input folder missing": (lambda env: _ts(env.tmp / "nowhere", env), ("nowhere", "not found")),
    "input is a file": (lambda env: _ts(_write(env.tmp / "f.txt", "x"), env), ("f.txt", "not a folder")),
    "no pairs in the folder": (lambda env: _ts(_mkdir(env.tmp / "empty"), env), ("empty",)),
    "unw is not a GeoTIFF": (_ts_file_fault(lambda d: _write(_unw(d), b"garbage" * 40)), ("_unw.tif",)),
    "truncated unw": (_ts_file_fault(lambda d: _truncate(_unw(d))), ("_unw.tif",)),
    "reversed dates": (_ts_file_fault(lambda d: _write(d / f"{EPOCHS[3]}_{EPOCHS[1]}_unw.tif", _unw(d).read_bytes())),
                       (f"{EPOCHS[3]}_{EPOCHS[1]}",)),
    "impossible calendar date": (_ts_file_fault(lambda d: _write(d / "20201301_20201320_unw.tif",
                                                                 _unw(d).read_bytes())), ("20201301",)),
    "complex interferogram": (_ts_file_fault(lambda d: _rewrite(_unw(d), np.ones(GRID.shape, np.complex64))),
                              ("_unw.tif", "complex")),
    "two-band unw": (_ts_file_fault(lambda d: _rewrite(_unw(d), np.ones((2, *GRID.shape), np.float32))),
                     ("_unw.tif",)),
    "coherence out of range": (_ts_file_fault(lambda d: _rewrite(d / f"{PAIRS[1][0]}_{PAIRS[1][1]}_cc.tif",
                                                                 np.full(GRID.shape, 5.0, np.float32))),
                               ("_cc.tif",)),
    "undeclared inf in unw": (_ts_file_fault(lambda d: _rewrite(_unw(d), np.full(GRID.shape, np.inf, np.float32))),
                              ("_unw.tif",)),
    "one pair lacks coherence": (_ts_file_fault(lambda d: (d / f"{PAIRS[2][0]}_{PAIRS[2][1]}_cc.tif").unlink()),
                                 (f"{PAIRS[2][0]}",)),
    "wavelength in cm": (_ts_option(meta="wavelength=23.6\n"), ("metadata.txt", "centimetres")),
    "wavelength not a number": (_ts_option(meta="wavelength=abc\n"), ("metadata.txt", "not a number")),
    "wavelength negative": (_ts_option(meta="wavelength=-0.05\n"), ("metadata.txt", "positive")),
    "no wavelength anywhere": (_ts_option(meta=None), ("no radar wavelength", "--wavelength")),
    "--band L without a wavelength": (lambda env: _ts(licsar_geoc(env.tmp / "GEOC"), env, "--band", "L"),
                                      ("--band L", "--wavelength")),
    "--wavelength in cm": (_ts_option("--wavelength", "23.6"), ("wavelength", "centimetres")),
    "--freq not a number": (_ts_option("--freq", "L-band"), ("--freq", "not a number")),
    "--memory-limit unreadable": (_ts_option("--memory-limit", "lots"), ("lots",)),
    "--config missing": (lambda env: _ts(_good(env), env, "--config", str(env.tmp / "no.yaml")), ("no.yaml",)),
    "--config not YAML": (lambda env: _ts(_good(env), env, "--config", str(_write(env.tmp / "c.yaml", "a: [1,\n"))),
                          ("c.yaml", "YAML")),
    "--config unknown option": (lambda env: _ts(_good(env), env, "--config",
                                                str(_write(env.tmp / "c.yaml", "invert:\n  gamma_x: 1\n"))),
                                ("gamma_x",)),
    "--ref malformed": (_ts_option("--ref", "1:2/3"), ("1:2/3",)),
    "--steps unknown": (_ts_option("--steps", "ingest,nope"), ("nope",)),
    "-o is a file": (lambda env: (["ts", str(_good(env)), "-o", str(_write(env.tmp / "o.txt", "keep"))],
                                  env.tmp / "o.txt"), ("o.txt", "file")),
    "-o not UTF-8": (lambda env: _ts(_good(env), env, "-o", str(env.tmp / "o\udcff")), ("UTF-8",)),
    "baselines malformed": (_ts_file_fault(lambda d: _write(d / "baselines", "20200101 x y z\n")), ("baselines",)),
    "--nlook 0": (_ts_option("--nlook", "0"), ("nlook",)),
    "--gacos folder missing": (_ts_option("--gacos", "/nonexistent/gacos"), ("gacos",)),
}


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True)
    return p


def _dl(*extra: str) -> Build:
    return lambda env: (["download", *extra, "-o", str(env.tmp / "dl"), "--base-url", str(env.tmp / "mirror")],
                        env.tmp / "dl")


DOWNLOAD: dict[str, tuple[Build, tuple[str, ...]]] = {
    "frame id malformed": (_dl("12D_1_2"), ("invalid LiCSAR frame id",)),
    "frame id wrong direction letter": (_dl("124X_04854_171313"), ("124X_04854_171313",)),
    "start not a date": (_dl("124D_04854_171313", "--start", "2020-13-01"), ("2020-13-01",)),
    "start after end": (_dl("124D_04854_171313", "--start", "20200301", "--end", "20200101"), ("20200301",)),
    "local mirror missing": (_dl("124D_04854_171313"), ("mirror",)),
}


def _gnss(stations: Callable[[Env], Path], *extra: str, run: Callable[[Env], Path] | None = None) -> Build:
    def build(env: Env) -> tuple[list[str], Path]:
        r = run(env) if run is not None else env.run
        return ["gnss", "compare", str(r), str(stations(env)), "-o", str(env.tmp / "g"), *extra], env.tmp / "g"
    return build


def _stations(env: Env) -> Path:
    lon, lat = GRID.lon()[5], GRID.lat()[5]
    return _write(env.tmp / "st.csv", f"name,lon,lat,ve,vn,vu\nAAAA,{lon},{lat},1,2,3\n")


GNSS: dict[str, tuple[Build, tuple[str, ...]]] = {
    "run folder missing": (_gnss(_stations, run=lambda env: env.tmp / "norun"), ("norun",)),
    "stations file missing": (_gnss(lambda env: env.tmp / "none.csv"), ("none.csv", "not found")),
    "stations csv lacks vn": (_gnss(lambda env: _write(env.tmp / "b.csv", "name,lon,lat,ve\nA,1,2,3\n")),
                              ("b.csv", "vn")),
    "stations csv value not a number": (_gnss(lambda env: _write(env.tmp / "b.csv",
                                                                 "name,lon,lat,ve,vn\nA,1,2,x,3\n")),
                                        ("b.csv", "not a number")),
    "tenv3 with too few columns": (_gnss(lambda env: _write(env.tmp / "b.tenv3", "LHAS 95MAY19 1995.3785 49856\n")),
                                   ("b.tenv3", "columns")),
    "--offset malformed": (_gnss(_stations, "--offset", "AAAA:2020"), ("AAAA:2020",)),
}


def _export(*args: str, run: Callable[[Env], Path] | None = None) -> Build:
    def build(env: Env) -> tuple[list[str], Path]:
        r = run(env) if run is not None else env.run
        return ["export", str(r), *args, "-o", str(env.tmp / "x")], env.tmp / "x"
    return build


EXPORT: dict[str, tuple[Build, tuple[str, ...]]] = {
    "run folder missing": (_export("-f", "cog", run=lambda env: env.tmp / "norun"), ("norun",)),
    "folder is not a run": (_export("-f", "cog", run=lambda env: _mkdir(env.tmp / "notrun")), ("notrun",)),
    "unknown format": (_export("-f", "shapefile"), ("shapefile",)),
    "kmz layer missing": (_export("-f", "kmz", "--layer", "nope"), ("nope",)),
    "csv point outside the frame": (_export("-f", "csv", "--point", "100,60"), ("100",)),
    "csv pixel outside the frame": (_export("-f", "csv", "--pixel", "9999,0"), ("9999",)),
}

VIEW: dict[str, tuple[Build, tuple[str, ...]]] = {
    "run folder missing": (lambda env: (["view", str(env.tmp / "norun"), "--port", "0"], env.tmp / "norun"),
                           ("norun",)),
    "folder is not a run": (lambda env: (["view", str(_mkdir(env.tmp / "notrun")), "--port", "0"],
                                         env.tmp / "notrun"), ("notrun",)),
}

#: requests to the viewer of the tiny run: each a 4xx with a one-line JSON error
VIEW_REQUESTS = ["/api/pixel?row=abc&col=1", "/api/pixel?row=99999&col=0", "/api/map.png?epoch=-1",
                 "/api/map.png?vmin=5&vmax=1", "/api/ts.csv?lon=1e308&lat=0", "/files/../../etc/passwd"]

CASES = {f"{cmd} | {name}": case for cmd, table in (("ts", TS), ("download", DOWNLOAD), ("gnss", GNSS),
                                                    ("export", EXPORT), ("view", VIEW)) for name, case in
         table.items()}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of the tiny flat frame (12 x 10 px, 6 epochs), maxTlen threshold low enough to keep pixels."""
    from kansho import run_timeseries
    from kansho.config import load_config

    d = tmp_path_factory.mktemp("tiny_run")
    with figures_skipped():
        run_timeseries(flat_pairs(d / "in", RUN_META), d / "out", load_config(None, {"mask.maxTlen": 0.1}),
                       progress=False)
    return d / "out"


def _files(p: Path) -> dict[Path, bytes] | None:
    if not p.exists():
        return None
    if p.is_file():
        return {p: p.read_bytes()}
    return {f: b"" for f in p.rglob("*") if f.is_file()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_input_is_one_line_and_leaves_nothing_wrong(case: str, tmp_path: Path, tiny_run: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    build, needles = CASES[case]
    argv, out = build(Env(tmp_path, tiny_run))
    before = _files(out)
    capsys.readouterr()
    try:
        rc = main(["-q", *argv])
    except SystemExit as exc:          # refused while parsing the command line (argparse exits)
        rc = int(exc.code or 0)
    one_error_line(rc, capsys.readouterr().err, *needles)
    assert _files(out) == before, f"{out} changed"


@pytest.fixture(scope="module")
def viewer(tiny_run: Path) -> Iterator[int]:
    from kansho.viewer import serve_in_thread

    srv, url = serve_in_thread(tiny_run)
    yield int(url.rsplit(":", 1)[1])
    srv.shutdown()
    srv.server_close()
    srv.app.run.close()


@pytest.mark.parametrize("path", VIEW_REQUESTS)
def test_malformed_viewer_request_is_a_one_line_4xx(path: str, viewer: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", viewer, timeout=20)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        status, body = r.status, r.read()
    finally:
        conn.close()
    assert 400 <= status < 500, (path, status, body[:300])
    msg = json.loads(body)["error"]
    assert msg and "\n" not in msg and "Traceback" not in msg


def test_the_table_has_at_least_forty_cases() -> None:
    assert len(CASES) + len(VIEW_REQUESTS) >= 40
