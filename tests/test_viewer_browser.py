"""The viewer in a real headless Chromium (Debian's chromium + chromium-driver, driven by selenium):
click a pixel whose true time series is known and check what is plotted; move the date slider and
check the map changes; keep screenshots under tests/artifacts/.

Skipped when Chromium, its driver or selenium is missing, unless ``KANSHO_REQUIRE_BROWSER=1``
(CI sets it), in which case they fail.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from tests._shared import SMALL_FRAME, FinishedRun

from kansho.io.geotiff import read_raster
from kansho.viewer import serve_in_thread

SHAPE = SMALL_FRAME.shape
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = os.environ.get("KANSHO_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("KANSHO_CHROMEDRIVER", "/usr/bin/chromedriver")


def _browser_or_skip() -> Any:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (Path(p).exists() or shutil.which(p))]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip)")
    if missing:
        msg = (f"browser tests need {', '.join(missing)} "
               "(apt-get install chromium chromium-driver; pip install selenium)")
        if os.environ.get("KANSHO_REQUIRE_BROWSER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1250",
              "--force-device-scale-factor=1", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


@pytest.fixture(scope="module")
def page(small_run: FinishedRun) -> Any:
    driver = _browser_or_skip()
    ctx, truth, out = small_run.ctx, small_run.truth, small_run.out
    srv, url = serve_in_thread(out)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        driver.get(url + "/")
        _wait(driver, "return window.kansho && window.kansho.ready && window.kansho.mapLoads >= 1")
        yield driver, ctx, truth, out
    finally:
        driver.quit()
        srv.shutdown()
        srv.server_close()


def _wait(driver: Any, script: str, timeout: float = 20.0) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: d.execute_script(script))


def _pixel_offset(driver: Any, row: float, col: float) -> tuple[Any, int, int]:
    """The map canvas and the offset from its centre of the grid point (row, col) in the current view."""
    from selenium.webdriver.common.by import By

    canvas = driver.find_element(By.ID, "map")
    w, h = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", canvas)
    v = driver.execute_script("return window.kansho.state.view")
    dx = (col - v["c0"]) * w / v["w"] - w / 2
    dy = (row - v["r0"]) * h / v["h"] - h / 2
    return canvas, round(dx), round(dy)


def _doc_shot(driver: Any, name: str) -> None:
    """A screenshot: docs/img/<name> when KANSHO_DOC_SCREENSHOTS=1 (the documentation's images),
    tests/artifacts/<name> otherwise."""
    dest = (Path(__file__).parents[1] / "docs" / "img" / name
            if os.environ.get("KANSHO_DOC_SCREENSHOTS") == "1" else ARTIFACTS / name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(dest))


def _click_pixel(driver: Any, row: int, col: int) -> None:
    """A real mouse click at the centre of map pixel (row, col) (wherever zoom and pan put it)."""
    from selenium.webdriver.common.action_chains import ActionChains

    canvas, dx, dy = _pixel_offset(driver, row + 0.5, col + 0.5)
    ActionChains(driver).move_to_element_with_offset(canvas, dx, dy).click().perform()


def test_clicking_a_pixel_plots_its_true_series(page: Any) -> None:
    driver, ctx, truth, out = page
    mask = read_raster(out / "results" / "mask.tif")
    row, col = (int(v) for v in np.unravel_index(int(np.argmax(np.where(mask == 1, np.abs(truth.vel), -1))),
                                                 SHAPE))
    n0 = driver.execute_script("return window.kansho.pixelLoads")
    _click_pixel(driver, row, col)
    _wait(driver, f"return window.kansho.pixelLoads > {n0}")
    series = driver.execute_script("return window.kansho.series")
    assert series is not None, driver.execute_script("return window.kansho.lastError")
    assert (series["row"], series["col"]) == (row, col)
    # what is drawn: one SVG circle per epoch carrying its value, and the data attribute of the plot
    drawn = driver.execute_script(
        "return Array.from(document.querySelectorAll('#ts g.raw circle'))"
        ".map(c => [+c.dataset.date, +c.dataset.value])")
    attr = json.loads(driver.execute_script("return document.getElementById('ts').dataset.series"))
    with h5py.File(out / "cum.h5") as f:
        cum = f["cum"][:, row, col].astype(float)
        dates = f["imdates"][()]
    fin = np.isfinite(cum)
    assert [d for d, _ in drawn] == [int(d) for d in dates[fin]]
    np.testing.assert_allclose([v for _, v in drawn], cum[fin], atol=1e-3)
    np.testing.assert_allclose(np.asarray(attr["cum"], float), cum, atol=1e-3)
    # against the simulated truth (relative to the first epoch and the run's reference area):
    # the atmosphere left in cum is ~6-15 mm per epoch (test_pipeline's 25 mm bound); the true
    # signal at this pixel spans > 60 mm
    epochs = np.asarray(ctx.result("loops").epochs)
    r0, r1, c0, c1 = ctx.result("loops").ref
    pos = {int(e): i for i, e in enumerate(truth.epochs)}
    tc = np.asarray(truth.cum, float)[[pos[int(e)] for e in epochs]]
    tc -= tc[0]
    true = tc[:, row, col] - tc[:, r0:r1, c0:c1].mean(axis=(1, 2))
    assert np.ptp(true) > 60.0
    assert np.sqrt(np.mean((np.asarray([v for _, v in drawn]) - true[fin]) ** 2)) < 25.0
    # the model curve and the CSV link are there, and the marker sits on the clicked pixel
    assert driver.execute_script("return document.querySelectorAll('#ts polyline.model').length") == 1
    href = driver.execute_script("return document.getElementById('csvLink').href")
    assert f"row={row}&col={col}" in href
    _doc_shot(driver, "viewer_velocity_click.png")


def test_no_data_click_shows_a_clear_error(page: Any) -> None:
    driver, _, _, out = page
    with h5py.File(out / "cum.h5") as f:
        r, c = (int(v) for v in np.argwhere(np.isnan(f["cum"][()]).all(axis=0))[0])
    n0 = driver.execute_script("return window.kansho.pixelLoads")
    _click_pixel(driver, r, c)
    _wait(driver, f"return window.kansho.pixelLoads > {n0}")
    err = driver.execute_script("return window.kansho.lastError")
    assert err["code"] == "no_data" and (err["row"], err["col"]) == (r, c)
    assert "no data" in driver.execute_script("return document.getElementById('tsTitle').textContent")


def test_date_slider_changes_the_cumulative_map(page: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    driver, _, _, out = page
    n = driver.execute_script("return window.kansho.mapLoads")
    Select(driver.find_element(By.ID, "layer")).select_by_value("cum")
    _wait(driver, f"return window.kansho.mapLoads > {n} && window.kansho.mapUrl.includes('layer=cum')")
    canvas_js = "return document.getElementById('map').toDataURL()"
    last = driver.execute_script(canvas_js)
    url_last = driver.execute_script("return window.kansho.mapUrl")
    with h5py.File(out / "cum.h5") as f:
        n_ep = f["cum"].shape[0]
    assert f"epoch={n_ep - 1}" in url_last
    slider = driver.find_element(By.ID, "epoch")
    n = driver.execute_script("return window.kansho.mapLoads")
    slider.send_keys(Keys.HOME)  # keyboard on the range input: a real user interaction
    _wait(driver, f"return window.kansho.mapLoads > {n} && /[?&]epoch=0(&|$)/.test(window.kansho.mapUrl)")
    first = driver.execute_script(canvas_js)
    assert first != last
    label = driver.find_element(By.ID, "epochLabel").text
    with h5py.File(out / "cum.h5") as f:
        d0 = str(int(f["imdates"][0]))
    assert label.startswith(f"{d0[:4]}-{d0[4:6]}-{d0[6:]}")
    n = driver.execute_script("return window.kansho.mapLoads")
    for _ in range(n_ep // 2):
        slider.send_keys(Keys.ARROW_RIGHT)
    _wait(driver, f"return window.kansho.mapLoads > {n} && /[?&]epoch={n_ep // 2}(&|$)/.test(window.kansho.mapUrl)")
    mid = driver.execute_script(canvas_js)
    assert mid not in (first, last)
    _doc_shot(driver, "viewer_cumulative.png")


# ---------------------------------------------------------------- the run's model, and the new tools
def _kept_pixels(out: Path, linear_only: bool = False) -> np.ndarray:
    """(row, col) of the kept pixels with data at every epoch; ``linear_only``: those the run did not
    bridge with the annual model (bridge_model -1 or 0), where the run's model is the line."""
    mask = read_raster(out / "results" / "mask.tif")
    with h5py.File(out / "cum.h5") as f:
        ok = (mask == 1) & np.isfinite(f["cum"][()]).all(axis=0)
        if linear_only:
            ok &= np.isin(f["bridge_model"][()], (-1, 0))
    return np.argwhere(ok)


def _cum(out: Path, row: int, col: int) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(out / "cum.h5") as f:
        return f["imdates"][()].astype(np.int64), f["cum"][:, row, col].astype(np.float64)


def _mode(driver: Any, mode: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f"#clickModes button[data-mode='{mode}']").click()
    assert driver.execute_script("return window.kansho.state.clickMode") == mode


def test_the_drawn_model_of_a_linear_pixel_is_the_velocity_map(page: Any) -> None:
    driver, _, _, out = page
    row, col = (int(v) for v in _kept_pixels(out, linear_only=True)[0])
    n0 = driver.execute_script("return window.kansho.pixelLoads")
    _click_pixel(driver, row, col)
    _wait(driver, f"return window.kansho.pixelLoads > {n0}")
    s = driver.execute_script("return window.kansho.series")
    vel = float(read_raster(out / "results" / "vel.tif")[row, col])
    assert (s["row"], s["col"]) == (row, col) and s["model"]["kind"] == "linear"
    assert s["model"]["vel"] == pytest.approx(vel, abs=1e-4 + 1e-6 * abs(vel))  # float32 rounding of vel.tif
    assert driver.execute_script("return document.querySelector('#ts polyline.model').dataset.kind") == "linear"
    title = driver.find_element("id", "tsTitle").text
    assert f"velocity {vel:.1f} mm/yr" in title and "annual" not in title


def test_second_point_is_plotted_and_saved_with_the_first(page: Any) -> None:
    import urllib.request

    driver, _, _, out = page
    kept = _kept_pixels(out)
    (ra, ca), (rb, cb) = (int(v) for v in kept[0]), (int(v) for v in kept[-1])
    _mode(driver, "point")
    n0 = driver.execute_script("return window.kansho.pixelLoads")
    _click_pixel(driver, ra, ca)
    _wait(driver, f"return window.kansho.pixelLoads > {n0}")
    _mode(driver, "point2")
    n2 = driver.execute_script("return window.kansho.pixel2Loads || 0")
    _click_pixel(driver, rb, cb)
    _wait(driver, f"return (window.kansho.pixel2Loads || 0) > {n2}")
    drawn = {k: driver.execute_script(f"return Array.from(document.querySelectorAll('#ts g.{k} circle'))"
                                      ".map(c => +c.dataset.value)") for k in ("raw", "raw2")}
    np.testing.assert_allclose(drawn["raw"], _cum(out, ra, ca)[1], atol=1e-3)
    np.testing.assert_allclose(drawn["raw2"], _cum(out, rb, cb)[1], atol=1e-3)
    assert driver.execute_script("return document.querySelectorAll('#ts polyline.model2').length") == 1
    # the CSV of what is shown holds both points
    href = driver.execute_script("return document.getElementById('csvLink').href")
    assert f"row2={rb}&col2={cb}" in href
    with urllib.request.urlopen(href, timeout=10) as r:
        text = r.read().decode()
    rows = [ln.split(",") for ln in text.splitlines() if not ln.startswith("#")]
    head, body = rows[0], rows[1:]
    dates, cum_b = _cum(out, rb, cb)
    assert [int(b[0]) for b in body] == dates.tolist()
    np.testing.assert_allclose([float(b[head.index("cum2_mm")]) for b in body], cum_b, atol=1e-3)
    # the PNG of the plot: the plot's size (x2), with the second point's red and the first's blue
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "savePng").click()
    url = _wait(driver, "return window.kansho.lastPng")
    import base64
    import io

    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")).astype(int)
    assert img.shape == (680, 1280, 3)
    for rgb in ((0x1F, 0x77, 0xB4), (0xD6, 0x27, 0x28)):
        assert (np.abs(img - np.array(rgb)).sum(axis=2) < 30).sum() > 50, rgb
    driver.find_element(By.ID, "clearPoint2").click()
    assert driver.execute_script("return window.kansho.series2") is None


