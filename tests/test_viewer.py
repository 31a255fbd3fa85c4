"""The viewer's HTTP API on a simulated run: time series against cum.h5 and the simulated truth,
re-referencing, maps, errors for bad pixels, refusal of paths outside the run folder, CLI."""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from tests._shared import SMALL_FRAME, FinishedRun

from kansho._dates import decimal_year, years_since_first
from kansho.io.geotiff import read_raster
from kansho.render import colormap_lut, colourize, decimation_step, hillshade
from kansho.viewer import ViewerError, safe_path, serve_in_thread
from kansho.viewer.model import pixel_model

SHAPE = SMALL_FRAME.shape


@pytest.fixture(scope="module")
def run(small_run: FinishedRun, tmp_path_factory: pytest.TempPathFactory) -> Any:
    d = tmp_path_factory.mktemp("viewer")
    out = d / "run"
    shutil.copytree(small_run.out, out)  # a private copy: a test links a file into the run folder
    ctx, truth = small_run.ctx, small_run.truth
    (d / "secret.txt").write_text("TOP-SECRET")
    srv, url = serve_in_thread(out)
    yield ctx, truth, out, srv, url
    srv.shutdown()
    srv.server_close()


def _get(url: str, path: str) -> tuple[int, bytes, dict[str, str]]:
    """GET ``path`` sent verbatim (no client-side normalisation of ``..``)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    hdr = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    return r.status, body, hdr


def _json(url: str, path: str) -> tuple[int, Any]:
    status, body, hdr = _get(url, path)
    assert hdr["content-type"].startswith("application/json"), (path, hdr)
    return status, json.loads(body)


def _truth_series(ctx: Any, truth: Any, row: int, col: int) -> np.ndarray:
    """True displacement of a pixel on the run's epochs, relative to the first epoch and to the
    run's reference area (what cum.h5 estimates)."""
    epochs = np.asarray(ctx.result("loops").epochs)
    r0, r1, c0, c1 = ctx.result("loops").ref
    pos = {int(e): i for i, e in enumerate(truth.epochs)}
    tc = np.asarray(truth.cum, np.float64)[[pos[int(e)] for e in epochs]]
    tc = tc - tc[0]
    return tc[:, row, col] - tc[:, r0:r1, c0:c1].mean(axis=(1, 2))


def _bowl_pixel(out: Path, truth: Any) -> tuple[int, int]:
    """The kept pixel with the fastest true motion (the subsidence bowl): a series with a large,
    unmistakable signal, so comparing against the truth discriminates."""
    mask = read_raster(out / "results" / "mask.tif")
    v = np.where(mask == 1, np.abs(truth.vel), -1)
    row, col = np.unravel_index(int(np.argmax(v)), v.shape)
    return int(row), int(col)


def test_clicked_series_is_the_pixel_of_cum_h5_and_close_to_truth(run: Any) -> None:
    ctx, truth, out, _, url = run
    row, col = _bowl_pixel(out, truth)
    status, p = _json(url, f"/api/pixel?row={row}&col={col}")
    assert status == 200, p
    with h5py.File(out / "cum.h5") as f, h5py.File(out / "cum_filt.h5") as g:
        np.testing.assert_allclose(np.asarray(p["cum"], float), f["cum"][:, row, col], atol=1e-4)
        np.testing.assert_allclose(np.asarray(p["cum_filt"], float), g["cum"][:, row, col], atol=1e-4)
        assert p["dates"] == [int(d) for d in f["imdates"][()]]
    true = _truth_series(ctx, truth, row, col)
    err = np.asarray(p["cum"], float) - true
    # tolerance: the run leaves the simulated atmosphere (~6-15 mm per epoch) in cum, as in
    # test_pipeline (ts RMSE < 25 mm); the true signal here spans > 60 mm, so a wrong pixel, a
    # transposed row/col or a sign error exceeds it
    assert np.ptp(true) > 60.0
    assert np.sqrt(np.mean(err**2)) < 25.0
    assert np.sqrt(np.mean((np.asarray(p["cum"], float) + true) ** 2)) > 40.0  # sign matters
    g = truth.grid
    assert p["lon"] == pytest.approx(g.lon()[col]) and p["lat"] == pytest.approx(g.lat()[row])
    vstd = read_raster(out / "results" / "vstd.tif")[row, col]
    assert p["vstd"] == pytest.approx(float(vstd), rel=1e-6)
    assert p["quality"]["coh_avg"] == pytest.approx(float(read_raster(out / "results" / "coh_avg.tif")[row, col]))
    # the fitted rate of the plotted model is close to the true linear rate of this pixel: the slope of its
    # true series on the run's reference (-49 mm/yr; a sign or scale error would miss it by 40 or more)
    t = years_since_first(np.asarray(ctx.result("loops").epochs))
    true_rate = float(np.polyfit(t, true, 1)[0])
    assert abs(p["model"]["vel"] - true_rate) < 10.0


