"""The viewer's analysis tools on plain arrays: velocity over a date range (vectorised over
pixels), a reference date, the sampling of a polyline drawn on the map, and the parsing of their
query values (every fault a :class:`~kansho.viewer.data.ViewerError`, 400, with a one-line message).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import numpy.typing as npt

from kansho._dates import parse_date
from kansho.grid import EARTH_RADIUS_KM, Grid
from kansho.velocity import fit_linear
from kansho.viewer.data import ViewerError

__all__ = ["MAX_PROFILE_SAMPLES", "MAX_PROFILE_VERTICES", "parse_box", "parse_date_param", "parse_line", "range_fit",
           "range_indices", "sample_line"]

#: most vertices of a profile line, and most samples along it
MAX_PROFILE_VERTICES = 100
MAX_PROFILE_SAMPLES = 4000


def parse_date_param(text: str | None, name: str) -> int | None:
    """A ``yyyymmdd`` query value → int; ``None`` when absent or empty; :class:`ViewerError` otherwise."""
    if text is None or text.strip() == "":
        return None
    s = text.strip().replace("-", "")
    try:
        parse_date(s)
    except ValueError:
        raise ViewerError(f"parameter {name!r} must be a date yyyymmdd (or yyyy-mm-dd), got {text[:40]!r}",
                          400, "bad_epoch") from None
    return int(s)


def range_indices(dates: npt.NDArray[np.int64], d1: int, d2: int) -> npt.NDArray[np.int64]:
    """Indices of the epochs within ``[d1, d2]`` (inclusive); :class:`ViewerError` unless ``d1 < d2``
    and the range holds at least two epochs."""
    if not d1 < d2:
        raise ViewerError(f"the date range {d1}..{d2} is empty: the first date must come before the second",
                          400, "bad_epoch")
    idx = np.flatnonzero((dates >= d1) & (dates <= d2))
    if idx.size < 2:
        raise ViewerError(f"the date range {d1}..{d2} holds {idx.size} of the run's epochs "
                          f"({int(dates[0])}..{int(dates[-1])}); a velocity needs two or more", 400, "bad_epoch")
    return idx


def range_fit(t: npt.ArrayLike, cum: npt.ArrayLike, idx: npt.NDArray[np.int64]) -> dict[str, npt.NDArray[np.float64]]:
    """Straight line fitted by least squares to the epochs ``idx`` of every pixel at once.

    ``t`` ``(n_epoch,)`` years, ``cum`` ``(n_epoch, npix)`` mm (NaN = no data). Returns ``vel``
    (mm/yr), ``intercept`` (mm at ``t = 0``), ``n`` (valid epochs used), ``span`` (yr between the
    first and last valid epoch in the range) and ``rms`` (mm, residuals), each ``(npix,)``; NaN where
    fewer than two valid epochs remain (:func:`kansho.velocity.fit_linear`).
    """
    tt = np.asarray(t, np.float64)[idx]
    y = np.asarray(cum, np.float64)[idx]
    vel, icpt = fit_linear(y, tt)
    fin = np.isfinite(y)
    n = fin.sum(axis=0).astype(np.float64)
    tv = np.where(fin, tt[:, None], np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels: NaN, as documented
        span = np.nanmax(tv, axis=0) - np.nanmin(tv, axis=0)
        res = y - (vel[None, :] * tt[:, None] + icpt[None, :])
        rms = np.sqrt(np.nanmean(res**2, axis=0))
    return {"vel": vel, "intercept": icpt, "n": n, "span": np.where(n > 0, span, np.nan), "rms": rms}


def parse_box(text: str | None, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """A map window ``'r0:r1,c0:c1'`` (rows first, end-exclusive) inside ``shape``; ``None`` when absent."""
    if text is None or text.strip() == "":
        return None
    try:
        rows, cols = text.split(",")
        r0, r1 = (int(v) for v in rows.split(":"))
        c0, c1 = (int(v) for v in cols.split(":"))
    except ValueError:
        raise ViewerError(f"parameter 'box' must be 'row0:row1,col0:col1', got {text[:40]!r}") from None
    ny, nx = shape
    if not (0 <= r0 < r1 <= ny and 0 <= c0 < c1 <= nx):
        raise ViewerError(f"box {text[:40]!r} is not a non-empty window inside the {ny} x {nx} grid",
                          400, "outside_grid")
    return r0, r1, c0, c1


def parse_line(text: str | None) -> npt.NDArray[np.float64]:
    """``'lon,lat;lon,lat;...'`` → ``(n, 2)`` array of two to :data:`MAX_PROFILE_VERTICES` vertices."""
    if text is None or text.strip() == "":
        raise ViewerError("missing parameter 'line' (vertices 'lon,lat;lon,lat;...')")
    parts = text.strip().strip(";").split(";")
    if len(parts) > MAX_PROFILE_VERTICES:
        raise ViewerError(f"a profile line has at most {MAX_PROFILE_VERTICES} vertices, got {len(parts)}")
    pts = []
    for p in parts:
        try:
            lon_s, lat_s = p.split(",")
            lon, lat = float(lon_s), float(lat_s)
        except ValueError:
            raise ViewerError(f"profile vertex {p[:40]!r} is not 'lon,lat'") from None
        if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lon) > 1e9 or abs(lat) > 1e9:
            raise ViewerError(f"profile vertex {p[:40]!r} is not a pair of finite coordinates")
        pts.append((lon, lat))
    if len(pts) < 2:
        raise ViewerError("a profile line needs two or more vertices 'lon,lat;lon,lat'")
    return np.asarray(pts, np.float64)


def sample_line(grid: Grid, vertices: npt.NDArray[np.float64]) -> dict[str, npt.NDArray[np.float64]]:
    """Points along the polyline ``vertices`` (lon, lat) at about half a pixel apart.

    Every vertex must lie on the grid (:class:`ViewerError`, ``outside_grid``). Returns ``lon``,
    ``lat``, ``row``, ``col`` (the pixel each point falls in) and ``distance_km`` (along the line,
    great-circle between consecutive points, spherical Earth; in grid units / 1000 for a projected
    grid in metres), each ``(n,)``.
    """
    x0, dx, _, y0, _, dy = grid.transform
    fc = (vertices[:, 0] - x0) / dx  # fractional column / row of each vertex
    fr = (vertices[:, 1] - y0) / dy
    inside = (fc >= 0) & (fc < grid.width) & (fr >= 0) & (fr < grid.height)
    if not inside.all():
        k = int(np.flatnonzero(~inside)[0])
        raise ViewerError(f"profile vertex {k + 1} ({vertices[k, 0]:g}, {vertices[k, 1]:g}) is outside the grid",
                          400, "outside_grid")
    seg_px = np.hypot(np.diff(fc), np.diff(fr))
    n_seg = np.maximum(1, np.ceil(seg_px * 2)).astype(np.int64)
    total = int(n_seg.sum())
    if total + 1 > MAX_PROFILE_SAMPLES:  # long lines: fewer samples per pixel, never more than the limit
        n_seg = np.maximum(1, np.floor(n_seg * (MAX_PROFILE_SAMPLES - 1) / total)).astype(np.int64)
    fcs, frs = [fc[:1]], [fr[:1]]
    for i, n in enumerate(n_seg):
        s = np.arange(1, n + 1) / n
        fcs.append(fc[i] + s * (fc[i + 1] - fc[i]))
        frs.append(fr[i] + s * (fr[i + 1] - fr[i]))
    c, r = np.concatenate(fcs), np.concatenate(frs)
    lon, lat = x0 + c * dx, y0 + r * dy
    if grid.crs.upper() in ("EPSG:4326", "OGC:CRS84", "WGS84") or "4326" in grid.crs:
        la1, la2 = np.radians(lat[:-1]), np.radians(lat[1:])
        h = (np.sin((la2 - la1) / 2) ** 2
             + np.cos(la1) * np.cos(la2) * np.sin(np.radians(np.diff(lon)) / 2) ** 2)
        step = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    else:
        step = np.hypot(np.diff(lon), np.diff(lat)) / 1000.0
    dist = np.concatenate([[0.0], np.cumsum(step)])
    row = np.clip(np.floor(r), 0, grid.height - 1)
    col = np.clip(np.floor(c), 0, grid.width - 1)
    return {"lon": lon, "lat": lat, "row": row, "col": col, "distance_km": dist}