def _select(driver: Any, elem_id: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, elem_id)).select_by_value(value)


def test_reference_date_and_velocity_over_a_date_range(page: Any) -> None:
    driver, _, _, out = page
    row, col = (int(v) for v in _kept_pixels(out)[3])
    _mode(driver, "point")
    n0 = driver.execute_script("return window.kansho.pixelLoads")
    _click_pixel(driver, row, col)
    _wait(driver, f"return window.kansho.pixelLoads > {n0}")
    dates, cum = _cum(out, row, col)
    k = dates.size // 2
    n0 = driver.execute_script("return window.kansho.pixelLoads")
    _select(driver, "refDate", str(dates[k]))
    _wait(driver, f"return window.kansho.pixelLoads > {n0} && window.kansho.series.ref_date === {int(dates[k])}")
    drawn = driver.execute_script("return Array.from(document.querySelectorAll('#ts g.raw circle'))"
                                  ".map(c => +c.dataset.value)")
    np.testing.assert_allclose(drawn, cum - cum[k], atol=1e-3)
    assert drawn[k] == pytest.approx(0.0, abs=1e-9)
    assert driver.execute_script("return document.querySelectorAll('#ts line.refDateLine').length") == 1
    # the velocity over [d1, d2]: the least-squares line of those epochs
    i1, i2 = 4, dates.size - 6
    n0 = driver.execute_script("return window.kansho.pixelLoads")
    _select(driver, "rangeD1", str(dates[i1]))
    _select(driver, "rangeD2", str(dates[i2]))
    _wait(driver, f"return window.kansho.pixelLoads > {n0} && window.kansho.series.range"
                  f" && window.kansho.series.range.d2 === {int(dates[i2])}")
    rng = driver.execute_script("return window.kansho.series.range")
    from kansho._dates import years_since_first

    t = years_since_first(dates)
    expect = np.polyfit(t[i1:i2 + 1], cum[i1:i2 + 1], 1)[0]
    assert rng["vel"] == pytest.approx(expect, rel=1e-6) and rng["n"] == i2 - i1 + 1
    assert f"{expect:.2f} mm/yr" in driver.find_element("id", "rangeText").text
    assert driver.execute_script("return document.querySelectorAll('#ts line.range').length") == 1
    # the same range as a map layer: every pixel's velocity over the range
    n = driver.execute_script("return window.kansho.mapLoads")
    _select(driver, "layer", "vel_range")
    _wait(driver, f"return window.kansho.mapLoads > {n} && window.kansho.mapUrl.includes('layer=vel_range')")
    assert f"d1={int(dates[i1])}" in driver.execute_script("return window.kansho.mapUrl")
    assert driver.execute_script("return window.kansho.mapError") is None
    _select(driver, "layer", "vel")
    driver.find_element("id", "rangeClear").click()
    _select(driver, "refDate", "")
    _wait(driver, "const s = window.kansho.series; return s && s.ref_date === null && !s.range")


