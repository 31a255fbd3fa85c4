"""The regular lon/lat grid every raster of a run shares (EPSG:4326, north-up), and how grids combine.

:func:`common_grid` and :func:`resample` are the one implementation used by mosaics
(:mod:`kansho.batch.mosaic`) and by the east/up decomposition (:mod:`kansho.geodesy`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid.

    Attributes
    ----------
    width, height:
        Number of columns and rows.
    transform:
        GDAL geotransform ``(x0, dx, 0, y0, 0, dy)``: top-left *corner* of the top-left pixel and
        the pixel size in degrees (``dy`` < 0 for north-up).
    crs:
        CRS as a string understood by rasterio (``"EPSG:4326"``).
    """

    width: int
    height: int
    transform: tuple[float, float, float, float, float, float]
    crs: str = "EPSG:4326"

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return (self.height, self.width)

    @property
    def dx(self) -> float:
        return self.transform[1]

    @property
    def dy(self) -> float:
        return self.transform[5]

    def lon(self) -> npt.NDArray[np.float64]:
        """Longitude of column centres, shape (width,)."""
        return np.asarray(self.transform[0] + (np.arange(self.width) + 0.5) * self.dx, dtype=np.float64)

    def lat(self) -> npt.NDArray[np.float64]:
        """Latitude of row centres, shape (height,)."""
        return np.asarray(self.transform[3] + (np.arange(self.height) + 0.5) * self.dy, dtype=np.float64)

    def pixel_size_km(self) -> tuple[float, float]:
        """Approximate (dx_km, dy_km) pixel size at the grid's centre latitude (spherical Earth)."""
        lat0 = float(self.lat().mean()) if self.height else 0.0
        k = math.pi / 180.0 * EARTH_RADIUS_KM
        return abs(self.dx) * k * math.cos(math.radians(lat0)), abs(self.dy) * k

    def multilooked(self, n: int) -> Grid:
        """The grid after ``n`` × ``n`` multilooking (incomplete edge looks dropped)."""
        x0, dx, r1, y0, r2, dy = self.transform
        return Grid(self.width // n, self.height // n, (x0, dx * n, r1, y0, r2, dy * n), self.crs)

    def window(self, rows: slice, cols: slice) -> Grid:
        """The sub-grid of a pixel window."""
        r0 = rows.start or 0
        c0 = cols.start or 0
        r1 = self.height if rows.stop is None else rows.stop
        c1 = self.width if cols.stop is None else cols.stop
        x0, dx, a, y0, b, dy = self.transform
        return Grid(c1 - c0, r1 - r0, (x0 + c0 * dx, dx, a, y0 + r0 * dy, b, dy), self.crs)

    def matches(self, other: Grid, rtol: float = 1e-6) -> bool:
        """True if both grids have the same shape and (to ``rtol`` of a pixel) the same transform."""
        if self.shape != other.shape:
            return False
        tol_x = abs(self.dx) * rtol * 1e3
        tol_y = abs(self.dy) * rtol * 1e3
        a, b = self.transform, other.transform
        return (
            abs(a[0] - b[0]) <= tol_x
            and abs(a[3] - b[3]) <= tol_y
            and abs(a[1] - b[1]) <= abs(a[1]) * rtol
            and abs(a[5] - b[5]) <= abs(a[5]) * rtol
        )

    def rowcol(self, lon: float, lat: float) -> tuple[int, int]:
        """(row, col) of the pixel containing ``(lon, lat)`` (may be outside the grid)."""
        col = math.floor((lon - self.transform[0]) / self.dx)
        row = math.floor((lat - self.transform[3]) / self.dy)
        return row, col

    def lonlat_box(self, lon1: float, lon2: float, lat1: float, lat2: float) -> tuple[int, int, int, int]:
        """``(row0, row1, col0, col1)``, end-exclusive, of the pixels containing the corners of the
        lon/lat box (``lon1 <= lon2``, ``lat1 <= lat2``); may lie outside the grid.
        ``ValueError`` if a corner is not a finite number on the grid."""
        try:
            ra, ca = self.rowcol(lon1, lat2)
            rb, cb = self.rowcol(lon2, lat1)
        except (OverflowError, ValueError):
            raise ValueError(f"lon/lat box {lon1}/{lon2}/{lat1}/{lat2} has a coordinate that is not a finite "
                             "number on the grid") from None
        return ra, rb + 1, ca, cb + 1

    def to_dict(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "transform": list(self.transform), "crs": self.crs}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Grid:
        """Inverse of :meth:`to_dict` (``transform``: six numbers; ``crs`` defaults to EPSG:4326)."""
        a, b, c, d_, e, f = (float(v) for v in d["transform"])
        return cls(int(d["width"]), int(d["height"]), (a, b, c, d_, e, f), str(d.get("crs", "EPSG:4326")))


# ------------------------------------------------------------------------------------ combining grids


class NoOverlap(ValueError):
    """The grids do not overlap (their common area holds fewer than 2 × 2 pixels)."""


def common_grid(grids: Sequence[Grid], *, extent: Literal["union", "intersection"] = "union",
                posting: float | None = None) -> Grid:
    """One north-up grid for several rasters: the one place where Kansho combines grids.

    ``extent="union"`` (mosaics): the grid covering every grid, with the finest posting of each
    axis (or ``posting`` degrees), its origin snapped outward onto the first grid's lattice, so
    that frames of one product line, which share that lattice, are copied without resampling.
    ``extent="intersection"`` (decomposition of overlapping tracks): the area common to all grids,
    starting at its north-west corner, with square pixels of the coarsest posting (or ``posting``);
    raises :class:`NoOverlap` if that area holds fewer than 2 × 2 pixels.
    Raises :class:`~kansho.errors.InputError` if the grids are on different coordinate systems.
    """
    from kansho.errors import InputError

    if not grids:
        raise ValueError("common_grid needs at least one grid")
    crs = {g.crs for g in grids}
    if len(crs) > 1:
        raise InputError(None, f"rasters on different coordinate systems {sorted(crs)}: cannot combine them")
    g0 = grids[0]
    if extent == "intersection":
        b = np.array([_bounds(g) for g in grids])
        west, east = b[:, 0].max(), b[:, 1].min()
        south, north = b[:, 2].max(), b[:, 3].min()
        step = posting or max(max(abs(g.dx), abs(g.dy)) for g in grids)
        nx = math.floor((east - west) / step + 1e-9)
        ny = math.floor((north - south) / step + 1e-9)
        if east <= west or north <= south or nx < 2 or ny < 2:
            raise NoOverlap("the grids do not overlap")
        return Grid(nx, ny, (float(west), float(step), 0.0, float(north), 0.0, -float(step)), g0.crs)
    if extent != "union":
        raise ValueError(f"extent must be 'union' or 'intersection', got {extent!r}")
    dx = posting or min(abs(g.dx) for g in grids)
    dy = posting or min(abs(g.dy) for g in grids)
    west = min(g.transform[0] for g in grids)
    north = max(g.transform[3] for g in grids)
    east = max(g.transform[0] + g.width * abs(g.dx) for g in grids)
    south = min(g.transform[3] - g.height * abs(g.dy) for g in grids)
    west = g0.transform[0] - np.ceil(round((g0.transform[0] - west) / dx, 6)) * dx
    north = g0.transform[3] + np.ceil(round((north - g0.transform[3]) / dy, 6)) * dy
    width = int(np.ceil(round((east - west) / dx, 6)))
    height = int(np.ceil(round((north - south) / dy, 6)))
    return Grid(width, height, (float(west), float(dx), 0.0, float(north), 0.0, -float(dy)), g0.crs)


def _bounds(g: Grid) -> tuple[float, float, float, float]:
    """(west, east, south, north) of a grid's outer edges."""
    x0, dx, _, y0, _, dy = g.transform
    xs = (x0, x0 + dx * g.width)
    ys = (y0, y0 + dy * g.height)
    return min(xs), max(xs), min(ys), max(ys)


def _pixel_coords(centres: npt.NDArray[np.float64], origin: float, step: float) -> npt.NDArray[np.float64]:
    """Fractional pixel index (0 = centre of the first pixel) of coordinates; round-off snapped to integers."""
    f = (centres - origin) / step - 0.5
    r = np.round(f)
    return np.where(np.abs(f - r) < 1e-6, r, f)


#: rows interpolated at once (bounds the temporaries of a large destination grid)
_ROWS = 512


def resample(array: npt.ArrayLike, src: Grid, dst: Grid, method: Literal["bilinear", "nearest"] = "bilinear",
             ) -> npt.NDArray[np.float32]:
    """A (src.height, src.width) map on grid ``src`` → (dst.height, dst.width) float32 on ``dst`` (same CRS).

    NaN is no data: outside ``src`` (a destination centre more than half a pixel beyond the
    source's outer pixel centres), and, for ``bilinear``, wherever a neighbour with a non-zero
    weight is NaN. Centres between the outer pixel centres and the edge take the edge pixel's
    value. When ``dst`` is coarser than ``src`` by a factor of 2 or more, ``bilinear`` first
    block-averages the map (NaN-aware) so that the result is an area mean, not a point sample.
    A grid on the same lattice (integer pixel shift, same posting) is copied exactly.
    Only the destination window that ``src`` covers is computed, block by block.
    """
    a = np.asarray(array, dtype=np.float64)
    if a.shape != src.shape:
        raise ValueError(f"array {a.shape} does not match its grid {src.shape}")
    if method not in ("bilinear", "nearest"):
        raise ValueError(f"method must be 'bilinear' or 'nearest', got {method!r}")
    if src.matches(dst):
        return a.astype(np.float32)
    out = np.full(dst.shape, np.nan, np.float32)
    ny, nx = src.shape
    row = _pixel_coords(dst.lat(), src.transform[3], src.dy)
    col = _pixel_coords(dst.lon(), src.transform[0], src.dx)
    rin = np.flatnonzero((row >= -0.5) & (row <= ny - 0.5))
    cin = np.flatnonzero((col >= -0.5) & (col <= nx - 0.5))
    if rin.size == 0 or cin.size == 0:
        return out
    cs = slice(int(cin[0]), int(cin[-1]) + 1)
    row, col = np.clip(row, 0.0, ny - 1.0), np.clip(col[cs], 0.0, nx - 1.0)
    factor = int(min(abs(dst.dx) / abs(src.dx), abs(dst.dy) / abs(src.dy)) + 1e-6)
    exact = factor < 2 and bool(np.all(row[rin] == np.round(row[rin])) and np.all(col == np.round(col)))
    if method == "nearest" or exact:
        c = np.floor(col + 0.5).astype(np.intp)
        for r0 in range(int(rin[0]), int(rin[-1]) + 1, _ROWS):
            r1 = min(r0 + _ROWS, int(rin[-1]) + 1)
            out[r0:r1, cs] = a[np.floor(row[r0:r1] + 0.5).astype(np.intp)][:, c]
        return out
    if factor >= 2:
        from scipy.ndimage import uniform_filter

        ok = np.isfinite(a)
        num = uniform_filter(np.where(ok, a, 0.0), size=factor, mode="nearest")
        den = uniform_filter(ok.astype(np.float64), size=factor, mode="nearest")
        with np.errstate(invalid="ignore", divide="ignore"):
            a = np.where(den > 0.5, num / den, np.nan)
    # separable bilinear weights: columns once, rows per block
    c0 = np.minimum(np.floor(col).astype(np.intp), nx - 1)
    c1 = np.minimum(c0 + 1, nx - 1)
    wc = col - c0
    nan = ~np.isfinite(a)
    a0 = np.where(nan, 0.0, a)
    eps = 1e-6
    for r0 in range(int(rin[0]), int(rin[-1]) + 1, _ROWS):
        r1 = min(r0 + _ROWS, int(rin[-1]) + 1)
        rr = row[r0:r1]
        i0 = np.minimum(np.floor(rr).astype(np.intp), ny - 1)
        i1 = np.minimum(i0 + 1, ny - 1)
        wr = (rr - i0)[:, None]
        top, bot = a0[i0], a0[i1]
        val = (1 - wr) * ((1 - wc) * top[:, c0] + wc * top[:, c1]) + wr * ((1 - wc) * bot[:, c0] + wc * bot[:, c1])
        if nan.any():
            nt, nb = nan[i0], nan[i1]
            bad = ((((1 - wr) > eps) & (((1 - wc) > eps) & nt[:, c0] | (wc > eps) & nt[:, c1]))
                   | ((wr > eps) & (((1 - wc) > eps) & nb[:, c0] | (wc > eps) & nb[:, c1])))
            val[bad] = np.nan
        out[r0:r1, cs] = val
    return out