def test_lon_lat_addressing_gives_the_same_pixel(run: Any) -> None:
    _, truth, out, _, url = run
    g = truth.grid
    row, col = _bowl_pixel(out, truth)
    status, p = _json(url, f"/api/pixel?lon={g.lon()[col]:.7f}&lat={g.lat()[row]:.7f}")
    assert status == 200 and (p["row"], p["col"]) == (row, col)


def test_rereference_to_a_point_and_an_area(run: Any) -> None:
    _, _, out, _, url = run
    with h5py.File(out / "cum.h5") as f:
        cum = f["cum"][()].astype(np.float64)
    mask = read_raster(out / "results" / "mask.tif")
    kept = np.argwhere((mask == 1) & np.isfinite(cum).all(axis=0))
    (pr, pc), (qr, qc) = kept[0], kept[-1]
    _, p = _json(url, f"/api/pixel?row={pr}&col={pc}&ref={pr}:{pr + 1},{pc}:{pc + 1}")
    np.testing.assert_allclose(p["cum"], 0.0, atol=1e-4)  # the reference itself is flat
    assert not p["ref_is_run"] and p["ref"] == [int(pr), int(pr) + 1, int(pc), int(pc) + 1]
    _, q = _json(url, f"/api/pixel?row={qr}&col={qc}&ref={pr}:{pr + 1},{pc}:{pc + 1}")
    np.testing.assert_allclose(q["cum"], cum[:, qr, qc] - cum[:, pr, pc], atol=1e-3)
    box = (20, 25, 30, 36)
    _, a = _json(url, f"/api/pixel?row={qr}&col={qc}&ref={box[0]}:{box[1]},{box[2]}:{box[3]}")
    blk = cum[:, box[0]:box[1], box[2]:box[3]].reshape(cum.shape[0], -1)
    blk = blk[:, np.isfinite(blk).all(axis=0)]
    np.testing.assert_allclose(a["cum"], cum[:, qr, qc] - blk.mean(axis=1), atol=1e-3)
    # the velocity map re-referenced to the point is 0 there: its colour is the colour map's middle
    vel = read_raster(out / "results" / "vel.tif")
    status, png, _ = _get(url, f"/api/map.png?layer=vel&vmin=-50&vmax=50&cmap=RdBu_r&masked=0"
                               f"&ref={pr}:{pr + 1},{pc}:{pc + 1}")
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    assert status == 200 and img.shape[:2] == SHAPE
    expect = colourize((vel - vel[pr, pc])[None, [pr, qr], [pc, qc]], -50, 50, "RdBu_r")[0]
    np.testing.assert_array_equal(img[[pr, qr], [pc, qc]], expect)


