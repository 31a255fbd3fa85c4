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


def _click_pixel(driver: Any, row: int, col: int) -> None:
    """A real mouse click at the centre of map pixel (row, col)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    canvas = driver.find_element(By.ID, "map")
    w, h = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", canvas)
    dx = (col + 0.5) * w / SHAPE[1] - w / 2
    dy = (row + 0.5) * h / SHAPE[0] - h / 2
    ActionChains(driver).move_to_element_with_offset(canvas, round(dx), round(dy)).click().perform()


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
    driver.save_screenshot(str(ARTIFACTS / "viewer_click.png"))


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
    driver.save_screenshot(str(ARTIFACTS / "viewer_slider.png"))
