"""GACOS-like per-epoch zenith delay files for a simulated frame, from the simulator's own atmosphere.

The simulator's atmosphere (:mod:`kansho.synth.atmosphere`) is displacement-equivalent LOS mm
(``atm = −slant delay``). A GACOS product (Yu et al. 2018) is the absolute zenith total delay in
metres on its own lon/lat grid. For epoch ``e``::

    ZTD_e = Z0·exp(−h / 8 km) + c_e + cos(θ)·(−atm_e / 1000) + err_e           (m)

with ``Z0`` = 2.3 m (a static, height-dependent hydrostatic part that cancels in a pair),
``c_e`` a random per-epoch constant (±5 cm), θ the incidence angle, and ``err_e`` an optional
model error: a smooth random field with standard deviation ``error_mm`` (zenith mm), standing for
what GACOS gets wrong. Written as GACOS does (``yyyymmdd.ztd`` float32 little-endian with a
``yyyymmdd.ztd.rsc``) on a grid of posting ``posting_factor`` x the frame's, shifted and extended
by ``margin_px`` so that reading it back exercises the resampling.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.ndimage import map_coordinates

from kansho.grid import Grid
from kansho.synth._fields import power_law_field
from kansho.synth.truth import Truth

__all__ = ["write_gacos"]

Z0_M = 2.3
SCALE_HEIGHT_M = 8000.0


def write_gacos(
    truth: Truth,
    out_dir: str | Path,
    *,
    posting_factor: float = 0.8,
    margin_px: int = 4,
    error_mm: float = 0.0,
    missing: Iterable[int] = (),
    rng: np.random.Generator | int | None = 0,
) -> Path:
    """Write ``out_dir/yyyymmdd.ztd`` + ``.ztd.rsc`` for every epoch of ``truth`` except ``missing``.

    Returns ``out_dir``. ``error_mm`` is the standard deviation (zenith mm) of an independent
    random model error per epoch (0 = perfect delays). Files are written atomically.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    g = truth.grid
    post_x, post_y = g.dx * posting_factor, g.dy * posting_factor
    x0 = g.transform[0] - margin_px * abs(post_x) + 0.37 * abs(post_x)
    y0 = g.transform[3] + margin_px * abs(post_y) - 0.29 * abs(post_y)
    w = math.ceil(g.width * abs(g.dx) / abs(post_x)) + 2 * margin_px
    h = math.ceil(g.height * abs(g.dy) / abs(post_y)) + 2 * margin_px
    gg = Grid(w, h, (x0, post_x, 0.0, y0, 0.0, post_y))
    # fractional frame pixel index of each GACOS pixel centre (nearest-edge extrapolation outside)
    rows = (gg.lat() - g.transform[3]) / g.dy - 0.5
    cols = (gg.lon() - g.transform[0]) / g.dx - 0.5
    R, C = np.meshgrid(rows, cols, indexing="ij")

    def to_gacos(a: npt.ArrayLike) -> npt.NDArray[np.float64]:
        return map_coordinates(np.asarray(a, np.float64), [R, C], order=1, mode="nearest")

    cos_inc = to_gacos(np.cos(np.radians(truth.incidence)))
    static = Z0_M * np.exp(-to_gacos(truth.hgt) / SCALE_HEIGHT_M)
    dx_km, dy_km = gg.pixel_size_km()
    skip = {int(d) for d in missing}
    for e, date in enumerate(truth.epochs):
        c_e = gen.normal(0.0, 0.05)
        ztd = static + c_e + cos_inc * (-to_gacos(truth.atmosphere[e]) / 1000.0)
        if error_mm > 0:
            err = power_law_field((h, w), dx_km, dy_km, 8.0 / 3.0, gen, outer_km=20.0)
            ztd = ztd + error_mm / 1000.0 * err
        if int(date) in skip:
            continue
        _write(out / f"{int(date)}.ztd", ztd.astype("<f4"), gg)
    return out


def _write(path: Path, data: npt.NDArray[np.float32], grid: Grid) -> None:
    x0, dx, _, y0, _, dy = grid.transform
    rsc = (f"WIDTH {grid.width}\nFILE_LENGTH {grid.height}\nXMIN 0\nXMAX {grid.width}\nYMIN 0\n"
           f"YMAX {grid.height}\nX_FIRST {x0:.10f}\nY_FIRST {y0:.10f}\nX_STEP {dx:.12f}\nY_STEP {dy:.12f}\n"
           "X_UNIT degres\nY_UNIT degres\nZ_OFFSET 0\nZ_SCALE 1\nPROJECTION LATLON\nDATUM WGS84\n"
           "TIME_OF_DAY 12.000000UTC\n")
    for p, write in ((path, lambda t: data.tofile(t)), (path.with_name(path.name + ".rsc"),
                                                         lambda t: Path(t).write_text(rsc))):
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        write(tmp)
        os.replace(tmp, p)