def test_maps_at_screen_resolution_masked_and_by_epoch(run: Any) -> None:
    _, _, out, _, url = run
    vel = read_raster(out / "results" / "vel.tif")
    mask = read_raster(out / "results" / "mask.tif")
    status, png, hdr = _get(url, "/api/map.png?layer=vel&masked=1&vmin=-30&vmax=30&max_px=800")
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    assert status == 200 and hdr["content-type"] == "image/png" and img.shape == (*SHAPE, 4)
    np.testing.assert_array_equal(img, colourize(np.where(mask == 1, vel, np.nan), -30, 30, "RdBu_r"))
    assert (img[..., 3][mask != 1] == 0).all() and (img[..., 3][mask == 1] == 255).all()
    _, png, hdr = _get(url, "/api/map.png?layer=vel&max_px=20")
    assert Image.open(io.BytesIO(png)).size == (20, 20) and hdr["x-kansho-step"] == "3"
    with h5py.File(out / "cum.h5") as f:
        n = f["cum"].shape[0]
        cum = f["cum"][()]
    imgs = []
    for e in (1, n - 1):
        _, png, _ = _get(url, f"/api/map.png?layer=cum&epoch={e}&vmin=-80&vmax=80")
        imgs.append(np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")))
        np.testing.assert_array_equal(imgs[-1], colourize(cum[e], -80, 80, "RdBu_r"))
    assert (imgs[0] != imgs[1]).any()
    status, png, _ = _get(url, "/api/hillshade.png?max_px=60")
    hs = np.asarray(Image.open(io.BytesIO(png)))
    assert status == 200 and hs.shape == SHAPE and hs.std() > 1  # relief, not a flat grey


def test_errors_for_pixels_outside_the_grid_or_without_data(run: Any) -> None:
    _, _, out, _, url = run
    for q in ("row=-1&col=3", "row=60&col=3", "row=3&col=60", "row=100000&col=0"):
        status, body = _json(url, f"/api/pixel?{q}")
        assert status == 400 and body["code"] == "outside_grid" and "outside" in body["error"], (q, body)
    status, body = _json(url, "/api/pixel?lon=0&lat=0")
    assert status == 400 and body["code"] == "outside_grid"
    with h5py.File(out / "cum.h5") as f:
        empty = np.argwhere(np.isnan(f["cum"][()]).all(axis=0))
    assert empty.size, "the simulated frame has no-data (water) pixels"
    r, c = empty[0]
    status, body = _json(url, f"/api/pixel?row={r}&col={c}")
    assert status == 404 and body["code"] == "no_data" and f"row {r}, col {c}" in body["error"]
    status, body = _json(url, f"/api/ts.csv?row={r}&col={c}")
    assert status == 404 and body["code"] == "no_data"
    for path, code in (("/api/pixel?row=a&col=1", 400), ("/api/pixel?row=1", 400),
                       ("/api/map.png?layer=nope", 404), ("/api/map.png?layer=cum&epoch=999", 400),
                       ("/api/map.png?layer=vel&vmin=5&vmax=1", 400), ("/api/map.png?layer=vel&ref=0:99,0:2", 400),
                       ("/api/map.png?layer=vel&cmap=nope", 400), ("/api/nothing", 404)):
        status, body = _json(url, path)
        assert status == code and body["error"], (path, body)


def test_paths_outside_the_run_folder_are_refused(run: Any) -> None:
    _, _, out, _, url = run
    secret = out.parent / "secret.txt"
    (out / "escape").symlink_to(secret)
    attempts = ["/files/../secret.txt", "/files/%2e%2e/secret.txt", "/files/%2E%2E%2Fsecret.txt",
                "/files/..%2fsecret.txt", "/files/%252e%252e%252fsecret.txt", "/files/info/../../secret.txt",
                "/files/" + str(secret), "/files/%2f" + str(secret).lstrip("/"), "/files/..\\secret.txt",
                "/files/..%5csecret.txt", "/files/escape", "/files/%00../secret.txt", "/static/../cum.h5",
                "/static/%2e%2e/secret.txt", "/../secret.txt", "/files/~/secret.txt"]
    for path in attempts:
        status, body, _ = _get(url, path)
        assert status in (403, 404), (path, status)
        assert b"TOP-SECRET" not in body
        assert json.loads(body)["error"], path
    assert _get(url, "/files/../secret.txt")[0] == 403
    status, body, _ = _get(url, "/files/info/dropped_pairs.csv")
    assert status == 200 and body == (out / "info" / "dropped_pairs.csv").read_bytes()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["..", ".", "a", "info", "%2e%2e", "%252e", "%2f", "/", "\\", "%5c", "x.txt"]),
                min_size=1, max_size=8))