def _density(driver: Any) -> float:
    """Image pixels per grid pixel of the last map requested (``max_px`` over the longer side of ``box``)."""
    q = driver.execute_script("const u = new URL(window.kansho.mapUrl, location.href).searchParams;"
                              "return [u.get('max_px'), u.get('box')]")
    if q[1] is None:
        return int(q[0]) / max(SHAPE)
    (r0, r1), (c0, c1) = ((int(x) for x in part.split(":")) for part in q[1].split(","))
    return int(q[0]) / max(r1 - r0, c1 - c0)


def test_zoom_and_pan_keep_clicks_on_the_right_pixel(page: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains, ScrollOrigin

    driver, _, _, out = page
    _mode(driver, "point")
    canvas, dx, dy = _pixel_offset(driver, 20.0, 20.0)
    px0 = _density(driver)
    n = driver.execute_script("return window.kansho.mapLoads")
    ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(canvas, dx, dy), 0, -300).perform()
    _wait(driver, f"return window.kansho.zoom > 1.2 && window.kansho.mapLoads > {n}")
    v = driver.execute_script("return window.kansho.state.view")
    assert v["w"] < SHAPE[1] and v["c0"] < 20.0 < v["c0"] + v["w"] and v["r0"] < 20.0 < v["r0"] + v["h"]
    assert _density(driver) > px0 * 1.2  # the zoomed map is requested at a finer resolution
    box = driver.execute_script("return window.kansho.lastMapBox")  # ... and the view lies inside what was read
    assert box[2] <= v["c0"] and v["c0"] + v["w"] <= box[3] and box[0] <= v["r0"] and v["r0"] + v["h"] <= box[1]
    kept = _kept_pixels(out)
    inside = kept[(kept[:, 0] > v["r0"] + 1) & (kept[:, 0] < v["r0"] + v["h"] - 1)
                  & (kept[:, 1] > v["c0"] + 1) & (kept[:, 1] < v["c0"] + v["w"] - 1)]
    row, col = (int(a) for a in inside[len(inside) // 2])
    n0 = driver.execute_script("return window.kansho.pixelLoads")
    _click_pixel(driver, row, col)
    _wait(driver, f"return window.kansho.pixelLoads > {n0}")
    s = driver.execute_script("return window.kansho.series")
    assert (s["row"], s["col"]) == (row, col)
    # pan: a drag moves the view (and is not a click)
    n0 = driver.execute_script("return window.kansho.pixelLoads")
    ActionChains(driver).move_to_element(canvas).click_and_hold().move_by_offset(60, 40).release().perform()
    v2 = driver.execute_script("return window.kansho.state.view")
    assert v2["c0"] < v["c0"] and v2["r0"] < v["r0"] and v2["w"] == pytest.approx(v["w"])
    assert driver.execute_script("return window.kansho.pixelLoads") == n0
    _click_pixel(driver, row, col)
    _wait(driver, f"return window.kansho.pixelLoads > {n0}")
    s = driver.execute_script("return window.kansho.series")
    assert (s["row"], s["col"]) == (row, col)
    driver.save_screenshot(str(ARTIFACTS / "viewer_zoom.png"))
    driver.find_element("id", "zoomReset").click()
    assert driver.execute_script("return window.kansho.state.view")["w"] == SHAPE[1]


def test_hover_shows_lon_lat_with_hemispheres(page: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    driver, _, truth, _ = page
    row, col = 12, 41
    canvas, dx, dy = _pixel_offset(driver, row + 0.5, col + 0.5)
    ActionChains(driver).move_to_element_with_offset(canvas, dx, dy).perform()
    text = _wait(driver, "return document.getElementById('hover').textContent")
    g = truth.grid
    lat_s, lon_s = text.split(" · ")[0].split(", ")
    lat = float(lat_s[:-2]) * (1 if lat_s.endswith("N") else -1)
    lon = float(lon_s[:-2]) * (1 if lon_s.endswith("E") else -1)
    assert abs(lon - g.lon()[col]) < abs(g.dx) and abs(lat - g.lat()[row]) < abs(g.dy)
    assert text.endswith(f"row {row}, col {col}")
    assert driver.execute_script("return [window.kansho.fmtLon(-99.07926), window.kansho.fmtLat(-33.5, 2),"
                                 " window.kansho.fmtLon(139.69, 2), window.kansho.fmtLat(19.41, 2)]") == \
        ["99.07926°W", "33.50°S", "139.69°E", "19.41°N"]


def test_profile_along_a_drawn_line(page: Any) -> None:
    from kansho.grid import EARTH_RADIUS_KM

    driver, _, truth, out = page
    _mode(driver, "profile")
    driver.execute_script("document.getElementById('profileClear').click()")  # a fresh line (the button may be hidden)
    (r1, c1), (r2, c2), (r3, c3) = (30, 5), (30, 50), (45, 50)
    n = driver.execute_script("return window.kansho.profileLoads || 0")
    for r, c in ((r1, c1), (r2, c2), (r3, c3)):
        _click_pixel(driver, r, c)
    _wait(driver, f"return (window.kansho.profileLoads || 0) >= {n + 2} && window.kansho.profile"
                  " && window.kansho.profile.vertices.length === 3")
    p = driver.execute_script("return window.kansho.profile")
    assert p["layer"] == "vel" and p["units"] == "mm/yr"
    vel = read_raster(out / "results" / "vel.tif")
    mask = read_raster(out / "results" / "mask.tif")
    shown = np.where(mask == 1, vel, np.nan)  # the masked velocity, as the map shows it
    got = np.array([np.nan if v is None else v for v in p["value"]])
    np.testing.assert_allclose(got, shown[p["row"], p["col"]], atol=1e-4, equal_nan=True)
    assert {(r1, c1), (r2, c2), (r3, c3)} <= set(zip(p["row"], p["col"], strict=True))
    g = truth.grid
    dx_km, dy_km = g.pixel_size_km()
    assert p["length_km"] == pytest.approx((c2 - c1) * dx_km + (r3 - r2) * dy_km, rel=0.01)
    assert np.all(np.diff(p["distance_km"]) >= 0) and EARTH_RADIUS_KM > 6000
    assert driver.execute_script("return document.querySelectorAll('#profile polyline.profileValues').length") >= 1
    assert "km" in driver.find_element("id", "profileTitle").text
    _mode(driver, "point")


def test_screenshot_for_the_docs(page: Any) -> None:
    """The viewer with a clicked pixel (the subsidence bowl), a second point (near the reference)
    and a profile across the bowl: docs/img/viewer.png (see :func:`_doc_shot`)."""
    driver, _, truth, out = page
    mask = read_raster(out / "results" / "mask.tif")
    a = tuple(int(v) for v in np.unravel_index(int(np.argmax(np.where(mask == 1, np.abs(truth.vel), -1))), SHAPE))
    r0, r1, c0, c1 = driver.execute_script("return window.kansho.meta.refarea")
    kept = _kept_pixels(out)
    b = tuple(int(v) for v in kept[np.argmin(np.hypot(kept[:, 0] - (r0 + r1) / 2, kept[:, 1] - (c0 + c1) / 2 + 8))])
    _mode(driver, "point")
    n0 = driver.execute_script("return window.kansho.pixelLoads")
    _click_pixel(driver, *a)
    _wait(driver, f"return window.kansho.pixelLoads > {n0}")
    _mode(driver, "point2")
    n2 = driver.execute_script("return window.kansho.pixel2Loads || 0")
    _click_pixel(driver, *b)
    _wait(driver, f"return (window.kansho.pixel2Loads || 0) > {n2}")
    _mode(driver, "profile")
    driver.execute_script("document.getElementById('profileClear').click()")
    n = driver.execute_script("return window.kansho.profileLoads || 0")
    for r, c in ((a[0], 3), (a[0], 56)):
        _click_pixel(driver, r, c)
    _wait(driver, f"return (window.kansho.profileLoads || 0) > {n} && window.kansho.profile"
                  " && window.kansho.profile.vertices.length === 2")
    _mode(driver, "point")
    assert driver.execute_script("return window.kansho.series2") is not None
    _doc_shot(driver, "viewer.png")