def test_safe_path_never_leaves_the_root(parts: list[str]) -> None:
    root = Path("/tmp/kansho-root-test/run")
    rel = "/".join(parts)
    try:
        p = safe_path(root, rel)
    except ViewerError as exc:
        assert exc.status == 403
        return
    assert p.is_relative_to(root.resolve())


def test_csv_download_matches_the_series(run: Any) -> None:
    _, truth, out, _, url = run
    row, col = _bowl_pixel(out, truth)
    status, body, hdr = _get(url, f"/api/ts.csv?row={row}&col={col}")
    assert status == 200 and hdr["content-type"].startswith("text/csv")
    assert f"kansho_ts_r{row}_c{col}.csv" in hdr["content-disposition"]
    rows = list(csv.DictReader(line for line in body.decode().splitlines() if not line.startswith("#")))
    with h5py.File(out / "cum.h5") as f:
        np.testing.assert_array_equal([int(r["date"]) for r in rows], f["imdates"][()])
        np.testing.assert_allclose([float(r["cum_mm"]) for r in rows], f["cum"][:, row, col], atol=1e-3)
        # the calendar decimal year, as the export and plot-ts CSVs write it (2018-01-05 -> 2018.0110)
        np.testing.assert_allclose([float(r["decimal_year"]) for r in rows], decimal_year(f["imdates"][()]),
                                   atol=1e-6)


def test_network_and_qc_tables(run: Any) -> None:
    ctx, truth, out, _, url = run
    _, qc = _json(url, "/api/qc")
    text = (out / "info" / "dropped_pairs.csv").read_text()
    assert [d["pair"] for d in qc["dropped"]] == [line.split(",")[0] for line in text.splitlines()[1:]]
    injected = {f"{a}_{b}" for a, b in np.asarray(truth.unw_error_pairs)}
    _, net = _json(url, "/api/network")
    assert len(net["pairs"]) == ctx.stack.n_pair and net["epochs"] == [int(e) for e in ctx.stack.epochs]
    dropped12 = {p["pair"] for p in net["pairs"] if p["status"] == "1-2"}
    fixed = {p["pair"] for p in net["pairs"] if p["status"] == "used" and p["corrected"] + p["nulled"] > 0}
    # the injected unwrapping errors show as dropped by 1-2 or as corrected per pixel
    assert injected and injected <= dropped12 | fixed
    lres = ctx.result("loops")
    names = ctx.stack.pair_names()
    assert sum(p["corrected"] for p in net["pairs"]) == sum(lres.n_fixed) > 0
    assert {names[i] for i, a, b in zip(lres.pairs_in, lres.n_fixed, lres.n_nulled, strict=True) if a + b} >= fixed
    assert all(p["reason"] for p in net["pairs"] if p["status"] != "used")
    _, meta = _json(url, "/api/meta")
    assert (meta["height"], meta["width"]) == SHAPE and meta["dates"][0] == int(ctx.result("loops").epochs[0])
    assert meta["refarea"] == list(ctx.result("loops").ref)


def test_pixel_model_recovers_a_known_signal() -> None:
    t = np.linspace(0, 2.5, 40)
    y = -12.0 * t + 3.0 + 4.0 * np.cos(2 * np.pi * t - 1.2)
    y[[3, 17]] = np.nan
    m = pixel_model(t, y, 2.0, t, annual=True)
    assert m["kind"] == "seasonal"
    assert m["vel"] == pytest.approx(-12.0, abs=1e-8) and m["annual_amp"] == pytest.approx(4.0, abs=1e-8)
    assert m["annual_phase"] == pytest.approx(1.2, abs=1e-8) and m["intercept"] == pytest.approx(3.0, abs=1e-8)
    fin = np.isfinite(y)
    np.testing.assert_allclose(np.asarray(m["model"])[fin], y[fin], atol=1e-8)
    np.testing.assert_allclose(m["sigma"], 2.0 * np.abs(t - t[fin].mean()))
    lin = pixel_model(t[:3], np.array([0.0, 1.0, 2.0]), None, t[:3], annual=True)
    assert lin["kind"] == "linear" and lin["sigma"] is None and lin["vel"] == pytest.approx(2.0 / t[2])
    assert lin["annual_declined"]
    # the run's linear model: the line, whose rate is fit_linear's, even where an annual term would fit
    flat = pixel_model(t, y, 2.0, t)
    assert flat["kind"] == "linear" and flat["annual_amp"] == 0.0 and not flat["annual_declined"]
    assert flat["vel"] == flat["vel_linear"] == pytest.approx(np.polyfit(t[fin], y[fin], 1)[0], rel=1e-10)
    # under a year of data: never an annual term, whatever the run's model
    short = t < 0.53
    m = pixel_model(t[short], y[short], None, t[short], annual=True)
    assert m["kind"] == "linear" and m["annual_declined"] and m["annual_amp"] == 0.0
    assert pixel_model(t, np.full(t.size, np.nan), 1.0, t)["kind"] == "none"


def test_render_helpers() -> None:
    a = np.array([[-10.0, 0.0], [10.0, np.nan]])
    rgba = colourize(a, -5, 5, "RdBu_r")
    lut = colormap_lut("RdBu_r")
    np.testing.assert_array_equal(rgba[0, 0], lut[0])
    np.testing.assert_array_equal(rgba[1, 0], lut[255])
    assert rgba[1, 1, 3] == 0 and rgba[0, 1, 3] == 255
    with pytest.raises(ValueError):
        colourize(a, 1, 1)
    assert decimation_step((1000, 600), 800) == 2 and decimation_step((60, 60), 800) == 1
    _, xx = np.mgrid[0:20, 0:20].astype(float)
    east_up = xx * 10.0  # rises to the east: faces west
    flat = hillshade(np.zeros((20, 20)), 10, 10)
    assert (flat == int(np.cos(np.radians(45)) * 255)).all()
    assert hillshade(east_up, 10, 10, azimuth_deg=270).mean() > hillshade(east_up, 10, 10, azimuth_deg=90).mean()


def test_cli_view_serves_on_localhost(run: Any) -> None:
    _, _, out, _, _ = run
    proc = subprocess.Popen([sys.executable, "-m", "kansho.cli", "view", str(out), "--port", "0", "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("Kansho viewer: http://127.0.0.1:"), line
        url = line.split(": ", 1)[1].strip().rstrip("/")
        status, meta = _json(url, "/api/meta")
        assert status == 200 and (meta["height"], meta["width"]) == SHAPE
        with h5py.File(out / "cum.h5") as f:  # it serves this run: the dates of its cum.h5
            assert meta["dates"] == [int(d) for d in f["imdates"][()]]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # waits, and closes its pipes
    r = subprocess.run([sys.executable, "-m", "kansho.cli", "view", str(out / "info"), "--no-browser"],
                       check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "no cum.h5" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- the run's model and the analysis tools
def test_fitted_velocity_equals_the_velocity_map(run: Any, tmp_path: Path) -> None:
    """The line the viewer fits is results/vel.tif's at every pixel (to float32 rounding); where the
    run used the linear model (invert.model linear, or auto without an annual bridge) it is the model drawn."""
    from kansho.viewer import RunData, ViewerApp

    _, _, out, _, _ = run
    vel = read_raster(out / "results" / "vel.tif")
    with h5py.File(out / "cum.h5") as f:
        code = f["bridge_model"][()]
        cum = f["cum"][()].astype(np.float64)
    app = ViewerApp(RunData(out))
    rd = app.run
    assert rd.temporal_model == "auto"  # the fixture's default options
    assert rd.epoch_weights is not None and rd.epoch_weights.size == len(rd.dates)  # invert.epoch_weight noise
    px = np.argwhere(np.isfinite(vel))
    assert len(px) > 3000
    tol = 1e-5 + 2e-7 * np.abs(vel)  # float32 rounding of vel.tif
    kinds = {}
    for r, c in px:  # every pixel, the model as the endpoint computes it
        m = pixel_model(rd.t, cum[:, r, c], None, rd.t, annual=rd.uses_annual(r, c), weights=rd.epoch_weights)
        assert abs(m["vel_linear"] - vel[r, c]) <= tol[r, c]
        kinds[(m["kind"], int(code[r, c]))] = kinds.get((m["kind"], int(code[r, c])), 0) + 1
        if code[r, c] in (-1, 0):  # the run's model here is the line: it is what is drawn
            assert m["kind"] == "linear" and m["vel"] == m["vel_linear"] and m["annual_amp"] == 0.0
    assert kinds.get(("linear", 0), 0) + kinds.get(("linear", -1), 0) > 50 and kinds.get(("seasonal", 1), 0) > 50
    for r, c in px[:: len(px) // 15]:  # and through the endpoint
        m = app.pixel({"row": [str(r)], "col": [str(c)]})["model"]
        assert abs(m["vel_linear"] - vel[r, c]) <= tol[r, c] and (m["kind"] == "linear") == (code[r, c] in (-1, 0))
    rd.close()
    # the same run recorded as linear: the line everywhere, no annual term anywhere
    copy = tmp_path / "lin"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("work", "stack.zarr", "plots"))
    params = copy / "info" / "parameters.yaml"
    text = params.read_text()
    assert "  model: auto\n" in text
    params.write_text(text.replace("  model: auto\n", "  model: linear\n"))
    app = ViewerApp(RunData(copy))
    assert app.run.temporal_model == "linear"
    for r, c in px[:: len(px) // 15]:
        m = app.pixel({"row": [str(r)], "col": [str(c)]})["model"]
        assert m["kind"] == "linear" and abs(m["vel"] - vel[r, c]) <= tol[r, c]
    app.run.close()


def test_reference_date_range_velocity_and_two_point_csv(run: Any) -> None:
    from kansho._dates import years_since_first

    _, _, out, _, url = run
    with h5py.File(out / "cum.h5") as f:
        cum = f["cum"][()].astype(np.float64)
        dates = f["imdates"][()].astype(np.int64)
    t = years_since_first(dates)
    kept = np.argwhere(np.isfinite(cum).all(axis=0))
    (ra, ca), (rb, cb) = kept[10], kept[-10]
    k, i1, i2 = 7, 3, 20
    q = f"row={ra}&col={ca}&ref_date={dates[k]}&d1={dates[i1]}&d2={dates[i2]}"
    status, p = _json(url, "/api/pixel?" + q)
    assert status == 200, p
    np.testing.assert_allclose(p["cum"], cum[:, ra, ca] - cum[k, ra, ca], atol=1e-4)
    assert p["range"]["vel"] == pytest.approx(np.polyfit(t[i1:i2 + 1], cum[i1:i2 + 1, ra, ca], 1)[0], rel=1e-6)
    assert p["range"]["n"] == i2 - i1 + 1 and (p["range"]["first"], p["range"]["last"]) == (dates[i1], dates[i2])
    # a range given by dates between epochs takes the epochs inside it
    _, p2 = _json(url, f"/api/pixel?row={ra}&col={ca}&d1={dates[i1] + 1}&d2={dates[i2]}")
    assert p2["range"]["first"] == dates[i1 + 1]
    status, body, hdr = _get(url, f"/api/ts.csv?{q}&row2={rb}&col2={cb}")
    assert status == 200 and f"r{ra}_c{ca}_r{rb}_c{cb}" in hdr["content-disposition"]
    rows = list(csv.reader(line for line in io.StringIO(body.decode()) if not line.startswith("#")))
    head, body_rows = rows[0], rows[1:]
    assert head[:5] == ["date", "decimal_year", "cum_mm", "cum_filt_mm", "model_mm"] and "cum2_mm" in head
    got2 = np.array([float(r[head.index("cum2_mm")]) for r in body_rows])
    np.testing.assert_allclose(got2, cum[:, rb, cb] - cum[k, rb, cb], atol=1e-3)
    line = [r[head.index("range_line_mm")] for r in body_rows]
    assert all(v == "" for v in line[:i1]) and all(v != "" for v in line[i1:i2 + 1])
    # the velocity over the range as a map: every pixel at once, the same numbers
    from kansho.viewer import RunData
    from kansho.viewer.queries import range_map

    rd = RunData(out)
    m = range_map(rd, 1, (int(dates[i1]), int(dates[i2])), None)
    assert m[ra, ca] == pytest.approx(np.polyfit(t[i1:i2 + 1], cum[i1:i2 + 1, ra, ca], 1)[0], rel=1e-5)
    rd.close()
    status, _, hdr = _get(url, f"/api/map.png?layer=vel_range&d1={dates[i1]}&d2={dates[i2]}")
    assert status == 200 and hdr["content-type"] == "image/png"


def test_profile_endpoint_samples_the_layer_along_the_line(run: Any) -> None:
    _, truth, out, _, url = run
    g = truth.grid
    lon, lat = g.lon(), g.lat()
    line = f"{lon[3]:.7f},{lat[10]:.7f};{lon[50]:.7f},{lat[10]:.7f};{lon[50]:.7f},{lat[40]:.7f}"
    status, p = _json(url, f"/api/profile?layer=vel&line={line}")
    assert status == 200, p
    vel = read_raster(out / "results" / "vel.tif")
    got = np.array([np.nan if v is None else v for v in p["value"]])
    np.testing.assert_allclose(got, vel[p["row"], p["col"]], equal_nan=True)
    assert p["row"][0] == 10 and p["col"][0] == 3 and p["row"][-1] == 40 and p["col"][-1] == 50
    dx_km, dy_km = g.pixel_size_km()
    assert p["length_km"] == pytest.approx(47 * dx_km + 30 * dy_km, rel=0.01)
    # the cumulative layer at an epoch, re-referenced to a pixel: 0 there
    with h5py.File(out / "cum.h5") as f:
        cum5 = f["cum"][5].astype(np.float64)
    status, c = _json(url, f"/api/profile?layer=cum&epoch=5&line={line}&ref=10:11,3:4")
    assert status == 200 and c["epoch"] is not None
    expect = cum5[c["row"], c["col"]] - cum5[10, 3]
    got = np.array([np.nan if v is None else v for v in c["value"]])
    np.testing.assert_allclose(got, expect, atol=1e-3, equal_nan=True)
    assert got[0] == pytest.approx(0.0, abs=1e-4)
    # the velocity over a date range along the line: the map of that range, read only under the line
    from kansho.viewer import RunData
    from kansho.viewer.queries import range_map

    with h5py.File(out / "cum.h5") as f:
        d = f["imdates"][()].astype(np.int64)
    rd = RunData(out)
    full = range_map(rd, 1, (int(d[2]), int(d[-3])), (10, 11, 3, 4))
    rd.close()
    status, v = _json(url, f"/api/profile?layer=vel_range&d1={d[2]}&d2={d[-3]}&line={line}&ref=10:11,3:4&masked=1")
    assert status == 200 and v["units"] == "mm/yr"
    mask = read_raster(out / "results" / "mask.tif")
    expect = np.where(mask == 1, full, np.nan)[v["row"], v["col"]]
    got = np.array([np.nan if x is None else x for x in v["value"]])
    np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-5, equal_nan=True)
    assert np.isfinite(got).sum() > 20


def test_a_zoomed_map_reads_only_its_window(run: Any) -> None:
    """``box``: the window of the map at the resolution asked for; the same colours as the whole map."""
    url = run[4]
    status, body, hdr = _get(url, "/api/map.png?layer=vel&box=10:30,5:45&max_px=80&vmin=-20&vmax=20")
    assert status == 200 and hdr["x-kansho-step"] == "1"
    win = np.asarray(Image.open(io.BytesIO(body)))
    assert win.shape[:2] == (20, 40)
    _, body, _ = _get(url, "/api/map.png?layer=vel&max_px=60&vmin=-20&vmax=20")
    full = np.asarray(Image.open(io.BytesIO(body)))
    np.testing.assert_array_equal(win, full[10:30, 5:45])
    status, body, hdr = _get(url, "/api/map.png?layer=cum&epoch=4&box=0:60,0:60&max_px=20")
    assert status == 200 and hdr["x-kansho-step"] == "3"
    assert np.asarray(Image.open(io.BytesIO(body))).shape[:2] == (20, 20)
